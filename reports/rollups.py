"""Daily rollups of activities, stage advances and closed deals, and territory rollups, kept by
PostgreSQL triggers.

At a million deals a manager's quarter holds about 800,000 activities and
700,000 stage transitions; counting them per person and week on each request
took 0.2 and 0.7 s. ``ActivityDay`` and ``AdvanceDay`` hold the same counts per
person and day (about 60,000 and 13,000 rows for that quarter), and reports of
a people scope sum those instead. ``ClosedDay`` does the same for the deals won
and lost per owner, day and currency (a manager's half year: 225,000 deals, about
33,000 rows), with their amounts and ages at close. ``TerritoryAccounts``,
``TerritoryOpen`` and ``TerritoryWonDay`` count the live accounts, the open
deals and the deals won per day by territory and owner, for the territory tree
(each of its three figures read 142,857 accounts at 1,000,000 deals).

The triggers keep the rollups exact on every path that writes the sources:
- activities inserted (also by COPY), deleted, or re-dated, re-kinded or
  handed to another author;
- transitions inserted, deleted or edited;
- a deal handed to another owner, deleted (soft or hard) or restored: its
  advances move with it, as the report counts them for the deal's owner;
- a deal closed, reopened, re-dated, re-priced, given another currency or
  owner, deleted, restored or purged: it leaves its closed row and joins its
  new one;
- a stage's order or kind changed, which changes what was an advance: the
  advances are counted again from the transitions (a rare admin change);
- an account added, removed, deleted, restored, or given another owner or
  territory: it and its deals move between the territory rows, as does a deal
  given another account;
- ``TRUNCATE`` of a source empties its rollup.

Days are local days in the time zone the rollups were built in
(``reports_rollup_zone()``, a function the triggers read). A reader uses the
rollups only when that zone is ``settings.TIME_ZONE``; ``migrate`` rebuilds
them when the setting has changed (``rebuild_if_zone_changed``), and until then
reports count live. SQLite has no triggers here: its reports always count live.
"""

import datetime

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import QuerySet

ZONE_FUNCTION = "reports_rollup_zone"
_STAGES = """
        JOIN pipeline_stage s ON s.id = t.to_stage_id
        LEFT JOIN pipeline_stage f ON f.id = t.from_stage_id"""
# An advance, as ``reports.catalog.funnel_activity._advance`` defines it.
_ADVANCE = "(s.kind = 'won' OR (s.kind = 'open' AND s.\"order\" > f.\"order\"))"


def _planned_afresh(statement: str) -> str:
    """``statement`` run by ``EXECUTE``, so that it is planned for the rows of each firing; ``$1`` in
    it is the trigger's time zone.

    A statement written in the function keeps the plan of its first firing in the session, made
    for that firing's transition table: one row for a single deal's hand-over, thousands for a
    realignment's batch. At 1,000,000 deals a 3,000-deal hand-over and a 1,000-account move each
    ran for minutes in a session that had handed over single deals first (cancelled; not
    reproduced on demand since); planned at each firing they took 1.1 s and 0.2 s, and a single
    deal's write costs what it did (``benchmarks/triggers.py``).
    """
    return f"""
    EXECUTE $sql${statement}$sql$ USING zone;"""


def _if_any(rows: str, body: str) -> str:
    """``body`` when the relation ``rows`` has a row; the test is planned afresh too."""
    return f"""
    EXECUTE $sql$SELECT EXISTS {rows}$sql$ INTO found_any;
    IF found_any THEN{body}
    END IF;"""


def _activity_delta(rows: str, sign: int) -> str:
    """Add (or take away) the activities of ``rows`` to their author, day and kind."""
    return _planned_afresh(f"""
    INSERT INTO reports_activityday AS r (author_id, day, kind, count)
    SELECT a.author_id, (a.occurred_at AT TIME ZONE $1)::date, a.kind, {sign} * COUNT(*)
    FROM {rows} a
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (author_id, day, kind) DO UPDATE SET count = r.count + EXCLUDED.count""")


def _advance_rows(transitions: str, deals: str, sign: int, zone: str) -> str:
    return f"""
    INSERT INTO reports_advanceday AS r (owner_id, day, count)
    SELECT d.owner_id, (t.at AT TIME ZONE {zone})::date, {sign} * COUNT(*)
    FROM {transitions} t
        JOIN {deals} d ON d.id = t.deal_id{_STAGES}
    WHERE d.deleted_at IS NULL AND {_ADVANCE}
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (owner_id, day) DO UPDATE SET count = r.count + EXCLUDED.count"""


def _advance_delta(transitions: str, deals: str, sign: int) -> str:
    """Add (or take away) the advances among ``transitions`` to the owner of their deal in ``deals``
    (a relation with the deals' ``id``, ``owner_id`` and ``deleted_at``), for live deals only."""
    return _planned_afresh(_advance_rows(transitions, deals, sign, "$1"))


# Rows of a statement's old and new transition tables whose counted columns changed.
_ACTIVITY_MOVED = """(SELECT {side}.* FROM old_rows o JOIN new_rows n USING (id)
        WHERE (o.author_id, o.kind, o.occurred_at) IS DISTINCT FROM (n.author_id, n.kind, n.occurred_at))"""
_TRANSITION_MOVED = """(SELECT {side}.* FROM old_rows o JOIN new_rows n USING (id)
        WHERE (o.deal_id, o.from_stage_id, o.to_stage_id, o.at)
            IS DISTINCT FROM (n.deal_id, n.from_stage_id, n.to_stage_id, n.at))"""
# The deals of an update whose owner changed or that were deleted or restored, and their transitions.
_DEALS_MOVED = """(SELECT {side}.id, {side}.owner_id, {side}.deleted_at
        FROM old_rows o JOIN new_rows n USING (id)
        WHERE o.owner_id <> n.owner_id OR (o.deleted_at IS NULL) <> (n.deleted_at IS NULL))"""
_MOVED_DEALS_TRANSITIONS = (
    "(SELECT t.* FROM pipeline_stagetransition t WHERE t.deal_id IN (SELECT m.id FROM {moved} m))"
)


def _rebuild_advances(zone: str) -> str:
    return f"""
    DELETE FROM reports_advanceday;
    INSERT INTO reports_advanceday (owner_id, day, count)
    SELECT d.owner_id, (t.at AT TIME ZONE {zone})::date, COUNT(*)
    FROM pipeline_stagetransition t
        JOIN pipeline_deal d ON d.id = t.deal_id{_STAGES}
    WHERE d.deleted_at IS NULL AND {_ADVANCE}
    GROUP BY 1, 2;"""


def _rebuild_activities(zone: str) -> str:
    return f"""
    DELETE FROM reports_activityday;
    INSERT INTO reports_activityday (author_id, day, kind, count)
    SELECT author_id, (occurred_at AT TIME ZONE {zone})::date, kind, COUNT(*)
    FROM pipeline_activity
    GROUP BY 1, 2, 3;"""


# A deal that counts in the closed rollup: live, won or lost, with a close time.
_CLOSED = "d.deleted_at IS NULL AND d.status IN ('won', 'lost') AND d.closed_at IS NOT NULL"
# The deals of an update whose place or figures in the closed rollup changed.
_CLOSED_MOVED = """(SELECT {side}.* FROM old_rows o JOIN new_rows n USING (id)
        WHERE (o.owner_id, o.status, o.closed_at, o.currency, o.amount, o.created_at, o.deleted_at)
            IS DISTINCT FROM (n.owner_id, n.status, n.closed_at, n.currency, n.amount, n.created_at,
                              n.deleted_at))"""


def _closed_rows(deals: str, sign: str, zone: str) -> str:
    """The insert of the closed deals among ``deals``, grouped, counted with ``sign`` ('' or '-')
    and their days in ``zone`` (the trigger's variable, or an expression)."""
    return f"""
    INSERT INTO reports_closedday AS r (owner_id, day, status, currency, deals, amount, cycle)
    SELECT d.owner_id, (d.closed_at AT TIME ZONE {zone})::date, d.status, d.currency,
        {sign}COUNT(*), {sign}SUM(d.amount), {sign}SUM(d.closed_at - d.created_at)
    FROM {deals} d
    WHERE {_CLOSED}
    GROUP BY 1, 2, 3, 4"""


def _closed_delta(deals: str, sign: str) -> str:
    """Add (``sign`` '') or take away (``sign`` '-') the closed deals among ``deals``."""
    return _planned_afresh(
        _closed_rows(deals, sign, "$1")
        + """ ORDER BY 1, 2, 3, 4
    ON CONFLICT (owner_id, day, status, currency) DO UPDATE SET
        deals = r.deals + EXCLUDED.deals,
        amount = r.amount + EXCLUDED.amount,
        cycle = r.cycle + EXCLUDED.cycle"""
    )


def _rebuild_closed(zone: str) -> str:
    # No upsert: the migration counts before its table's key exists (Django adds it at the end).
    return "\n    DELETE FROM reports_closedday;" + _closed_rows("pipeline_deal", "", zone) + ";"


# A line that counts in the products rollup: of a live deal won with a close time.
_WON = "d.deleted_at IS NULL AND d.status = 'won' AND d.closed_at IS NOT NULL"
# A line's total in its deal's currency, to the cent (``reports.catalog.products_sold.line_value``).
_LINE_VALUE = "ROUND(l.quantity * l.unit_price * (100 - l.discount_pct) / 100, 2)"
# The lines of an update whose deal, product or figures changed.
_LINES_MOVED = """(SELECT {side}.* FROM old_rows o JOIN new_rows n USING (id)
        WHERE (o.deal_id, o.product_id, o.quantity, o.unit_price, o.discount_pct)
            IS DISTINCT FROM (n.deal_id, n.product_id, n.quantity, n.unit_price, n.discount_pct))"""
# The deals of an update whose lines' place in the products rollup changed, and those lines.
_DEALS_RESOLD = """(SELECT {side}.* FROM old_rows o JOIN new_rows n USING (id)
        WHERE (o.owner_id, o.status, o.closed_at, o.currency, o.deleted_at)
            IS DISTINCT FROM (n.owner_id, n.status, n.closed_at, n.currency, n.deleted_at))"""
_RESOLD_LINES = (
    "(SELECT l.* FROM pipeline_deallineitem l WHERE l.deal_id IN (SELECT m.id FROM {deals} m))"
)


def _product_rows(lines: str, deals: str, sign: str, zone: str) -> str:
    """The insert of the won lines among ``lines``, each placed by its deal in ``deals`` (a relation
    with the deals' columns), grouped, counted with ``sign`` ('' or '-'), their days in ``zone``."""
    return f"""
    INSERT INTO reports_productday AS r (product_id, owner_id, day, currency, lines, units, value)
    SELECT l.product_id, d.owner_id, (d.closed_at AT TIME ZONE {zone})::date, d.currency,
        {sign}COUNT(*), {sign}SUM(l.quantity), {sign}SUM({_LINE_VALUE})
    FROM {lines} l JOIN {deals} d ON d.id = l.deal_id
    WHERE {_WON}
    GROUP BY 1, 2, 3, 4"""


def _product_delta(lines: str, deals: str, sign: str) -> str:
    """Add (``sign`` '') or take away (``sign`` '-') the won lines among ``lines``."""
    return _planned_afresh(
        _product_rows(lines, deals, sign, "$1")
        + """ ORDER BY 1, 2, 3, 4
    ON CONFLICT (product_id, owner_id, day, currency) DO UPDATE SET
        lines = r.lines + EXCLUDED.lines,
        units = r.units + EXCLUDED.units,
        value = r.value + EXCLUDED.value"""
    )


def _rebuild_products(zone: str) -> str:
    rows = _product_rows("pipeline_deallineitem", "pipeline_deal", "", zone)
    return "\n    DELETE FROM reports_productday;" + rows + ";"


def _function(name: str, body: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    zone text := {ZONE_FUNCTION}();
    found_any boolean;
BEGIN
{body}
    RETURN NULL;
END
$$;"""


def _ops(insert: str, delete: str, update: str) -> str:
    return f"""    IF TG_OP = 'INSERT' THEN{insert}
    ELSIF TG_OP = 'DELETE' THEN{delete}
    ELSIF TG_OP = 'UPDATE' THEN{update}
    END IF;"""


FUNCTIONS = {
    "reports_rollup_activities": _ops(
        _activity_delta("new_rows", 1),
        _activity_delta("old_rows", -1),
        _activity_delta(_ACTIVITY_MOVED.format(side="o"), -1)
        + _activity_delta(_ACTIVITY_MOVED.format(side="n"), 1),
    ),
    # A transition deleted with its deal (a cascade in the database) no longer finds the deal:
    # the deal's own trigger took its advances away before it went.
    "reports_rollup_transitions": _ops(
        _advance_delta("new_rows", "pipeline_deal", 1),
        _advance_delta("old_rows", "pipeline_deal", -1),
        _advance_delta(_TRANSITION_MOVED.format(side="o"), "pipeline_deal", -1)
        + _advance_delta(_TRANSITION_MOVED.format(side="n"), "pipeline_deal", 1),
    ),
    # Every update of deals runs this (a move too): it does nothing unless an owner or a deletion changed.
    "reports_rollup_deals": _if_any(
        _DEALS_MOVED.format(side="o"),
        _advance_delta(
            _MOVED_DEALS_TRANSITIONS.format(moved=_DEALS_MOVED.format(side="o")),
            _DEALS_MOVED.format(side="o"),
            -1,
        )
        + _advance_delta(
            _MOVED_DEALS_TRANSITIONS.format(moved=_DEALS_MOVED.format(side="n")),
            _DEALS_MOVED.format(side="n"),
            1,
        ),
    ),
    "reports_rollup_stages": """
    IF EXISTS (SELECT FROM old_rows o JOIN new_rows n USING (id)
               WHERE (o."order", o.kind) IS DISTINCT FROM (n."order", n.kind)) THEN"""
    + _rebuild_advances("zone")
    + """
    END IF;""",
    # DELETE, not TRUNCATE: a TRUNCATE of many tables (a test's flush) may be emptying the rollup too.
    "reports_rollup_empty_activities": "    DELETE FROM reports_activityday;",
    "reports_rollup_empty_advances": "    DELETE FROM reports_advanceday;",
}

# A hard-deleted live deal takes its advances away first, row by row (its transitions go after it).
_DEAL_DELETED = f"""
CREATE OR REPLACE FUNCTION reports_rollup_deal_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    zone text := {ZONE_FUNCTION}();
BEGIN
{
    _advance_rows(
        "(SELECT * FROM pipeline_stagetransition WHERE deal_id = OLD.id)",
        "(SELECT OLD.id, OLD.owner_id, OLD.deleted_at)",
        -1,
        "zone",
    )
};
    RETURN OLD;
END
$$;"""


def _statement_triggers(table: str, function: str, events: tuple[str, ...]) -> str:
    sql = []
    for event in events:
        tables = {
            "INSERT": "REFERENCING NEW TABLE AS new_rows",
            "DELETE": "REFERENCING OLD TABLE AS old_rows",
            "UPDATE": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
        }[event]
        sql.append(
            f"CREATE TRIGGER {function}_{event.lower()} AFTER {event} ON {table} "
            f"{tables} FOR EACH STATEMENT EXECUTE FUNCTION {function}();"
        )
    return "\n".join(sql)


TRIGGERS = "\n".join(
    [
        _statement_triggers(
            "pipeline_activity", "reports_rollup_activities", ("INSERT", "DELETE", "UPDATE")
        ),
        _statement_triggers(
            "pipeline_stagetransition", "reports_rollup_transitions", ("INSERT", "DELETE", "UPDATE")
        ),
        _statement_triggers("pipeline_deal", "reports_rollup_deals", ("UPDATE",)),
        _statement_triggers("pipeline_stage", "reports_rollup_stages", ("UPDATE",)),
        "CREATE TRIGGER reports_rollup_deal_deleted BEFORE DELETE ON pipeline_deal FOR EACH ROW "
        "WHEN (OLD.deleted_at IS NULL) EXECUTE FUNCTION reports_rollup_deal_deleted();",
        "CREATE TRIGGER reports_rollup_empty_activities AFTER TRUNCATE ON pipeline_activity "
        "FOR EACH STATEMENT EXECUTE FUNCTION reports_rollup_empty_activities();",
        *(
            f"CREATE TRIGGER reports_rollup_empty_advances AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION reports_rollup_empty_advances();"
            for table in ("pipeline_stagetransition", "pipeline_deal")
        ),
    ]
)

TRIGGER_NAMES = [
    ("pipeline_activity", f"reports_rollup_activities_{event}")
    for event in ("insert", "delete", "update")
] + [
    *(
        ("pipeline_stagetransition", f"reports_rollup_transitions_{event}")
        for event in ("insert", "delete", "update")
    ),
    ("pipeline_deal", "reports_rollup_deals_update"),
    ("pipeline_stage", "reports_rollup_stages_update"),
    ("pipeline_deal", "reports_rollup_deal_deleted"),
    ("pipeline_activity", "reports_rollup_empty_activities"),
    ("pipeline_stagetransition", "reports_rollup_empty_advances"),
    ("pipeline_deal", "reports_rollup_empty_advances"),
]

# The closed deals' rollup (migration reports.0007, after the others): installed and removed on its own.
CLOSED_FUNCTIONS = {
    "reports_rollup_closed": _ops(
        _closed_delta("new_rows", ""),
        _closed_delta("old_rows", "-"),
        _closed_delta(_CLOSED_MOVED.format(side="o"), "-")
        + _closed_delta(_CLOSED_MOVED.format(side="n"), ""),
    ),
    "reports_rollup_empty_closed": "    DELETE FROM reports_closedday;",
}


def _deal_rollup_triggers(name: str) -> tuple[str, list[tuple[str, str]]]:
    """The triggers of a rollup of the deals alone, and their tables and names:
    ``reports_rollup_<name>`` after every insert, delete and update of deals, and
    ``reports_rollup_empty_<name>`` after their ``TRUNCATE``."""
    function, empty = f"reports_rollup_{name}", f"reports_rollup_empty_{name}"
    sql = "\n".join(
        [
            _statement_triggers("pipeline_deal", function, ("INSERT", "DELETE", "UPDATE")),
            f"CREATE TRIGGER {empty} AFTER TRUNCATE ON pipeline_deal "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {empty}();",
        ]
    )
    events = ("insert", "delete", "update")
    names = [
        *(("pipeline_deal", f"{function}_{event}") for event in events),
        ("pipeline_deal", empty),
    ]
    return sql, names


CLOSED_TRIGGERS, CLOSED_TRIGGER_NAMES = _deal_rollup_triggers("closed")
TRIGGER_NAMES += CLOSED_TRIGGER_NAMES


# The products rollup (migration reports.0009): installed and removed on its own. A deal removed
# for good has had its lines removed first (they refer to it), and those took their part away.
PRODUCT_FUNCTIONS = {
    "reports_rollup_product_lines": _ops(
        _product_delta("new_rows", "pipeline_deal", ""),
        _product_delta("old_rows", "pipeline_deal", "-"),
        _product_delta(_LINES_MOVED.format(side="o"), "pipeline_deal", "-")
        + _product_delta(_LINES_MOVED.format(side="n"), "pipeline_deal", ""),
    ),
    # Every update of deals runs this: it does nothing unless a deal's lines changed place.
    "reports_rollup_product_deals": _if_any(
        _DEALS_RESOLD.format(side="o"),
        _product_delta(
            _RESOLD_LINES.format(deals=_DEALS_RESOLD.format(side="o")),
            _DEALS_RESOLD.format(side="o"),
            "-",
        )
        + _product_delta(
            _RESOLD_LINES.format(deals=_DEALS_RESOLD.format(side="n")),
            _DEALS_RESOLD.format(side="n"),
            "",
        ),
    ),
    "reports_rollup_empty_products": "    DELETE FROM reports_productday;",
}
PRODUCT_TRIGGERS = "\n".join(
    [
        _statement_triggers(
            "pipeline_deallineitem", "reports_rollup_product_lines", ("INSERT", "DELETE", "UPDATE")
        ),
        _statement_triggers("pipeline_deal", "reports_rollup_product_deals", ("UPDATE",)),
        *(
            f"CREATE TRIGGER reports_rollup_empty_products AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION reports_rollup_empty_products();"
            for table in ("pipeline_deallineitem", "pipeline_deal")
        ),
    ]
)
PRODUCT_TRIGGER_NAMES = [
    *(
        ("pipeline_deallineitem", f"reports_rollup_product_lines_{event}")
        for event in ("insert", "delete", "update")
    ),
    ("pipeline_deal", "reports_rollup_product_deals_update"),
    ("pipeline_deallineitem", "reports_rollup_empty_products"),
    ("pipeline_deal", "reports_rollup_empty_products"),
]
TRIGGER_NAMES += PRODUCT_TRIGGER_NAMES


# The territory rollups (migration reports.0010): the open deals, and the deals won per day, by the
# territory of their account. A deal counts while it and its account are live and the account is in
# a territory.
_IN_TERRITORY = "d.deleted_at IS NULL AND a.deleted_at IS NULL AND a.territory_id IS NOT NULL"
# The deals of an update whose place or figures in the territory rollups changed.
_DEALS_REPLACED = """(SELECT {side}.* FROM old_rows o JOIN new_rows n USING (id)
        WHERE (o.owner_id, o.account_id, o.status, o.closed_at, o.currency, o.amount, o.deleted_at)
            IS DISTINCT FROM (n.owner_id, n.account_id, n.status, n.closed_at, n.currency, n.amount,
                              n.deleted_at))"""
# The accounts of an update given another owner or territory, or deleted or restored.
_ACCOUNTS_MOVED = """(SELECT {side}.* FROM old_rows o JOIN new_rows n USING (id)
        WHERE (o.owner_id, o.territory_id, o.deleted_at IS NULL)
            IS DISTINCT FROM (n.owner_id, n.territory_id, n.deleted_at IS NULL))"""
_TERRITORY_ROLLUPS = (
    "reports_territoryaccounts",
    "reports_territoryopen",
    "reports_territorywonday",
)


def _territory_rows(deals: str, accounts: str, sign: str, zone: str) -> tuple[str, str]:
    """The inserts of the open and of the won deals among ``deals``, each placed by its account in
    ``accounts`` (a relation with the accounts' columns), grouped, counted with ``sign`` ('' or
    '-'), the won ones' days in ``zone``."""
    source = f"""
    FROM {deals} d JOIN {accounts} a ON a.id = d.account_id
    WHERE {_IN_TERRITORY}"""
    open_rows = f"""
    INSERT INTO reports_territoryopen AS r (territory_id, owner_id, currency, deals, amount)
    SELECT a.territory_id, d.owner_id, d.currency, {sign}COUNT(*), {sign}SUM(d.amount){source}
        AND d.status = 'open'
    GROUP BY 1, 2, 3"""
    won_rows = f"""
    INSERT INTO reports_territorywonday AS r (day, territory_id, owner_id, currency, deals, amount)
    SELECT (d.closed_at AT TIME ZONE {zone})::date, a.territory_id, d.owner_id, d.currency,
        {sign}COUNT(*), {sign}SUM(d.amount){source}
        AND d.status = 'won' AND d.closed_at IS NOT NULL
    GROUP BY 1, 2, 3, 4"""
    return open_rows, won_rows


def _territory_delta(deals: str, accounts: str, sign: str) -> str:
    """Add (``sign`` '') or take away (``sign`` '-') the deals among ``deals`` in both rollups."""
    open_rows, won_rows = _territory_rows(deals, accounts, sign, "$1")
    return _planned_afresh(
        open_rows
        + """ ORDER BY 1, 2, 3
    ON CONFLICT (territory_id, owner_id, currency) DO UPDATE SET
        deals = r.deals + EXCLUDED.deals, amount = r.amount + EXCLUDED.amount"""
    ) + _planned_afresh(
        won_rows
        + """ ORDER BY 1, 2, 3, 4
    ON CONFLICT (day, territory_id, owner_id, currency) DO UPDATE SET
        deals = r.deals + EXCLUDED.deals, amount = r.amount + EXCLUDED.amount"""
    )


def _account_rows(accounts: str, sign: str) -> str:
    """The insert of the live accounts in a territory among ``accounts``, counted with ``sign``."""
    return f"""
    INSERT INTO reports_territoryaccounts AS r (territory_id, owner_id, accounts)
    SELECT a.territory_id, a.owner_id, {sign}COUNT(*)
    FROM {accounts} a
    WHERE a.deleted_at IS NULL AND a.territory_id IS NOT NULL
    GROUP BY 1, 2"""


def _account_delta(accounts: str, sign: str) -> str:
    """Add (``sign`` '') or take away (``sign`` '-') the accounts among ``accounts``, and their deals."""
    return _planned_afresh(
        _account_rows(accounts, sign)
        + """ ORDER BY 1, 2
    ON CONFLICT (territory_id, owner_id) DO UPDATE SET accounts = r.accounts + EXCLUDED.accounts"""
    ) + _territory_delta("pipeline_deal", accounts, sign)


def _rebuild_territories(zone: str) -> str:
    # No upsert: the migration counts before its tables' keys exist (Django adds them at the end).
    open_rows, won_rows = _territory_rows("pipeline_deal", "pipeline_account", "", zone)
    return (
        f"\n    DELETE FROM {'; DELETE FROM '.join(_TERRITORY_ROLLUPS)};"
        + _account_rows("pipeline_account", "")
        + ";"
        + open_rows
        + ";"
        + won_rows
        + ";"
    )


TERRITORY_FUNCTIONS = {
    # Every update of deals runs this (a move too): it does nothing unless a deal changed place.
    "reports_rollup_territory_deals": _ops(
        _territory_delta("new_rows", "pipeline_account", ""),
        _territory_delta("old_rows", "pipeline_account", "-"),
        _if_any(
            _DEALS_REPLACED.format(side="o"),
            _territory_delta(_DEALS_REPLACED.format(side="o"), "pipeline_account", "-")
            + _territory_delta(_DEALS_REPLACED.format(side="n"), "pipeline_account", ""),
        ),
    ),
    # An account added, removed, given another owner or territory, deleted or restored moves between
    # rows, and so do its deals (an account is removed after its deals, and added before them: its
    # deals are counted with it only when a deferred key let them come first or go after).
    "reports_rollup_territory_accounts": _ops(
        _account_delta("new_rows", ""),
        _account_delta("old_rows", "-"),
        _if_any(
            _ACCOUNTS_MOVED.format(side="o"),
            _account_delta(_ACCOUNTS_MOVED.format(side="o"), "-")
            + _account_delta(_ACCOUNTS_MOVED.format(side="n"), ""),
        ),
    ),
    "reports_rollup_empty_territories": "\n".join(
        f"    DELETE FROM {table};" for table in _TERRITORY_ROLLUPS
    ),
}
TERRITORY_TRIGGERS = "\n".join(
    [
        _statement_triggers(
            "pipeline_deal", "reports_rollup_territory_deals", ("INSERT", "DELETE", "UPDATE")
        ),
        _statement_triggers(
            "pipeline_account", "reports_rollup_territory_accounts", ("INSERT", "DELETE", "UPDATE")
        ),
        *(
            f"CREATE TRIGGER reports_rollup_empty_territories AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION reports_rollup_empty_territories();"
            for table in ("pipeline_deal", "pipeline_account")
        ),
    ]
)
TERRITORY_TRIGGER_NAMES = [
    *(
        ("pipeline_deal", f"reports_rollup_territory_deals_{event}")
        for event in ("insert", "delete", "update")
    ),
    *(
        ("pipeline_account", f"reports_rollup_territory_accounts_{event}")
        for event in ("insert", "delete", "update")
    ),
    ("pipeline_deal", "reports_rollup_empty_territories"),
    ("pipeline_account", "reports_rollup_empty_territories"),
]
TRIGGER_NAMES += TERRITORY_TRIGGER_NAMES


# The deals created per day (migration reports.0011): the live deals by owner, local day of
# creation and currency, with their amounts as entered.
_CREATED_MOVED = """(SELECT {side}.* FROM old_rows o JOIN new_rows n USING (id)
        WHERE (o.owner_id, o.created_at, o.currency, o.amount, o.deleted_at)
            IS DISTINCT FROM (n.owner_id, n.created_at, n.currency, n.amount, n.deleted_at))"""


def _created_rows(deals: str, sign: str, zone: str) -> str:
    """The insert of the live deals among ``deals`` by owner, day of creation in ``zone`` and
    currency, counted with ``sign`` ('' or '-')."""
    return f"""
    INSERT INTO reports_createdday AS r (day, owner_id, currency, deals, amount)
    SELECT (d.created_at AT TIME ZONE {zone})::date, d.owner_id, d.currency,
        {sign}COUNT(*), {sign}SUM(d.amount)
    FROM {deals} d
    WHERE d.deleted_at IS NULL
    GROUP BY 1, 2, 3"""


def _created_delta(deals: str, sign: str) -> str:
    """Add (``sign`` '') or take away (``sign`` '-') the deals among ``deals``."""
    return _planned_afresh(
        _created_rows(deals, sign, "$1")
        + """ ORDER BY 1, 2, 3
    ON CONFLICT (day, owner_id, currency) DO UPDATE SET
        deals = r.deals + EXCLUDED.deals, amount = r.amount + EXCLUDED.amount"""
    )


def _rebuild_created(zone: str) -> str:
    # No upsert: the migration counts before its table's key exists (Django adds it at the end).
    return "\n    DELETE FROM reports_createdday;" + _created_rows("pipeline_deal", "", zone) + ";"


CREATED_FUNCTIONS = {
    # Every update of deals runs this: it does nothing unless a deal's place or amount changed.
    "reports_rollup_created": _ops(
        _created_delta("new_rows", ""),
        _created_delta("old_rows", "-"),
        _if_any(
            _CREATED_MOVED.format(side="o"),
            _created_delta(_CREATED_MOVED.format(side="o"), "-")
            + _created_delta(_CREATED_MOVED.format(side="n"), ""),
        ),
    ),
    "reports_rollup_empty_created": "    DELETE FROM reports_createdday;",
}
CREATED_TRIGGERS, CREATED_TRIGGER_NAMES = _deal_rollup_triggers("created")
TRIGGER_NAMES += CREATED_TRIGGER_NAMES


def _install_sql(functions: dict[str, str], triggers: str, counted) -> str:
    """A rollup's functions and triggers, and the rollup counted by ``counted(zone)`` in the zone
    the other rollups are in (migration 0006 set it)."""
    written = "\n".join(_function(name, body) for name, body in functions.items())
    return "\n".join([written, triggers, counted(f"{ZONE_FUNCTION}()")])


def _uninstall_sql(trigger_names: list[tuple[str, str]], functions: dict[str, str]) -> str:
    return "\n".join(
        [f"DROP TRIGGER IF EXISTS {name} ON {table};" for table, name in trigger_names]
        + [f"DROP FUNCTION IF EXISTS {name}();" for name in functions]
    )


def created_install_sql() -> str:
    """The created deals' rollup's functions and triggers, and the rollup counted from the deals."""
    return _install_sql(CREATED_FUNCTIONS, CREATED_TRIGGERS, _rebuild_created)


CREATED_UNINSTALL_SQL = _uninstall_sql(CREATED_TRIGGER_NAMES, CREATED_FUNCTIONS)


def replanned_functions_sql() -> str:
    """The functions of the rollups of migrations 0006 to 0009 again, each statement of theirs now
    planned afresh at every firing (``_planned_afresh``): for a database that has them."""
    functions = {**FUNCTIONS, **CLOSED_FUNCTIONS, **PRODUCT_FUNCTIONS}
    return "\n".join([*(_function(name, body) for name, body in functions.items()), _DEAL_DELETED])


def territories_install_sql() -> str:
    """The territory rollups' functions and triggers, and the rollups counted from the accounts and
    deals."""
    return _install_sql(TERRITORY_FUNCTIONS, TERRITORY_TRIGGERS, _rebuild_territories)


TERRITORIES_UNINSTALL_SQL = _uninstall_sql(TERRITORY_TRIGGER_NAMES, TERRITORY_FUNCTIONS)


def products_install_sql() -> str:
    """The products rollup's functions and triggers, and the rollup counted from the lines."""
    return _install_sql(PRODUCT_FUNCTIONS, PRODUCT_TRIGGERS, _rebuild_products)


PRODUCTS_UNINSTALL_SQL = _uninstall_sql(PRODUCT_TRIGGER_NAMES, PRODUCT_FUNCTIONS)


def closed_install_sql() -> str:
    """The closed rollup's functions and triggers, and the rollup counted from the deals (in the zone
    the other rollups are in, which migration 0006 set)."""
    return _install_sql(CLOSED_FUNCTIONS, CLOSED_TRIGGERS, _rebuild_closed)


CLOSED_UNINSTALL_SQL = _uninstall_sql(CLOSED_TRIGGER_NAMES, CLOSED_FUNCTIONS)


def _zone_function(zone: str) -> str:
    quoted = zone.replace("'", "''")
    return (
        f"CREATE OR REPLACE FUNCTION {ZONE_FUNCTION}() RETURNS text LANGUAGE sql STABLE "
        f"AS $$ SELECT '{quoted}'::text $$;\n"
        f"COMMENT ON FUNCTION {ZONE_FUNCTION}() IS '{quoted}';"
    )


def install_sql(zone: str) -> str:
    """The functions and triggers, and the rollups counted from the sources in ``zone``."""
    functions = "\n".join(_function(name, body) for name, body in FUNCTIONS.items())
    return "\n".join(
        [
            _zone_function(zone),
            functions,
            _DEAL_DELETED,
            TRIGGERS,
            _rebuild_sql(),
        ]
    )


def _rebuild_sql() -> str:
    zone = f"{ZONE_FUNCTION}()"
    return _rebuild_activities(zone) + _rebuild_advances(zone)


UNINSTALL_SQL = "\n".join(
    [f"DROP TRIGGER IF EXISTS {name} ON {table};" for table, name in TRIGGER_NAMES]
    + [
        f"DROP FUNCTION IF EXISTS {name}();"
        for name in [
            *FUNCTIONS,
            *CLOSED_FUNCTIONS,
            *PRODUCT_FUNCTIONS,
            *TERRITORY_FUNCTIONS,
            *CREATED_FUNCTIONS,
            "reports_rollup_deal_deleted",
            ZONE_FUNCTION,
        ]
    ]
)


def installed_zone(using: str = DEFAULT_DB_ALIAS) -> str | None:
    """The time zone the rollups are counted in; None where they are not kept: SQLite, not
    installed, or a trigger of theirs disabled (then they may have missed writes)."""
    db = connections[using]
    if db.vendor != "postgresql":
        return None
    with db.cursor() as cursor:
        # The zone is also the function's comment: read that way, a missing function is a NULL.
        cursor.execute(
            """
            SELECT CASE WHEN NOT EXISTS (
                SELECT FROM pg_trigger WHERE tgname LIKE 'reports\\_rollup\\_%%' AND tgenabled = 'D'
            ) THEN obj_description(to_regproc(%s), 'pg_proc') END
            """,
            [ZONE_FUNCTION],
        )
        return cursor.fetchone()[0]


def installed(using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether the rollups' functions and triggers are in the database (on or off)."""
    db = connections[using]
    if db.vendor != "postgresql":
        return False
    with db.cursor() as cursor:
        cursor.execute("SELECT to_regproc(%s) IS NOT NULL", [ZONE_FUNCTION])
        return cursor.fetchone()[0]


def rebuild(zone: str | None = None, using: str = DEFAULT_DB_ALIAS) -> None:
    """Count the rollups again from the sources, in ``zone`` (default ``settings.TIME_ZONE``)."""
    zone = zone or settings.TIME_ZONE
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(_zone_function(zone))
        cursor.execute(_rebuild_sql())
        for function, counted in (
            ("reports_rollup_closed", _rebuild_closed),
            ("reports_rollup_product_lines", _rebuild_products),
            ("reports_rollup_territory_deals", _rebuild_territories),
            ("reports_rollup_created", _rebuild_created),
        ):
            cursor.execute("SELECT to_regproc(%s) IS NOT NULL", [function])
            if cursor.fetchone()[0]:
                cursor.execute(counted(f"{ZONE_FUNCTION}()"))


def rebuild_if_zone_changed(using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """After ``migrate``: count the rollups again when ``TIME_ZONE`` is not the zone they are in."""
    zone = installed_zone(using)
    if zone is not None and zone != settings.TIME_ZONE:
        rebuild(using=using)


def keyed_for(scope) -> bool:
    """Whether the rollups, keyed by owner, hold a scope's rows: the organisation, a team or a rep.
    A territory, pipeline or product is a condition on each deal that they do not keep."""
    return scope.territory is None and scope.pipeline is None and scope.product is None


def ready() -> bool:
    """Whether reports may read the rollups: PostgreSQL, with rollups in this ``TIME_ZONE`` (one query)."""
    return installed_zone() == settings.TIME_ZONE


def activity_days(start: datetime.date, end: datetime.date) -> QuerySet:
    """The activity rollup's rows of days in ``[start, end)``; read them only when ``ready()``.

    A row whose activities were all deleted or moved stays, at zero, and is left out here."""
    from reports.models import ActivityDay

    return ActivityDay.objects.filter(day__gte=start, day__lt=end, count__gt=0)


def advance_days(start: datetime.date, end: datetime.date) -> QuerySet:
    """The advance rollup's rows of days in ``[start, end)``; read them only when ``ready()``."""
    from reports.models import AdvanceDay

    return AdvanceDay.objects.filter(day__gte=start, day__lt=end, count__gt=0)


def created_days(start: datetime.date, end: datetime.date) -> QuerySet:
    """The created deals' rollup's rows of days in ``[start, end)``; read them only when ``ready()``.

    A row whose deals all left it stays, at zero, and is left out here."""
    from reports.models import CreatedDay

    return CreatedDay.objects.filter(day__gte=start, day__lt=end).exclude(deals=0)


def closed_days(start: datetime.date, end: datetime.date | None = None) -> QuerySet:
    """The closed rollup's rows of days in ``[start, end)`` (no ``end``: from ``start`` on); read them
    only when ``ready()``. A row whose deals all left it stays, at zero, and is left out here."""
    from reports.models import ClosedDay

    rows = ClosedDay.objects.filter(day__gte=start).exclude(deals=0)
    return rows if end is None else rows.filter(day__lt=end)


def product_days(start: datetime.date, end: datetime.date) -> QuerySet:
    """The products rollup's rows of days in ``[start, end)``; read them only when ``ready()``.

    A row whose lines all left it stays, at zero, and is left out here."""
    from reports.models import ProductDay

    return ProductDay.objects.filter(day__gte=start, day__lt=end).exclude(lines=0)


def _triggers_on(tables) -> list[tuple[str, str]]:
    return [(table, name) for table, name in TRIGGER_NAMES if table in tables]


def on_bulk_load_starting(sender, tables, **kwargs) -> None:
    """A bulk load is about to write ``tables``: their rollup triggers wait (one count at the end
    costs 9 s at 1M deals; the triggers slowed a 1M seed's load by about 2 minutes)."""
    if installed_zone() is None:
        return
    with connection.cursor() as cursor:
        for table, name in _triggers_on(tables):
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {name}")


def on_bulk_load_finished(sender, tables, **kwargs) -> None:
    """The load is in: the triggers back on, and the rollups counted from what was loaded."""
    triggers = _triggers_on(tables)
    if not triggers or not installed():
        return
    with connection.cursor() as cursor:
        for table, name in triggers:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {name}")
    rebuild(installed_zone())
