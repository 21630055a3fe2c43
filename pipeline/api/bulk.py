"""``POST /api/v1/deals/bulk/``: up to 500 deals in one atomic request, upserting on ``external_id``.

New rows go through the bulk import service (with their past, for admins);
rows whose ``external_id`` names an existing deal update it through the deal
services. Every row is checked first; one bad row writes nothing and the
answer lists each problem with its row number.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone
from rest_framework import serializers, status
from rest_framework.response import Response

from pipeline.models import Deal, ForecastCategory
from pipeline.selectors import (
    accounts_visible_to,
    deals_visible_to,
    lost_reasons_visible_to,
    stages_visible_to,
)
from pipeline.services import deal_move, deal_reassign, deal_update
from pipeline.services.imports import (
    CHANGEABLE_FIELDS,
    ChangeSpec,
    DealSpec,
    RowErrors,
    TransitionSpec,
    deals_import,
)
from salesmgr.api.base import VisiblePrimaryKeyRelatedField, require_json_types
from salesmgr.errors import ConflictError, PermissionDenied
from salesmgr.selectors import users_visible_to

MAX_ROWS = 500


class TransitionRow(serializers.Serializer):
    to_stage = VisiblePrimaryKeyRelatedField(selector=stages_visible_to)
    at = serializers.DateTimeField()
    by = VisiblePrimaryKeyRelatedField(selector=users_visible_to, required=False, allow_null=True)


class ChangeRow(serializers.Serializer):
    field = serializers.ChoiceField(choices=CHANGEABLE_FIELDS)
    value = serializers.CharField(max_length=40)
    at = serializers.DateTimeField()


class BulkDealRow(serializers.Serializer):
    external_id = serializers.CharField(max_length=120, required=False, allow_null=True)
    name = serializers.CharField(max_length=200)
    account = VisiblePrimaryKeyRelatedField(selector=accounts_visible_to)
    owner = VisiblePrimaryKeyRelatedField(selector=users_visible_to, required=False)
    pipeline = serializers.IntegerField(min_value=1)
    stage = VisiblePrimaryKeyRelatedField(selector=stages_visible_to)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0)
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False)
    expected_close_date = serializers.DateField()
    forecast_category = serializers.ChoiceField(choices=ForecastCategory.choices, default=ForecastCategory.PIPELINE)
    lost_reason = VisiblePrimaryKeyRelatedField(selector=lost_reasons_visible_to, required=False, allow_null=True)
    version = serializers.IntegerField(min_value=1, required=False, help_text="For an update: the version you read.")
    created_at = serializers.DateTimeField(required=False, help_text="Admins: when the deal was really created.")
    transitions = TransitionRow(many=True, required=False, help_text="Admins: the stage history, oldest first.")
    changes = ChangeRow(many=True, required=False, help_text="Admins: earlier values of amount, close date, category.")


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


def _row_error_list(row: int, exc: Exception) -> list[dict]:
    if isinstance(exc, DjangoValidationError) and hasattr(exc, "error_dict"):
        return [
            {"row": row, "field": field, "message": message}
            for field, errors in exc.error_dict.items()
            for error in errors
            for message in error.messages
        ]
    if isinstance(exc, DjangoValidationError):
        return [{"row": row, "field": "non_field_errors", "message": m} for m in exc.messages]
    if isinstance(exc, ConflictError):
        return [{"row": row, "field": "version", "message": str(exc)}]
    return [{"row": row, "field": "owner", "message": str(exc)}]


class _Rollback(Exception):
    pass


def _spec(row: dict, by) -> DealSpec:
    now = timezone.now()
    owner = row.get("owner") or by
    created_at = row.get("created_at") or now
    transitions = row.get("transitions") or [{"to_stage": row["stage"], "at": created_at, "by": by}]
    return DealSpec(
        name=row["name"],
        account_id=row["account"].pk,
        owner_id=owner.pk,
        pipeline_id=row["pipeline"],
        stage_id=row["stage"].pk,
        amount=row["amount"],
        currency=(row.get("currency") or Deal._meta.get_field("currency").get_default()).upper(),
        expected_close_date=row["expected_close_date"],
        forecast_category=row["forecast_category"],
        created_at=created_at,
        lost_reason_id=row["lost_reason"].pk if row.get("lost_reason") else None,
        transitions=[
            TransitionSpec(to_stage_id=t["to_stage"].pk, at=t["at"], by_id=t["by"].pk if t.get("by") else None)
            for t in transitions
        ],
        changes=[ChangeSpec(field=c["field"], value=c["value"], at=c["at"]) for c in row.get("changes") or []],
        external_id=row.get("external_id"),
    )


def _update(deal: Deal, row: dict, by) -> Deal:
    if row.get("transitions") or row.get("changes") or row.get("created_at"):
        raise DjangoValidationError({"transitions": "A deal's past can only be given when it is created."})
    if row["pipeline"] != deal.pipeline_id:
        raise DjangoValidationError({"pipeline": "A deal cannot move to another pipeline."})
    version = row.get("version")
    fields = {
        field: row[field]
        for field in ("name", "account", "amount", "expected_close_date", "forecast_category")
        if field in row
    }
    if row.get("currency"):
        fields["currency"] = row["currency"].upper()
    if deal.line_items.exists() and fields.get("amount") == deal.amount:
        fields.pop("amount")
    deal = deal_update(deal=deal, by=by, expected_version=version, **fields)
    owner = row.get("owner")
    if owner is not None and owner.pk != deal.owner_id:
        deal = deal_reassign(deal=deal, new_owner=owner, by=by, expected_version=deal.version)
    if row["stage"].pk != deal.stage_id:
        deal = deal_move(
            deal=deal, to_stage=row["stage"], by=by, expected_version=deal.version, lost_reason=row.get("lost_reason")
        )
    return deal


def bulk_upsert(*, rows: list[dict], by) -> dict:
    """Create or update every row in one transaction; raises RowErrors (nothing written) on any problem."""
    external_ids = [row["external_id"] for row in rows if row.get("external_id")]
    existing = {deal.external_id: deal for deal in Deal.objects.filter(external_id__in=external_ids)}
    visible = set(deals_visible_to(by).filter(external_id__in=external_ids).values_list("pk", flat=True))
    errors: list[dict] = []
    creates: list[tuple[int, DealSpec]] = []
    updates: list[tuple[int, Deal, dict]] = []
    for index, row in enumerate(rows):
        deal = existing.get(row.get("external_id"))
        if deal is None:
            creates.append((index, _spec(row, by)))
        elif deal.pk not in visible:
            errors.append({"row": index, "field": "external_id", "message": "This external id is already used."})
        else:
            updates.append((index, deal, row))
    if errors:
        raise RowErrors(errors)

    ids: list[int | None] = [None] * len(rows)
    try:
        with transaction.atomic():
            if creates:
                try:
                    created_ids = deals_import(specs=[spec for _, spec in creates], by=by)
                except RowErrors as exc:
                    errors += [{**e, "row": creates[e["row"]][0]} for e in exc.errors]
                    created_ids = []
                except PermissionDenied as exc:
                    errors += [{"row": creates[0][0], "field": "owner", "message": str(exc)}]
                    created_ids = []
                for (index, _), pk in zip(creates, created_ids, strict=False):
                    ids[index] = pk
            for index, deal, row in updates:
                try:
                    with transaction.atomic():
                        ids[index] = _update(deal, row, by).pk
                except (DjangoValidationError, ConflictError, PermissionDenied) as exc:
                    errors += _row_error_list(index, exc)
            if errors:
                raise _Rollback
    except _Rollback:
        raise RowErrors(sorted(errors, key=lambda e: e["row"])) from None
    return {"created": len(creates), "updated": len(updates), "ids": ids}


def bulk(viewset, request):
    """The body of the deals viewset's ``bulk`` action (idempotent with an Idempotency-Key)."""
    def produce():
        payload = BulkRequest(data=request.data, context=viewset.get_serializer_context())
        try:
            require_json_types(payload)
        except serializers.ValidationError as exc:
            return Response({"errors": _serializer_errors(exc.detail)}, status=status.HTTP_400_BAD_REQUEST)
        if not payload.is_valid():
            return Response({"errors": _serializer_errors(payload.errors)}, status=status.HTTP_400_BAD_REQUEST)
        try:
            result = bulk_upsert(rows=payload.validated_data["deals"], by=request.user)
        except RowErrors as exc:
            return Response({"errors": exc.errors}, status=status.HTTP_400_BAD_REQUEST)
        return Response(BulkResult(result).data, status=status.HTTP_200_OK)

    return viewset.run_idempotent(request, produce)
