"""The current-month commitments report: committed deals, what changed since the last call, what closed.

M is the first of this month, T today; every deal is created 30 days ago and,
unless said, is in the commit category, expected on M+10, in USD. The last
call is T-7 (the default).

rep:
- U 1,000: untouched -> unchanged.
- C 2,000, re-valued to 2,500 on T-3 -> amount changed (+500).
- S 1,500, expected close moved to the next month on T-2 -> slipped.
- R 800, moved to best case on T-2 -> removed.
- W 3,000, won on T-1 -> closed won.
- L 700, lost on T-1 -> closed lost.
- A 500, pipeline, moved to commit on T-2 -> added.
- N 900, pipeline throughout -> not shown.
- E 1,200, moved from commit to pipeline on T-10 (before the call) -> not shown
  (but removed when the call is T-20).
- New 600, created committed on T-1 -> added.
rep2: D 400 EUR at 1.10 = 440 USD -> unchanged.
outsider (another team): O 9,999 -> unchanged.

The manager's team: committed then 9,000 + 440, now 4,600 + 440.
"""

import csv
import datetime
import io
import random
from decimal import Decimal

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from pipeline.models import Deal
from pipeline.periods import Period, start_of
from pipeline.services.imports import ChangeSpec, DealSpec, TransitionSpec, deals_import
from pipeline.services.rates import exchange_rate_create
from reports.catalog.commitments import CHANGES
from tests.factories import AccountFactory, LostReasonFactory

URL = "/reports/commitments/"


def _history(admin, rep, rep2, outsider, pipeline, stages, copies=1):
    today = timezone.localdate()
    month = today.replace(day=1)
    next_month = (month + datetime.timedelta(days=32)).replace(day=1)

    def ago(days):
        return start_of(today - datetime.timedelta(days=days)) + datetime.timedelta(hours=9)

    accounts = {
        p.pk: AccountFactory(owner=p, name=f"Acct {p.username}") for p in (rep, rep2, outsider)
    }
    q, won, lost = stages["Qualification"], stages["Won"], stages["Lost"]
    reason = LostReasonFactory(name="Price")

    def spec(
        name,
        owner,
        amount,
        *,
        category="commit",
        stage=q,
        moves=(),
        changes=(),
        created=30,
        currency="USD",
        lost_reason=None,
        close=None,
    ):
        return DealSpec(
            name=name,
            account_id=accounts[owner.pk].pk,
            owner_id=owner.pk,
            pipeline_id=pipeline.pk,
            stage_id=stage.pk,
            amount=Decimal(amount),
            currency=currency,
            expected_close_date=close or month + datetime.timedelta(days=10),
            forecast_category=category,
            created_at=ago(created),
            lost_reason_id=lost_reason,
            transitions=[TransitionSpec(to_stage_id=q.pk, at=ago(created), by_id=owner.pk)]
            + [TransitionSpec(to_stage_id=s.pk, at=ago(d), by_id=owner.pk) for s, d in moves],
            changes=[ChangeSpec(field, value, ago(d)) for field, value, d in changes],
        )

    for _ in range(copies):
        deals_import(
            specs=[
                spec("U", rep, "1000"),
                spec(
                    "C",
                    rep,
                    "2500",
                    changes=[("amount", Decimal("2000"), 30), ("amount", Decimal("2500"), 3)],
                ),
                spec(
                    "S",
                    rep,
                    "1500",
                    close=next_month + datetime.timedelta(days=4),
                    changes=[
                        ("expected_close_date", month + datetime.timedelta(days=10), 30),
                        ("expected_close_date", next_month + datetime.timedelta(days=4), 2),
                    ],
                ),
                spec(
                    "R",
                    rep,
                    "800",
                    category="best_case",
                    changes=[
                        ("forecast_category", "commit", 30),
                        ("forecast_category", "best_case", 2),
                    ],
                ),
                spec("W", rep, "3000", stage=won, moves=[(won, 1)]),
                spec("L", rep, "700", stage=lost, moves=[(lost, 1)], lost_reason=reason.pk),
                spec(
                    "A",
                    rep,
                    "500",
                    changes=[
                        ("forecast_category", "pipeline", 30),
                        ("forecast_category", "commit", 2),
                    ],
                ),
                spec("N", rep, "900", category="pipeline"),
                spec(
                    "E",
                    rep,
                    "1200",
                    category="pipeline",
                    changes=[
                        ("forecast_category", "commit", 30),
                        ("forecast_category", "pipeline", 10),
                    ],
                ),
                spec("New", rep, "600", created=1),
                spec("D", rep2, "400", currency="EUR"),
                spec("O", outsider, "9999"),
            ],
            by=admin,
        )


@pytest.fixture
def history(admin, rep, rep2, outsider, pipeline, stages):
    exchange_rate_create(
        currency="EUR", valid_from=datetime.date(2000, 1, 1), rate=Decimal("1.1"), by=admin
    )
    _history(admin, rep, rep2, outsider, pipeline, stages)


def _by_deal(response) -> dict:
    return {row["deal"]: row for row in response.context["result"].rows}


def test_each_committed_deal_shows_what_changed_since_the_last_call(
    client, manager, rep, rep2, history
):
    client.force_login(manager)
    response = client.get(URL)
    assert response.status_code == 200
    rows = _by_deal(response)
    assert {name: row["change"] for name, row in rows.items()} == {
        "U": "Unchanged",
        "C": "Amount changed",
        "S": "Slipped",
        "R": "Removed",
        "W": "Closed won",
        "L": "Closed lost",
        "A": "Added",
        "New": "Added",
        "D": "Unchanged",
    }
    assert (rows["C"]["amount_then"], rows["C"]["amount_now"], rows["C"]["difference"]) == (
        Decimal("2000.00"),
        Decimal("2500.00"),
        Decimal("500.00"),
    )
    assert rows["A"]["amount_then"] is None and rows["A"]["amount_now"] == Decimal("500.00")
    assert rows["D"]["amount_then"] == rows["D"]["amount_now"] == Decimal("440.00")
    month = timezone.localdate().replace(day=1)
    assert rows["S"]["close_then"] == month + datetime.timedelta(days=10)
    assert (
        rows["S"]["close_now"] > rows["S"]["close_then"] and rows["S"]["stage"] == "Qualification"
    )
    assert rows["W"]["stage"] == "Won"
    # Grouped by rep, in order.
    reps = [row["rep"] for row in response.context["result"].rows]
    assert reps == sorted(reps, key=lambda name: [rep.display_name, rep2.display_name].index(name))
    totals = response.context["result"].totals
    assert (totals["amount_then"], totals["amount_now"], totals["difference"]) == (
        Decimal("9440.00"),
        Decimal("5040.00"),
        Decimal("-4400.00"),
    )


def test_the_totals_per_rep(client, manager, rep, rep2, history):
    client.force_login(manager)
    response = client.get(URL)
    summary = [[shown for _, shown in row] for row in response.context["result"].extra["summary"]]
    assert summary == [
        [rep.display_name, "9,000", "4,600", "2", "1", "1", "1", "1", "3,000", "1"],
        [rep2.display_name, "440", "440", "0", "0", "0", "0", "0", "–", "0"],
        ["Total", "9,440", "5,040", "2", "1", "1", "1", "1", "3,000", "1"],
    ]
    assert 'data-testid="commitments-summary"' in response.content.decode()


def test_an_earlier_call_reads_the_deals_as_they_stood_then(client, manager, history):
    client.force_login(manager)
    since = timezone.localdate() - datetime.timedelta(days=20)
    rows = _by_deal(client.get(URL + f"?since={since.isoformat()}"))
    assert rows["E"]["change"] == "Removed"
    assert rows["New"]["change"] == "Added"
    assert rows["C"]["amount_then"] == Decimal("2000.00")


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", "9999-01-01", "<script>"])
def test_a_bad_since_falls_back_to_a_week_ago_with_a_note(client, manager, history, bad):
    client.force_login(manager)
    response = client.get(URL, {"since": bad})
    assert response.status_code == 200
    result = response.context["result"]
    assert result.extra["since"] == timezone.localdate() - datetime.timedelta(days=7)
    assert result.notes[0].startswith("since:") and "showing the changes since" in result.notes[0]
    assert _by_deal(response)["C"]["change"] == "Amount changed"
    assert client.get(URL + "export.csv", {"since": bad}).status_code == 200


@pytest.mark.parametrize(
    "who, deals",
    [
        ("admin", {"U", "C", "S", "R", "W", "L", "A", "New", "D", "O"}),
        ("manager", {"U", "C", "S", "R", "W", "L", "A", "New", "D"}),
        ("other_manager", {"O"}),
        ("rep", {"U", "C", "S", "R", "W", "L", "A", "New"}),
        ("rep2", {"D"}),
        ("outsider", {"O"}),
    ],
)
def test_each_role_sees_only_its_deals(client, request, history, who, deals):
    client.force_login(request.getfixturevalue(who))
    response = client.get(URL)
    assert response.status_code == 200
    assert set(_by_deal(response)) == deals


# Session, user, the rows with their totals per rep, and the picker's choices.
QUERIES = 6


def test_the_query_count_stays_the_same_with_twice_the_rows(
    client, admin, manager, rep, rep2, outsider, pipeline, stages, django_assert_num_queries
):
    _history(admin, rep, rep2, outsider, pipeline, stages)
    client.force_login(manager)
    client.get(URL)
    with django_assert_num_queries(QUERIES):
        first = client.get(URL)
    _history(admin, rep, rep2, outsider, pipeline, stages)
    with django_assert_num_queries(QUERIES):
        second = client.get(URL)
    assert len(second.context["result"].rows) == 2 * len(first.context["result"].rows)


def test_the_exports_stream_the_rows_and_the_totals(client, manager, rep, history):
    client.force_login(manager)
    response = client.get(URL + "export.csv")
    assert response.streaming
    text = b"".join(response.streaming_content).decode().lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
        "Rep",
        "Deal",
        "Account",
        "Change",
        "Stage now",
        "Expected close then",
        "Expected close now",
        "Amount then",
        "Amount now",
        "Difference",
    ]
    assert len(rows) == 1 + 9 + 1
    c_row = next(row for row in rows if row[1] == "C")
    assert c_row[0] == rep.display_name and c_row[3] == "Amount changed"
    assert c_row[7:] == ["2000.00", "2500.00", "500.00"]
    assert rows[-1][0] == "Total committed then and now" and rows[-1][7:] == [
        "9440.00",
        "5040.00",
        "-4400.00",
    ]
    response = client.get(URL + "export.xlsx")
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    c_row = next(row for row in values if row[1] == "C")
    assert c_row[7:] == [2000.0, 2500.0, 500.0]
    assert isinstance(c_row[5], datetime.datetime)


@pytest.mark.parametrize("seed", [2, 11])
def test_the_changes_match_an_oracle_on_drawn_deals(
    client, admin, manager, rep, rep2, outsider, pipeline, stages, seed
):
    """Drawn deals whose category, close date and amount change before and after the call, some
    then won or lost: each deal of the manager's team committed then or now shows the change an
    oracle reads from its history rows, with its amounts then and now."""
    rng = random.Random(seed)
    today = timezone.localdate()
    month = Period.named("month", today)
    call = start_of(today - datetime.timedelta(days=7))

    def ago(days):
        return start_of(today - datetime.timedelta(days=days)) + datetime.timedelta(hours=9)

    accounts = {p.pk: AccountFactory(owner=p) for p in (rep, rep2, outsider)}
    q, won, lost = stages["Qualification"], stages["Won"], stages["Lost"]
    reason = LostReasonFactory(name="Price")
    draws = {
        "forecast_category": ["commit", "commit", "best_case", "pipeline"],
        "expected_close_date": [
            month.start + datetime.timedelta(days=3),
            month.start + datetime.timedelta(days=20),
            month.end + datetime.timedelta(days=4),
            month.start - datetime.timedelta(days=2),
        ],
        "amount": [Decimal(n) for n in (300, 800, 1500)],
    }
    specs = []
    for n in range(40):
        owner = rng.choice([rep, rep2, outsider])
        changes = [
            ChangeSpec(field, rng.choice(values), ago(30)) for field, values in draws.items()
        ]
        for _ in range(rng.randint(0, 3)):
            field = rng.choice(list(draws))
            changes.append(ChangeSpec(field, rng.choice(draws[field]), ago(rng.randint(2, 29))))
        changes.sort(key=lambda change: change.at)
        final = {change.field: change.value for change in changes}
        end = rng.choice([q, q, q, won, lost])
        specs.append(
            DealSpec(
                name=f"D{n}",
                account_id=accounts[owner.pk].pk,
                owner_id=owner.pk,
                pipeline_id=pipeline.pk,
                stage_id=end.pk,
                amount=final["amount"],
                currency="USD",
                expected_close_date=final["expected_close_date"],
                forecast_category=final["forecast_category"],
                created_at=ago(30),
                lost_reason_id=reason.pk if end == lost else None,
                transitions=[TransitionSpec(to_stage_id=q.pk, at=ago(30), by_id=owner.pk)]
                + (
                    [TransitionSpec(to_stage_id=end.pk, at=ago(1), by_id=owner.pk)]
                    if end != q
                    else []
                ),
                changes=changes,
            )
        )
    deals_import(specs=specs, by=admin)

    def committed(version) -> bool:
        return (
            version is not None
            and version.status == "open"
            and version.forecast_category == "commit"
            and month.start <= version.expected_close_date < month.end
            and version.deleted_at is None
        )

    expected = {}
    for deal in Deal.objects.filter(owner__in=[rep, rep2]):
        versions = Deal.history.filter(id=deal.pk, history_date__lte=call)
        then = max(versions, key=lambda v: (v.history_date, v.history_id), default=None)
        was, now = committed(then), committed(deal)
        if not (was or now):
            continue
        if not was:
            change = "added"
        elif now:
            change = "unchanged" if then.amount == deal.amount else "amount_changed"
        elif deal.status in ("won", "lost"):
            change = deal.status
        elif deal.expected_close_date >= month.end:
            change = "slipped"
        else:
            change = "removed"
        expected[deal.name] = (CHANGES[change], then.amount if was else None, deal.amount)
    assert len({change for change, _, _ in expected.values()}) > 2  # the draw reaches several
    client.force_login(manager)
    shown = {
        name: (row["change"], row["amount_then"], row["amount_now"])
        for name, row in _by_deal(client.get(URL)).items()
    }
    assert shown == expected


def test_the_table_is_shown_a_page_at_a_time_with_every_reps_totals(
    client, manager, rep, rep2, history, monkeypatch
):
    """Three deals a page: each page holds the next rows in the table's order, the summary always
    totals every rep (not only those on the page), a page past the end shows the last one, a bad
    page number the first with a note, and the exports hold every row."""
    client.force_login(manager)
    whole = client.get(URL).context["result"]
    assert whole.page is None  # nine rows fit on one page
    monkeypatch.setattr("reports.catalog.commitments.ROWS_PER_PAGE", 3)
    pages = [client.get(URL, {"page": number}) for number in (1, 2, 3)]
    shown = [response.context["result"] for response in pages]
    assert [row for result in shown for row in result.rows] == whole.rows
    assert all(len(result.rows) == 3 for result in shown)
    assert all(result.extra["summary"] == whole.extra["summary"] for result in shown)
    assert all(result.totals == whole.totals for result in shown)
    first = shown[0].page
    assert (first.count, first.number, first.last_number, first.has_next) == (9, 1, 3, True)
    html = pages[1].content.decode()
    assert "Showing 4–6 of 9" in html and 'rel="next"' in html and 'rel="prev"' in html
    assert "page=3" in html
    past = client.get(URL, {"page": 40}).context["result"]
    assert past.page.number == 3 and past.rows == shown[2].rows
    bad = client.get(URL, {"page": "two"}).context["result"]
    assert bad.page.number == 1 and bad.notes[0].startswith("page:")
    text = b"".join(client.get(URL + "export.csv", {"page": 2}).streaming_content).decode()
    assert len(list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))) == 1 + 9 + 1


def test_a_deal_given_to_the_team_since_the_call_shows_what_became_of_it(
    client, admin, manager, outsider, rep, history
):
    """O was committed by a rep of another team at the call; given to the manager's rep since and
    moved to best case, it is the team's deal now, shown as removed under its present owner."""
    deal = Deal.objects.get(name="O")
    Deal.objects.filter(pk=deal.pk).update(owner=rep, forecast_category="best_case")
    client.force_login(manager)
    rows = _by_deal(client.get(URL))
    assert rows["O"]["change"] == "Removed" and rows["O"]["rep"] == rep.display_name
    assert rows["O"]["amount_then"] == Decimal("9999.00")
    client.force_login(outsider)
    assert "O" not in _by_deal(client.get(URL))
