"""What every part of the REST API shares: errors, paging, role rules, the base viewset.

Each app's ``api.py`` builds its resources on these, so every endpoint answers
errors the same way and reads its records through one visibility selector.
"""

import hashlib
import re
from collections.abc import Callable

import django_filters
from django import forms
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, filters, serializers, status, viewsets
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from salesmgr.api.parsers import JSONBodyParser
from salesmgr.api.search import SearchFilter
from salesmgr.errors import ConflictError, PermissionDenied
from salesmgr.models import Role
from salesmgr.services import idempotency_key_answer, idempotency_key_claim

EVERYONE = frozenset({Role.REP, Role.MANAGER, Role.ADMIN})
MANAGERS = frozenset({Role.MANAGER, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})

READ_ACTIONS = ("list", "retrieve")
WRITE_ACTIONS = ("create", "update", "partial_update", "destroy")


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The record changed since you read it (If-Match does not match its ETag)."
    default_code = "precondition_failed"


def _django_errors(exc: DjangoValidationError) -> dict | list:
    if hasattr(exc, "error_dict"):
        return {
            ("non_field_errors" if field == "__all__" else field): [
                str(m) for e in errors for m in e.messages
            ]
            for field, errors in exc.error_dict.items()
        }
    return {"non_field_errors": exc.messages}


def exception_handler(exc, context):
    """DRF's handler, taught the services' errors: 400, 403 and 409 with a clear message."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 2**20
        return Response(
            {"detail": f"The request body is larger than the {limit:g} MB this API accepts."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, DjangoValidationError):
        return Response(_django_errors(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ConflictError):
        return Response(
            {"detail": str(exc), "current_version": exc.current_version},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc))
    if isinstance(exc, IntegrityError):
        return Response(
            {"detail": "That conflicts with an existing record; reload and try again."},
            status=status.HTTP_409_CONFLICT,
        )
    return drf_exception_handler(exc, context)


# The largest id a row can have (a signed 64-bit integer).
MAX_ID = 2**63 - 1


def _positive_int(request, name: str, maximum: int | None = None) -> int | None:
    """The query parameter ``name`` as a whole number from 1 (to ``maximum``); None when absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    value = int(raw) if re.fullmatch(r"[0-9]+", raw) else None
    if value is None or value < 1 or (maximum is not None and value > maximum):
        bounds = f"from 1 to {maximum}" if maximum else "from 1"
        raise exceptions.ValidationError({name: [f"Give a whole number {bounds}."]})
    return value


class Pagination(PageNumberPagination):
    """Page numbers; a malformed ``page`` or ``page_size`` is a 400, a page past the end a 404."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        _positive_int(request, self.page_query_param)
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request):
        return (
            _positive_int(request, self.page_size_query_param, self.max_page_size) or self.page_size
        )

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"].update(minimum=1)
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters


@extend_schema_field({"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.NumberFilter):
    """A filter on a related record's id: a whole number; an unknown id gives an empty list."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


# How a true/false query parameter may be spelled.
BOOLEAN_SPELLINGS = {"true": True, "false": False, "1": True, "0": False}


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter, minus its leniency: a filter sent empty (other than a text one), or a
    true/false filter sent anything else, answers 400 instead of being silently ignored."""

    def filter_queryset(self, request, queryset, view):
        # With no parameter naming a filter (or a widget's suffixed part of one), the filterset
        # would validate an empty form and apply nothing: skip building it, which deep-copies
        # every declared filter (a few ms of a list request's CPU).
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return queryset
        names = filterset_class.base_filters
        if not any(
            param == name or param.startswith(f"{name}_")
            for param in request.query_params
            for name in names
        ):
            return queryset
        return super().filter_queryset(request, queryset, view)

    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        if filterset is None:
            return None
        errors = {}
        for name, filter_ in filterset.filters.items():
            value = request.query_params.get(name)
            if value is None:
                continue
            if not value.strip() and not isinstance(filter_, django_filters.CharFilter):
                errors[name] = ["Give a value, or leave the parameter out."]
            elif (
                isinstance(filter_, django_filters.BooleanFilter)
                and value.lower() not in BOOLEAN_SPELLINGS
            ):
                errors[name] = ["Use true or false."]
        if errors:
            raise exceptions.ValidationError(errors)
        return filterset


def query_flag(request, name: str) -> bool:
    """A true/false query parameter outside the filters (false when absent; 400 when neither)."""
    value = request.query_params.get(name)
    if value is None:
        return False
    if value.lower() not in BOOLEAN_SPELLINGS:
        raise exceptions.ValidationError({name: ["Use true or false."]})
    return BOOLEAN_SPELLINGS[value.lower()]


# The JSON type each kind of input field takes, and how to name it in an error. DRF would
# otherwise turn 5 into "5", "5" into 5 and "yes" into true: the schema promises neither.
_JSON_TYPES: list[tuple[type, tuple[type, ...], str]] = [
    (serializers.BooleanField, (bool,), "true or false"),
    (serializers.IntegerField, (int,), "a whole number"),
    (serializers.FloatField, (int, float), "a number"),
    (serializers.DecimalField, (str,), 'a string such as "1250.00"'),
    (serializers.PrimaryKeyRelatedField, (int,), "an id (a whole number)"),
    (serializers.CharField, (str,), "a string"),
    (serializers.DateTimeField, (str,), "a date and time (ISO 8601) as a string"),
    (serializers.DateField, (str,), "a date (YYYY-MM-DD) as a string"),
    (serializers.TimeField, (str,), "a time as a string"),
    (serializers.DurationField, (str,), "a duration as a string"),
]


def _json_type_errors(field: serializers.Field, value) -> list | dict | None:
    """What is wrong with the JSON type of ``value`` for ``field`` (None when nothing is)."""
    if value is None or field.read_only:
        return None  # null is for the field itself to accept or refuse
    if isinstance(field, serializers.ListSerializer):
        if not isinstance(value, list):
            return ["Expected a list of objects."]
        found = {
            i: e for i, item in enumerate(value) if (e := _json_type_errors(field.child, item))
        }
        return found or None
    if isinstance(field, serializers.Serializer):
        if not isinstance(value, dict):
            return ["Expected an object."]
        found = {
            name: e
            for name, child in field.fields.items()
            if name in value and (e := _json_type_errors(child, value[name]))
        }
        return found or None
    if isinstance(field, serializers.ManyRelatedField):
        if not isinstance(value, list):
            return ["Expected a list of ids."]
        found = {
            i: e
            for i, item in enumerate(value)
            if (e := _json_type_errors(field.child_relation, item))
        }
        return found or None
    if isinstance(field, serializers.ListField):
        if not isinstance(value, list):
            return ["Expected a list."]
        found = {
            i: e for i, item in enumerate(value) if (e := _json_type_errors(field.child, item))
        }
        return found or None
    if isinstance(field, serializers.MultipleChoiceField):
        return None if isinstance(value, list) else ["Expected a list of choices."]
    if isinstance(field, serializers.ChoiceField):
        kinds = {type(choice) for choice in field.choices} or {str}
        if isinstance(value, bool) or not isinstance(value, tuple(kinds)):
            return ["Expected one of: " + ", ".join(map(str, field.choices)) + "."]
        return None
    for field_class, kinds, name in _JSON_TYPES:
        if isinstance(field, field_class):
            if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
                return [f"Expected {name}."]
            # DRF measures text after trimming its whitespace; the schema's maxLength counts all of it.
            max_length = getattr(field, "max_length", None)
            if (
                isinstance(field, serializers.CharField)
                and max_length is not None
                and len(value) > max_length
            ):
                return [f"Ensure this field has no more than {max_length} characters."]
            return None
    return None


def require_json_types(serializer: serializers.BaseSerializer) -> None:
    """Refuse input (400) whose JSON types are not the ones its serializer's fields document.

    Only the keys present are checked, so partial updates work; values and ranges are
    left to the fields themselves, which run after this.
    """
    if not isinstance(getattr(serializer, "initial_data", None), dict):
        return  # DRF answers "expected an object" itself
    errors = _json_type_errors(serializer, serializer.initial_data)
    if errors:
        raise exceptions.ValidationError(errors)


class RoleRules(BasePermission):
    """Reads the view's ``role_rules``: which roles may run each action.

    ``role_rules`` maps an action name (``list``, ``create``, ``move``...) to
    a set of roles; ``"read"`` and ``"write"`` cover the standard read and
    write actions not named. An action named nowhere is refused, so a new
    endpoint is closed until someone says who may use it.
    """

    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        rules = view.role_rules
        roles = rules.get(view.action)
        if roles is None:
            if view.action in READ_ACTIONS or request.method in ("GET", "HEAD", "OPTIONS"):
                roles = rules.get("read", frozenset())
            else:
                roles = rules.get("write", frozenset())
        role = Role.ADMIN if user.is_admin else user.role
        return role in roles


class ScopedViewSet(viewsets.GenericViewSet):
    """A viewset whose records always come from one visibility selector.

    Subclasses name ``selector`` (a function of the user returning what they
    may see) and may shape the queryset in ``shape`` (joins, annotations);
    they never override ``get_queryset``, so nothing can skip the scope.
    """

    selector: Callable[..., QuerySet]
    role_rules: dict[str, frozenset] = {"read": EVERYONE, "write": ADMINS}
    permission_classes = [RoleRules]
    pagination_class = Pagination
    # JSON in: form encodings cannot say whether "0" is a number, a string or false.
    parser_classes = [JSONBodyParser]
    # The settings' backends, with django-filter made strict.
    filter_backends = [StrictFilterBackend, SearchFilter, filters.OrderingFilter]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} must not override get_queryset; use selector and shape."
            )

    def visible(self) -> QuerySet:
        return type(self).selector(self.request.user)

    def shape(self, queryset: QuerySet) -> QuerySet:
        return queryset

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return self.get_serializer_class().Meta.model.objects.none()
        return self.shape(self.visible())

    def get_serializer(self, *args, **kwargs):
        serializer = super().get_serializer(*args, **kwargs)
        if "data" in kwargs:
            require_json_types(serializer)
        return serializer


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    current_version = serializers.IntegerField()


class IdempotentCreateMixin:
    """Creates honour an ``Idempotency-Key`` header: a retried request never creates twice.

    The key is claimed in the same transaction as the create, so a concurrent
    retry waits for the first request and then replays its answer.
    """

    def create(self, request, *args, **kwargs):
        return self.run_idempotent(
            request, lambda: super(IdempotentCreateMixin, self).create(request, *args, **kwargs)
        )

    def run_idempotent(self, request, produce: Callable[[], Response]) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return produce()
        if not key.strip() or len(key) > 255:
            raise exceptions.ValidationError(
                {"Idempotency-Key": ["Give a key of 1 to 255 characters."]}
            )
        digest = hashlib.sha256(request.path.encode() + b"\n" + request.body).hexdigest()
        with transaction.atomic():
            record, created = idempotency_key_claim(
                user=request.user, key=key, path=request.path, request_hash=digest
            )
            if not created:
                if record.request_hash != digest or record.status_code is None:
                    return Response(
                        {
                            "detail": "This Idempotency-Key was already used for a different request."
                        },
                        status=status.HTTP_422_UNPROCESSABLE_ENTITY,
                    )
                return Response(
                    record.response_body,
                    status=record.status_code,
                    headers={"Idempotent-Replayed": "true"},
                )
            response = produce()
            idempotency_key_answer(
                record=record, status_code=response.status_code, body=response.data
            )
        return response


def _document_invalid_input(responses: dict, invalid: dict) -> None:
    """A 400 in the usual ``{"field": ["message"]}`` form, also where an operation declares its own.

    Malformed JSON, a bad header or a wrong JSON type is refused by the shared machinery
    before the operation's own checks run, so any operation can answer the usual form.
    """
    declared = responses.get("400")
    if declared is None:
        responses["400"] = {"description": "Invalid input or query.", "content": invalid}
        return
    standard = invalid["application/json"]["schema"]
    body = declared.setdefault("content", {}).setdefault("application/json", {})
    own = body.get("schema")
    if own is None:
        body["schema"] = standard
    elif own != standard and standard not in own.get("anyOf", []):
        body["schema"] = {"anyOf": [own, standard]}
        own_text = declared.get("description", "").rstrip(".") or "Invalid input"
        declared["description"] = (
            f"{own_text}; or, for a malformed body or header, the usual field errors."
        )


def _type_path_ids(operation: dict) -> None:
    """A record's id in a path is a whole number (the router's pattern), so say integer, not string."""
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        if parameter.get("in") == "path" and schema.get("pattern") == r"^\d+$":
            parameter["schema"] = {"type": "integer"}


def add_standard_error_responses(result, generator, request, public):
    """Schema post-processing: document the errors every endpoint can answer."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault(
        "Error",
        {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]},
    )
    components.setdefault(
        "ValidationErrors",
        {
            "type": "object",
            "additionalProperties": {
                "oneOf": [{"type": "array", "items": {}}, {"type": "object"}, {"type": "string"}]
            },
        },
    )
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    invalid = {"application/json": {"schema": {"$ref": "#/components/schemas/ValidationErrors"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            _type_path_ids(operation)
            responses = operation.setdefault("responses", {})
            public_op = not operation.get("security") or {} in operation.get("security", [])
            if not public_op:
                responses.setdefault(
                    "401", {"description": "No or bad credentials.", "content": error}
                )
                responses.setdefault(
                    "403", {"description": "Your role does not allow this.", "content": error}
                )
            _document_invalid_input(responses, invalid)
            responses.setdefault("429", {"description": "Too many requests.", "content": error})
            if "{" in path:
                responses.setdefault(
                    "404", {"description": "Not found, or not visible to you.", "content": error}
                )
            elif any(
                p.get("in") == "query" and p.get("name") == "page"
                for p in operation.get("parameters", [])
            ):
                responses.setdefault(
                    "404",
                    {"description": "No such page: it lies past the last one.", "content": error},
                )
            if "requestBody" in operation:
                responses.setdefault(
                    "415", {"description": "The body is not JSON.", "content": error}
                )
                responses.setdefault(
                    "413", {"description": "The body is too large.", "content": error}
                )
            if method == "post" and "{" not in path:
                responses.setdefault(
                    "422",
                    {
                        "description": "Idempotency-Key reused for another request.",
                        "content": error,
                    },
                )
    return result


@extend_schema_field(OpenApiTypes.INT)
class VisiblePrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """An id in input that must name a record the requesting user may see.

    ``selector`` is the entity's visibility selector; an id outside it reads
    as "does not exist", so input never reveals what lies beyond one's scope.
    """

    def __init__(self, *, selector: Callable[..., QuerySet], **kwargs):
        self.selector = selector
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.selector(self.context["request"].user)

    def use_pk_only_optimization(self):
        return True
