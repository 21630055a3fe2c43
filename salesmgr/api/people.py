"""People and sign-in over REST: users, ``users/me/``, and API tokens."""

import django_filters
from django.contrib.auth import authenticate, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from salesmgr.api.base import (
    ADMINS,
    EVERYONE,
    IdFilter,
    ScopedViewSet,
    VisiblePrimaryKeyRelatedField,
)
from salesmgr.audit.models import AuditKind
from salesmgr.audit.services import audit_record
from salesmgr.checks import USERNAME_TAKEN
from salesmgr.models import User
from salesmgr.selectors import users_visible_to
from salesmgr.services import (
    SignInLocked,
    client_address,
    signin_attempt,
    signin_succeeded,
    token_issue,
    token_revoke,
    user_create,
    user_deactivate,
    user_update,
)


class UserSerializer(serializers.ModelSerializer):
    manager = VisiblePrimaryKeyRelatedField(
        selector=users_visible_to, required=False, allow_null=True
    )
    manager_name = serializers.CharField(
        source="manager.display_name", read_only=True, allow_null=True
    )
    password = serializers.CharField(write_only=True, required=False, min_length=8, max_length=128)
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "full_name",
            "email",
            "role",
            "manager",
            "manager_name",
            "is_active",
            "password",
        ]
        validators = []

    def validate_username(self, value):
        taken = User.objects.filter(username__iexact=value)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError(USERNAME_TAKEN)
        return value

    def validate(self, attrs):
        password = attrs.get("password")
        if password:
            # The validators look at the person too (a password like their username is refused).
            person = User(
                **{
                    f: attrs.get(f, getattr(self.instance, f, ""))
                    for f in ("username", "full_name", "email")
                }
            )
            try:
                password_validation.validate_password(password, user=person)
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"password": list(exc.messages)}) from None
        return attrs


class UserFilter(django_filters.FilterSet):
    # An id, not a choice among all users: one out of sight answers like one that does not exist.
    manager = IdFilter(field_name="manager_id")

    class Meta:
        model = User
        fields = ["role", "is_active"]


class UserViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    """People: everyone sees themselves, their line up and their team; admins manage everyone."""

    selector = users_visible_to
    serializer_class = UserSerializer
    filterset_class = UserFilter
    search_fields = ["username", "full_name", "email"]
    ordering_fields = ["username", "full_name", "id"]
    ordering = ["full_name", "username"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": EVERYONE, "me": EVERYONE, "write": ADMINS}

    def shape(self, queryset):
        return queryset.select_related("manager")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = user_create(password=data.pop("password", None), **data)

    def perform_update(self, serializer):
        serializer.instance = user_update(
            user=serializer.instance, by=self.request.user, **serializer.validated_data
        )

    @extend_schema(
        summary="Deactivate a person (their tokens stop working at once)", responses={204: None}
    )
    def destroy(self, request, *args, **kwargs):
        user_deactivate(user=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Who am I", responses=UserSerializer)
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def me(self, request):
        return Response(UserSerializer(request.user, context=self.get_serializer_context()).data)


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class TokenView(APIView):
    """Trade a username and password for an API token, or revoke your token.

    Failed sign-ins count with the sign-in page's in one throttle per account
    and per client address (``salesmgr.services``): past the limit, attempts
    answer 429 with the time to try again until the window ends.
    """

    def get_permissions(self):
        return [AllowAny()] if self.request.method == "POST" else [IsAuthenticated()]

    def get_authenticators(self):
        if self.request is not None and self.request.method == "POST":
            return []
        return super().get_authenticators()

    @extend_schema(
        summary="Get an API token",
        request=TokenRequestSerializer,
        responses={200: inline_serializer("Token", {"token": serializers.CharField()})},
        auth=[],
    )
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            attempt = signin_attempt(
                username=serializer.validated_data["username"], address=client_address(request)
            )
        except SignInLocked as locked:
            raise exceptions.Throttled(wait=locked.wait_seconds, detail=str(locked)) from None
        user = authenticate(
            request._request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if user is None or not user.is_active:
            raise serializers.ValidationError(
                {"non_field_errors": ["Unknown username or wrong password."]}
            )
        signin_succeeded(attempt)
        token = token_issue(user=user)
        audit_record(AuditKind.SIGNIN, actor=user, request=request, target=user, via="api")
        return Response({"token": token.key})

    @extend_schema(summary="Revoke your API token", request=None, responses={204: None})
    def delete(self, request):
        token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
