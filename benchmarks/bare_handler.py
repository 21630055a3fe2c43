"""The yardstick for the deal lists: the same page, served with psycopg2 and json and nothing else.

    DATABASE_URL=postgres://... .venv/bin/gunicorn -w 2 -b 127.0.0.1:8001 benchmarks.bare_handler:application

``GET /api/v1/deals/?page_size=50&page=1`` with ``Authorization: Token <key>`` answers
what the API's list answers for that user in the default order: reps their own live deals,
managers those of themselves and everyone below them, admins all; ordered by expected close
date then id; each row with the list's columns (names of the account, owner, pipeline, stage
and lost reason included) and its line items; with the exact count. Two queries for the page
(the user and the count in one, the rows with their line items in the other), no framework:
the least a Python server can do for this answer. ``benchmarks/api.py`` times the app
against it; ``tests/benchmarks/test_bare_handler.py`` checks that it answers the same deals.
"""

import json
import os
from decimal import Decimal
from urllib.parse import parse_qs

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 200

# Who the token's user is and how many live deals they may see, in one statement.
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
)
SELECT who.id, who.is_admin, ARRAY(SELECT id FROM owners),
       (SELECT count(*) FROM pipeline_deal d
        WHERE d.deleted_at IS NULL AND (who.is_admin OR d.owner_id IN (SELECT id FROM owners)))
FROM who
"""

# One page of the list in the API's default order, each row with its line items.
PAGE_SQL = """
SELECT d.id, d.name, d.account_id, a.name, d.owner_id,
       coalesce(nullif(o.full_name, ''), nullif(trim(o.first_name || ' ' || o.last_name), ''), o.username),
       d.pipeline_id, p.name, d.stage_id, s.name, d.status, d.amount, d.currency,
       d.expected_close_date, d.forecast_category, d.lost_reason_id, lr.name,
       d.created_at, d.updated_at, d.stage_entered_at, d.closed_at, d.deleted_at, d.version,
       d.external_id,
       coalesce((
           SELECT json_agg(json_build_object(
               'product', li.product_id, 'product_name', pr.name, 'quantity', li.quantity,
               'unit_price', li.unit_price, 'discount_pct', li.discount_pct,
               'total', round(li.quantity * li.unit_price * (100 - li.discount_pct) / 100, 2)
           ) ORDER BY li.id)
           FROM pipeline_deallineitem li JOIN pipeline_product pr ON pr.id = li.product_id
           WHERE li.deal_id = d.id
       ), '[]')
FROM pipeline_deal d
JOIN pipeline_account a ON a.id = d.account_id
JOIN salesmgr_user o ON o.id = d.owner_id
JOIN pipeline_pipeline p ON p.id = d.pipeline_id
JOIN pipeline_stage s ON s.id = d.stage_id
LEFT JOIN pipeline_lostreason lr ON lr.id = d.lost_reason_id
WHERE d.deleted_at IS NULL AND (%(all)s OR d.owner_id = ANY(%(owners)s))
ORDER BY d.expected_close_date, d.id
LIMIT %(limit)s OFFSET %(offset)s
"""

COLUMNS = [
    "id", "name", "account", "account_name", "owner", "owner_name", "pipeline", "pipeline_name",
    "stage", "stage_name", "status", "amount", "currency", "expected_close_date",
    "forecast_category", "lost_reason", "lost_reason_name", "created_at", "updated_at",
    "stage_entered_at", "closed_at", "deleted_at", "version", "external_id", "line_items",
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
            rows.execute(SCOPE_SQL, {"key": key})
            who = rows.fetchone()
            if who is None:
                return _answer(start_response, "401 Unauthorized", {"detail": "Invalid token."})
            _, is_admin, owners, count = who
            rows.execute(
                PAGE_SQL,
                {
                    "all": is_admin,
                    "owners": owners,
                    "limit": page_size,
                    "offset": (page - 1) * page_size,
                },
            )
            results = [
                {column: _plain(value) for column, value in zip(COLUMNS, row, strict=True)}
                for row in rows
            ]
        if page > 1 and not results:
            return _answer(start_response, "404 Not Found", {"detail": "Invalid page."})
        more = page * page_size < count
        return _answer(
            start_response,
            "200 OK",
            {
                "count": count,
                "next": f"?page={page + 1}&page_size={page_size}" if more else None,
                "previous": f"?page={page - 1}&page_size={page_size}" if page > 1 else None,
                "results": results,
            },
        )

    return application


def _connect_from_environment():
    import psycopg2

    connection = psycopg2.connect(os.environ["DATABASE_URL"])
    connection.autocommit = True
    return connection


application = make_app(_connect_from_environment)
