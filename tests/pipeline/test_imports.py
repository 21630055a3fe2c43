"""The history importer: deals written with their past, checked before anything is written."""

import dataclasses
import datetime
from decimal import Decimal

import pytest

from pipeline.models import (
    Account,
    Activity,
    Contact,
    Deal,
    LostReason,
    Pipeline,
    Product,
    StageTransition,
)
from pipeline.selectors import deal_as_of, deals_as_of
from pipeline.services import (
    AccountSpec,
    ActivitySpec,
    ChangeSpec,
    ContactSpec,
    DealSpec,
    RowErrors,
    TransitionSpec,
    account_create,
    accounts_import,
    activities_import,
    deals_import,
    stage_create,
)
from pipeline.signals import deals_changed
from salesmgr.errors import PermissionDenied
from salesmgr.services import user_create

UTC = datetime.UTC


def at(day: str, hour: int = 9) -> datetime.datetime:
    return datetime.datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


T0 = at("2025-01-10")  # created in Qualification
T1 = at("2025-02-01", 10)  # to Proposal; forecast becomes commit at the same moment
TC1 = at("2025-02-10", 12)  # amount revised from 12,000 to 9,000
TC2 = at("2025-02-20", 8)  # close date slips from 28 Feb to 31 Mar
T2 = at("2025-03-15", 16)  # won


def make_pipeline(name: str) -> dict:
    pipeline = Pipeline.objects.create(name=name)
    stages = {}
    for order, (stage_name, probability, kind) in enumerate(
        [
            ("Qualification", 20, "open"),
            ("Proposal", 60, "open"),
            ("Won", 100, "won"),
            ("Lost", 0, "lost"),
        ],
        start=1,
    ):
        stages[stage_name] = stage_create(
            pipeline=pipeline, name=stage_name, order=order, probability=probability, kind=kind
        )
    stages["pipeline"] = pipeline
    return stages


@pytest.fixture
def world(db):
    admin = user_create(username="boss", password=None, role="admin", full_name="Bea Boss")
    manager = user_create(username="lead", password=None, role="manager", full_name="Lee Lead")
    rep = user_create(username="seller", password=None, full_name="Sam Seller", manager=manager)
    outsider = user_create(username="other", password=None, full_name="Oli Other")
    stages = make_pipeline("New business")
    other = make_pipeline("Renewals")
    account = account_create(by=admin, owner=rep, name="Acme")
    price = LostReason.objects.create(name="Price")
    product = Product.objects.create(name="Seat", sku="SEAT-1", unit_price=Decimal("100.00"))
    return dataclasses.make_dataclass(
        "World",
        ["admin", "manager", "rep", "outsider", "stages", "other", "account", "price", "product"],
    )(admin, manager, rep, outsider, stages, other, account, price, product)


def won_spec(world, **overrides) -> DealSpec:
    """The deal worked out by hand in the tests below."""
    s = world.stages
    spec = DealSpec(
        name="Acme rollout",
        account_id=world.account.pk,
        owner_id=world.rep.pk,
        pipeline_id=s["pipeline"].pk,
        stage_id=s["Won"].pk,
        amount=Decimal("9000.00"),
        currency="USD",
        expected_close_date=datetime.date(2025, 3, 31),
        forecast_category="commit",
        created_at=T0,
        lost_reason_id=None,
        transitions=[
            TransitionSpec(to_stage_id=s["Qualification"].pk, at=T0, by_id=world.rep.pk),
            TransitionSpec(to_stage_id=s["Proposal"].pk, at=T1, by_id=world.rep.pk),
            TransitionSpec(to_stage_id=s["Won"].pk, at=T2, by_id=world.manager.pk),
        ],
        changes=[
            ChangeSpec(field="amount", value="12000.00", at=T0),
            ChangeSpec(field="expected_close_date", value="2025-02-28", at=T0),
            ChangeSpec(field="forecast_category", value="commit", at=T1),
            ChangeSpec(field="amount", value=Decimal("9000.00"), at=TC1, by_id=world.rep.pk),
            ChangeSpec(field="expected_close_date", value=datetime.date(2025, 3, 31), at=TC2),
        ],
        external_id="old-crm-1",
    )
    return dataclasses.replace(spec, **overrides)


def lost_spec(world) -> DealSpec:
    s = world.stages
    return won_spec(
        world,
        name="Acme pilot",
        stage_id=s["Lost"].pk,
        lost_reason_id=world.price.pk,
        forecast_category="pipeline",
        amount=Decimal("5000.00"),
        transitions=[
            TransitionSpec(to_stage_id=s["Qualification"].pk, at=T0, by_id=world.rep.pk),
            TransitionSpec(to_stage_id=s["Lost"].pk, at=T1, by_id=world.rep.pk),
        ],
        changes=[],
        external_id=None,
    )


def nothing_written() -> bool:
    return not (Deal.objects.exists() or StageTransition.objects.exists() or Deal.history.exists())


def test_import_writes_deal_transitions_and_final_state(world):
    [deal_id] = deals_import(specs=[won_spec(world)], by=world.admin)

    deal = Deal.objects.get(pk=deal_id)
    s = world.stages
    assert (deal.stage_id, deal.status, deal.amount) == (s["Won"].pk, "won", Decimal("9000.00"))
    assert deal.closed_at == T2
    assert deal.stage_entered_at == T2
    assert deal.created_at == T0
    assert deal.updated_at == T2
    assert deal.external_id == "old-crm-1"
    # Creation, Proposal (with commit), the amount, the close date, Won: five points in time.
    assert deal.version == 5
    assert list(
        deal.transitions.order_by("at").values_list("from_stage_id", "to_stage_id", "at", "by_id")
    ) == [
        (None, s["Qualification"].pk, T0, world.rep.pk),
        (s["Qualification"].pk, s["Proposal"].pk, T1, world.rep.pk),
        (s["Proposal"].pk, s["Won"].pk, T2, world.manager.pk),
    ]
    history = list(Deal.history.filter(id=deal_id).order_by("history_date"))
    assert [(h.history_date, h.history_type, h.history_user_id) for h in history] == [
        (T0, "+", world.rep.pk),
        (T1, "~", world.rep.pk),
        (TC1, "~", world.rep.pk),
        (TC2, "~", None),
        (T2, "~", world.manager.pk),
    ]


@pytest.mark.parametrize(
    "when, stage, amount, close_date, category, closed_at",
    [
        (at("2025-01-20"), "Qualification", "12000.00", "2025-02-28", "pipeline", None),
        (T1, "Proposal", "12000.00", "2025-02-28", "commit", None),
        (at("2025-02-15"), "Proposal", "9000.00", "2025-02-28", "commit", None),
        (at("2025-03-01"), "Proposal", "9000.00", "2025-03-31", "commit", None),
        (at("2025-04-01"), "Won", "9000.00", "2025-03-31", "commit", T2),
    ],
)
def test_deal_as_of_gives_values_in_force_then(
    world, when, stage, amount, close_date, category, closed_at
):
    [deal_id] = deals_import(specs=[won_spec(world)], by=world.admin)

    then = deal_as_of(deal_id, when)

    assert then.stage_id == world.stages[stage].pk
    assert then.amount == Decimal(amount)
    assert then.expected_close_date == datetime.date.fromisoformat(close_date)
    assert then.forecast_category == category
    assert then.closed_at == closed_at
    assert then.status == world.stages[stage].kind


def test_deal_did_not_exist_before_its_creation(world):
    [deal_id] = deals_import(specs=[won_spec(world)], by=world.admin)

    assert deal_as_of(deal_id, T0 - datetime.timedelta(seconds=1)) is None


def test_deals_as_of_rebuilds_every_deal_at_a_past_date(world):
    won_id, lost_id = deals_import(specs=[won_spec(world), lost_spec(world)], by=world.admin)

    rows = {row.id: row for row in deals_as_of(at("2025-02-15"))}

    assert rows[won_id].amount == Decimal("9000.00")
    assert rows[won_id].stage_id == world.stages["Proposal"].pk
    assert rows[lost_id].status == "lost"
    assert rows[lost_id].lost_reason_id == world.price.pk
    assert rows[lost_id].closed_at == T1


def test_field_without_changes_had_final_value_since_creation(world):
    [lost_id] = deals_import(specs=[lost_spec(world)], by=world.admin)

    deal = Deal.objects.get(pk=lost_id)
    first = deal_as_of(lost_id, T0)
    assert (deal.version, deal.status, deal.closed_at, deal.lost_reason_id) == (
        2,
        "lost",
        T1,
        world.price.pk,
    )
    assert (first.amount, first.expected_close_date, first.status) == (
        Decimal("5000.00"),
        datetime.date(2025, 3, 31),
        "open",
    )
    assert first.lost_reason_id is None


def test_lost_and_reopened_deal_keeps_the_reason_only_while_lost(world):
    s = world.stages
    spec = won_spec(
        world,
        changes=[],
        transitions=[
            TransitionSpec(to_stage_id=s["Qualification"].pk, at=T0, by_id=None),
            TransitionSpec(
                to_stage_id=s["Lost"].pk, at=T1, by_id=None, lost_reason_id=world.price.pk
            ),
            TransitionSpec(to_stage_id=s["Proposal"].pk, at=TC1, by_id=None),
            TransitionSpec(to_stage_id=s["Won"].pk, at=T2, by_id=None),
        ],
    )
    [deal_id] = deals_import(specs=[spec], by=world.admin)

    lost = deal_as_of(deal_id, at("2025-02-05"))
    reopened = deal_as_of(deal_id, at("2025-02-15"))
    assert (lost.status, lost.lost_reason_id, lost.closed_at) == ("lost", world.price.pk, T1)
    assert (reopened.status, reopened.lost_reason_id, reopened.closed_at) == ("open", None, None)
    assert Deal.objects.get(pk=deal_id).closed_at == T2


def test_line_items_set_the_amount(world):
    spec = lost_spec(world)
    spec.line_items = [(world.product.pk, Decimal("50"), Decimal("100.00"), Decimal("0"))]

    [deal_id] = deals_import(specs=[spec], by=world.admin)

    assert Deal.objects.get(pk=deal_id).line_items.get().total == Decimal("5000.00")


def test_line_items_must_add_up_to_the_amount(world):
    spec = lost_spec(world)
    spec.line_items = [(world.product.pk, Decimal("10"), Decimal("100.00"), Decimal("0"))]

    with pytest.raises(RowErrors) as caught:
        deals_import(specs=[spec], by=world.admin)

    assert caught.value.errors[0]["field"] == "amount"
    assert nothing_written()


def later(spec, index, when):
    transitions = list(spec.transitions)
    transitions[index] = dataclasses.replace(transitions[index], at=when)
    return dataclasses.replace(spec, transitions=transitions)


INVALID = {
    "transitions out of order": (
        lambda w, s: later(s, 1, T2 + datetime.timedelta(days=1)),
        "transitions[2].at",
    ),
    "first transition not at created_at": (
        lambda w, s: later(s, 0, T0 + datetime.timedelta(hours=1)),
        "transitions[0].at",
    ),
    "last transition not the stage": (
        lambda w, s: dataclasses.replace(s, stage_id=w.stages["Proposal"].pk),
        "transitions[2].to_stage",
    ),
    "stage of another pipeline": (
        lambda w, s: dataclasses.replace(
            s,
            transitions=[
                s.transitions[0],
                TransitionSpec(to_stage_id=w.other["Proposal"].pk, at=T1, by_id=None),
                s.transitions[2],
            ],
        ),
        "transitions[1].to_stage",
    ),
    "deal's stage of another pipeline": (
        lambda w, s: dataclasses.replace(s, stage_id=w.other["Won"].pk),
        "stage",
    ),
    "lost without reason": (
        lambda w, s: dataclasses.replace(lost_spec(w), lost_reason_id=None),
        "lost_reason",
    ),
    "last change differs from the deal": (
        lambda w, s: dataclasses.replace(s, amount=Decimal("9500.00")),
        "changes.amount",
    ),
    "unknown field": (
        lambda w, s: dataclasses.replace(
            s, changes=[*s.changes, ChangeSpec(field="name", value="x", at=T1)]
        ),
        "changes[5].field",
    ),
    "transition in the future": (
        lambda w, s: later(s, 2, datetime.datetime.now(UTC) + datetime.timedelta(days=1)),
        "transitions[2].at",
    ),
    "change in the future": (
        lambda w, s: dataclasses.replace(
            s,
            changes=[
                *s.changes[:3],
                ChangeSpec(
                    field="amount",
                    value="9000.00",
                    at=datetime.datetime.now(UTC) + datetime.timedelta(days=1),
                ),
            ],
        ),
        "changes[3].at",
    ),
    "created in the future": (
        lambda w, s: dataclasses.replace(
            s,
            created_at=datetime.datetime.now(UTC) + datetime.timedelta(days=1),
            transitions=[
                TransitionSpec(
                    to_stage_id=w.stages["Qualification"].pk,
                    at=datetime.datetime.now(UTC) + datetime.timedelta(days=1),
                    by_id=None,
                )
            ],
            stage_id=w.stages["Qualification"].pk,
            changes=[],
        ),
        "created_at",
    ),
    "change before creation": (
        lambda w, s: dataclasses.replace(
            s,
            changes=[
                ChangeSpec(
                    field="forecast_category", value="commit", at=T0 - datetime.timedelta(days=1)
                )
            ],
        ),
        "changes[0].at",
    ),
    "naive time": (lambda w, s: later(s, 1, T1.replace(tzinfo=None)), "transitions[1].at"),
    "no transitions": (lambda w, s: dataclasses.replace(s, transitions=[]), "transitions"),
    "move to the same stage": (
        lambda w, s: dataclasses.replace(
            s,
            transitions=[
                s.transitions[0],
                dataclasses.replace(s.transitions[0], at=T1),
                s.transitions[2],
            ],
        ),
        "transitions[1].to_stage",
    ),
    "reason on a won deal": (
        lambda w, s: dataclasses.replace(s, lost_reason_id=w.price.pk),
        "lost_reason",
    ),
    "bad forecast category": (
        lambda w, s: dataclasses.replace(
            s, changes=[*s.changes, ChangeSpec(field="forecast_category", value="maybe", at=T2)]
        ),
        "changes[5].value",
    ),
    "external id used twice": (lambda w, s: s, "external_id"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_row_is_rejected_and_nothing_written(world, case):
    mutate, field = INVALID[case]
    good = lost_spec(world)
    bad = mutate(world, won_spec(world))

    with pytest.raises(RowErrors) as caught:
        deals_import(
            specs=[good, bad, won_spec(world)] if case == "external id used twice" else [good, bad],
            by=world.admin,
        )

    errors = caught.value.errors
    assert {"row": 2 if case == "external id used twice" else 1, "field": field} in [
        {"row": e["row"], "field": e["field"]} for e in errors
    ], errors
    assert all(e["row"] != 0 for e in errors)
    assert nothing_written()


def test_existing_external_id_is_refused(world):
    deals_import(specs=[won_spec(world)], by=world.admin)

    with pytest.raises(RowErrors):
        deals_import(specs=[won_spec(world)], by=world.admin)
    assert Deal.objects.count() == 1


def test_deals_changed_rings_once_on_commit(world, django_capture_on_commit_callbacks):
    calls = []

    def receiver(sender, deal_ids, **kwargs):
        calls.append(deal_ids)

    deals_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            ids = deals_import(specs=[won_spec(world), lost_spec(world)], by=world.admin)
    finally:
        deals_changed.disconnect(receiver)

    assert calls == [ids]


def test_only_admins_import_a_deals_past(world):
    with pytest.raises(PermissionDenied):
        deals_import(specs=[won_spec(world)], by=world.manager)
    assert nothing_written()


def test_manager_imports_new_deals_for_their_team_only(world):
    s = world.stages
    fresh = datetime.datetime.now(UTC).replace(microsecond=0) - datetime.timedelta(minutes=1)
    spec = won_spec(
        world,
        stage_id=s["Qualification"].pk,
        created_at=fresh,
        transitions=[
            TransitionSpec(to_stage_id=s["Qualification"].pk, at=fresh, by_id=world.manager.pk)
        ],
        changes=[],
        external_id=None,
    )

    [deal_id] = deals_import(specs=[spec], by=world.manager)
    with pytest.raises(PermissionDenied):
        deals_import(
            specs=[dataclasses.replace(spec, owner_id=world.outsider.pk)], by=world.manager
        )

    assert Deal.objects.get(pk=deal_id).version == 1


def test_accounts_import_checks_fields_and_writes_contacts(world):
    good = AccountSpec(
        name="Globex",
        owner_id=world.rep.pk,
        employee_count=120,
        contacts=[ContactSpec(first_name="Hank", email="hank@globex.test")],
    )
    bad = AccountSpec(
        name=" ",
        owner_id=world.rep.pk,
        contacts=[ContactSpec(first_name="X", email="not-an-email")],
    )

    with pytest.raises(RowErrors) as caught:
        accounts_import(specs=[good, bad], by=world.admin)
    assert {(e["row"], e["field"]) for e in caught.value.errors} == {
        (1, "name"),
        (1, "contacts[0].email"),
    }

    [account_id] = accounts_import(specs=[good], by=world.admin)
    assert Contact.objects.get(account_id=account_id).email == "hank@globex.test"
    assert Account.objects.count() == 2


def test_activity_on_a_deal_belongs_to_its_account(world):
    [deal_id] = deals_import(specs=[won_spec(world)], by=world.admin)
    other_account = account_create(by=world.admin, owner=world.rep, name="Initech")

    activities_import(
        specs=[
            ActivitySpec(
                kind="call",
                subject="Kick-off",
                occurred_at=T1,
                author_id=world.rep.pk,
                deal_id=deal_id,
            )
        ]
    )
    with pytest.raises(RowErrors):
        activities_import(
            specs=[
                ActivitySpec(
                    kind="call",
                    subject="Oops",
                    occurred_at=T1,
                    author_id=world.rep.pk,
                    deal_id=deal_id,
                    account_id=other_account.pk,
                )
            ]
        )

    assert list(Activity.objects.values_list("account_id", flat=True)) == [world.account.pk]
