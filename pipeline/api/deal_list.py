"""The deal list's answer: flat rows, page numbers or cursors, a count that says whether it is exact.

The list reads a page of ids (``deal_list_page``: each owner's first rows from an index,
merged) and then those rows with their related names in one ``values_list`` query, written
out without a model serializer: the list is the API's hottest read, and building 50 model
objects and serialising them field by field cost twice the database's time. Line items and
other collections stay on the detail unless asked for (``?expand=line_items``).
"""

import base64
import binascii
import datetime
import json
from decimal import Decimal, InvalidOperation

from django.db import connections, router
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, serializers
from rest_framework.filters import OrderingFilter
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from pipeline.models import Deal, DealLineItem, ForecastCategory, StageKind
from pipeline.selectors import (
    DEAL_COUNT_EXACT_UP_TO,
    DealSort,
    deal_list_page,
    deals_listed_for,
)
from salesmgr.api.base import Pagination, _positive_int

EXPANDABLE = ("line_items",)
EXPAND_PARAM = OpenApiParameter(
    "expand",
    {"type": "string", "enum": list(EXPANDABLE)},
    OpenApiParameter.QUERY,
    required=False,
    description="line_items: each row also carries its line items (one more query).",
)


class DealListPagination(Pagination):
    """Page numbers as before (``?page=``), or cursors (``?cursor=``, empty for the first page)
    whose next and previous links read on from a row, at the same cost however deep."""

    cursor_query_param = "cursor"
    counted = "deals"
    exact_up_to = DEAL_COUNT_EXACT_UP_TO

    def get_schema_operation_parameters(self, view):
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": (
                    "Read pages by cursor instead of by number: empty for the first page, then "
                    "the cursor in a next or previous link (page is then ignored). A cursor "
                    "follows the first ordering field, then the id; one this list did not give, "
                    "or of another ordering, answers 404."
                ),
                "schema": {"type": "string"},
            },
        ]

    def get_paginated_response_schema(self, schema):
        uri = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["count", "count_exact", "results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "example": 123,
                    "description": (
                        f"Exact up to {self.exact_up_to} {self.counted}; beyond, the database's "
                        "estimate (count_exact false)."
                    ),
                },
                "count_exact": {"type": "boolean"},
                "next": uri,
                "previous": uri,
                "results": schema,
            },
        }


class DealRowBaseSerializer(serializers.Serializer):
    """A deal as the list gives it: its fields and the names of its relations, no collections.

    It documents the rows; ``deal_rows`` writes them (the same fields, formatted alike).
    """

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    account = serializers.IntegerField(read_only=True)
    account_name = serializers.CharField(read_only=True)
    owner = serializers.IntegerField(read_only=True)
    owner_name = serializers.CharField(read_only=True)
    pipeline = serializers.IntegerField(read_only=True)
    pipeline_name = serializers.CharField(read_only=True)
    stage = serializers.IntegerField(read_only=True)
    stage_name = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(choices=StageKind.choices, read_only=True)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)
    currency = serializers.CharField(read_only=True)
    expected_close_date = serializers.DateField(read_only=True)
    forecast_category = serializers.ChoiceField(choices=ForecastCategory.choices, read_only=True)
    lost_reason = serializers.IntegerField(read_only=True, allow_null=True)
    lost_reason_name = serializers.CharField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    stage_entered_at = serializers.DateTimeField(read_only=True)
    closed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    deleted_at = serializers.DateTimeField(read_only=True, allow_null=True)
    version = serializers.IntegerField(read_only=True)
    external_id = serializers.CharField(read_only=True, allow_null=True)


_VALUES = (
    "id",
    "name",
    "account_id",
    "account__name",
    "owner_id",
    "owner__full_name",
    "owner__first_name",
    "owner__last_name",
    "owner__username",
    "pipeline_id",
    "pipeline__name",
    "stage_id",
    "stage__name",
    "status",
    "amount",
    "currency",
    "expected_close_date",
    "forecast_category",
    "lost_reason_id",
    "lost_reason__name",
    "created_at",
    "updated_at",
    "stage_entered_at",
    "closed_at",
    "deleted_at",
    "version",
    "external_id",
)
_money = serializers.DecimalField(max_digits=14, decimal_places=2).to_representation
_moment = serializers.DateTimeField().to_representation


def _day(value):
    return value.isoformat() if value is not None else None


def _when(value, zone):
    """As DRF's DateTimeField writes an aware date-time (``_moment``), without its per-call
    lookups: in the current time zone, ISO 8601, UTC as Z."""
    if value is None:
        return None
    if value.tzinfo is None:
        return _moment(value)
    try:
        text = value.astimezone(zone).isoformat()
    except (OverflowError, TypeError, ValueError):
        return _moment(value)  # its own answer (or error) for the odd value
    return text[:-6] + "Z" if text.endswith("+00:00") else text


_ROWS_SQL: dict[str, str] = {}


def _fetch_rows(ids: list[int]) -> list[tuple]:
    """The ``_VALUES`` of these deals. On PostgreSQL one statement compiled once per process
    (the ORM's own SQL of the joins, with ``id = ANY(%s)``): building it anew cost more CPU
    than running it."""
    alias = router.db_for_read(Deal)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return list(Deal.objects.filter(pk__in=ids).order_by().values_list(*_VALUES))
    sql = _ROWS_SQL.get(alias)
    if sql is None:
        base, params = Deal.objects.order_by().values_list(*_VALUES).query.sql_with_params()
        assert not params and " WHERE " not in base, base
        sql = _ROWS_SQL[alias] = f'{base} WHERE "pipeline_deal"."id" = ANY(%s)'
    with connection.cursor() as cursor:
        cursor.execute(sql, (list(ids),))
        return cursor.fetchall()


def deal_rows(ids: list[int]) -> list[dict]:
    """The list's rows of these deals, in this order: one query."""
    fetched = {row[0]: row for row in _fetch_rows(ids)}
    zone = timezone.get_current_timezone()
    rows = []
    for pk in ids:
        row = fetched.get(pk)
        if row is None:  # deleted between the page's two reads
            continue
        (
            pk,
            name,
            account,
            account_name,
            owner,
            full_name,
            first_name,
            last_name,
            username,
            pipeline,
            pipeline_name,
            stage,
            stage_name,
            status,
            amount,
            currency,
            close,
            forecast,
            lost_reason,
            lost_reason_name,
            created_at,
            updated_at,
            stage_entered_at,
            closed_at,
            deleted_at,
            version,
            external_id,
        ) = row
        rows.append(
            {
                "id": pk,
                "name": name,
                "account": account,
                "account_name": account_name,
                "owner": owner,
                # User.display_name, from the columns already read.
                "owner_name": full_name or f"{first_name} {last_name}".strip() or username,
                "pipeline": pipeline,
                "pipeline_name": pipeline_name,
                "stage": stage,
                "stage_name": stage_name,
                "status": status,
                "amount": _money(amount),
                "currency": currency,
                "expected_close_date": _day(close),
                "forecast_category": forecast,
                "lost_reason": lost_reason,
                "lost_reason_name": lost_reason_name,
                "created_at": _when(created_at, zone),
                "updated_at": _when(updated_at, zone),
                "stage_entered_at": _when(stage_entered_at, zone),
                "closed_at": _when(closed_at, zone),
                "deleted_at": _when(deleted_at, zone),
                "version": version,
                "external_id": external_id,
            }
        )
    return rows


def add_line_items(rows: list[dict], line_item_serializer) -> None:
    """Each row's line items as the detail writes them (one query, with their products)."""
    items: dict[int, list] = {row["id"]: [] for row in rows}
    for item in DealLineItem.objects.filter(deal_id__in=list(items)).select_related("product"):
        items[item.deal_id].append(item)
    for row in rows:
        row["line_items"] = line_item_serializer(items[row["id"]], many=True).data


# How a cursor writes each sort key, and reads it back.
_DATES = {"expected_close_date"}
_MOMENTS = {"created_at", "updated_at", "closed_at", "occurred_at"}


def _key_out(field: str, value):
    if value is None or isinstance(value, int | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    return value.isoformat()


def _key_in(field: str, value):
    if value is None:
        if field == "closed_at":
            return None
        raise ValueError("empty key")
    if field == "id":
        if not isinstance(value, int):
            raise ValueError("id")
        return value
    if not isinstance(value, str):
        raise ValueError("key")
    if field in _DATES:
        return datetime.date.fromisoformat(value)
    if field in _MOMENTS:
        moment = datetime.datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment
    if field == "amount":
        return Decimal(value)
    return value


def _encode(ordering: str, key, pk: int, backwards: bool, field: str) -> str:
    raw = json.dumps(
        {"o": ordering, "k": _key_out(field, key), "i": pk, "b": backwards}, separators=(",", ":")
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(token: str, ordering: str, sort: DealSort) -> tuple[tuple, bool]:
    # As DRF's own cursor pagination: a cursor this list did not give finds no page (404).
    invalid = exceptions.NotFound("Invalid cursor: start again with an empty one.")
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        pk, backwards = data["i"], data["b"]
        key = _key_in(sort.field, data["k"])
    except (ValueError, TypeError, KeyError, InvalidOperation, binascii.Error):
        raise invalid from None
    if not isinstance(pk, int) or isinstance(pk, bool) or not isinstance(backwards, bool):
        raise invalid
    if data.get("o") != ordering:
        raise exceptions.NotFound(
            "Invalid cursor: it belongs to another ordering; start again with an empty one."
        )
    return (key, pk), backwards


def _expanded(request) -> set[str]:
    raw = request.query_params.get("expand")
    if raw is None or raw == "":
        return set()
    asked = {part.strip() for part in raw.split(",")}
    unknown = asked - set(EXPANDABLE)
    if unknown:
        raise exceptions.ValidationError(
            {
                "expand": [
                    f"Expand one of: {', '.join(EXPANDABLE)} (not {', '.join(sorted(unknown))})."
                ]
            }
        )
    return asked


def deal_list_answer(view, request, *, include_deleted: bool, line_item_serializer) -> Response:
    """The list's answer for ``view`` (the deals viewset): filters, search and ordering as its
    backends read them, a page by number or by cursor, flat rows."""
    expand = _expanded(request)
    deals, owners = deals_listed_for(request.user, include_deleted=include_deleted)
    deals = view.filter_queryset(deals).order_by()
    terms = OrderingFilter().get_ordering(request, deals, view) or ["expected_close_date", "id"]

    def read(sort, size, **where):
        return deal_list_page(
            deals, owners=owners, sort=sort, size=size, live=not include_deleted, **where
        )

    page, links = paged(request, terms, read, DealListPagination())
    rows = deal_rows(page.ids)
    if "line_items" in expand:
        add_line_items(rows, line_item_serializer)
    return Response(
        {
            "count": page.count,
            "count_exact": page.count_exact,
            **links,
            "results": rows,
        }
    )


def paged(request, terms: list[str], read, paginator: "DealListPagination"):
    """The page ``read(sort, size, offset= | after=, backwards=)`` gives for the request (by
    number, or by cursor), and its next and previous links."""
    sort = DealSort.of(terms)
    ordering = ",".join(terms)
    size = paginator.get_page_size(request)
    token = request.query_params.get(paginator.cursor_query_param)
    url = request.build_absolute_uri()
    if token is None:
        number = _positive_int(request, paginator.page_query_param) or 1
        page = read(sort, size, offset=(number - 1) * size)
        if number > 1 and not page.ids:
            raise exceptions.NotFound("Invalid page.")
        next_link = replace_query_param(url, "page", number + 1) if page.more else None
        previous_link = None
        if number > 2:
            previous_link = replace_query_param(url, "page", number - 1)
        elif number == 2:
            previous_link = remove_query_param(url, "page")
    else:
        # A cursor follows the first ordering field, then the id; a page number beside it is
        # ignored (the cursor says where to read).
        sort = DealSort.of(terms[:1])
        ordering = terms[0]
        after, backwards = _decode(token, ordering, sort) if token else (None, False)
        page = read(sort, size, after=after, backwards=backwards)

        def link(index: int, towards_start: bool) -> str:
            cursor = _encode(ordering, page.keys[index], page.ids[index], towards_start, sort.field)
            return replace_query_param(url, paginator.cursor_query_param, cursor)

        next_link = previous_link = None
        if page.ids:
            if page.more if not backwards else True:
                next_link = link(-1, False)
            if page.more if backwards else after is not None:
                previous_link = link(0, True)
    return page, {"next": next_link, "previous": previous_link}
