"""What every part of the REST API shares: errors, paging, role rules, the base viewset.

Each app's ``api.py`` builds its resources on these, so every endpoint answers
errors the same way and reads its records through one visibility selector.
"""

import hashlib
from collections.abc import Callable

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from salesmgr.errors import ConflictError, PermissionDenied
from salesmgr.models import IdempotencyKey, Role

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
            ("non_field_errors" if field == "__all__" else field): [str(m) for e in errors for m in e.messages]
            for field, errors in exc.error_dict.items()
        }
    return {"non_field_errors": exc.messages}


def exception_handler(exc, context):
    """DRF's handler, taught the services' errors: 400, 403 and 409 with a clear message."""
    if isinstance(exc, DjangoValidationError):
        return Response(_django_errors(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ConflictError):
        return Response(
            {"detail": str(exc), "current_version": exc.current_version}, status=status.HTTP_409_CONFLICT
        )
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc))
    if isinstance(exc, IntegrityError):
        return Response(
            {"detail": "That conflicts with an existing record; reload and try again."},
            status=status.HTTP_409_CONFLICT,
        )
    return drf_exception_handler(exc, context)


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


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

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(f"{cls.__name__} must not override get_queryset; use selector and shape.")

    def visible(self) -> QuerySet:
        return type(self).selector(self.request.user)

    def shape(self, queryset: QuerySet) -> QuerySet:
        return queryset

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return self.get_serializer_class().Meta.model.objects.none()
        return self.shape(self.visible())


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
        return self.run_idempotent(request, lambda: super(IdempotentCreateMixin, self).create(request, *args, **kwargs))

    def run_idempotent(self, request, produce: Callable[[], Response]) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return produce()
        if not key.strip() or len(key) > 255:
            raise exceptions.ValidationError({"Idempotency-Key": ["Give a key of 1 to 255 characters."]})
        digest = hashlib.sha256(request.path.encode() + b"\n" + request.body).hexdigest()
        with transaction.atomic():
            record, created = IdempotencyKey.objects.select_for_update().get_or_create(
                user=request.user, key=key, defaults={"path": request.path[:255], "request_hash": digest}
            )
            if not created:
                if record.request_hash != digest or record.status_code is None:
                    return Response(
                        {"detail": "This Idempotency-Key was already used for a different request."},
                        status=status.HTTP_422_UNPROCESSABLE_ENTITY,
                    )
                return Response(
                    record.response_body, status=record.status_code, headers={"Idempotent-Replayed": "true"}
                )
            response = produce()
            record.status_code = response.status_code
            record.response_body = response.data
            record.save(update_fields=["status_code", "response_body"])
        return response


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
            responses = operation.setdefault("responses", {})
            public_op = not operation.get("security") or {} in operation.get("security", [])
            if not public_op:
                responses.setdefault("401", {"description": "No or bad credentials.", "content": error})
                responses.setdefault("403", {"description": "Your role does not allow this.", "content": error})
            responses.setdefault("400", {"description": "Invalid input or query.", "content": invalid})
            responses.setdefault("429", {"description": "Too many requests.", "content": error})
            if "{" in path:
                responses.setdefault("404", {"description": "Not found, or not visible to you.", "content": error})
            if method == "post" and "{" not in path:
                responses.setdefault(
                    "422", {"description": "Idempotency-Key reused for another request.", "content": error}
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
