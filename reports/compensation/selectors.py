"""Reads of plans and statements, each scoped to who may see them, and the rows a statement is computed from.

Admins see everyone's; a manager their own and their team's (at any depth); a rep only their own.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    BigIntegerField,
    Case,
    DateTimeField,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from pipeline.models import Deal, DealLineItem, DealSplit, StageKind, StageTransition
from pipeline.money import at_close, converted
from pipeline.periods import start_of
from pipeline.selectors import deals_visible_to
from quotas.selectors import quota_targets
from reports.compensation.calc import Clawback, Credit, Terms, cents
from reports.compensation.models import (
    CommissionPlan,
    CommissionStatement,
    LineKind,
    PlanProductBonus,
    StatementLine,
    StatementStatus,
)
from salesmgr.models import User
from salesmgr.selectors import self_and_team_ids_subquery

PAID_KINDS = (LineKind.CREDIT, LineKind.PRODUCT_BONUS, LineKind.NEW_LOGO)


def _people(user: User, field: str = "rep") -> Q:
    if user.is_admin:
        return Q()
    if user.is_manager:
        return Q(**{f"{field}_id__in": self_and_team_ids_subquery(user.pk)})
    return Q(**{f"{field}_id": user.pk})


def plans_visible_to(user: User) -> QuerySet[CommissionPlan]:
    """Commission plans ``user`` may read: admins all, managers their own and their team's, reps their own."""
    return CommissionPlan.objects.filter(_people(user))


def statements_visible_to(user: User) -> QuerySet[CommissionStatement]:
    """Statements ``user`` may read (every version), by the same rule as plans."""
    return CommissionStatement.objects.filter(_people(user))


def current_statements(statements: QuerySet[CommissionStatement]) -> QuerySet[CommissionStatement]:
    """Only the latest version of each rep's month."""
    newer = CommissionStatement.objects.filter(
        rep_id=OuterRef("rep_id"), month=OuterRef("month"), version__gt=OuterRef("version")
    )
    return statements.exclude(Exists(newer))


def statement_lines(statement: CommissionStatement) -> QuerySet[StatementLine]:
    return StatementLine.objects.filter(statement=statement).order_by("position")


def month_window(
    month: datetime.date, as_of: datetime.date
) -> tuple[datetime.datetime, datetime.datetime]:
    """[first moment of ``month``, the end of its last day or of ``as_of`` if earlier] as aware datetimes."""
    first = month.replace(day=1)
    following = (first + datetime.timedelta(days=32)).replace(day=1)
    last = min(following - datetime.timedelta(days=1), as_of)
    return start_of(first), start_of(last + datetime.timedelta(days=1)) - datetime.timedelta(
        microseconds=1
    )


def month_last_day(month: datetime.date) -> datetime.date:
    return (month.replace(day=1) + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(
        days=1
    )


def plan_for(rep_id: int, month: datetime.date) -> CommissionPlan | None:
    """The rep's plan for ``month``: the one in force on its last day, else the latest that touches it."""
    last = month_last_day(month)
    touching = CommissionPlan.objects.filter(rep_id=rep_id, effective_from__lte=last).filter(
        Q(effective_to__isnull=True) | Q(effective_to__gte=month.replace(day=1))
    )
    return touching.prefetch_related("tiers").order_by("-effective_from").first()


def plan_terms(plan: CommissionPlan | None) -> Terms | None:
    if plan is None:
        return None
    return Terms(
        kind=plan.kind,
        flat_rate=plan.flat_rate,
        tiers=tuple((tier.from_attainment, tier.rate) for tier in plan.tiers.all()),
        cap=plan.cap,
        new_logo_bonus=plan.new_logo_bonus,
    )


def month_quota(rep_id: int, month: datetime.date) -> Decimal | None:
    """The rep's quota prorated to the month (None without one)."""
    window = (month.replace(day=1), month_last_day(month))
    return quota_targets(Q(owner_id=rep_id), {"month": window}).get(rep_id, {}).get("month")


def credit_rows(
    *,
    rep_id: int,
    month: datetime.date,
    as_of: datetime.date,
    plan: CommissionPlan | None,
    what_if_ids: tuple[int, ...] = (),
) -> list[Credit]:
    """The deals credited to the rep in the month up to ``as_of``, in close order (one query).

    A won deal credits its split reps by their shares, or else whoever owned it when it
    closed, whole. ``what_if_ids`` are open deals counted as won at the end of ``as_of``.
    """
    start, cutoff = month_window(month, as_of)
    owner_at_close = Coalesce(
        Subquery(
            Deal.history.filter(id=OuterRef("pk"), history_date__lte=OuterRef("closed_at"))
            .order_by("-history_date", "-history_id")
            .values("owner_id")[:1]
        ),
        F("owner_id"),
        output_field=BigIntegerField(),
    )
    # Only deals the rep could be credited for are looked at: theirs now, theirs at some
    # point of their history, or shared with them. The closer is then picked exactly below;
    # this keeps the query to the rep's own deals, whatever the size of the organisation.
    candidates = (
        Q(owner_id=rep_id)
        | Q(pk__in=Deal.history.filter(owner_id=rep_id).values("id"))
        | Q(pk__in=DealSplit.objects.filter(rep_id=rep_id).values("deal_id"))
    )
    deals = (
        Deal.objects.filter(deleted_at__isnull=True)
        .filter(
            Q(status=StageKind.WON, closed_at__gte=start, closed_at__lte=cutoff)
            | Q(status=StageKind.OPEN, pk__in=what_if_ids)
        )
        .filter(candidates)
        .annotate(
            credit_at=Case(
                When(status=StageKind.OPEN, then=Value(cutoff)),
                default=F("closed_at"),
                output_field=DateTimeField(),
            ),
            closer=owner_at_close,
        )
        .annotate(
            credit_share=Case(
                When(
                    Exists(DealSplit.objects.filter(deal_id=OuterRef("pk"))),
                    then=Subquery(
                        DealSplit.objects.filter(deal_id=OuterRef("pk"), rep_id=rep_id).values(
                            "share"
                        )[:1]
                    ),
                ),
                When(closer=rep_id, then=Value(Decimal("100"))),
                default=None,
                output_field=DecimalField(max_digits=5, decimal_places=2),
            ),
            won_value=Case(
                When(status=StageKind.OPEN, then=converted(on=as_of)),
                default=at_close(),
            ),
            earlier_win=Exists(
                Deal.objects.filter(
                    account_id=OuterRef("account_id"),
                    status=StageKind.WON,
                    deleted_at__isnull=True,
                    closed_at__lt=OuterRef("credit_at"),
                ).exclude(pk=OuterRef("pk"))
            ),
        )
        .filter(credit_share__isnull=False)
    )
    if plan is not None:
        deals = deals.annotate(
            bonus=Subquery(
                PlanProductBonus.objects.filter(plan_id=plan.pk)
                .filter(
                    Exists(
                        DealLineItem.objects.filter(
                            deal_id=OuterRef(OuterRef("pk")), product_id=OuterRef("product_id")
                        )
                    )
                )
                .values("plan_id")
                .annotate(total=Sum("amount"))
                .values("total")[:1]
            )
        )
    else:
        deals = deals.annotate(bonus=Value(None, output_field=DecimalField()))
    rows = deals.order_by("credit_at", "pk").values_list(
        "pk", "name", "credit_at", "won_value", "credit_share", "bonus", "earlier_win"
    )
    return [
        Credit(
            deal_id=pk,
            deal_name=name,
            closed_at=credit_at,
            value=value,
            share=share,
            product_bonus=bonus or Decimal(0),
            new_logo=not earlier_win,
        )
        for pk, name, credit_at, value, share, bonus, earlier_win in rows
    ]


@dataclass(frozen=True)
class _Reversal:
    deal_id: int
    deal_name: str
    at: datetime.datetime
    won_at: datetime.datetime
    to_kind: str


@dataclass
class EarlierPay:
    """What the rep's earlier statements paid for some deals, from each month's paid version.

    ``earned[(month, deal)]`` is what the deal's commission and bonus lines paid that month,
    scaled down by the month's cap when the cap cut the pay; ``net[deal]`` is what all the
    deal's lines came to over those months (earned, less clawbacks and replaced credits).
    """

    earned: dict[tuple[datetime.date, int], Decimal]
    net: dict[int, Decimal]


def paid_versions(rep_id: int, before: datetime.date) -> QuerySet[CommissionStatement]:
    """The version of each of the rep's months before ``before`` that was paid: its latest
    approved version, else its latest."""
    chosen = (
        CommissionStatement.objects.filter(rep_id=rep_id, month=OuterRef("month"))
        .order_by(
            Case(When(status=StatementStatus.APPROVED, then=Value(0)), default=Value(1)),
            "-version",
        )
        .values("pk")[:1]
    )
    return CommissionStatement.objects.filter(rep_id=rep_id, month__lt=before, pk=Subquery(chosen))


def _cap_share(commission: Decimal, bonuses: Decimal, cap_adjustment: Decimal) -> Decimal:
    """The share of a month's commission and bonuses that its cap let through (1 when uncapped)."""
    gross = commission + bonuses
    if cap_adjustment >= 0 or gross <= 0:
        return Decimal(1)
    return min(Decimal(1), max(Decimal(0), (gross + cap_adjustment) / gross))


def earlier_pay(rep_id: int, month: datetime.date, deal_ids) -> EarlierPay:
    """What the rep's statements of the months before ``month`` paid for ``deal_ids`` (one query)."""
    found = EarlierPay(earned={}, net={})
    deal_ids = set(deal_ids)
    if not deal_ids:
        return found
    rows = (
        StatementLine.objects.filter(
            statement__in=paid_versions(rep_id, month.replace(day=1)), deal_ref__in=deal_ids
        )
        .values(
            "statement__month",
            "deal_ref",
            "statement__commission",
            "statement__bonuses",
            "statement__cap_adjustment",
        )
        .annotate(
            earned=Sum("amount", filter=Q(kind__in=PAID_KINDS)),
            taken=Sum("amount", filter=~Q(kind__in=PAID_KINDS)),
        )
        .order_by()
    )
    for row in rows:
        share = _cap_share(
            row["statement__commission"],
            row["statement__bonuses"],
            row["statement__cap_adjustment"],
        )
        earned = cents((row["earned"] or Decimal(0)) * share)
        key = (row["statement__month"], row["deal_ref"])
        found.earned[key] = found.earned.get(key, Decimal(0)) + earned
        found.net[row["deal_ref"]] = (
            found.net.get(row["deal_ref"], Decimal(0)) + earned + (row["taken"] or Decimal(0))
        )
    return found


def reversal_rows(
    *, rep_id: int, month: datetime.date, as_of: datetime.date, plan: CommissionPlan | None
) -> list[_Reversal]:
    """The rep's paid deals won in an earlier month and reopened or lost in this one within the
    plan's clawback days."""
    if plan is None:
        return []
    start, cutoff = month_window(month, as_of)
    return [
        _Reversal(*row)
        for row in StageTransition.objects.filter(
            # Only a deal paid on one of the rep's statements can be clawed back from them.
            deal_id__in=StatementLine.objects.filter(
                statement__rep_id=rep_id, kind__in=PAID_KINDS
            ).values("deal_ref"),
            from_stage__kind=StageKind.WON,
            at__gte=start,
            at__lte=cutoff,
            from_stage_entered_at__lt=start,
            from_stage_entered_at__gte=F("at") - datetime.timedelta(days=plan.clawback_days),
        )
        .exclude(to_stage__kind=StageKind.WON)
        .order_by("at", "deal_id")
        .values_list("deal_id", "deal__name", "at", "from_stage_entered_at", "to_stage__kind")
    ]


def clawback_rows(
    *,
    reversals: list[_Reversal],
    paid: EarlierPay,
) -> list[Clawback]:
    """The clawbacks of ``reversals``: what each deal paid on the rep's statement of the month it
    was won (its share of the pay the cap let through), never more than the rep's earlier
    statements paid for the deal in all, net of what they already took back."""
    found = []
    for reversal in reversals:
        won_month = timezone.localtime(reversal.won_at).date().replace(day=1)
        amount = min(
            paid.earned.get((won_month, reversal.deal_id), Decimal(0)),
            paid.net.get(reversal.deal_id, Decimal(0)),
        )
        if amount <= 0:
            continue
        days = (reversal.at - reversal.won_at).days
        what = "lost" if reversal.to_kind == StageKind.LOST else "reopened"
        found.append(
            Clawback(
                deal_id=reversal.deal_id,
                deal_name=reversal.deal_name,
                at=reversal.at,
                paid=amount,
                note=f"Won {won_month:%b %Y}, {what} {days} days later: its {won_month:%b %Y} pay comes back",
            )
        )
    return found


def replaced_rows(
    *, credits: list[Credit], clawbacks: list[Clawback], paid: EarlierPay
) -> list[Clawback]:
    """Deals credited this month that earlier statements already paid for (won, reversed past the
    clawback days, and won again): the new win replaces the earlier credit, so what the earlier
    statements paid and have not taken back (here or before) comes off."""
    clawed = {}
    for clawback in clawbacks:
        clawed[clawback.deal_id] = clawed.get(clawback.deal_id, Decimal(0)) + clawback.paid
    found = []
    seen = set()
    for credit in credits:
        if credit.deal_id in seen:
            continue
        seen.add(credit.deal_id)
        amount = paid.net.get(credit.deal_id, Decimal(0)) - clawed.get(credit.deal_id, Decimal(0))
        if amount <= 0:
            continue
        found.append(
            Clawback(
                deal_id=credit.deal_id,
                deal_name=credit.deal_name,
                at=credit.closed_at,
                paid=amount,
                note="Won again: this win replaces the earlier credit, whose pay comes off",
                kind=LineKind.REPLACED,
            )
        )
    return found


def what_if_deals(user: User, rep_id: int) -> QuerySet[Deal]:
    """Open deals ``user`` may see that would credit ``rep_id`` if won: owned by them, or split to them."""
    return (
        deals_visible_to(user)
        .filter(status=StageKind.OPEN)
        .filter(Q(splits__rep_id=rep_id) | Q(owner_id=rep_id, splits__isnull=True))
        .distinct()
    )
