"""Writes of territory assignment: rules, realignment jobs, and the handovers they leave.

A realignment is planned once (``realignment_plan``, the same function the
preview calls) and its moves are stored; batches then apply them in account
order, each batch one short transaction that locks its accounts and their open
deals in id order, writes history rows (so as-of figures keep the past owner)
and handover records, and advances the job's cursor. A batch re-checks every
account against the plan and skips one changed since, so a job can be run
again, or resumed after a crash, without moving anything twice.
"""

from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone

from pipeline.assignment import RuleSpec, TerritoryChange, realignment_plan
from pipeline.checks.territories import (
    RULE_FIELDS,
    RuleValues,
    rule_errors,
    territory_changes_errors,
)
from pipeline.models import (
    Account,
    Deal,
    Handover,
    RealignmentMove,
    RealignmentStatus,
    StageKind,
    TerritoryRealignment,
    TerritoryRule,
)
from pipeline.signals import deals_changed
from quotas.models import Territory
from salesmgr.models import User


def territory_rule_create(
    *, territory: Territory, by: User, accounts: Sequence[Account] = (), **values
) -> TerritoryRule:
    """Add an assignment rule to ``territory``; accounts already placed stay until a realignment."""
    return territory_rule_update(
        rule=TerritoryRule(territory=territory), by=by, accounts=accounts, **values
    )


def territory_rule_update(
    *, rule: TerritoryRule, by: User, accounts: Sequence[Account] | None = None, **values
) -> TerritoryRule:
    """Change a rule's conditions (the named ``accounts`` too, when given); refused with every error found."""
    unknown = set(values) - {*RULE_FIELDS, "territory"}
    if unknown:
        raise TypeError(f"Cannot set {', '.join(sorted(unknown))}.")
    for name, value in values.items():
        setattr(rule, name, value)
    account_ids = [a.pk for a in accounts] if accounts is not None else None
    if account_ids is None and rule.pk:
        account_ids = list(rule.accounts.values_list("pk", flat=True))
    errors = rule_errors(_rule_values(rule, account_ids or []))
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        rule.save()
        if accounts is not None:
            rule.accounts.set(account_ids)
    return rule


def territory_rule_delete(*, rule: TerritoryRule, by: User) -> None:
    """Remove a rule; the accounts it placed stay where they are until a realignment."""
    rule.delete()


def _rule_values(rule: TerritoryRule, account_ids: Sequence[int]) -> RuleValues:
    return RuleValues(
        **{name: getattr(rule, name) for name in RULE_FIELDS}, account_ids=list(account_ids)
    )


def realignment_start(
    *, by: User, changes: Sequence[TerritoryChange] = (), reason: str = "", run=None
) -> TerritoryRealignment:
    """Write the proposed ``changes`` (rule sets, members) and queue a realignment under them.

    All or nothing: a change that breaks a rule writes nothing. ``run`` queues
    the job (the Celery task, after commit); the job plans when it starts.
    """
    errors = territory_changes_errors(changes)
    if errors:
        raise ValidationError(flat_errors(errors))
    with transaction.atomic():
        for change in changes:
            territory = Territory.objects.select_for_update().get(pk=change.territory_id)
            if change.rules is not None:
                TerritoryRule.objects.filter(territory=territory).delete()
                for spec in change.rules:
                    _rule_from_spec(spec, by)
            if change.member_ids is not None:
                territory.reps.set(change.member_ids)
        job = TerritoryRealignment.objects.create(requested_by=by, reason=reason[:200])
        if run is not None:
            transaction.on_commit(lambda: run(job.pk))
    return job


def flat_errors(errors: dict, prefix: str = "") -> dict[str, list[str]]:
    """Nested errors as one level, each key the path to its field (``territories.0.rules.1.countries``)."""
    flat: dict[str, list[str]] = {}
    for key, value in errors.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_errors(value, f"{path}."))
        else:
            flat[path] = list(value)
    return flat


def _rule_from_spec(spec: RuleSpec, by: User) -> TerritoryRule:
    rule = TerritoryRule.objects.create(territory_id=spec.territory_id, **spec.values())
    if spec.account_ids:
        rule.accounts.set(sorted(spec.account_ids))
    return rule


def realignment_run(*, job_id: int, batch_size: int | None = None) -> TerritoryRealignment:
    """Plan the job if it has not been, then apply its moves batch by batch from its cursor.

    Safe to run twice and to resume: a finished job does nothing, a running one
    continues after its cursor, and two runners of one job take turns on its row.
    """
    batch_size = batch_size or settings.TERRITORY_REALIGN_BATCH
    with transaction.atomic():
        job = TerritoryRealignment.objects.select_for_update().get(pk=job_id)
        if job.status == RealignmentStatus.QUEUED:
            _plan(job)
    while job.status == RealignmentStatus.RUNNING:
        job = _apply_batch(job.pk, batch_size)
    return job


def _plan(job: TerritoryRealignment) -> None:
    """Store the job's moves and where each round robin ends; the job is then running."""
    plan = realignment_plan()
    RealignmentMove.objects.bulk_create(
        [
            RealignmentMove(
                job=job,
                account_id=move.account_id,
                from_territory_id=move.from_territory_id,
                to_territory_id=move.to_territory_id,
                from_owner_id=move.from_owner_id,
                to_owner_id=move.to_owner_id,
                rule_id=move.rule.rule_id if move.rule else None,
            )
            for move in plan.moves
        ],
        batch_size=5000,
    )
    for territory_id, position in plan.round_robin_next.items():
        Territory.objects.filter(pk=territory_id).exclude(round_robin_next=position).update(
            round_robin_next=position
        )
    job.total = len(plan.moves)
    job.status = RealignmentStatus.RUNNING
    job.started_at = timezone.now()
    job.save(update_fields=["total", "status", "started_at"])


def _apply_batch(job_id: int, batch_size: int) -> TerritoryRealignment:
    """Apply the next ``batch_size`` moves after the job's cursor in one transaction."""
    with transaction.atomic():
        job = TerritoryRealignment.objects.select_for_update().get(pk=job_id)
        if job.status != RealignmentStatus.RUNNING:
            return job
        moves = list(
            job.moves.filter(account_id__gt=job.cursor)
            .select_related("rule")
            .order_by("account_id")[:batch_size]
        )
        if not moves:
            job.status = RealignmentStatus.DONE
            job.finished_at = timezone.now()
            job.save(update_fields=["status", "finished_at"])
            return job
        moved, deal_ids = _apply_moves(job, moves)
        job.cursor = moves[-1].account_id
        job.done += len(moves)
        job.skipped += len(moves) - moved
        job.deals_moved += len(deal_ids)
        job.save(update_fields=["cursor", "done", "skipped", "deals_moved"])
        territories = sorted(
            {
                t
                for move in moves
                for t in (move.from_territory_id, move.to_territory_id)
                if t is not None
            }
        )
        transaction.on_commit(
            lambda: deals_changed.send(sender=Deal, deal_ids=deal_ids, territory_ids=territories)
        )
    return job


def _reason(move: RealignmentMove) -> str:
    if move.rule_id:
        return f"Assignment rule {move.rule_id} (priority {move.rule.priority})"
    if move.from_territory_id != move.to_territory_id:
        return "Territory realignment"
    return "Owner is not a member of the territory"


def _apply_moves(job: TerritoryRealignment, moves: list[RealignmentMove]) -> tuple[int, list[int]]:
    """Hand the still-unchanged accounts of ``moves`` and their open deals over; (accounts moved, deal ids).

    The rows are written with set-based SQL (one UPDATE per new owner, history
    and handover rows copied with INSERT ... SELECT) so a batch holds its
    locks for as short a time as the database allows.
    """
    now = timezone.now()
    by_id = job.requested_by_id
    locked = {
        pk: (territory_id, owner_id, deleted_at, pinned)
        for pk, territory_id, owner_id, deleted_at, pinned in Account.objects.select_for_update()
        .filter(pk__in=[m.account_id for m in moves])
        .order_by("pk")
        .values_list("pk", "territory_id", "owner_id", "deleted_at", "territory_pinned")
    }
    current = [
        move
        for move in moves
        if (state := locked.get(move.account_id)) is not None
        and state[2] is None
        and not state[3]
        and state[:2] == (move.from_territory_id, move.from_owner_id)
    ]
    if not current:
        return 0, []
    account_ids = [move.account_id for move in current]
    new_owner = {
        move.account_id: move.to_owner_id
        for move in current
        if move.to_owner_id != move.from_owner_id
    }
    deals = [
        (pk, account_id)
        for pk, account_id, owner_id in Deal.objects.select_for_update()
        .filter(account_id__in=list(new_owner), status=StageKind.OPEN, deleted_at__isnull=True)
        .order_by("pk")
        .values_list("pk", "account_id", "owner_id")
        if owner_id != new_owner[account_id]
    ]
    deal_ids = [pk for pk, _ in deals]
    _history_bases(Account, account_ids)
    _history_bases(Deal, deal_ids)
    Handover.objects.bulk_create(
        [
            Handover(
                account_id=move.account_id,
                from_territory_id=move.from_territory_id,
                to_territory_id=move.to_territory_id,
                from_owner_id=move.from_owner_id,
                to_owner_id=move.to_owner_id,
                by_id=by_id,
                rule_id=move.rule_id,
                job=job,
                reason=_reason(move),
                at=now,
            )
            for move in current
        ]
    )
    _deal_handovers_insert(job, deal_ids, now)
    _owners_from_plan(job, account_ids, deal_ids, now)
    _history_copy(Account, account_ids, at=now, history_type="~", user_id=by_id, reason=REALIGNMENT)
    _history_copy(Deal, deal_ids, at=now, history_type="~", user_id=by_id, reason=REALIGNMENT)
    return len(current), deal_ids


REALIGNMENT = "Territory realignment"


def _owners_from_plan(
    job: TerritoryRealignment, account_ids: list[int], deal_ids: list[int], at
) -> None:
    """Give the accounts their planned territory and owner, and the deals their account's new owner:
    two UPDATEs joined to the plan, whatever the number of owners."""
    account = Account._meta.db_table
    deal = Deal._meta.db_table
    move = RealignmentMove._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {account} a SET territory_id = m.to_territory_id, owner_id = m.to_owner_id "
            f"FROM {move} m WHERE m.job_id = %s AND m.account_id = a.id AND a.id = ANY(%s)",
            [job.pk, list(account_ids)],
        )
        if deal_ids:
            cursor.execute(
                f"UPDATE {deal} d SET owner_id = m.to_owner_id, version = d.version + 1, updated_at = %s "
                f"FROM {move} m WHERE m.job_id = %s AND m.account_id = d.account_id AND d.id = ANY(%s)",
                [at, job.pk, list(deal_ids)],
            )


def _history_columns(model: type[models.Model]) -> list[str]:
    """The columns a row and its history rows share."""
    history = model.history.model
    own = {field.column for field in model._meta.concrete_fields}
    return [field.column for field in history._meta.concrete_fields if field.column in own]


def _history_copy(
    model: type[models.Model],
    ids: list[int],
    *,
    at,
    history_type: str,
    user_id: int | None,
    reason: str,
) -> None:
    """Record the rows ``ids`` as they now stand in their history, at ``at``, by ``user_id``, with one INSERT."""
    if not ids:
        return
    columns = ", ".join(_history_columns(model))
    sql = (
        f"INSERT INTO {model.history.model._meta.db_table} "
        f"({columns}, history_date, history_type, history_user_id, history_change_reason) "
        f"SELECT {columns}, %s, %s, %s, %s FROM {model._meta.db_table} WHERE id = ANY(%s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [at, history_type, user_id, reason, list(ids)])


def _history_bases(model: type[models.Model], ids: list[int]) -> None:
    """Record the stored values of the rows ``ids`` that have no history yet as their "created" entries.

    Rows loaded in bulk (the importer, the demo data) have no history; a
    change recorded against nothing would lose the owner it replaced.
    """
    if not ids:
        return
    table = model._meta.db_table
    history_table = model.history.model._meta.db_table
    columns = ", ".join(f"t.{column}" for column in _history_columns(model))
    names = ", ".join(_history_columns(model))
    sql = (
        f"INSERT INTO {history_table} ({names}, history_date, history_type, history_user_id, history_change_reason) "
        f"SELECT {columns}, t.created_at, '+', NULL, NULL FROM {table} t WHERE t.id = ANY(%s) "
        f"AND NOT EXISTS (SELECT 1 FROM {history_table} h WHERE h.id = t.id)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(ids)])


def _deal_handovers_insert(job: TerritoryRealignment, deal_ids: list[int], at) -> None:
    """One handover row per deal, from its current owner to its account's new one, copied in one INSERT."""
    if not deal_ids:
        return
    sql = f"""
        INSERT INTO {Handover._meta.db_table}
            (account_id, deal_id, from_territory_id, to_territory_id, from_owner_id, to_owner_id,
             by_id, rule_id, job_id, reason, at)
        SELECT d.account_id, d.id, m.from_territory_id, m.to_territory_id, d.owner_id, m.to_owner_id,
               %s, m.rule_id, m.job_id, h.reason, %s
        FROM {Deal._meta.db_table} d
        JOIN {RealignmentMove._meta.db_table} m ON m.account_id = d.account_id AND m.job_id = %s
        JOIN {Handover._meta.db_table} h ON h.account_id = d.account_id AND h.job_id = %s AND h.deal_id IS NULL
        WHERE d.id = ANY(%s)
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [job.requested_by_id, at, job.pk, job.pk, list(deal_ids)])
