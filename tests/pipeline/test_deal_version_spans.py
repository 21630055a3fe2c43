"""``superseded_at`` on deal history rows (kept by triggers), ``version_at`` and its two parts
(``versions_at``): the same versions as the probe reading it replaced ("the latest row with
``history_date <= moment`` by ``history_date``, then ``history_id``") on random histories written
every way history is written: per-save rows, bulk inserts of past-dated rows between two versions,
versions on the same timestamp, re-dated rows and deletions."""

import datetime
import random

import pytest
from django.db.models import OuterRef, Q, Subquery

from pipeline.models import Deal
from pipeline.selectors import deals_as_of, deals_as_of_parts, version_at, versions_at
from pipeline.services import deal_update
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db

History = Deal.history.model
START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def probe_reading(moment) -> set[int]:
    """The old reading: per deal, one probe for its latest row by ``moment``."""
    newest = (
        History.objects.filter(id=OuterRef("id"), history_date__lte=moment)
        .order_by("-history_date", "-history_id")
        .values("history_id")[:1]
    )
    return set(
        History.objects.filter(history_date__lte=moment, history_id=Subquery(newest)).values_list(
            "history_id", flat=True
        )
    )


def span_reading(moment) -> set[int]:
    return set(History.objects.filter(version_at(moment)).values_list("history_id", flat=True))


def expected_spans() -> dict[int, datetime.datetime | None]:
    """Each row's next version's ``history_date`` in ``(history_date, history_id)`` order, computed here."""
    spans, previous = {}, None
    for row in History.objects.order_by("id", "history_date", "history_id"):
        if previous is not None and previous.id == row.id:
            spans[previous.history_id] = row.history_date
        spans[row.history_id] = None
        previous = row
    return spans


def assert_same_readings(rng: random.Random) -> None:
    stored = dict(History.objects.values_list("history_id", "superseded_at"))
    assert stored == expected_spans()
    dates = sorted(set(History.objects.values_list("history_date", flat=True)))
    tick = datetime.timedelta(microseconds=1)
    moments = {START - tick}
    for at in dates:
        moments |= {at - tick, at, at + tick}
    moments |= {START + datetime.timedelta(hours=rng.randint(0, 24 * 60)) for _ in range(10)}
    for moment in sorted(moments):
        assert span_reading(moment) == probe_reading(moment), moment
        current, superseded = (
            set(History.objects.filter(part).values_list("history_id", flat=True))
            for part in versions_at(moment)
        )
        # The two parts split the same versions, none in both.
        assert not current & superseded and current | superseded == span_reading(moment), moment
        # And so do ``deals_as_of``'s two parts its rows.
        first, second = (
            set(part.values_list("history_id", flat=True))
            for part in deals_as_of_parts(moment, where=Q())
        )
        as_of = set(deals_as_of(moment).values_list("history_id", flat=True))
        assert not first & second and first | second == as_of, moment


def copy_of(row, at: datetime.datetime, amount) -> History:
    """A version like ``row`` recorded at ``at``, as an import or a bulk load writes one."""
    fields = {
        field.attname: getattr(row, field.attname)
        for field in History._meta.concrete_fields
        if field.attname not in ("history_id", "superseded_at")
    }
    return History(**fields | {"history_date": at, "amount": amount, "history_type": "~"})


def random_moment(rng: random.Random, dates: list) -> datetime.datetime:
    if dates and rng.random() < 0.4:
        return rng.choice(dates)  # the same timestamp as an existing version
    return START + datetime.timedelta(hours=rng.randint(0, 24 * 60), microseconds=rng.randint(0, 9))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_spans_match_the_probe_reading_on_random_histories(seed, rep, pipeline):
    rng = random.Random(seed)
    deals = [DealFactory(owner=rep, pipeline=pipeline, name=f"Deal {n}") for n in range(5)]
    for deal in deals:  # per-save rows, one by one
        for _ in range(rng.randint(0, 3)):
            deal = deal_update(
                deal=deal, by=rep, expected_version=None, amount=rng.randint(1, 900) * 10
            )
    History.objects.update(history_date=START)  # every version on one timestamp: id order decides
    assert_same_readings(rng)

    for _ in range(4):
        rows = list(History.objects.all())
        dates = [row.history_date for row in rows]
        # Past-dated rows between existing ones (and on their timestamps), in one bulk insert.
        History.objects.bulk_create(
            [
                copy_of(rng.choice(rows), random_moment(rng, dates), rng.randint(1, 900) * 10)
                for _ in range(rng.randint(3, 12))
            ]
        )
        # One row at a time, as simple-history saves them.
        copy_of(rng.choice(rows), random_moment(rng, dates), 5).save()
        # Re-dated rows (one statement) and a deletion.
        picked = rng.sample([row.history_id for row in rows], k=3)
        History.objects.filter(history_id__in=picked[:2]).update(
            history_date=random_moment(rng, dates)
        )
        History.objects.filter(history_id=picked[2]).delete()
        assert_same_readings(rng)


def test_deals_as_of_reads_the_version_in_effect(rep, rep2, pipeline):
    deal = DealFactory(owner=rep, pipeline=pipeline, name="Moved on")
    first = History.objects.get(id=deal.pk)
    later = START + datetime.timedelta(days=10)
    History.objects.filter(history_id=first.history_id).update(history_date=START)
    # An import's past-dated version recorded after the fact, between the first and now.
    inserted = copy_of(first, later, 42)
    inserted.owner_id = rep2.pk
    inserted.save()

    assert [row.amount for row in deals_as_of(later - datetime.timedelta(seconds=1))] == [
        first.amount
    ]
    assert [row.amount for row in deals_as_of(later)] == [42]
    assert list(deals_as_of(later, owner_id=rep.pk)) == []
    assert [row.history_id for row in deals_as_of(later, owner_in=[rep2.pk])] == [
        inserted.history_id
    ]
