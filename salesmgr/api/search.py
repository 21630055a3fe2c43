"""The API's search filter.

Kept apart from ``base`` because the settings name it and DRF imports it while
its own views module is still loading.
"""

from rest_framework import filters


class SearchFilter(filters.SearchFilter):
    """DRF's search, ignoring null characters (no stored text holds one) rather than answering a bare list.

    The schema documents ``search`` as any string, so no string may be a 400.
    """

    def get_search_terms(self, request):
        return filters.search_smart_split(
            request.query_params.get(self.search_param, "").replace("\x00", "")
        )
