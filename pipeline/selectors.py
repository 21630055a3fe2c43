"""Every read of the pipeline that matters: what each person may see, and history."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
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
from django.db.models.expressions import Combinable, RawSQL
from django.db.models.functions import Coalesce, NullIf
from django.db.models.lookups import In
from django.db.models.sql.where import AND
from django.utils import timezone

from pipeline.models import (
    DELETED_KEPT_FOR,
    Account,
    Activity,
    Contact,
    Deal,
    DealContact,
    DealSplit,
    ExchangeRate,
    Handover,
    ImportJob,
    LostReason,
    Pipeline,
    Product,
    Stage,
    StageKind,
    StageTransition,
    TerritoryRealignment,
    TerritoryRule,
)
from pipeline.money import converted, in_reporting_currency, merge_unconverted, unconverted
from quotas.selectors import territories_covered_subquery, territories_visible_to
from salesmgr.models import User, display_name_of
from salesmgr.selectors import self_and_team_ids_subquery, team_member_ids_subquery


def _owned_by(user: User, field: str = "owner") -> Q:
    """Records owned by ``user`` or, for a manager, by anyone below them."""
    if user.is_manager:
        return Q(**{f"{field}_id__in": self_and_team_ids_subquery(user.pk)})
    return Q(**{f"{field}_id": user.pk})


def deal_reach(user: User) -> Q:
    """Whose deals ``user`` may read, as a condition on ``owner`` (of a deal, or of a row of deals
    counted by owner such as ``reports.TerritoryOpen``): everyone's for an admin."""
    return Q() if user.is_admin else _owned_by(user)


def deals_visible_to(user: User, *, include_deleted: bool = False) -> QuerySet[Deal]:
    """Deals ``user`` may read: reps their own, managers their team's, admins all."""
    deals = Deal.objects.filter(deal_reach(user))
    if not include_deleted:
        deals = deals.filter(deleted_at__isnull=True)
    return deals


def deal_owner_ids_in_reach(
    user: User, *, owner: int | None = None, team: int | None = None
) -> list[int] | None:
    """The owners whose deals ``user`` may see, narrowed to ``owner`` and to ``team`` (everyone
    below that manager); None when that is everyone (an admin who picked neither).

    ``deals_visible_to(user)`` narrowed by a scope's owner and team is the deals of exactly
    these owners. Read once as a list (one query at most, none for a rep or an admin's pick of
    one person), the visibility and the scope make one ``owner_id IN (...)`` of literal ids
    whose size the planner knows, where the two recursive subqueries it replaces were
    each guessed at about 160 people for a team of 12.
    """
    if user.is_admin:
        if team is None:
            return None if owner is None else [owner]
        people = User.objects.filter(pk__in=team_member_ids_subquery(team))
    elif user.is_manager:
        people = User.objects.filter(pk__in=self_and_team_ids_subquery(user.pk))
        if team is not None:
            people = people.filter(pk__in=team_member_ids_subquery(team))
    elif team is None:
        return [user.pk] if owner in (None, user.pk) else []
    else:
        people = User.objects.filter(pk=user.pk).filter(pk__in=team_member_ids_subquery(team))
    if owner is not None:
        people = people.filter(pk=owner)
    return list(people.order_by("pk").values_list("pk", flat=True))


def _external_ids_taken(
    model, pairs: set[tuple[int, str]], exclude_pk: int | None
) -> set[tuple[int, str]]:
    pairs = {(owner_id, external_id) for owner_id, external_id in pairs if external_id}
    if not pairs:
        return set()
    held = model.objects.filter(
        deleted_at__isnull=True,
        owner_id__in={owner_id for owner_id, _ in pairs},
        external_id__in={external_id for _, external_id in pairs},
    )
    if exclude_pk is not None:
        held = held.exclude(pk=exclude_pk)
    return set(held.values_list("owner_id", "external_id")) & pairs


def deal_external_ids_taken(
    pairs: set[tuple[int, str]], *, exclude_pk: int | None = None
) -> set[tuple[int, str]]:
    """Which (owner id, external id) pairs a live deal already holds (one query).

    Ask only about owners the caller may act for (``may_act_for``): their
    deals are the caller's to see, so the answer reveals nothing beyond them.
    """
    return _external_ids_taken(Deal, pairs, exclude_pk)


def account_external_ids_taken(
    pairs: set[tuple[int, str]], *, exclude_pk: int | None = None
) -> set[tuple[int, str]]:
    """Which (owner id, external id) pairs a live account already holds (one query); ask only
    about owners the caller may act for, as with ``deal_external_ids_taken``."""
    return _external_ids_taken(Account, pairs, exclude_pk)


def open_deal_totals_visible_to(user: User, *, today: datetime.date) -> dict:
    """Open deals ``user`` may see: how many, how many overdue, and their value per currency.

    One grouped query; values in different currencies are never added together.
    """
    by_currency = list(
        deals_visible_to(user)
        .filter(status=StageKind.OPEN)
        .values("currency")
        .annotate(
            deals=Count("pk"),
            value=Sum("amount"),
            overdue=Count("pk", filter=Q(expected_close_date__lt=today)),
        )
        .order_by("currency")
    )
    return {
        "deals": sum(row["deals"] for row in by_currency),
        "overdue": sum(row["overdue"] for row in by_currency),
        "values": [(row["currency"], row["value"]) for row in by_currency],
    }


def accounts_visible_to(
    user: User, *, include_deleted: bool = False, reach_read: bool = False
) -> QuerySet[Account]:
    """Accounts ``user`` may read: owned by them (or their team), or in their (team's) territories.

    A territory covers the territories inside it. ``reach_read`` reads those owners and
    territories first (``_account_reach``) and filters by their ids.
    """
    accounts = Account.objects.all()
    if not user.is_admin and reach_read:
        accounts = accounts.filter(_account_reach(user))
    elif not user.is_admin:
        accounts = accounts.filter(account_reach(user))
    if not include_deleted:
        accounts = accounts.filter(deleted_at__isnull=True)
    return accounts


def account_reach(user: User) -> Q:
    """Which accounts ``user`` may read, as a condition on an account's ``owner`` and ``territory``
    (or a row of accounts counted by the two, ``reports.TerritoryAccounts``): everyone's for an
    admin, else those owned by them (or their team) or in their (team's) territories."""
    if user.is_admin:
        return Q()
    covered = territories_covered_subquery(user, with_team=user.is_manager)
    return _owned_by(user) | Q(territory_id__in=covered)


def _account_reach(user: User) -> Q:
    """The accounts a non-admin ``user`` may read as ``owner IN (ids) OR territory IN (ids)``,
    the owners (they or their team) and territories (covered by them or their team) read
    first in one query.

    Given the two recursive subqueries instead, PostgreSQL guesses a team's owners and
    territories (and so their accounts) several times too many, and a list ordered by
    another table's index then sorts all it may see rather than walk that index (a
    manager's contacts: 450 ms against 5).
    """
    covered = territories_covered_subquery(user, with_team=user.is_manager)
    sql, params = f"SELECT 1, id FROM ({covered.sql}) AS covered", [*covered.params]
    if user.is_manager:
        team = self_and_team_ids_subquery(user.pk)
        sql = f"SELECT 0, id FROM ({team.sql}) AS team UNION ALL {sql}"
        params = [*team.params, *params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        reach = cursor.fetchall()
    owners = [pk for territory, pk in reach if not territory] if user.is_manager else [user.pk]
    territories = [pk for territory, pk in reach if territory]
    return Q(owner_id__in=owners) | Q(territory_id__in=territories)


def contacts_visible_to(user: User, *, reach_read: bool = False) -> QuerySet[Contact]:
    """Contacts at the accounts ``user`` may read (``reach_read`` as ``accounts_visible_to``)."""
    accounts = accounts_visible_to(user, reach_read=reach_read)
    return Contact.objects.filter(account__in=accounts.values("pk"))


CONTACT_NAME_ORDER = ("last_name", "first_name", "id")


def contacts_in_name_order(
    contacts: QuerySet[Contact], *, offset: int, limit: int, many: bool
) -> list[Contact]:
    """Rows ``offset`` to ``limit`` of ``contacts`` (``contacts_visible_to``, filtered) in the
    contact list's order, with their accounts, in one query.

    ``many`` says the reader sees many contacts (the list's count reached its cap): the
    name-ordered index then finds the page's rows after a short walk. For a reader who sees
    few, that walk would cross most of the index (700 ms to find that someone sees none at
    1M deals), and one wrong guess of how many they see would have PostgreSQL take it: their
    contacts are read apart (``OFFSET 0`` keeps the planner from merging that read into the
    ordered one), sorted, and only the page's ids joined to their accounts, where the plain
    join met every contact with every account first (230 ms).
    """
    ordered = contacts.select_related("account").order_by(*CONTACT_NAME_ORDER)
    if many or connection.vendor != "postgresql":
        return list(ordered[offset:limit])
    seen, params = contacts.order_by().values(*CONTACT_NAME_ORDER).query.sql_with_params()
    page = RawSQL(
        f"SELECT seen.id FROM ({seen} OFFSET 0) AS seen"
        " ORDER BY seen.last_name, seen.first_name, seen.id LIMIT %s OFFSET %s",
        (*params, limit - offset, offset),
    )
    return list(ordered.filter(pk__in=page))


def activities_visible_to(
    user: User, *, deal: Deal | None = None, account: Account | None = None, few: bool = False
) -> QuerySet[Activity]:
    """Activities on deals ``user`` may read, on accounts they may read, or written by them.

    An activity stays its author's after its deal (or account) leaves their
    scope, but the deal and account behind it are shown only to those who
    may read them (an account also to whoever reads the deal): each row carries ``deal_shown`` and ``account_shown``
    (read them through ``Activity.shown_deal`` / ``shown_account``), and
    every page, API and export renders the deal and account through them.

    ``deal`` or ``account`` narrows to one record's timeline. That record is then checked once
    and the few rows' other deal or account one by one (a correlated ``EXISTS`` by primary key),
    where the ``IN`` that suits long lists hashes every deal of a manager's team first
    (300-560 ms at 100,000 deals). ``few`` asks for the row-by-row check when the caller reads
    a few rows by other means (one by its id).
    """
    if user.is_admin:
        activities = Activity.objects.annotate(deal_shown=Value(True), account_shown=Value(True))
    else:
        if deal is None and account is None and not few:
            deal_seen = Q(deal__in=deals_visible_to(user).values("pk"))
            account_seen = Q(account__in=accounts_visible_to(user).values("pk"))
        else:
            # One record's timeline checks that record once (every row holds it), not row by row.
            deal_seen = Q(
                Exists(deals_visible_to(user).filter(pk=deal.pk if deal else OuterRef("deal_id")))
            )
            account_seen = Q(
                Exists(
                    accounts_visible_to(user).filter(
                        pk=account.pk if account else OuterRef("account_id")
                    )
                )
            )
        activities = Activity.objects.filter(
            deal_seen | (Q(deal__isnull=True) & account_seen) | Q(author=user)
        ).annotate(
            deal_shown=_holds(Q(deal__isnull=True) | deal_seen),
            # A deal the reader sees shows its account anyway (the deal's page names it). The
            # deal is asked first: an account check that is not needed is never run, and run
            # row by row it can hash every account the reader may see first.
            account_shown=_holds(Q(account__isnull=True) | deal_seen | account_seen),
        )
    if deal is not None:
        activities = activities.filter(deal=deal)
    if account is not None:
        activities = activities.filter(account=account)
    return activities


def _holds(condition: Q) -> Case:
    """A boolean column: whether ``condition`` holds for the row."""
    return Case(
        When(condition, then=Value(True)), default=Value(False), output_field=BooleanField()
    )


def deal_transitions(deal: Deal) -> QuerySet[StageTransition]:
    """A deal's stage history, oldest first."""
    return deal.transitions.select_related("from_stage", "to_stage", "by").order_by("at", "pk")


def deal_history(deal: Deal):
    """Every recorded version of a deal, newest first, with who made it."""
    return (
        Deal.history.filter(id=deal.pk)
        .select_related("history_user")
        .order_by("-history_date", "-history_id")
    )


# Fields whose changes a deal's history reports.
HISTORY_FIELDS = (
    "name",
    "account_id",
    "owner_id",
    "stage_id",
    "status",
    "amount",
    "currency",
    "expected_close_date",
    "forecast_category",
    "closed_at",
    "lost_reason_id",
    "deleted_at",
)


def _as_text(value):
    return None if value is None else str(value)


def history_entries(records, fields: tuple[str, ...] = HISTORY_FIELDS) -> list[dict]:
    """Turn a record's historical rows (oldest first) into who-changed-what entries."""
    entries = []
    previous = None
    for record in records:
        if previous is None:
            changes = [
                {"field": f.removesuffix("_id"), "old": None, "new": _as_text(getattr(record, f))}
                for f in fields
                if getattr(record, f) is not None
            ]
        else:
            changes = [
                {
                    "field": f.removesuffix("_id"),
                    "old": _as_text(getattr(previous, f)),
                    "new": _as_text(getattr(record, f)),
                }
                for f in fields
                if getattr(previous, f) != getattr(record, f)
            ]
        kind = {"+": "created", "-": "deleted"}.get(record.history_type, "changed")
        if changes or kind != "changed":
            user = record.history_user
            entries.append(
                {
                    "at": record.history_date,
                    "by": record.history_user_id,
                    "by_name": user.display_name if user else None,
                    "kind": kind,
                    "changes": changes,
                }
            )
        previous = record
    return entries


def deal_as_of(deal_id: int, when: datetime.datetime):
    """The deal as it stood at ``when`` (its latest recorded version by then), or None.

    Rebuilt from the change history, not from today's values.
    """
    record = (
        Deal.history.filter(id=deal_id, history_date__lte=when)
        .order_by("-history_date", "-history_id")
        .first()
    )
    if record is None or record.history_type == "-":
        return None
    return record.instance


def version_at(when: datetime.datetime) -> Q:
    """The history rows that were their deal's latest version at ``when``: at most one per deal.

    A condition on the row itself (its span ``[history_date, superseded_at)``, kept by triggers), so
    a report reads the versions it wants without a probe per deal for "the latest by then". Same rows
    as "the latest version by ``history_date``, then ``history_id``, with ``history_date <= when``".
    """
    return Q(history_date__lte=when) & (Q(superseded_at__isnull=True) | Q(superseded_at__gt=when))


def versions_at(when: datetime.datetime) -> tuple[Q, Q]:
    """``version_at`` as two disjoint conditions: the versions still current (never superseded) and
    those superseded after ``when``, each created by then. Together the same rows.

    Apart, each is one range of an index that has ``superseded_at`` right after a column asked for
    equality (the open versions' span index, by close day): ``version_at``'s ``OR`` is not a range,
    so a read of a window of close days checks every version in it, most superseded long before.
    """
    created = Q(history_date__lte=when)
    return created & Q(superseded_at__isnull=True), created & Q(superseded_at__gt=when)


def deals_as_of(
    when: datetime.datetime,
    *,
    owner_id: int | None = None,
    owner_in=None,
    deal_in=None,
    where: Q | None = None,
) -> QuerySet:
    """Every deal as it stood at ``when``: its latest recorded version by then, as historical rows.

    Deals created later, and deals already purged or soft-deleted at ``when``,
    are left out. With ``owner_id``, only the deals that person owned at
    ``when``; ``owner_in`` (ids or a subquery of them, such as a team) does the
    same for several people. ``deal_in`` (ids or a subquery of them) reads only
    those deals' history. ``where`` (a condition on the history rows) keeps
    only the deals whose version at ``when`` meets it. Each version read is
    kept by its own span (``version_at``), so an index on any of these
    conditions pays and no deal's history is probed. One query.
    """
    history = Deal.history.filter(version_at(when))
    if deal_in is not None:
        history = history.filter(id__in=deal_in)
    if owner_id is not None:
        history = history.filter(owner_id=owner_id)
    if owner_in is not None:
        history = history.filter(owner_id__in=owner_in)
    if where is not None:
        history = history.filter(where)
    return history.exclude(history_type="-").filter(deleted_at__isnull=True)


def deals_as_of_parts(when: datetime.datetime, *, where: Q) -> list[QuerySet]:
    """``deals_as_of(when, where=where)`` as two querysets, the versions still current and those
    superseded since (``versions_at``): together the same rows, none in both. With ``where`` asking
    for close days one by one (``expected_close_date__in``), each part is a range per day of the open
    versions' span index. A caller groups each part and adds the two (``UNION ALL``)."""
    return [
        Deal.history.filter(then, where).exclude(history_type="-").filter(deleted_at__isnull=True)
        for then in versions_at(when)
    ]


# Stands for "no territory" inside ``account_territory_at``; territory ids start at 1.
_NO_TERRITORY = 0


def account_territory_at(when, *, account: Combinable, live: Combinable) -> NullIf:
    """The territory id (None: none) an account lay in at ``when``: that of its latest history row by then.

    ``account`` is the account's id and ``live`` its present territory as
    references from the enclosing query (``OuterRef``/``F``); ``when`` a moment
    or a reference to one (a deal's ``closed_at``). An account whose history
    starts later lies where its first row puts it (an account recorded after
    deals loaded with past dates; a service records a row's "created" entry
    before its first change); one with no history at all (loaded in bulk, never
    changed) lies where it lies now. An index lookup or two per row
    (``account_history_as_of_idx``).
    """
    history = Account.history.filter(id=account)
    latest_then = history.filter(history_date__lte=when).order_by("-history_date", "-history_id")
    first = history.order_by("history_date", "history_id")
    recorded = [
        Subquery(rows.values(territory_or_none=Coalesce("territory_id", Value(_NO_TERRITORY)))[:1])
        for rows in (latest_then, first)
    ]
    return NullIf(Coalesce(*recorded, live), Value(_NO_TERRITORY))


def accounts_in_territories_at(territory_ids, when: datetime.datetime) -> QuerySet:
    """The ids of the accounts that lay in one of ``territory_ids`` (ids or a subquery of them) at ``when``."""
    return (
        Account.objects.alias(
            territory_then=account_territory_at(
                when, account=OuterRef("pk"), live=F("territory_id")
            )
        )
        .filter(territory_then__in=territory_ids)
        .values("pk")
    )


def deal_versions(history_ids: list[int]) -> QuerySet:
    """The recorded deal versions with these ids, such as the rows ``deals_as_of`` picked, read once and reused."""
    return Deal.history.filter(history_id__in=history_ids)


def pipelines_visible_to(user: User) -> QuerySet[Pipeline]:
    """Pipelines are reference data: everyone reads them."""
    return Pipeline.objects.all()


def stages_visible_to(user: User) -> QuerySet[Stage]:
    """Stages are reference data: everyone reads them."""
    return Stage.objects.all()


def products_visible_to(user: User) -> QuerySet[Product]:
    """The catalogue: everyone reads it."""
    return Product.objects.all()


def lost_reasons_visible_to(user: User) -> QuerySet[LostReason]:
    """The reasons a deal can be lost for: everyone reads them."""
    return LostReason.objects.all()


CONTACT_HISTORY_FIELDS = ("account_id", "first_name", "last_name", "title", "email", "phone")
HISTORY_SHOWN = 100


def _people_named(ids: set) -> dict[int, str]:
    return {person.pk: person.display_name for person in User.objects.filter(pk__in=ids - {None})}


def account_owner_changes(account: Account) -> list[dict]:
    """Who gave ``account`` to whom and when, newest first: ``at``, ``by_name``, ``old``, ``new``.

    Read from the account's history; two queries.
    """
    records = list(
        Account.history.filter(id=account.pk)
        .select_related("history_user")
        .order_by("history_date", "history_id")
        .only("owner_id", "history_date", "history_type", "history_user")
    )
    changes = [
        (record, previous.owner_id)
        for previous, record in zip(records, records[1:], strict=False)
        if record.owner_id != previous.owner_id
    ]
    names = _people_named({old for _, old in changes} | {record.owner_id for record, _ in changes})
    return [
        {
            "at": record.history_date,
            "by_name": record.history_user.display_name if record.history_user else None,
            "old": names.get(old, "someone no longer listed"),
            "new": names.get(record.owner_id, "someone no longer listed"),
        }
        for record, old in reversed(changes)
    ][:HISTORY_SHOWN]


def contact_history(contact: Contact) -> list[dict]:
    """Who changed what on a contact, newest first, with account ids turned into names."""
    records = list(
        Contact.history.filter(id=contact.pk)
        .select_related("history_user")
        .order_by("history_date", "history_id")
    )
    entries = history_entries(records, fields=CONTACT_HISTORY_FIELDS)
    account_ids = {
        int(value)
        for entry in entries
        for change in entry["changes"]
        if change["field"] == "account"
        for value in (change["old"], change["new"])
        if value is not None
    }
    names = dict(Account.objects.filter(pk__in=account_ids).values_list("pk", "name"))
    for entry in entries:
        for change in entry["changes"]:
            if change["field"] == "account":
                for end in ("old", "new"):
                    if change[end] is not None:
                        change[end] = names.get(int(change[end]), change[end])
    return entries[::-1][:HISTORY_SHOWN]


def deal_contacts_visible_to(user: User, deal: Deal) -> QuerySet[DealContact]:
    """The contacts linked to ``deal`` that ``user`` may see, with their accounts."""
    return (
        deal.contact_links.filter(contact__in=contacts_visible_to(user).values("pk"))
        .select_related("contact", "contact__account")
        .order_by("contact__last_name", "contact__first_name", "id")
    )


def contact_deals_visible_to(user: User, contact: Contact) -> QuerySet[DealContact]:
    """The deals ``contact`` is linked to that ``user`` may see, with their stage and owner."""
    return (
        contact.deal_links.filter(deal__in=deals_visible_to(user).values("pk"))
        .select_related("deal", "deal__stage", "deal__owner")
        .order_by("deal__expected_close_date", "deal_id")
    )


def _deleted_by(model) -> Subquery:
    """The user who last set ``deleted_at`` on the outer row, from its history."""
    return Subquery(
        model.history.filter(id=OuterRef("pk"), deleted_at__isnull=False)
        .order_by("-history_date", "-history_id")
        .values("history_user_id")[:1]
    )


def deleted_deals_visible_to(user: User, *, now: datetime.datetime) -> QuerySet[Deal]:
    """Deals deleted within ``DELETED_KEPT_FOR`` of ``now`` that ``user`` may see, newest first.

    Each carries ``deleted_by_id``, read from its history.
    """
    return (
        deals_visible_to(user, include_deleted=True)
        .filter(deleted_at__gte=now - DELETED_KEPT_FOR)
        .annotate(deleted_by_id=_deleted_by(Deal))
        .order_by("-deleted_at", "-id")
    )


def deleted_accounts_visible_to(user: User, *, now: datetime.datetime) -> QuerySet[Account]:
    """Accounts deleted within ``DELETED_KEPT_FOR`` of ``now`` that ``user`` may see, newest first.

    Each carries ``deleted_by_id``, read from its history.
    """
    return (
        accounts_visible_to(user, include_deleted=True)
        .filter(deleted_at__gte=now - DELETED_KEPT_FOR)
        .annotate(deleted_by_id=_deleted_by(Account))
        .order_by("-deleted_at", "-id")
    )


def exchange_rates_visible_to(user: User) -> QuerySet[ExchangeRate]:
    """The exchange rates every figure converts with: everyone signed in reads them."""
    return ExchangeRate.objects.all()


def territory_rules_visible_to(user: User) -> QuerySet[TerritoryRule]:
    """The assignment rules of the territories ``user`` may see."""
    return TerritoryRule.objects.filter(territory__in=territories_visible_to(user))


def handovers_visible_to(user: User) -> QuerySet[Handover]:
    """Handovers to or from ``user`` (a manager: anyone in their team); admins see all."""
    if user.is_admin:
        return Handover.objects.all()
    return Handover.objects.filter(_owned_by(user, "from_owner") | _owned_by(user, "to_owner"))


def realignments_visible_to(user: User) -> QuerySet[TerritoryRealignment]:
    """Realignment jobs are the admins' tool: only they follow them."""
    if user.is_admin:
        return TerritoryRealignment.objects.all()
    return TerritoryRealignment.objects.none()


def realignment_handover_groups(
    *, job: TerritoryRealignment, today: datetime.date | None = None
) -> list[dict]:
    """What a realignment handed over, summed as its preview sums it (``RealignmentPlan.groups``): per
    (from territory, from owner, to territory, to owner) of each account, its accounts, its open deals
    and their value in the reporting currency at ``today``'s rates, deals without a rate listed apart.

    Three grouped queries.
    """
    on = today or timezone.localdate()
    groups: dict[tuple, dict] = {}

    def group(key: tuple) -> dict:
        return groups.setdefault(
            key,
            {"accounts": 0, "deals": 0, "value": Decimal("0"), "unconverted": []},
        )

    for *key, accounts in (
        Handover.objects.filter(job=job, deal__isnull=True)
        .values_list("from_territory_id", "from_owner_id", "to_territory_id", "to_owner_id")
        .annotate(Count("pk"))
        .order_by()
    ):
        group(tuple(key))["accounts"] = accounts
    account_from_owner = Subquery(
        Handover.objects.filter(job=job, deal__isnull=True, account_id=OuterRef("account_id"))
        .order_by("pk")
        .values("from_owner_id")[:1]
    )
    handed = Deal.objects.filter(handovers__job=job).annotate(
        from_territory=F("handovers__from_territory_id"),
        account_from_owner=account_from_owner,
        to_territory=F("handovers__to_territory_id"),
        to_owner=F("handovers__to_owner_id"),
    )
    key_fields = ("from_territory", "account_from_owner", "to_territory", "to_owner")
    value = converted(on=on)
    for *key, deals, total in (
        handed.values_list(*key_fields).annotate(n=Count("pk"), total=Sum(value)).order_by()
    ):
        entry = group(tuple(key))
        entry["deals"] = deals
        entry["value"] = total or Decimal("0")
    for *key, currency, deals, total in (
        handed.filter(unconverted(value))
        .values_list(*key_fields, "currency")
        .annotate(n=Count("pk"), total=Sum("amount"))
        .order_by()
    ):
        group(tuple(key))["unconverted"].append(
            {"currency": currency, "deals": deals, "value": total}
        )
    return [
        {
            "from_territory": k[0],
            "from_owner": k[1],
            "to_territory": k[2],
            "to_owner": k[3],
            **groups[k],
            "value": Decimal(groups[k]["value"]).quantize(Decimal("0.01")),
            "unconverted": merge_unconverted(groups[k]["unconverted"]),
        }
        for k in sorted(groups, key=lambda k: tuple((v is None, v or 0) for v in k))
    ]


def import_jobs_visible_to(user: User) -> QuerySet[ImportJob]:
    """An import is followed by whoever started it; admins follow every import."""
    jobs = ImportJob.objects.select_related("requested_by")
    return jobs if user.is_admin else jobs.filter(requested_by=user)


def deal_splits(deal: Deal) -> list[DealSplit]:
    """A deal's split credit, largest share first (empty: the owner takes it all)."""
    return list(DealSplit.objects.filter(deal=deal).select_related("rep"))


# The deal list (API): a page read per owner from an (owner, sort key, id) index and merged.

# The sorts the list offers, each with the index that serves it per owner; ``id`` breaks ties.
DEAL_LIST_SORTS = (
    "expected_close_date",
    "amount",
    "created_at",
    "updated_at",
    "name",
    "closed_at",
    "id",
)
# Sort keys that may be empty: an empty one sorts after every value ascending, first descending.
_NULLABLE_SORTS = frozenset({"closed_at"})
# Up to this many rows a list's count is exact; beyond it, the planner's estimate.
DEAL_COUNT_EXACT_UP_TO = 1000
# Sorts with an index over every live deal in (key, id) order (``deal_live_close_idx``,
# ``deal_live_amount_idx``): a list whose owners hold a large share of all deals finds its page
# walking it, a few rows in.
DEAL_WALKED_SORTS = frozenset({"expected_close_date", "amount"})
# The walk reads at most this many of that index's rows beyond the page's offset; a page it has
# not filled is merged.
DEAL_WALK_ROWS = 2000
# The walk is tried when, by the list's share of all deals, it should read this many times
# fewer rows than the merge (each walked row is a table read, each merged one an index read).
DEAL_WALK_MARGIN = 2


@dataclass(frozen=True)
class DealSort:
    """The list's order: its keys (field, descending), then the id in the last key's direction.

    Ascending, an empty key sorts after every value; descending, before (PostgreSQL's own
    defaults, which the indexes follow).
    """

    keys: tuple

    @classmethod
    def of(cls, terms) -> "DealSort":
        """From ``OrderingFilter`` terms such as ``["-amount"]``; the id is added to break ties."""
        keys = []
        for term in terms:
            field = "id" if term.lstrip("-") == "pk" else term.lstrip("-")
            if field not in {key for key, _ in keys}:
                keys.append((field, term.startswith("-")))
        if "id" not in {key for key, _ in keys}:
            keys.append(("id", keys[-1][1] if keys else False))
        return cls(tuple(keys))

    @property
    def keyset(self) -> bool:
        """Whether pages can be read on from a row: one key, then the id in its direction."""
        return len(self.keys) == 1 or (
            len(self.keys) == 2 and self.keys[1][0] == "id" and self.keys[0][1] == self.keys[1][1]
        )

    @property
    def field(self) -> str:
        return self.keys[0][0]

    @property
    def descending(self) -> bool:
        return self.keys[0][1]

    @property
    def fields(self) -> tuple:
        """The keys before the id (none when sorting by the id alone)."""
        return tuple(field for field, _ in self.keys if field != "id")

    def order_by(self, *, backwards: bool = False) -> tuple:
        return tuple(
            F(field).desc(nulls_first=True)
            if descending != backwards
            else F(field).asc(nulls_last=True)
            for field, descending in self.keys
        )


@dataclass(frozen=True)
class DealPage:
    """One page's deal ids in order, the sort key of each, whether more rows lie beyond it
    (in the direction it was read) and the list's count, exact or estimated."""

    ids: list[int]
    keys: list
    more: bool
    count: int
    count_exact: bool
    walked: bool = False  # found by the walk of a global index, not by the per-owner merge


def deals_listed_for(user: User, *, include_deleted: bool = False) -> tuple[QuerySet, list | None]:
    """What ``deals_visible_to`` gives, with the owners it ranges over read once (None: everyone's).

    The owners come as a list (``deal_owner_ids_in_reach``) so the list can walk them one by one
    and the planner estimates with their own statistics; a manager's costs one query.
    """
    owners = deal_owner_ids_in_reach(user)
    deals = Deal.objects.all() if owners is None else Deal.objects.filter(owner_id__in=owners)
    if not include_deleted:
        deals = deals.filter(deleted_at__isnull=True)
    return deals, owners


def _beyond(
    sort: DealSort, key, pk: int, *, backwards: bool, table: str = "pipeline_deal"
) -> Q | RawSQL:
    """The rows after (key, pk) in the order the page is read: a row comparison the index ranges on."""
    descending = sort.descending != backwards
    if sort.field == "id":
        return Q(pk__lt=pk) if descending else Q(pk__gt=pk)
    column = f'"{table}"."{sort.field}"'
    if isinstance(key, datetime.datetime):  # as the column stores it (SQLite: naive UTC text)
        key = connection.ops.adapt_datetimefield_value(key)
    less_or_greater = "<" if descending else ">"
    compare = f'({column}, "{table}"."id") {less_or_greater} (%s, %s)'
    if sort.field not in _NULLABLE_SORTS:
        return RawSQL(compare, (key, pk), output_field=BooleanField())
    if key is None:  # among the empty keys (last ascending, first descending), by id
        rest = f"{column} IS NULL AND " + f'"{table}"."id" {less_or_greater} %s'
        if descending:
            rest = f"({rest}) OR {column} IS NOT NULL"
        return RawSQL(f"({rest})", (pk,), output_field=BooleanField())
    if descending:
        return RawSQL(compare, (key, pk), output_field=BooleanField())
    return RawSQL(f"({compare} OR {column} IS NULL)", (key, pk), output_field=BooleanField())


# The columns of a row of the deals page, read as values (no model objects).
_PAGE_ROW_COLUMNS = {
    "account_name": F("account__name"),
    "stage_name": F("stage__name"),
    "pipeline_name": F("pipeline__name"),
    "owner_full_name": F("owner__full_name"),
    "owner_first_name": F("owner__first_name"),
    "owner_last_name": F("owner__last_name"),
    "owner_username": F("owner__username"),
}


def deal_page_rows(ids: list[int]) -> list[dict]:
    """The rows of the deals page for these ids (already picked within reach), in their order:
    the deal's shown columns, its account's, stage's and pipeline's names, its owner's
    ``display_name`` as ``owner_name`` and its amount in the reporting currency. One query."""
    found = {
        row["pk"]: row
        for row in Deal.objects.filter(pk__in=ids)
        .order_by()
        .values(
            "pk",
            "name",
            "account_id",
            "status",
            "currency",
            "amount",
            "expected_close_date",
            "forecast_category",
            amount_in_reporting_currency=in_reporting_currency(),
            **_PAGE_ROW_COLUMNS,
        )
    }
    rows = [found[pk] for pk in ids]
    for row in rows:
        row["owner_name"] = display_name_of(
            row.pop("owner_full_name"),
            row.pop("owner_first_name"),
            row.pop("owner_last_name"),
            row.pop("owner_username"),
        )
    return rows


def deal_list_page(
    deals: QuerySet,
    *,
    owners: list | None,
    sort: DealSort,
    size: int,
    offset: int = 0,
    after: tuple | None = None,
    backwards: bool = False,
    live: bool = False,
    parts: list[QuerySet] | None = None,
    front: QuerySet | None = None,
) -> DealPage:
    """A page of ``deals`` (already scoped and filtered) in ``sort`` order, with the list's count.

    ``owners`` are those ``deals`` range over (None: every user). On PostgreSQL one statement:
    the first ``offset + size + 1`` rows of each owner from the (owner, key, id) index (a
    ``LATERAL`` join), merged and cut to the page, so a manager's page costs a few index reads per
    rep, not a sort of the whole team's deals; and the count, exact up to
    ``DEAL_COUNT_EXACT_UP_TO`` rows and the planner's estimate beyond. ``after`` (key, id) reads
    on from a row (keyset pagination); ``backwards`` reads the other way (rows come back in
    ``sort`` order all the same).

    ``live`` says that ``deals`` holds live deals only: then, for a sort of
    ``DEAL_WALKED_SORTS`` whose list holds a large share of all deals, the same statement first
    walks the index over every live deal in the page's order, at most ``DEAL_WALK_ROWS`` rows
    past ``offset``, keeping those ``deals`` holds; when that fills the page the merge is skipped
    (see ``_walk`` and ``_merged_page``).

    ``front``, for the page's default order (open deals first, then the closed ones newest
    first; ``deal_live_page_order_idx``), is every live deal of everyone that can come before
    the list's last row: the open ones and those closed since the period began. The list is
    always at the front of that order, however few deals it holds of the whole table, so the
    walk is tried for it too, with the list's share taken of ``front``, not of every deal: a
    deep page of a big reach (page 20 of an admin's) is the next thousand rows of that index,
    where the merge read a thousand rows of every owner and sorted them.

    ``parts``, querysets that do not overlap and together hold what ``deals`` holds, are read
    each on its own for every owner and merged (no walk): a list of open deals and deals
    closed in a period, sorted by a key the old closed deals come first in, reads each
    owner's open deals from their own index and the period's closed ones from a range of the
    closing time, instead of wading through every deal closed before the period.
    """
    page = deals
    if after is not None:
        beyond = _beyond(sort, after[0], after[1], backwards=backwards)
        page = page.filter(beyond)
        parts = None if parts is None else [part.filter(beyond) for part in parts]
    order = sort.order_by(backwards=backwards)
    columns = ("pk", *sort.fields)
    limit = offset + size + 1
    counted = deals.order_by().values("pk")
    walked = False
    if connection.vendor != "postgresql":
        rows = list(page.order_by(*order).values_list(*columns)[offset:limit])
        count, exact = counted.count(), True
    else:
        walk = None
        walked_order = sort.keyset and sort.field in DEAL_WALKED_SORTS
        if live and not parts and (walked_order or (front is not None and after is None)):
            walk = _walk(
                page, sort, order, columns, offset, limit, after=after, backwards=backwards
            )
        rows, count, exact, walked = _merged_page(
            parts or [page], counted, owners, order, columns, offset, limit, walk, front
        )
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    return DealPage(
        ids=[row[0] for row in rows],
        keys=[row[1] if len(row) > 1 else row[0] for row in rows],
        more=more,
        count=count,
        count_exact=exact,
        walked=walked,
    )


def _walk(
    page, sort, order, columns, offset, limit, *, after, backwards
) -> tuple[str, tuple] | None:
    """The first ``limit`` rows of ``page`` among the first ``offset + DEAL_WALK_ROWS`` live
    deals of the whole table in ``order`` (from ``after``), as SQL and its parameters (None: no
    walk, when ``page``'s query does not read the deal table first).

    The bounded read stands in for the deal table in ``page``'s own query, so every filter of the
    list applies to the walked rows alone; PostgreSQL reads it lazily, so a page filled after a
    few dozen rows reads no more. If ``limit`` rows are found, they are the page's: any other
    row of ``page`` lies beyond the walked ones in the order.
    """
    # deal_live_close_idx, deal_live_amount_idx, deal_live_page_order_idx
    bounded = Deal.objects.filter(deleted_at__isnull=True, pk__gt=0)
    if after is not None:
        bounded = bounded.filter(_beyond(sort, after[0], after[1], backwards=backwards))
    bounded_sql, bounded_params = bounded.order_by(*order)[
        : offset + DEAL_WALK_ROWS
    ].query.sql_with_params()
    sql, params = page.order_by(*order).values_list(*columns)[:limit].query.sql_with_params()
    table = f" FROM {connection.ops.quote_name(Deal._meta.db_table)}"
    # The select list is plain columns (no parameters), so the table is the first parameter's
    # place: the bounded read's parameters come first.
    if table not in sql or "%s" in sql[: sql.index(table)]:
        return None
    sql = sql.replace(table, f" FROM ({bounded_sql}) AS {table[6:]}", 1)
    return sql, (*bounded_params, *params)


def _ordered_ids(
    deals: QuerySet, names: tuple, *, descending: bool, offset: int, limit: int
) -> list[int]:
    """The page of ``deals``' ids sorted by ``names`` in one plain ordered query (SQLite)."""
    ordered = deals.order_by(*(f"-{name}" if descending else name for name in names))
    return list(ordered.values_list("pk", flat=True)[offset : offset + limit])


# Sent ahead of a statement in the same round trip: plan it without parallel workers. Two
# statements sent together run as one transaction of their own, which ``SET LOCAL`` lasts for;
# inside an open transaction (none in a request; a test's) it lasts until that one ends.
SERIAL_PLAN = "SET LOCAL max_parallel_workers_per_gather = 0;"


def _ids_group_after_group(
    groups: str,
    params: tuple,
    sort: tuple,
    inner: QuerySet,
    *,
    descending: bool,
    offset: int,
    limit: int,
    before: str = "",
) -> list[int]:
    """The page of ids ``inner`` reads for each row of ``groups`` (SQL, aliased ``deal_groups``,
    in its ``sort`` columns' order), sorted by those columns and then id. ``before``: statements
    sent ahead of it in the same round trip (``SERIAL_PLAN``).

    ``inner`` refers to its group's columns as ``"deal_groups".<column>`` and reads its own rows by
    id in the page's direction, at most ``offset + limit``. The groups come sorted, so the planner
    sorts the merged rows one group at a time (an incremental sort) and stops reading groups
    once it has the page.
    """
    direction = "DESC" if descending else "ASC"
    inner_sql, inner_params = inner.query.sql_with_params()
    order = ", ".join(f"deal_groups.{column} {direction}" for column in sort)
    sql = f"""{before}
        SELECT page.id FROM ({groups}) AS deal_groups
        CROSS JOIN LATERAL ({inner_sql}) AS page(id)
        ORDER BY {order}, page.id {direction}
        LIMIT %s OFFSET %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, (*params, *inner_params, limit, offset))
        return [row[0] for row in cursor.fetchall()]


def deal_ids_by_owner(
    deals: QuerySet, *, owners: list | None, descending: bool, offset: int, limit: int
) -> list[int]:
    """``limit`` ids of ``deals`` from ``offset`` on, sorted by their owner's full name, then
    username, then id (all descending or all ascending), as the deals page lists them.

    ``owners`` are those ``deals`` range over (None: every user). On PostgreSQL the owners are
    read in that order, each one's deals by id, and the read stops once the page is full: a page
    reads the deals of its first owners only, where sorting every deal by its owner's name read
    and joined them all (half a second for a manager at 1,000,000 deals).
    """
    page = {"descending": descending, "offset": offset, "limit": limit}
    if connection.vendor != "postgresql":
        return _ordered_ids(deals, ("owner__full_name", "owner__username", "id"), **page)
    direction = "DESC" if descending else "ASC"
    inner = (
        _one_owner_at_a_time(deals, owners)
        .filter(owner_id=RawSQL('"deal_groups"."id"', ()))
        .order_by(F("owner_id").desc() if descending else "owner_id", "-pk" if descending else "pk")
        .values_list("pk")[: offset + limit]
    )
    users = connection.ops.quote_name(User._meta.db_table)
    where, params = ("", ()) if owners is None else ("WHERE id = ANY(%s)", (list(owners),))
    owners_sql = f"""
        SELECT id, full_name, username FROM {users} {where}
        ORDER BY full_name {direction}, username {direction}
    """
    return _ids_group_after_group(owners_sql, params, ("full_name", "username"), inner, **page)


def deal_ids_by_stage(deals: QuerySet, *, descending: bool, offset: int, limit: int) -> list[int]:
    """``limit`` ids of ``deals`` from ``offset`` on, sorted by their pipeline's name, then their
    stage's order, then id (all descending or all ascending), as the deals page lists them.

    On PostgreSQL every (pipeline, stage) pair is read in that order, each one's deals by id from
    ``deal_live_stage_id_idx``, and the read stops once the page is full: a page reads its
    first stages' deals only, where sorting every listed deal by the joined pipeline and stage
    read them all (0.6-0.9 s for a manager or an admin at 1,000,000 deals). The pairs are every
    pipeline with every stage, not each pipeline's own stages: a deal's pipeline is not bound to
    be its stage's, and such a deal keeps its place in the order (a pair without deals costs
    one index probe).
    """
    page = {"descending": descending, "offset": offset, "limit": limit}
    if connection.vendor != "postgresql":
        return _ordered_ids(deals, ("pipeline__name", "stage__order", "id"), **page)
    direction = "DESC" if descending else "ASC"
    inner = (
        deals.filter(
            pipeline_id=RawSQL('"deal_groups"."pipeline_id"', ()),
            stage_id=RawSQL('"deal_groups"."stage_id"', ()),
        )
        .order_by("-pk" if descending else "pk")
        .values_list("pk")[: offset + limit]
    )
    pipelines = connection.ops.quote_name(Pipeline._meta.db_table)
    stages = connection.ops.quote_name(Stage._meta.db_table)
    pairs_sql = f"""
        SELECT p.id AS pipeline_id, s.id AS stage_id, p.name, s."order"
        FROM {pipelines} AS p CROSS JOIN {stages} AS s
        ORDER BY p.name {direction}, s."order" {direction}
    """
    return _ids_group_after_group(pairs_sql, (), ("name", '"order"'), inner, **page)


def deal_ids_by_account(
    deals: QuerySet, *, descending: bool, offset: int, limit: int, large: bool
) -> list[int]:
    """``limit`` ids of ``deals`` from ``offset`` on, sorted by their account's name, then id (both
    descending or both ascending), as the deals page lists them.

    On PostgreSQL, for a ``large`` list (more rows than the page's count reads exactly), the
    accounts are read in name order, each one's deals by id, and the read stops once the page is
    full: a manager's page reads its first accounts only, where the planner sorted all 142,857
    names at 1,000,000 deals (136 ms). The rows of one name are sorted by deal id as they come
    (an incremental sort), so accounts that share a name interleave their deals by id. The
    accounts come from two partial indexes merged, ``account_live_name_idx`` and
    ``account_deleted_name_idx`` (a deleted account keeps its closed deals): one index of every
    name drew the accounts list off its own. A smaller list is read first and then sorted (a
    ``MATERIALIZED`` step): walking the names for a rep's few thousand deals, far apart in the
    order, took 440-475 ms where sorting them takes a few.
    """
    page = {"descending": descending, "offset": offset, "limit": limit}
    if connection.vendor != "postgresql":
        return _ordered_ids(deals, ("account__name", "id"), **page)
    try:
        return _ids_by_account_name(deals, large=large, **page)
    except EmptyResultSet:  # a condition nothing meets (an empty list of ids): no SQL to run
        return []


def _ids_by_account_name(
    deals: QuerySet, *, descending: bool, offset: int, limit: int, large: bool
) -> list[int]:
    page = {"descending": descending, "offset": offset, "limit": limit}
    direction = "DESC" if descending else "ASC"
    accounts = connection.ops.quote_name(Account._meta.db_table)
    if large:
        inner = (
            deals.filter(account_id=RawSQL('"deal_groups"."id"', ()))
            .order_by("-pk" if descending else "pk")
            .values_list("pk")[: offset + limit]
        )
        # Each half reads its own partial index (live accounts, deleted ones), merged in order.
        halves = " UNION ALL ".join(
            f"(SELECT name, id FROM {accounts} WHERE {half} ORDER BY name {direction})"
            for half in ("deleted_at IS NULL", "deleted_at IS NOT NULL")
        )
        accounts_sql = f"SELECT name, id FROM ({halves}) AS named ORDER BY name {direction}"
        # Merged as they are read: with parallel workers the planner sorted every name instead
        # (55 ms against 2 for a manager at 1,000,000 deals).
        return _ids_group_after_group(
            accounts_sql, (), ("name",), inner, **page, before=SERIAL_PLAN
        )
    listed_sql, params = deals.order_by().values_list("pk", "account_id").query.sql_with_params()
    sql = f"""
        WITH listed (id, account_id) AS MATERIALIZED ({listed_sql})
        SELECT listed.id FROM listed JOIN {accounts} AS a ON a.id = listed.account_id
        ORDER BY a.name {direction}, listed.id {direction}
        LIMIT %s OFFSET %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, (*params, limit, offset))
        return [row[0] for row in cursor.fetchall()]


def _one_owner_at_a_time(page: QuerySet, owners: list | None) -> QuerySet:
    """``page`` without its ``owner_id IN (owners)``, for reading it one of ``owners`` at a time.

    Read per owner, every row is one of theirs; beside ``owner_id = <that owner>``, the list
    made the planner multiply the two and guess 256 rows an owner where there were 4,000, and
    sort them all from another index (11 ms for a team of 11) rather than read the first 51 in
    order (1 ms).
    """
    if owners is None or page.query.where.connector != AND or page.query.where.negated:
        return page
    owner = Deal._meta.get_field("owner")
    trimmed = page.all()
    trimmed.query.where.children = [
        condition
        for condition in trimmed.query.where.children
        if not (
            isinstance(condition, In)
            and getattr(condition.lhs, "target", None) == owner
            and isinstance(condition.rhs, list | tuple)
            and list(condition.rhs) == list(owners)
        )
    ]
    return trimmed


def _merged_page(parts, counted, owners, order, columns, offset, limit, walk=None, front=None):
    owner_ref = RawSQL('"deal_owners"."id"', ())
    # The owner leads the order, in the first key's direction (one owner per lateral read: it
    # changes nothing) so the planner takes the (owner, key, id) index, forwards or backwards,
    # rather than walking the primary key's and filtering on the owner. Each part is its own
    # read with its own plan.
    inner_sql, inner_params = _sql_of(
        _one_owner_at_a_time(part, owners)
        .filter(owner_id=owner_ref)
        .order_by(F("owner_id").desc() if order[0].descending else "owner_id", *order)
        .values_list(*columns)[:limit]
        for part in parts
    )
    inner_sql = " UNION ALL ".join(inner_sql)
    bounded_sql, bounded_params = counted[: DEAL_COUNT_EXACT_UP_TO + 1].query.sql_with_params()
    counted_sql, counted_params = counted.query.sql_with_params()
    # The whole filtered query as text (values quoted by the driver) for the planner's estimate.
    whole_query = connection.ops.compose_sql(counted_sql, counted_params)
    names = ["id"] + [f"k{i}" for i in range(1, len(columns))]
    merged_columns = ", ".join(names)
    by_name = dict(zip(("id", *columns[1:]), names, strict=True))
    merged_order = ", ".join(
        f"page.{by_name[term.expression.name]} "
        + ("DESC NULLS FIRST" if term.descending else "ASC NULLS LAST")
        for term in order
    )
    if owners is None:
        owners_sql, owners_params = "SELECT id FROM salesmgr_user", ()
    else:
        owners_sql, owners_params = "SELECT * FROM unnest(%s::bigint[])", (list(owners),)

    def merge_sql(guard: str = "") -> str:
        return f"""
            SELECT page.* FROM ({owners_sql}) AS deal_owners(id)
            CROSS JOIN LATERAL ({inner_sql}) AS page({merged_columns})
            {guard}
            ORDER BY {merged_order}
            LIMIT %s OFFSET %s
        """

    merge_params = (*owners_params, *inner_params, limit - offset, offset)
    counted_cte = f"""
        -- Estimated once, not once per row of the page: a volatile function keeps this apart.
        counted AS MATERIALIZED (
            SELECT n, CASE WHEN n > %s THEN count_estimate(%s) END AS estimate
            FROM (SELECT count(*) AS n FROM ({bounded_sql}) AS bounded) AS bounded_count
        )
    """
    counted_params = (DEAL_COUNT_EXACT_UP_TO, whole_query, *bounded_params)
    if walk is None:
        sql = f"""
            WITH {counted_cte}
            SELECT counted.n, counted.estimate, false, page.*
            FROM counted
            LEFT JOIN LATERAL ({merge_sql()}) AS page ON true
            ORDER BY {merged_order}
        """
        params = (*counted_params, *merge_params)
    else:
        walk_sql, walk_params = walk
        # Tried when the list's share of all deals (its count over the table's, both the
        # planner's figures beyond the exact bound) should fill the page within fewer rows
        # than the merge reads: ``limit`` rows from each owner, or the walk's bound. With a
        # ``front``, its share of those; and then also whatever the share when the walk's
        # bound is a fraction of the merge's reads, for a team's estimate can be half the
        # truth (its subtree's join) and a walk that falls short costs little beside them.
        bound = offset + DEAL_WALK_ROWS
        reach = bound if owners is None else min(bound, limit * len(owners))
        cheap = (
            front is not None
            and owners is not None
            and DEAL_WALK_MARGIN * bound <= limit * len(owners)
        )
        if front is None:
            whole_sql, whole_params = (
                "SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
                (Deal._meta.db_table,),
            )
        else:
            front_sql, front_params = front.order_by().values("pk").query.sql_with_params()
            whole_sql = "SELECT count_estimate(%s)"
            whole_params = (connection.ops.compose_sql(front_sql, front_params),)
        sql = f"""
            WITH {counted_cte},
            walk AS MATERIALIZED (
                SELECT * FROM ({walk_sql}) AS walk({merged_columns})
                WHERE %s OR (SELECT coalesce(estimate, n) FROM counted) * %s >= %s * ({whole_sql})
            ),
            -- Whether the walk filled the page: each branch below runs only on its side of it.
            walked AS MATERIALIZED (SELECT count(*) = %s AS filled FROM walk)
            SELECT counted.n, counted.estimate, walked.filled, page.*
            FROM counted CROSS JOIN walked
            LEFT JOIN LATERAL (
                (
                    SELECT page.* FROM walk AS page
                    WHERE (SELECT filled FROM walked)
                    ORDER BY {merged_order}
                    LIMIT %s OFFSET %s
                )
                UNION ALL
                ({merge_sql("WHERE NOT (SELECT filled FROM walked)")})
            ) AS page ON true
            ORDER BY {merged_order}
        """
        params = (
            *counted_params,
            *walk_params,
            cheap,
            reach,
            DEAL_WALK_MARGIN * limit,
            *whole_params,
            limit,
            limit - offset,
            offset,
            *merge_params,
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    n, estimate, walked = fetched[0][0], fetched[0][1], bool(fetched[0][2])
    rows = [row[3:] for row in fetched if row[3] is not None]
    if estimate is None:
        return rows, n, True, walked
    return rows, max(estimate, n), False, walked


# The activity list (API): the visible activities in parts that do not overlap, each read with
# its own plan from an index in the list's order, merged.

ACTIVITY_LIST_SORTS = ("occurred_at", "id")
# Up to this many rows the activity list's count is exact; beyond it, the planner's estimate.
ACTIVITY_COUNT_EXACT_UP_TO = DEAL_COUNT_EXACT_UP_TO


@dataclass(frozen=True)
class ActivityParts:
    """The visible activities as the list reads them (``activities_listed_for``): ``apart``, parts
    that do not overlap; ``own``, the reader's own activities (None for an admin), which may
    overlap them; ``own_rest``, those of ``own`` in no part of ``apart``."""

    apart: list
    own: QuerySet | None = None
    own_rest: QuerySet | None = None

    def map(self, change) -> "ActivityParts":
        """The same parts, each changed alike (filtered, searched)."""
        return ActivityParts(
            apart=[change(part) for part in self.apart],
            own=None if self.own is None else change(self.own),
            own_rest=None if self.own_rest is None else change(self.own_rest),
        )


def activities_listed_for(user: User) -> ActivityParts:
    """What ``activities_visible_to(user)`` gives, in parts that each carry ``deal_shown`` and
    ``account_shown``, for ``activity_list_page`` to merge.

    An activity carries no owner, so no one index serves the three reasons a reader sees it;
    each part is one reason, which the planner serves from an index in the list's order:
    - on a live deal of an owner in reach (``deal_owner_ids_in_reach``, ids read once): a
      manager's team owns most deals, so the (occurred_at, id) index walked newest first finds a
      page in a few rows, each checked against its deal by primary key; for a rep with few
      deals the planner may read their deals' activities by deal instead (it estimates from
      the owners' own statistics);
    - with no deal, on an account they may read: the partial index of activities without a deal;
    - written by the reader (they keep it after its deal or account leaves them): the
      (author, occurred_at) index, each row's deal and account checked by primary key. These
      mostly lie in the first part too: the page merges without repeating them, and the count
      adds only those in neither of the others (``own_rest``).
    An admin reads one part, every activity.
    """
    shown = {"deal_shown": Value(True), "account_shown": Value(True)}
    if user.is_admin:
        return ActivityParts(apart=[Activity.objects.annotate(**shown)])
    owners = deal_owner_ids_in_reach(user)
    accounts = accounts_visible_to(user)
    on_deals = Activity.objects.filter(
        deal__owner_id__in=owners, deal__deleted_at__isnull=True
    ).annotate(**shown)
    on_accounts = Activity.objects.filter(
        deal__isnull=True, account__in=accounts.values("pk")
    ).annotate(**shown)
    deal_seen = Q(
        Exists(
            Deal.objects.filter(
                pk=OuterRef("deal_id"), owner_id__in=owners, deleted_at__isnull=True
            )
        )
    )
    account_seen = Q(Exists(accounts.filter(pk=OuterRef("account_id"))))
    # As ``activities_visible_to`` shows them, checked row by row.
    own = Activity.objects.filter(author=user).annotate(
        deal_shown=_holds(Q(deal__isnull=True) | deal_seen),
        account_shown=_holds(Q(account__isnull=True) | account_seen | deal_seen),
    )
    own_rest = own.filter(~deal_seen, ~(Q(deal__isnull=True) & account_seen))
    return ActivityParts(apart=[on_deals, on_accounts], own=own, own_rest=own_rest)


def activity_list_page(
    parts: ActivityParts,
    *,
    sort: DealSort,
    size: int,
    offset: int = 0,
    after: tuple | None = None,
    backwards: bool = False,
) -> "ActivityPage":
    """A page of the activities in ``parts`` (``activities_listed_for``, filtered) in ``sort``
    order, with the list's count, the deal list's way (``deal_list_page``): one statement that
    reads the first ``offset + size + 1`` rows of each part from its index and merges them (an
    activity in two parts once), and counts exactly up to ``ACTIVITY_COUNT_EXACT_UP_TO`` rows,
    answering the planner's estimate beyond. ``after`` (key, id) reads on from a row,
    ``backwards`` the other way."""
    if after is not None:
        beyond = _beyond(sort, after[0], after[1], backwards=backwards, table="pipeline_activity")
        paged = parts.map(lambda part: part.filter(beyond))
    else:
        paged = parts
    order = sort.order_by(backwards=backwards)
    columns = ("pk", *sort.fields, "deal_shown", "account_shown")
    limit = offset + size + 1
    readers = [*paged.apart, *([paged.own] if paged.own is not None else [])]
    if connection.vendor != "postgresql":
        found = {
            row for part in readers for row in part.order_by(*order).values_list(*columns)[:limit]
        }
        # In the list's order: its keys (after the id in each row), then the id.
        rows = sorted(
            found, key=lambda row: (*row[1:-2], row[0]), reverse=sort.descending != backwards
        )
        rows = rows[offset:limit]
        rest = [parts.own_rest] if parts.own_rest is not None else []
        count, exact = sum(part.count() for part in [*parts.apart, *rest]), True
    else:
        rows, count, exact = _merged_parts(paged, parts, order, columns, offset, limit)
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    return ActivityPage(
        ids=[row[0] for row in rows],
        keys=[row[1] if len(row) > 3 else row[0] for row in rows],
        more=more,
        count=count,
        count_exact=exact,
        shown={row[0]: (row[-2], row[-1]) for row in rows},
    )


@dataclass(frozen=True)
class ActivityPage(DealPage):
    """A page of the activity list, with whether each row's deal and account are shown."""

    shown: dict | None = None


def _sql_of(querysets) -> tuple[list[str], list]:
    statements, params = [], []
    for queryset in querysets:
        sql, its_params = queryset.query.sql_with_params()
        statements.append(f"({sql})")
        params.extend(its_params)
    return statements, params


def _merged_parts(paged, parts, order, columns, offset, limit):
    bound = ACTIVITY_COUNT_EXACT_UP_TO
    whole_sql, whole_params = _sql_of(part.order_by().values("pk") for part in parts.apart)
    whole = " UNION ALL ".join(whole_sql)
    # The parts apart as text (values quoted by the driver) for the planner's estimate; the
    # reader's own activities outside them are few, and planning them costs more than the page.
    estimated = connection.ops.compose_sql(whole, whole_params)
    # Counted up to the bound, each part bounded on its own: the planner plans each for its
    # first rows (a team's activities probe their deals one by one) rather than hashing every
    # deal in reach first (650,000 of them, 300 ms, for a manager at 1,000,000 deals).
    apart_sql, apart_params = _sql_of(
        part.order_by().values("pk")[: bound + 1] for part in parts.apart
    )
    apart = " UNION ALL ".join(apart_sql)
    if parts.own_rest is None:
        rest_sql, rest_params = "0", []
    else:
        ([own_rest], own_rest_params) = _sql_of([parts.own_rest.order_by().values("pk")])
        rest_sql = f"(SELECT count(*) FROM ({own_rest} LIMIT %s) AS rest)"
        rest_params = [*own_rest_params, bound + 1]
        estimated_with_rest = connection.ops.compose_sql(
            f"{whole} UNION ALL {own_rest}", [*whole_params, *own_rest_params]
        )
    page_sql, page_params = _sql_of(
        part.order_by(*order).values_list(*columns)[:limit] for part in paged.apart
    )
    merged = " UNION ALL ".join(page_sql)
    if paged.own is not None:
        [own], own_params = _sql_of([paged.own.order_by(*order).values_list(*columns)[:limit]])
        # UNION, not UNION ALL: an activity of the reader's in another part comes once (it
        # carries the same flags from both).
        merged = f"{merged} UNION {own}"
        page_params.extend(own_params)
    names = ["id"] + [f"k{i}" for i in range(1, len(columns) - 2)] + ["deal_shown", "account_shown"]
    by_name = dict(zip(("id", *columns[1:-2]), names[:-2], strict=True))
    merged_order = ", ".join(
        f"page.{by_name[term.expression.name]} "
        + ("DESC NULLS FIRST" if term.descending else "ASC NULLS LAST")
        for term in order
    )
    # Beyond the bound in the parts apart: their estimate. Within it, the reader's own others are
    # counted too (up to the bound); past it with those, the estimate of everything (rare: a
    # reader with many activities outside their scope and few within).
    with_rest = "" if parts.own_rest is None else "WHEN n > %s THEN count_estimate(%s)"
    with_rest_params = [] if parts.own_rest is None else [bound, estimated_with_rest]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT counted.n, counted.estimate, page.*
            FROM (
                SELECT n, CASE WHEN n_apart > %s THEN count_estimate(%s) {with_rest} END AS estimate
                FROM (
                    SELECT n_apart,
                        CASE WHEN n_apart > %s THEN n_apart ELSE n_apart + {rest_sql} END AS n
                    FROM (
                        SELECT count(*) AS n_apart FROM (
                            SELECT 1 FROM ({apart}) AS parts LIMIT %s
                        ) AS bounded
                    ) AS bounded_count
                    OFFSET 0
                ) AS counted_rest
            ) AS counted
            LEFT JOIN LATERAL (
                SELECT page.* FROM ({merged}) AS page({", ".join(names)})
                ORDER BY {merged_order}
                LIMIT %s OFFSET %s
            ) AS page ON true
            ORDER BY {merged_order}
            """,
            (
                bound,
                estimated,
                *with_rest_params,
                bound,
                *rest_params,
                *apart_params,
                bound + 1,
                *page_params,
                limit - offset,
                offset,
            ),
        )
        fetched = cursor.fetchall()
    n, estimate = fetched[0][0], fetched[0][1]
    rows = [row[2:] for row in fetched if row[2] is not None]
    if estimate is None:
        return rows, n, True
    return rows, max(estimate, n), False
