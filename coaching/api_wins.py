"""The wins feed over REST: ``wins/?team=<manager id>`` (or ``owner``), newest first, a page at a time."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from coaching.wins import wins_visible_to
from pipeline.money import reporting_currency
from reports.api import ScopeQuery
from salesmgr.api.base import Pagination

MONEY = {"max_digits": 16, "decimal_places": 2}


class WinOwner(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField(source="display_name")


class WinAccount(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()


class Win(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    owner = WinOwner(help_text="The rep who won it.")
    account = WinAccount()
    closed_at = serializers.DateTimeField()
    amount = serializers.DecimalField(**MONEY, help_text="As entered, in the deal's currency.")
    currency = serializers.CharField()
    value = serializers.DecimalField(
        **MONEY,
        allow_null=True,
        help_text="In the reporting currency at the close date's rate; null when that currency had no rate.",
    )
    reporting_currency = serializers.SerializerMethodField()

    def get_reporting_currency(self, deal) -> str:
        return reporting_currency()


class WinsPage(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = Win(many=True)


PAGE_PARAMETERS = [
    OpenApiParameter(
        "page", {"type": "integer", "minimum": 1}, description="A page number, from 1."
    ),
    OpenApiParameter(
        "page_size",
        {"type": "integer", "minimum": 1, "maximum": Pagination.max_page_size},
        description=f"Wins per page, 1 to {Pagination.max_page_size}.",
    ),
]


class WinsView(APIView):
    """Won deals of a team (``team``), a rep (``owner``) or everything you may see, newest first."""

    @extend_schema(
        parameters=[ScopeQuery, *PAGE_PARAMETERS],
        responses={
            200: WinsPage,
            400: OpenApiResponse(description="Bad input, named by field."),
            404: OpenApiResponse(description="A scope outside your reach, or a page past the end."),
        },
    )
    def get(self, request):
        query = ScopeQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        scope = query.scope(request.user)
        paginator = Pagination()
        page = paginator.paginate_queryset(wins_visible_to(request.user, scope), request, view=self)
        return paginator.get_paginated_response(Win(page, many=True).data)
