"""Streaks and personal bests over REST: ``streaks/`` and ``personal-bests/``, one row per person.

Public within a team (``coaching.celebrations``): a rep gets themselves and
the people who share their manager, a manager everyone below them, an admin
everyone; ``team`` (a manager) or ``rep`` narrows it, and one outside that
reach is a 404. Fixed queries: the people, then two for the figures.
"""

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from coaching.celebrations import (
    celebration_people_visible_to,
    personal_bests_for,
    streaks_for,
)
from pipeline.money import reporting_currency
from salesmgr.api.fields import DateField
from salesmgr.selectors import team_member_ids_subquery

ID = {"required": False, "min_value": 1, "max_value": 2**63 - 1}
MONEY = {"max_digits": 16, "decimal_places": 2}


class PeopleQuery(serializers.Serializer):
    team = serializers.IntegerField(**ID, help_text="A manager: everyone below them.")
    rep = serializers.IntegerField(**ID, help_text="One person.")


def _people(request):
    query = PeopleQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    people = celebration_people_visible_to(request.user).filter(is_active=True)
    if (team := query.validated_data.get("team")) is not None:
        people = people.filter(pk__in=team_member_ids_subquery(team))
    if (rep := query.validated_data.get("rep")) is not None:
        people = people.filter(pk=rep)
    people = list(
        people.only("pk", "username", "full_name", "first_name", "last_name").order_by("pk")
    )
    if not people and ("team" in query.validated_data or "rep" in query.validated_data):
        raise Http404("No such team or person within your reach.")
    return people


class Run(serializers.Serializer):
    length = serializers.IntegerField(help_text="Consecutive weeks or months; 0 for none.")
    first = DateField(allow_null=True, help_text="First day of its first period.")
    last = DateField(allow_null=True, help_text="First day of its last period.")


class StreakRow(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    win_weeks_current = Run(help_text="ISO weeks in a row with a won deal, to this or last week.")
    win_weeks_longest = Run()
    quota_months_current = Run(help_text="Months in a row at 100% of quota, to this or last month.")
    quota_months_longest = Run()


class StreaksAnswer(serializers.Serializer):
    today = DateField()
    results = StreakRow(many=True)


class BestFigure(serializers.Serializer):
    value = serializers.DecimalField(**MONEY, help_text="In the reporting currency.")
    day = DateField(help_text="The deal's close date, or the month's first day.")
    is_new = serializers.BooleanField(help_text="Set within the last 30 days.")
    deal = serializers.IntegerField(allow_null=True, required=False)
    deal_name = serializers.CharField(allow_null=True, required=False)


class BestRow(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    best_deal = BestFigure(allow_null=True)
    best_month = BestFigure(allow_null=True)


class BestsAnswer(serializers.Serializer):
    today = DateField()
    reporting_currency = serializers.CharField()
    results = BestRow(many=True)


RESPONSES = {
    400: OpenApiResponse(description="Bad input, named by field."),
    404: OpenApiResponse(description="A team or person outside your reach."),
}


def _run(run) -> dict:
    return {"length": run.length, "first": run.first, "last": run.last}


class StreaksView(APIView):
    """Win streaks (ISO weeks with a won deal) and quota streaks (months at 100%) of the people you may see."""

    @extend_schema(parameters=[PeopleQuery], responses={200: StreaksAnswer, **RESPONSES})
    def get(self, request):
        people = _people(request)
        today = timezone.localdate()
        streaks = streaks_for([p.pk for p in people], today)
        rows = [
            {
                "id": person.pk,
                "name": person.display_name,
                "win_weeks_current": _run(streaks[person.pk].weeks_current),
                "win_weeks_longest": _run(streaks[person.pk].weeks_longest),
                "quota_months_current": _run(streaks[person.pk].quota_months_current),
                "quota_months_longest": _run(streaks[person.pk].quota_months_longest),
            }
            for person in people
        ]
        return Response(StreaksAnswer({"today": today, "results": rows}).data)


class PersonalBestsView(APIView):
    """Each person's largest won deal and best month by won value; the deal named only to those who may see it."""

    @extend_schema(parameters=[PeopleQuery], responses={200: BestsAnswer, **RESPONSES})
    def get(self, request):
        people = _people(request)
        today = timezone.localdate()
        bests = personal_bests_for([p.pk for p in people], today)
        user = request.user

        def figure(best, named: bool):
            if best is None:
                return None
            row = {"value": best.value, "day": best.day, "is_new": best.is_new}
            if best.deal_id is not None:
                row |= {
                    "deal": best.deal_id if named else None,
                    "deal_name": best.deal_name if named else None,
                }
            return row

        rows = []
        for person in people:
            named = person.pk == user.pk or not user.is_rep
            rows.append(
                {
                    "id": person.pk,
                    "name": person.display_name,
                    "best_deal": figure(bests[person.pk].deal, named),
                    "best_month": figure(bests[person.pk].month, named),
                }
            )
        return Response(
            BestsAnswer(
                {"today": today, "reporting_currency": reporting_currency(), "results": rows}
            ).data
        )
