"""The API's search filter.

Kept apart from ``base`` because the settings name it and DRF imports it while
its own views module is still loading.
"""

from rest_framework import exceptions, filters


class SearchFilter(filters.SearchFilter):
    """DRF's search, answering a bad term (a null character) as ``{"search": [...]}`` like every other 400."""

    def get_search_terms(self, request):
        try:
            return super().get_search_terms(request)
        except exceptions.ValidationError as exc:
            raise exceptions.ValidationError({self.search_param: exc.detail}) from None
