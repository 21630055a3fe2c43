"""The API's search filter.

Kept apart from ``base`` because the settings name it and DRF imports it while
its own views module is still loading.
"""

from rest_framework import filters


class SearchFilter(filters.SearchFilter):
    """DRF's search, where a term with a null character matches nothing instead of answering 400.

    The schema documents ``search`` as any string, and no stored text can hold
    a null character, so the honest answer is an empty page.
    """

    def filter_queryset(self, request, queryset, view):
        if "\x00" in request.query_params.get(self.search_param, ""):
            return queryset.none()
        return super().filter_queryset(request, queryset, view)
