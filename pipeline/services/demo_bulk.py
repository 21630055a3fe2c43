"""Loading a big demo into PostgreSQL: COPY from several processes, indexes built once at the end.

Only ``seed_demo --bulk`` calls these, on a database it has just emptied or
found empty. The rows come from ``pipeline.demo_bulk`` already checked by
construction (the story cannot make a deal the rules refuse), so they go
straight to COPY; ``tests/pipeline/test_seed_bulk.py`` holds the story to the
rules.
"""

import contextlib
import itertools
import multiprocessing
import queue
import threading
from collections.abc import Callable, Iterator

from django.db import connection, connections, transaction

from pipeline import demo_bulk
from pipeline.models import Account, Activity, Contact, Deal, DealLineItem, StageTransition
from pipeline.signals import bulk_load_finished, bulk_load_starting

# The tables a big seed fills with deals, whose secondary indexes and foreign keys wait for the end.
DEAL_TABLES = [Deal, StageTransition, Deal.history.model, DealLineItem, Activity]
_MAINTENANCE_MEMORY = "256MB"


def copy_text(model, columns, text: str) -> None:
    """COPY tab-separated ``text`` (``\\N`` for NULL) into the model's table."""
    if not text:
        return
    quote = connection.ops.quote_name
    sql = f"COPY {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    with connection.cursor() as cursor:
        cursor.copy_expert(sql, _Reader(text))


class _Reader:
    """A file over a string that hands COPY slices, without a second copy of the whole text."""

    def __init__(self, text: str, size: int = 1 << 20):
        self.text, self.position, self.size = text, 0, size

    def read(self, size: int = -1) -> str:
        size = self.size if size is None or size < 0 else size
        piece = self.text[self.position : self.position + size]
        self.position += len(piece)
        return piece

    readline = read


def ids_reserve(model, count: int) -> int:
    """Take ``count`` consecutive ids from the table's sequence; returns the first."""
    if count < 1:
        return 1  # nothing taken: no row will use it
    with transaction.atomic(), connection.cursor() as cursor:
        table, column = model._meta.db_table, model._meta.pk.column
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
        (sequence,) = cursor.fetchone()
        cursor.execute(f"LOCK TABLE {connection.ops.quote_name(table)} IN EXCLUSIVE MODE")
        cursor.execute(
            "SELECT setval(%s, GREATEST(nextval(%s) - 1, COALESCE((SELECT max(id) FROM "
            f"{connection.ops.quote_name(table)}), 0)) + %s)",
            [sequence, sequence, count],
        )
        (last,) = cursor.fetchone()
    return last - count + 1


@contextlib.contextmanager
def indexes_deferred(models, *, workers: int = 2) -> Iterator[None]:
    """Drop the secondary indexes and foreign keys of ``models``' tables; rebuild them on the way out.

    Receivers of ``bulk_load_starting`` and ``bulk_load_finished`` hear of the load too (the
    reports' rollups pause their triggers and count once at the end).

    Primary keys, unique constraints and checks stay, so nothing the rules
    forbid can get in meanwhile; the foreign keys are validated again as they
    come back. Rebuilt even when the load fails, so the schema is never left short;
    ``workers`` connections build at once (one, inside a caller's transaction).
    """
    indexes, foreign_keys = [], []
    tables = [model._meta.db_table for model in models]
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(
                """
                SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
                FROM pg_index i
                WHERE i.indrelid = %s::regclass AND NOT i.indisprimary
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                ORDER BY 1
                """,
                [table],
            )
            indexes += cursor.fetchall()
            cursor.execute(
                """
                SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
                WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname
                """,
                [table],
            )
            foreign_keys += [(table, name, definition) for name, definition in cursor.fetchall()]
        with transaction.atomic():
            # Foreign keys checked at commit would keep a caller's transaction from
            # altering the tables: check them now, then defer them again.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            for table, name, _ in foreign_keys:
                cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
            for name, _ in indexes:
                cursor.execute(f"DROP INDEX {name}")
            bulk_load_starting.send(sender=None, tables=tables)
    try:
        yield
    finally:
        _run_all([definition for _, definition in indexes], workers)
        # Adding a foreign key locks its table against another being added: take the
        # tables in turn, so the connections work on different ones.
        per_table: dict[str, list[str]] = {}
        for table, name, definition in foreign_keys:
            per_table.setdefault(table, []).append(
                f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'
            )
        _run_all(
            [
                statement
                for turn in itertools.zip_longest(*per_table.values())
                for statement in turn
                if statement is not None
            ],
            workers,
        )
        bulk_load_finished.send(sender=None, tables=tables)


def _run_all(statements: list[str], workers: int) -> None:
    """Run DDL statements, on ``workers`` connections at once where no transaction holds them to one."""
    if workers <= 1 or connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL maintenance_work_mem = '{_MAINTENANCE_MEMORY}'")
            for statement in statements:
                cursor.execute(statement)
        return
    pending = queue.SimpleQueue()
    for statement in statements:
        pending.put(statement)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"SET maintenance_work_mem = '{_MAINTENANCE_MEMORY}'")
                while True:
                    try:
                        statement = pending.get_nowait()
                    except queue.Empty:
                        return
                    cursor.execute(statement)
        except BaseException as exc:  # raised on the calling thread below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, name=f"seed-ddl-{n}") for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def deals_loaded_representatives(first_id: int, last_id: int) -> list[int]:
    """One deal of the loaded id range per owner, pipeline and account territory.

    What the reports mark stale for a change of deals depends only on those
    (and on each historical version's, which a freshly loaded deal shares), so
    ringing ``deals_changed`` with these marks what ringing it with all of them
    would, without asking about a million ids.
    """
    return list(
        Deal.objects.filter(pk__range=(first_id, last_id))
        .order_by("owner_id", "pipeline_id", "account__territory_id", "pk")
        .distinct("owner_id", "pipeline_id", "account__territory_id")
        .values_list("pk", flat=True)
    )


def accounts_copy(account_text: str, contact_text: str) -> None:
    """Store the demo's accounts and their contacts, all or nothing."""
    with transaction.atomic():
        copy_text(Account, demo_bulk.ACCOUNT_COLUMNS, account_text)
        copy_text(Contact, demo_bulk.CONTACT_COLUMNS, contact_text)


def chunk_copy(chunk: demo_bulk.Chunk) -> None:
    """Store one chunk of deals with their transitions, versions, line items and activities."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        copy_text(Deal, demo_bulk.DEAL_COLUMNS, chunk.deals)
        copy_text(StageTransition, demo_bulk.TRANSITION_COLUMNS, chunk.transitions)
        copy_text(Deal.history.model, demo_bulk.HISTORY_COLUMNS, chunk.history)
        copy_text(DealLineItem, demo_bulk.LINE_ITEM_COLUMNS, chunk.line_items)
        copy_text(Activity, demo_bulk.ACTIVITY_COLUMNS, chunk.activities)


# The story a pool's processes tell; set before they start, inherited when they fork.
_story: demo_bulk.DealStory | None = None
_total = 0


def _make_and_store(number: int) -> int:
    chunk = _story.chunk(number, _total)
    chunk_copy(chunk)
    return chunk.count


def deals_copy(
    story: demo_bulk.DealStory,
    total: int,
    *,
    workers: int,
    progress: Callable[[int], None] = lambda count: None,
) -> None:
    """Make and store ``total`` deals chunk by chunk, each process making a chunk and COPYing it.

    With several processes one makes its next chunk while PostgreSQL stores
    another's, so the cores stay busy; each holds one chunk at a time, so memory
    stays flat whatever the total. One process (or a caller's open transaction,
    which other connections could not see into) does it all here.
    """
    global _story, _total
    chunks = -(-total // story.chunk_size)
    if workers <= 1 or chunks <= 1 or connection.in_atomic_block:
        for number in range(chunks):
            chunk = story.chunk(number, total)
            chunk_copy(chunk)
            progress(chunk.count)
        return
    _story, _total = story, total
    connections.close_all()  # the children open their own
    try:
        context = multiprocessing.get_context("fork")
        with context.Pool(workers, initializer=connections.close_all) as pool:
            for count in pool.imap_unordered(_make_and_store, range(chunks)):
                progress(count)
    finally:
        _story = None
