"""The API's body parser: JSON only, for every endpoint (an upload endpoint names its own).

Kept apart from ``base`` because the settings name it and DRF imports it while
its own views module is still loading.
"""

from rest_framework import exceptions
from rest_framework.parsers import JSONParser


class JSONBodyParser(JSONParser):
    """DRF's JSON parser, answering a body nested too deeply for the decoder with a 400, not a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(
                "JSON parse error - the body is nested too deeply."
            ) from None
