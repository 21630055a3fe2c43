"""``POST /api/v1/deals/bulk/``: up to 500 deals in one atomic request, upserting on ``external_id``.

The request is parsed here and written by ``pipeline.services.bulk.deals_upsert``:
every row is checked first; one bad row writes nothing and the answer lists
each problem with its row number.
"""

import dataclasses

from rest_framework import serializers, status
from rest_framework.response import Response

from pipeline.models import ForecastCategory
from pipeline.services.bulk import MAX_ROWS, DealRow, deal_rows_reference_errors, deals_upsert
from pipeline.services.imports import CHANGEABLE_FIELDS, ChangeSpec, RowErrors, TransitionSpec
from salesmgr.api.base import require_json_types
from salesmgr.api.fields import DateField
from salesmgr.values import parse_int


class TransitionRow(serializers.Serializer):
    to_stage = serializers.IntegerField(min_value=1)
    at = serializers.DateTimeField()
    by = serializers.IntegerField(min_value=1, required=False, allow_null=True)


class ChangeRow(serializers.Serializer):
    field = serializers.ChoiceField(choices=CHANGEABLE_FIELDS)
    value = serializers.CharField(max_length=40)
    at = serializers.DateTimeField()


class BulkDealRow(serializers.Serializer):
    """One deal; ids are checked against what you may see, for the whole request at once."""

    external_id = serializers.CharField(max_length=120, required=False, allow_null=True)
    name = serializers.CharField(max_length=200)
    account = serializers.IntegerField(min_value=1)
    owner = serializers.IntegerField(min_value=1, required=False)
    pipeline = serializers.IntegerField(min_value=1)
    stage = serializers.IntegerField(min_value=1)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0)
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False)
    expected_close_date = DateField()
    forecast_category = serializers.ChoiceField(
        choices=ForecastCategory.choices, default=ForecastCategory.PIPELINE
    )
    lost_reason = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    version = serializers.IntegerField(
        min_value=1, required=False, help_text="For an update: the version you read."
    )
    created_at = serializers.DateTimeField(
        required=False, help_text="Admins: when the deal was really created."
    )
    transitions = TransitionRow(
        many=True, required=False, help_text="Admins: the stage history, oldest first."
    )
    changes = ChangeRow(
        many=True,
        required=False,
        help_text="Admins: earlier values of amount, close date, category.",
    )


class BulkRequest(serializers.Serializer):
    deals = BulkDealRow(many=True, allow_empty=False, max_length=MAX_ROWS)


class BulkRowError(serializers.Serializer):
    row = serializers.IntegerField()
    field = serializers.CharField()
    message = serializers.CharField()


class BulkErrors(serializers.Serializer):
    errors = BulkRowError(many=True)


class BulkResult(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    ids = serializers.ListField(child=serializers.IntegerField())


def _serializer_errors(errors: dict) -> list[dict]:
    """Flatten DRF's errors for the ``deals`` list into ``{row, field, message}`` items."""
    rows = errors.get("deals", errors)
    if isinstance(rows, list) and not any(isinstance(r, dict) for r in rows):
        return [{"row": 0, "field": "deals", "message": m} for m in _messages(rows)]
    if isinstance(rows, list):
        rows = dict(enumerate(rows))
    items = []
    for index, row_errors in rows.items():
        if not isinstance(index, int):  # an error about the list itself, or a stray top-level field
            items += [{"row": 0, "field": str(index), "message": m} for m in _messages(row_errors)]
            continue
        if not isinstance(row_errors, dict):  # the row itself is wrong, e.g. not an object
            items += [{"row": index, "field": "deals", "message": m} for m in _messages(row_errors)]
            continue
        for field, messages in row_errors.items():
            items += [{"row": index, "field": field, "message": m} for m in _messages(messages)]
    return sorted(items, key=lambda item: item["row"])


def _messages(messages) -> list[str]:
    if isinstance(messages, dict):
        return [f"{key}: {m}" for key, value in messages.items() for m in _messages(value)]
    if isinstance(messages, list):
        return [m for value in messages for m in _messages(value)]
    return [str(messages)]


def _reference_errors(data, by, shown: list[dict]) -> list[dict]:
    """The ids of a refused request that name nothing ``by`` may see, besides the errors already ``shown``."""
    rows = data.get("deals") if isinstance(data, dict) else None
    if not isinstance(rows, list) or len(rows) > MAX_ROWS:
        return []
    named = []
    for raw in rows:
        raw = raw if isinstance(raw, dict) else {}
        ids = {
            name: parse_int(raw.get(name)) for name in ("account", "owner", "stage", "lost_reason")
        }
        transitions = raw.get("transitions")
        for position, transition in enumerate(transitions if isinstance(transitions, list) else []):
            if isinstance(transition, dict):
                ids[f"transitions[{position}].to_stage"] = parse_int(transition.get("to_stage"))
                ids[f"transitions[{position}].by"] = parse_int(transition.get("by"))
        named.append(ids)
    taken = {(error["row"], error["field"]) for error in shown}
    return [
        error
        for error in deal_rows_reference_errors(named=named, by=by)
        if (error["row"], error["field"].split("[", 1)[0]) not in taken
    ]


def _deal_row(row: dict) -> DealRow:
    return DealRow(
        name=row["name"],
        account_id=row["account"],
        pipeline_id=row["pipeline"],
        stage_id=row["stage"],
        amount=row["amount"],
        expected_close_date=row["expected_close_date"],
        forecast_category=row["forecast_category"],
        external_id=row.get("external_id"),
        owner_id=row.get("owner"),
        currency=row.get("currency"),
        lost_reason_id=row.get("lost_reason"),
        version=row.get("version"),
        created_at=row.get("created_at"),
        transitions=[
            TransitionSpec(to_stage_id=t["to_stage"], at=t["at"], by_id=t.get("by"))
            for t in row.get("transitions") or []
        ],
        changes=[
            ChangeSpec(field=c["field"], value=c["value"], at=c["at"])
            for c in row.get("changes") or []
        ],
    )


def bulk(viewset, request):
    """The body of the deals viewset's ``bulk`` action (idempotent with an Idempotency-Key)."""

    def produce():
        payload = BulkRequest(data=request.data, context=viewset.get_serializer_context())
        try:
            require_json_types(payload)
        except serializers.ValidationError as exc:
            return Response(
                {"errors": _serializer_errors(exc.detail)}, status=status.HTTP_400_BAD_REQUEST
            )
        if not payload.is_valid():
            errors = _serializer_errors(payload.errors)
            errors += _reference_errors(request.data, request.user, errors)
            errors.sort(key=lambda item: item["row"])
            return Response({"errors": errors}, status=status.HTTP_400_BAD_REQUEST)
        try:
            rows = [_deal_row(row) for row in payload.validated_data["deals"]]
            result = deals_upsert(rows=rows, by=request.user)
        except RowErrors as exc:
            return Response({"errors": exc.errors}, status=status.HTTP_400_BAD_REQUEST)
        return Response(BulkResult(dataclasses.asdict(result)).data, status=status.HTTP_200_OK)

    return viewset.run_idempotent(request, produce)
