"""Writes of territory assignment: rules, realignment jobs, and the handovers they leave.

A realignment is planned once (``realignment_plan``, the same function the
preview calls) and its moves are stored; batches then apply them in account
order. A batch is one short transaction, sized by rows (accounts and their open
deals) toward a set duration (``BatchPace``): it locks its accounts, then in one
statement locks, updates and records (handover and history rows) their open
deals, and advances the job's cursor. It gives way to a rep who holds a lock
rather than queue behind them with its own locks held. A batch re-checks every
account against the plan and skips one changed since, so a job can be run
again, or resumed after a crash, without moving anything twice; a job whose
task was lost is queued again by ``realignments_requeue_stalled``.
"""

import datetime
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, models, transaction
from django.db.models import F
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
from salesmgr.sqlite import ids_among


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
            transaction.on_commit(lambda: _queue(job.pk, run))
    return job


NOT_QUEUED = (
    "Not started yet: the task queue could not be reached. The job is saved and is queued "
    "again automatically once the queue answers."
)


def _queue(job_id: int, run) -> bool:
    """Queue the job with ``run`` (which answers None when the broker cannot be reached); whether it was.

    A job that could not be queued says so in its ``error`` until it is; the
    sweeper (``realignments_requeue_stalled``) tries again.
    """
    queued = run(job_id) is not None
    error = "" if queued else NOT_QUEUED
    TerritoryRealignment.objects.filter(pk=job_id, error__in=["", NOT_QUEUED]).exclude(
        error=error
    ).update(error=error)
    return queued


# A job the sweeper has queued this many times without it finishing is marked failed.
REQUEUE_LIMIT = 5


def realignments_requeue_stalled(*, run, now=None) -> list[int]:
    """Queue again each job left queued or running with no progress for ``TERRITORY_REALIGN_STALLED_MINUTES``;
    the ids queued.

    Safe to run twice at once: a job is claimed by a conditional UPDATE of its
    progress time, so only one sweep queues it; and a job run twice applies
    nothing twice (``realignment_run``). After ``REQUEUE_LIMIT`` queuings a job
    is marked failed rather than queued for ever.
    """
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(minutes=settings.TERRITORY_REALIGN_STALLED_MINUTES)
    stalled = TerritoryRealignment.objects.filter(
        status__in=[RealignmentStatus.QUEUED, RealignmentStatus.RUNNING], progressed_at__lt=cutoff
    )
    TerritoryRealignment.objects.filter(
        pk__in=stalled.filter(queued_times__gt=REQUEUE_LIMIT).values("pk")
    ).update(
        status=RealignmentStatus.FAILED,
        finished_at=now,
        error=f"Stopped: queued {REQUEUE_LIMIT} times again without finishing.",
    )
    claimed = []
    for pk, progressed_at in stalled.filter(queued_times__lte=REQUEUE_LIMIT).values_list(
        "pk", "progressed_at"
    ):
        if (
            TerritoryRealignment.objects.filter(pk=pk, progressed_at=progressed_at)
            .filter(status__in=[RealignmentStatus.QUEUED, RealignmentStatus.RUNNING])
            .update(progressed_at=now, queued_times=F("queued_times") + 1)
        ):
            claimed.append(pk)
    return [pk for pk in claimed if _queue(pk, run)]


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


@dataclass
class BatchPace:
    """How many rows (accounts and their open deals) the next batch takes, steered toward a duration.

    Each batch is one transaction that holds its deals' row locks until it
    commits, so its duration bounds how long a rep's edit of one of them can
    wait. The size follows the last batch's duration toward ``seconds``
    (never more than doubling at once, never below one account); a batch that
    meets a rep's lock gives way after ``lock_timeout_ms`` and is tried again
    smaller, rather than keeping its other locks while it waits.
    """

    rows: int
    seconds: float
    lock_timeout_ms: int
    max_rows: int = 50_000
    transactions: list[float] = field(default_factory=list)
    lock_timeouts: int = 0
    plan_seconds: float = 0.0

    @classmethod
    def from_settings(cls) -> "BatchPace":
        return cls(
            rows=settings.TERRITORY_REALIGN_BATCH_ROWS,
            seconds=settings.TERRITORY_REALIGN_BATCH_SECONDS,
            lock_timeout_ms=settings.TERRITORY_REALIGN_LOCK_TIMEOUT_MS,
        )

    def record(self, elapsed: float) -> None:
        """Note one committed batch's duration and size the next one from it."""
        self.transactions.append(elapsed)
        scaled = int(self.rows * self.seconds / max(elapsed, 0.001))
        self.rows = max(1, min(self.max_rows, 2 * self.rows, scaled))

    def give_way(self) -> None:
        """A batch met a lock held by someone else: try again, half as large, after a pause."""
        self.lock_timeouts += 1
        self.rows = max(1, self.rows // 2)
        time.sleep(min(1.0, self.lock_timeout_ms / 1000))


def realignment_run(
    *, job_id: int, batch_size: int | None = None, pace: BatchPace | None = None
) -> TerritoryRealignment:
    """Plan the job if it has not been, then apply its moves batch by batch from its cursor.

    Safe to run twice and to resume: a finished job does nothing, a running one
    continues after its cursor, and two runners of one job take turns on its
    row. ``batch_size`` caps the accounts of a batch; ``pace`` sizes batches
    by rows and time (default: the settings) and records each transaction.
    """
    batch_size = batch_size or settings.TERRITORY_REALIGN_BATCH
    pace = pace or BatchPace.from_settings()
    begun = time.perf_counter()
    with transaction.atomic():
        job = TerritoryRealignment.objects.select_for_update().get(pk=job_id)
        if job.status == RealignmentStatus.QUEUED:
            _plan(job)
    pace.plan_seconds += time.perf_counter() - begun
    while job.status == RealignmentStatus.RUNNING:
        job = _apply_batch(job.pk, batch_size, pace=pace)
    return job


def _plan(job: TerritoryRealignment) -> None:
    """Store the job's moves (one INSERT from arrays) and where each round robin ends; the job is then running."""
    plan = realignment_plan()
    columns = {
        "account_id": ("bigint", [move.account_id for move in plan.moves]),
        "from_territory_id": ("bigint", [move.from_territory_id for move in plan.moves]),
        "to_territory_id": ("bigint", [move.to_territory_id for move in plan.moves]),
        "from_owner_id": ("bigint", [move.from_owner_id for move in plan.moves]),
        "to_owner_id": ("bigint", [move.to_owner_id for move in plan.moves]),
        "rule_id": ("bigint", [move.rule.rule_id if move.rule else None for move in plan.moves]),
        "deals": ("integer", [move.deals for move in plan.moves]),
    }
    if plan.moves and connection.vendor != "postgresql":
        # SQLite (the embedded default) has no arrays to unnest: the same rows, batched.
        rows = zip(*(values for _, values in columns.values()), strict=True)
        RealignmentMove.objects.bulk_create(
            (RealignmentMove(job=job, **dict(zip(columns, row, strict=True))) for row in rows),
            batch_size=500,
        )
    elif plan.moves:
        arrays = ", ".join(f"%s::{kind}[]" for kind, _ in columns.values())
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {RealignmentMove._meta.db_table} (job_id, {', '.join(columns)}) "
                f"SELECT %s, * FROM unnest({arrays})",
                [job.pk, *(values for _, values in columns.values())],
            )
            # Batches join the plan by job and account: let the planner know how large it now is.
            cursor.execute(f"ANALYZE {RealignmentMove._meta.db_table}")
    for territory_id, position in plan.round_robin_next.items():
        Territory.objects.filter(pk=territory_id).exclude(round_robin_next=position).update(
            round_robin_next=position
        )
    job.total = len(plan.moves)
    job.status = RealignmentStatus.RUNNING
    job.started_at = job.progressed_at = timezone.now()
    job.save(update_fields=["total", "status", "started_at", "progressed_at"])


def _next_batch(job: TerritoryRealignment, batch_size: int, rows: int) -> list[int]:
    """The accounts of the next batch: after the cursor, at most ``batch_size`` of them and
    (beyond the first) ``rows`` accounts and planned deals together."""
    batch, load = [], 0
    for account_id, deals in (
        job.moves.filter(account_id__gt=job.cursor)
        .order_by("account_id")
        .values_list("account_id", "deals")[:batch_size]
    ):
        load += 1 + deals
        if batch and load > rows:
            break
        batch.append(account_id)
    return batch


def _apply_batch(
    job_id: int, batch_size: int, pace: BatchPace | None = None
) -> TerritoryRealignment:
    """Apply the next batch of moves after the job's cursor in one short transaction.

    The "created" history of rows loaded without any is written first, outside
    the transaction that locks deals; a batch that meets a rep's row lock rolls
    back and is retried smaller (``BatchPace``).
    """
    pace = pace or BatchPace.from_settings()
    job = TerritoryRealignment.objects.get(pk=job_id)
    if job.status != RealignmentStatus.RUNNING:
        return job
    account_ids = _next_batch(job, batch_size, pace.rows)
    if account_ids:
        _history_bases_of_accounts(job, account_ids)
    begun = time.perf_counter()
    try:
        with transaction.atomic():
            job = TerritoryRealignment.objects.select_for_update().get(pk=job_id)
            if job.status != RealignmentStatus.RUNNING or (
                account_ids and job.cursor >= account_ids[0]
            ):
                return job
            if not account_ids:
                job.status = RealignmentStatus.DONE
                job.finished_at = job.progressed_at = timezone.now()
                job.save(update_fields=["status", "finished_at", "progressed_at"])
                return job
            _short_locks(pace.lock_timeout_ms)
            moves = list(
                job.moves.filter(account_id__in=account_ids)
                .select_related("rule")
                .order_by("account_id")
            )
            moved, deal_ids = _apply_moves(job, moves)
            job.cursor = moves[-1].account_id
            job.done += len(moves)
            job.skipped += len(moves) - moved
            job.deals_moved += len(deal_ids)
            job.progressed_at = timezone.now()
            job.save(update_fields=["cursor", "done", "skipped", "deals_moved", "progressed_at"])
            territories = sorted(
                {
                    t
                    for move in moves
                    for t in (move.from_territory_id, move.to_territory_id)
                    if t is not None
                }
            )
            transaction.on_commit(
                lambda: deals_changed.send(
                    sender=Deal, deal_ids=deal_ids, territory_ids=territories
                )
            )
    except OperationalError as error:
        if not _is_short_locks(error):
            raise
        pace.give_way()
        return TerritoryRealignment.objects.get(pk=job_id)
    pace.record(time.perf_counter() - begun)
    return job


def _short_locks(milliseconds: int) -> None:
    """Within this transaction, give up a lock after ``milliseconds`` rather than queue behind it, and
    commit without waiting for the disk: the locks go as soon as the commit is decided. A crash may
    lose the last batches, never half of one, and the job's cursor goes with them, so a resumed job
    applies them again."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, true), set_config('synchronous_commit', 'off', true)",
                [f"{milliseconds}ms"],
            )


# PostgreSQL's SQLSTATE for a lock not granted within lock_timeout.
LOCK_NOT_AVAILABLE = "55P03"


def _is_short_locks(error: OperationalError) -> bool:
    cause = error.__cause__
    return LOCK_NOT_AVAILABLE in (getattr(cause, "pgcode", None), getattr(cause, "sqlstate", None))


# Why a move happened, as the handover records say it, from a move ``m`` and its rule ``r``.
REASON_SQL = """CASE
    WHEN r.id IS NOT NULL THEN 'Assignment rule ' || r.id || ' (priority ' || r.priority || ')'
    WHEN m.from_territory_id IS DISTINCT FROM m.to_territory_id THEN 'Territory realignment'
    ELSE 'Owner is not a member of the territory'
END"""


def _apply_moves(job: TerritoryRealignment, moves: list[RealignmentMove]) -> tuple[int, list[int]]:
    """Hand the still-unchanged accounts of ``moves`` and their open deals over; (accounts moved, deal ids).

    A few statements whatever the batch's size: the accounts are locked and
    checked against the plan, their handovers written, then one statement
    locks the open deals that change owner, updates them and records their
    handovers and history rows; then the accounts are updated and recorded.
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
    _history_bases(Account, account_ids)
    _account_handovers_insert(job, account_ids, now)
    handing_deals = [move.account_id for move in current if move.to_owner_id != move.from_owner_id]
    deal_ids = _deals_hand_over(job, handing_deals, now) if handing_deals else []
    _accounts_from_plan(job, account_ids)
    _history_copy(Account, account_ids, at=now, history_type="~", user_id=by_id, reason=REALIGNMENT)
    return len(current), deal_ids


REALIGNMENT = "Territory realignment"


def _accounts_from_plan(job: TerritoryRealignment, account_ids: list[int]) -> None:
    """Give the accounts their planned territory and owner: one UPDATE joined to the plan.

    External ids are unique per owner: one the new owner already holds (on a
    live account, or on an account handed to them here with a lower id) is
    dropped; the history row before keeps it.
    """
    accounts = Account._meta.db_table
    moves = RealignmentMove._meta.db_table
    among, ids = ids_among(account_ids, "%(ids)s")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {accounts} AS a SET territory_id = m.to_territory_id, owner_id = m.to_owner_id,
                external_id = CASE WHEN a.owner_id <> m.to_owner_id AND (EXISTS (
                    SELECT 1 FROM {accounts} held
                    WHERE held.owner_id = m.to_owner_id AND held.external_id = a.external_id
                      AND held.deleted_at IS NULL AND held.id <> a.id
                ) OR EXISTS (
                    SELECT 1 FROM {moves} em JOIN {accounts} earlier ON earlier.id = em.account_id
                    WHERE em.job_id = m.job_id AND em.account_id {among}
                      AND em.to_owner_id = m.to_owner_id AND earlier.owner_id <> em.to_owner_id
                      AND earlier.external_id = a.external_id AND earlier.id < a.id
                )) THEN NULL ELSE a.external_id END
            FROM {moves} m
            WHERE m.job_id = %(job)s AND m.account_id = a.id AND a.id {among}
            """,
            {"job": job.pk, "ids": ids},
        )


def _account_handovers_insert(job: TerritoryRealignment, account_ids: list[int], at) -> None:
    """One handover row per account, copied from its planned move in one INSERT."""
    among, accounts = ids_among(account_ids, "%(accounts)s")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Handover._meta.db_table}
                (account_id, from_territory_id, to_territory_id, from_owner_id, to_owner_id,
                 by_id, rule_id, job_id, reason, at)
            SELECT m.account_id, m.from_territory_id, m.to_territory_id, m.from_owner_id, m.to_owner_id,
                   %(by)s, r.id, m.job_id, {REASON_SQL}, %(at)s
            FROM {RealignmentMove._meta.db_table} m
            LEFT JOIN {TerritoryRule._meta.db_table} r ON r.id = m.rule_id
            WHERE m.job_id = %(job)s AND m.account_id {among}
            """,
            {"job": job.pk, "accounts": accounts, "by": job.requested_by_id, "at": at},
        )


def _deals_hand_over(job: TerritoryRealignment, account_ids: list[int], at) -> list[int]:
    """Give the open deals of ``account_ids`` not yet their account's new owner to that owner; their ids.

    One statement: it locks the deals in id order (a deal closed or deleted
    meanwhile drops out when its lock is granted), updates them (dropping an
    external id the new owner already holds), and copies a
    handover row (with its account's reason) and a history row for each,
    after a "created" one for a deal still without history.
    """
    if connection.vendor != "postgresql":
        return _deals_hand_over_in_steps(job, account_ids, at)
    history = Deal.history.model._meta.db_table
    columns = _history_columns(Deal)
    names = ", ".join(columns)
    returned = based = ", ".join(f"d.{column}" for column in columns)
    sql = f"""
        WITH moving AS (
            SELECT d.id, d.account_id, d.external_id, d.owner_id AS from_owner_id, m.to_owner_id,
                   m.from_territory_id, m.to_territory_id, r.id AS rule_id, {REASON_SQL} AS reason
            FROM {Deal._meta.db_table} d
            JOIN {RealignmentMove._meta.db_table} m
              ON m.job_id = %(job)s AND m.account_id = d.account_id AND m.account_id = ANY(%(accounts)s)
            LEFT JOIN {TerritoryRule._meta.db_table} r ON r.id = m.rule_id
            WHERE d.account_id = ANY(%(accounts)s) AND d.status = %(open)s AND d.deleted_at IS NULL
              AND d.owner_id <> m.to_owner_id
            ORDER BY d.id
            FOR UPDATE OF d
        ), changed AS (
            UPDATE {Deal._meta.db_table} d
            SET owner_id = moving.to_owner_id, version = d.version + 1, updated_at = %(at)s,
                -- External ids are unique per owner: one the new owner already holds (on a live
                -- deal, or on a deal handed to them here with a lower id) is dropped; the
                -- history row before keeps it.
                external_id = CASE WHEN EXISTS (
                    SELECT 1 FROM {Deal._meta.db_table} held
                    WHERE held.owner_id = moving.to_owner_id AND held.external_id = moving.external_id
                      AND held.deleted_at IS NULL AND held.id <> moving.id
                ) OR EXISTS (
                    SELECT 1 FROM moving earlier
                    WHERE earlier.to_owner_id = moving.to_owner_id
                      AND earlier.external_id = moving.external_id AND earlier.id < moving.id
                ) THEN NULL ELSE d.external_id END
            FROM moving WHERE d.id = moving.id
            RETURNING {returned}
        ), handed AS (
            INSERT INTO {Handover._meta.db_table}
                (account_id, deal_id, from_territory_id, to_territory_id, from_owner_id, to_owner_id,
                 by_id, rule_id, job_id, reason, at)
            SELECT moving.account_id, moving.id, moving.from_territory_id, moving.to_territory_id,
                   moving.from_owner_id, moving.to_owner_id, %(by)s, moving.rule_id, %(job)s, moving.reason, %(at)s
            FROM moving
        ), based AS (
            INSERT INTO {history} ({names}, history_date, history_type, history_user_id, history_change_reason)
            SELECT {based}, d.created_at, '+', NULL, NULL
            FROM {Deal._meta.db_table} d JOIN moving ON moving.id = d.id
            WHERE NOT EXISTS (SELECT 1 FROM {history} h WHERE h.id = d.id)
        ), recorded AS (
            INSERT INTO {history} ({names}, history_date, history_type, history_user_id, history_change_reason)
            SELECT {names}, %(at)s, '~', %(by)s, %(reason)s FROM changed
        )
        SELECT id FROM moving ORDER BY id
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "job": job.pk,
                "accounts": list(account_ids),
                "open": StageKind.OPEN,
                "at": at,
                "by": job.requested_by_id,
                "reason": REALIGNMENT,
            },
        )
        return [pk for (pk,) in cursor.fetchall()]


def _deals_hand_over_in_steps(job: TerritoryRealignment, account_ids: list[int], at) -> list[int]:
    """``_deals_hand_over`` where one statement cannot both update and insert (SQLite, the
    embedded default, whose writer holds the whole database): the same rows, in a few
    statements of the same transaction."""
    among, accounts = ids_among(account_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT d.id, d.account_id, d.external_id, d.owner_id, m.to_owner_id,
                   m.from_territory_id, m.to_territory_id, r.id, {REASON_SQL}
            FROM {Deal._meta.db_table} d
            JOIN {RealignmentMove._meta.db_table} m
              ON m.job_id = %s AND m.account_id = d.account_id
            LEFT JOIN {TerritoryRule._meta.db_table} r ON r.id = m.rule_id
            WHERE d.account_id {among} AND d.status = %s AND d.deleted_at IS NULL
              AND d.owner_id <> m.to_owner_id
            ORDER BY d.id
            """,
            [job.pk, accounts, StageKind.OPEN],
        )
        moving = cursor.fetchall()
    if not moving:
        return []
    deal_ids = [row[0] for row in moving]
    _history_bases(Deal, deal_ids)
    # External ids are unique per owner: one the new owner already holds (on another live deal,
    # or on a deal handed to them here with a lower id) is dropped; the history row keeps it.
    holders: dict[tuple[int, str], set[int]] = {}
    for owner, external, pk in Deal.objects.filter(
        deleted_at__isnull=True,
        owner_id__in={row[4] for row in moving},
        external_id__in={row[2] for row in moving if row[2] is not None},
    ).values_list("owner_id", "external_id", "pk"):
        holders.setdefault((owner, external), set()).add(pk)
    groups: dict[tuple[int, bool], list[int]] = {}
    earlier: set[tuple[int, str]] = set()
    for pk, _, external, _, to_owner, *_ in moving:
        key = (to_owner, external)
        drop = external is not None and (bool(holders.get(key, set()) - {pk}) or key in earlier)
        if external is not None:
            earlier.add(key)
        groups.setdefault((to_owner, drop), []).append(pk)
    for (to_owner, drop), pks in groups.items():
        changes = {"owner_id": to_owner, "version": F("version") + 1, "updated_at": at}
        if drop:
            changes["external_id"] = None
        Deal.objects.filter(pk__in=pks).update(**changes)
    Handover.objects.bulk_create(
        Handover(
            account_id=account_id,
            deal_id=pk,
            from_territory_id=from_territory,
            to_territory_id=to_territory,
            from_owner_id=from_owner,
            to_owner_id=to_owner,
            by_id=job.requested_by_id,
            rule_id=rule_id,
            job_id=job.pk,
            reason=reason,
            at=at,
        )
        for pk, account_id, _, from_owner, to_owner, from_territory, to_territory, rule_id, reason in moving
    )
    _history_copy(
        Deal, deal_ids, at=at, history_type="~", user_id=job.requested_by_id, reason=REALIGNMENT
    )
    return deal_ids


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
    among, ids = ids_among(ids)
    sql = (
        f"INSERT INTO {model.history.model._meta.db_table} "
        f"({columns}, history_date, history_type, history_user_id, history_change_reason) "
        f"SELECT {columns}, %s, %s, %s, %s FROM {model._meta.db_table} WHERE id {among}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [at, history_type, user_id, reason, ids])


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
    among, ids = ids_among(ids)
    sql = (
        f"INSERT INTO {history_table} ({names}, history_date, history_type, history_user_id, history_change_reason) "
        f"SELECT {columns}, t.created_at, '+', NULL, NULL FROM {table} t WHERE t.id {among} "
        f"AND NOT EXISTS (SELECT 1 FROM {history_table} h WHERE h.id = t.id)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids])


def _history_bases_of_accounts(job: TerritoryRealignment, account_ids: list[int]) -> None:
    """The "created" history of the accounts and the open deals that a batch will hand over, for rows
    that have none; written ahead of the batch (it locks nothing a rep edits), so the batch has less to do."""
    open_deals = list(
        Deal.objects.filter(
            account_id__in=account_ids, status=StageKind.OPEN, deleted_at__isnull=True
        ).values_list("pk", flat=True)
    )
    with transaction.atomic():
        _history_bases(Account, account_ids)
        _history_bases(Deal, open_deals)
