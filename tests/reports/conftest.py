"""A small sales history built by hand, with every time known, for exact metric tests.

Times are offsets from T0, midnight 60 days ago. The rep's deals:

- A: created T0 in Qualification, Discovery at +2d, Proposal at +5d, won at +10d; 1,000.
- B: created +1d, Discovery at +3d, lost at +6d; 500.
- C: created +1d (1,500), Discovery at +4d, re-valued to 2,000 at +8d; open, closes in 10 days.
- E: created +2d, still in Qualification; 300, commit, closes in 20 days.

rep2 (same team) has F: created T0, won at +20d; 4,000.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.utils import timezone

from pipeline.periods import start_of
from pipeline.services.imports import ChangeSpec, DealSpec, TransitionSpec, deals_import
from tests.factories import AccountFactory, LostReasonFactory


@dataclass
class History:
    t0: datetime.datetime
    today: datetime.date
    deals: dict
    stages: dict


@pytest.fixture
def history(admin, rep, rep2, pipeline, stages):
    today = timezone.localdate()
    t0 = start_of(today - datetime.timedelta(days=60))

    def at(days):
        return t0 + datetime.timedelta(days=days)

    account = AccountFactory(owner=rep)
    account2 = AccountFactory(owner=rep2)
    reason = LostReasonFactory(name="Price")
    q, d, p = stages["Qualification"], stages["Discovery"], stages["Proposal"]
    won, lost = stages["Won"], stages["Lost"]

    def spec(
        name,
        owner,
        acct,
        stage,
        amount,
        created,
        moves,
        *,
        close_in=30,
        category="pipeline",
        changes=(),
        lost_reason=None,
    ):
        return DealSpec(
            name=name,
            account_id=acct.pk,
            owner_id=owner.pk,
            pipeline_id=pipeline.pk,
            stage_id=stage.pk,
            amount=Decimal(amount),
            currency="USD",
            expected_close_date=today + datetime.timedelta(days=close_in),
            forecast_category=category,
            created_at=at(created),
            lost_reason_id=lost_reason,
            transitions=[
                TransitionSpec(to_stage_id=s.pk, at=at(t), by_id=owner.pk) for s, t in moves
            ],
            changes=list(changes),
        )

    specs = [
        spec("A", rep, account, won, "1000", 0, [(q, 0), (d, 2), (p, 5), (won, 10)]),
        spec("B", rep, account, lost, "500", 1, [(q, 1), (d, 3), (lost, 6)], lost_reason=reason.pk),
        spec(
            "C",
            rep,
            account,
            d,
            "2000",
            1,
            [(q, 1), (d, 4)],
            close_in=10,
            changes=[
                ChangeSpec("amount", Decimal("1500"), at(1)),
                ChangeSpec("amount", Decimal("2000"), at(8)),
            ],
        ),
        spec("E", rep, account, q, "300", 2, [(q, 2)], close_in=20, category="commit"),
        spec("F", rep2, account2, won, "4000", 0, [(q, 0), (won, 20)]),
    ]
    ids = deals_import(specs=specs, by=admin)
    return History(t0=t0, today=today, deals=dict(zip("ABCEF", ids, strict=True)), stages=stages)
