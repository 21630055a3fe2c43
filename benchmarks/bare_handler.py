"""The yardstick for the deal lists: the same page, served with psycopg2 and json and nothing else.

    DATABASE_URL=postgres://... .venv/bin/gunicorn -w 2 -b 127.0.0.1:8001 benchmarks.bare_handler:application

``GET /api/v1/deals/?page_size=50&page=1`` with ``Authorization: Token <key>`` answers
what the API's list answers for that user in the default order: reps their own live deals,
managers those of themselves and everyone below them, admins all; ordered by expected close
date then id; each row with the list's flat columns (names of the account, owner, pipeline,
stage and lost reason included, no line items); with the count as the API gives it (exact up to
1000 deals, else the planner's estimate, ``count_exact`` false). Two queries, as the API's plan:
the user, their owners and the count in one, the page's rows in the other: for owners holding a
large share of all deals, a walk of at most 2,000 rows of the (close date, id) index over every
live deal, and where that does not fill the page, each owner's first rows from the (owner, close
date, id) index, merged; no framework: the least a Python server can do for this answer.
``benchmarks/api.py`` times the app against it; ``tests/benchmarks/test_bare_handler.py`` checks
that it answers the same deals.
"""

import json
import os
from decimal import Decimal
from urllib.parse import parse_qs

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 200

EXACT_UP_TO = 1000  # pipeline.selectors.DEAL_COUNT_EXACT_UP_TO
WALK_ROWS, WALK_MARGIN = 2000, 2  # pipeline.selectors.DEAL_WALK_ROWS and DEAL_WALK_MARGIN

# Who the token's user is, whose deals they may see, and how many (exact up to EXACT_UP_TO,
# beyond it the planner's estimate, from the count_estimate function of the app's migrations).
# The team walk is the one in salesmgr/selectors.py (_SELF_AND_SUBTREE_SQL).
SCOPE_SQL = """
WITH who AS (
    SELECT u.id, u.role = 'admin' OR u.is_superuser AS is_admin, u.role = 'manager' AS is_manager
    FROM authtoken_token t JOIN salesmgr_user u ON u.id = t.user_id
    WHERE t.key = %(key)s AND u.is_active
),
owners AS (
    WITH RECURSIVE subtree(id) AS (
        SELECT id FROM who
        UNION
        SELECT u.id FROM salesmgr_user u JOIN subtree s ON u.manager_id = s.id
        WHERE (SELECT is_manager FROM who)
    )
    SELECT id FROM subtree
),
scope AS (
    SELECT who.id, who.is_admin,
           CASE WHEN who.is_admin THEN ARRAY(SELECT id FROM salesmgr_user ORDER BY id)
                ELSE ARRAY(SELECT id FROM owners ORDER BY id) END AS owners
    FROM who
),
counted AS (
    SELECT scope.*, (
        SELECT count(*) FROM (
            SELECT 1 FROM pipeline_deal d
            WHERE d.deleted_at IS NULL AND d.owner_id = ANY(scope.owners)
            LIMIT %(exact_up_to)s + 1
        ) AS bounded
    ) AS n
    FROM scope
)
SELECT id, is_admin, owners, n,
       CASE WHEN n > %(exact_up_to)s THEN count_estimate(
           'SELECT id FROM pipeline_deal WHERE deleted_at IS NULL'
           || CASE WHEN is_admin THEN ''
                   ELSE format(' AND owner_id = ANY(%%L::bigint[])', owners) END
       ) END,
       (SELECT reltuples FROM pg_class WHERE oid = 'pipeline_deal'::regclass)
FROM counted
"""

# One page of the list in the API's default order, then those rows with their related names.
# The page: where %(walk)s, the first rows of the owners among at most WALK_ROWS rows of the
# (close date, id) index over every live deal; where those do not fill it, each owner's first
# rows from the (owner, close date, id) index, merged. The branch not taken is never run.
PAGE_SQL = """
WITH walk AS MATERIALIZED (
    SELECT id, expected_close_date FROM (
        SELECT id, expected_close_date, owner_id FROM pipeline_deal
        WHERE deleted_at IS NULL AND id > 0
        ORDER BY expected_close_date, id
        LIMIT %(walk_rows)s
    ) AS walked
    WHERE %(walk)s AND owner_id = ANY(%(owners)s::bigint[])
    ORDER BY expected_close_date, id
    LIMIT %(per_owner)s
),
filled AS MATERIALIZED (SELECT count(*) = %(per_owner)s AS filled FROM walk)
SELECT d.id, d.name, d.account_id, a.name, d.owner_id,
       coalesce(nullif(o.full_name, ''), nullif(trim(o.first_name || ' ' || o.last_name), ''), o.username),
       d.pipeline_id, p.name, d.stage_id, s.name, d.status, d.amount, d.currency,
       d.expected_close_date, d.forecast_category, d.lost_reason_id, lr.name,
       d.created_at, d.updated_at, d.stage_entered_at, d.closed_at, d.deleted_at, d.version,
       d.external_id
FROM (
    (
        SELECT id, expected_close_date FROM walk
        WHERE (SELECT filled FROM filled)
        ORDER BY expected_close_date, id
        LIMIT %(limit)s OFFSET %(offset)s
    )
    UNION ALL
    (
        SELECT page.id, page.expected_close_date
        FROM unnest(%(owners)s::bigint[]) AS owner(id)
        CROSS JOIN LATERAL (
            SELECT id, expected_close_date FROM pipeline_deal
            WHERE owner_id = owner.id AND deleted_at IS NULL
            ORDER BY owner_id, expected_close_date, id
            LIMIT %(per_owner)s
        ) AS page
        WHERE NOT (SELECT filled FROM filled)
        ORDER BY page.expected_close_date, page.id
        LIMIT %(limit)s OFFSET %(offset)s
    )
) AS page
JOIN pipeline_deal d ON d.id = page.id
JOIN pipeline_account a ON a.id = d.account_id
JOIN salesmgr_user o ON o.id = d.owner_id
JOIN pipeline_pipeline p ON p.id = d.pipeline_id
JOIN pipeline_stage s ON s.id = d.stage_id
LEFT JOIN pipeline_lostreason lr ON lr.id = d.lost_reason_id
ORDER BY page.expected_close_date, page.id
"""

COLUMNS = [
    "id", "name", "account", "account_name", "owner", "owner_name", "pipeline", "pipeline_name",
    "stage", "stage_name", "status", "amount", "currency", "expected_close_date",
    "forecast_category", "lost_reason", "lost_reason_name", "created_at", "updated_at",
    "stage_entered_at", "closed_at", "deleted_at", "version", "external_id",
]  # fmt: skip


def _plain(value):
    """A value as the API writes it: decimals and dates as strings."""
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _answer(start_response, status: str, body) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def _number(values: dict, name: str, default: int, most: int | None = None) -> int | None:
    raw = values.get(name, [None])[0]
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        return None
    return min(int(raw), most) if most else int(raw)


def make_app(connect):
    """A WSGI app over the DB-API connection ``connect()`` gives (opened once per process)."""
    held = []

    def cursor():
        if not held or held[0].closed:
            held[:] = [connect()]
        return held[0].cursor()

    def application(environ, start_response):
        if environ.get("PATH_INFO") != "/api/v1/deals/" or environ.get("REQUEST_METHOD") != "GET":
            return _answer(start_response, "404 Not Found", {"detail": "Not found."})
        scheme, _, key = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme != "Token" or not key:
            return _answer(start_response, "401 Unauthorized", {"detail": "No token."})
        query = parse_qs(environ.get("QUERY_STRING", ""))
        page_size = _number(query, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        page = _number(query, "page", 1)
        if page_size is None or page is None:
            return _answer(start_response, "400 Bad Request", {"page": ["A whole number from 1."]})
        with cursor() as rows:
            rows.execute(SCOPE_SQL, {"key": key, "exact_up_to": EXACT_UP_TO})
            who = rows.fetchone()
            if who is None:
                return _answer(start_response, "401 Unauthorized", {"detail": "Invalid token."})
            _, is_admin, owners, count, estimate, table_rows = who
            per_owner = page * page_size + 1
            reach = WALK_ROWS if is_admin else min(WALK_ROWS, per_owner * len(owners))
            rows.execute(
                PAGE_SQL,
                {
                    "owners": owners,
                    "walk": (count if estimate is None else estimate) * reach
                    >= WALK_MARGIN * per_owner * table_rows,
                    "walk_rows": WALK_ROWS,
                    "per_owner": per_owner,
                    "limit": page_size + 1,
                    "offset": (page - 1) * page_size,
                },
            )
            results = [
                {column: _plain(value) for column, value in zip(COLUMNS, row, strict=True)}
                for row in rows
            ]
        if page > 1 and not results:
            return _answer(start_response, "404 Not Found", {"detail": "Invalid page."})
        more = len(results) > page_size
        return _answer(
            start_response,
            "200 OK",
            {
                "count": count if estimate is None else max(count, estimate),
                "count_exact": estimate is None,
                "next": f"?page={page + 1}&page_size={page_size}" if more else None,
                "previous": f"?page={page - 1}&page_size={page_size}" if page > 1 else None,
                "results": results[:page_size],
            },
        )

    return application


def _connect_from_environment():
    import psycopg2

    connection = psycopg2.connect(os.environ["DATABASE_URL"])
    connection.autocommit = True
    return connection


application = make_app(_connect_from_environment)
