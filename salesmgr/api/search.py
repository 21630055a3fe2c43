"""The API's search filter.

Kept apart from ``base`` because the settings name it and DRF imports it while
its own views module is still loading.
"""

import json
import operator
import re
from functools import reduce

from django.db import connections
from django.db.models import Q, QuerySet
from rest_framework import filters

# A term that a trigram index can serve holds three letters or digits in a row: pg_trgm reads
# no trigram from a shorter one and would scan the whole index.
_TRIGRAMS = re.compile(r"[^\W_]{3}")

# A term the planner expects in more rows than this is matched row by row: hashing that many
# ids first costs more than testing the rows a list reads (a common word in a million deals). A
# view may set its own (``search_by_ids_up_to``).
SEARCH_BY_IDS_UP_TO = 10_000


class SearchFilter(filters.SearchFilter):
    """DRF's search, ignoring null characters (no stored text holds one) rather than answering a bare list.

    The schema documents ``search`` as any string, so no string may be a 400.

    A view whose every search field has a trigram index on PostgreSQL (``search_by_index``)
    matches each term by the ids those indexes find, one read per field, rather than testing
    every row it may see against every field: a term that few rows hold is then found in
    milliseconds, where the plain filter read every visible row (and its joined account). A
    term the planner expects in many rows keeps the plain filter: how many is the view's
    ``search_by_ids_up_to`` (default ``SEARCH_BY_IDS_UP_TO``). The rows matched are the same
    either way.
    """

    def get_search_terms(self, request):
        return filters.search_smart_split(
            request.query_params.get(self.search_param, "").replace("\x00", "")
        )

    def filter_queryset(self, request, queryset, view):
        fields = self.get_search_fields(view, request)
        terms = self.get_search_terms(request)
        indexed = getattr(view, "search_by_index", False)
        if not (fields and terms and indexed) or connections[queryset.db].vendor != "postgresql":
            return super().filter_queryset(request, queryset, view)
        lookups = [self.construct_search(str(field), queryset) for field in fields]
        up_to = getattr(view, "search_by_ids_up_to", SEARCH_BY_IDS_UP_TO)
        return queryset.filter(
            reduce(operator.and_, (_term_matched(queryset, lookups, term, up_to) for term in terms))
        )


def _term_matched(queryset: QuerySet, lookups: list[str], term: str, up_to: int) -> Q:
    """Rows holding ``term`` in any of ``lookups``: by their ids when the indexes can serve it
    and the planner expects at most ``up_to`` of them."""
    plain = reduce(operator.or_, (Q(**{lookup: term}) for lookup in lookups))
    if not _TRIGRAMS.search(term):
        return plain
    found = [
        # Unordered: the model's default order would sort each field's ids before the union.
        queryset.model._base_manager.filter(**{lookup: term}).values("pk").order_by()
        for lookup in lookups
    ]
    matched = found[0].union(*found[1:])
    return Q(pk__in=matched) if _planned_rows(matched) <= up_to else plain


def _planned_rows(queryset: QuerySet) -> float:
    """How many rows the planner expects ``queryset`` to return (one ``EXPLAIN``, not run)."""
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return plan[0]["Plan"]["Plan Rows"]
