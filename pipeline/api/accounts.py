"""Accounts, their contacts, and the activity log."""

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.response import Response

from pipeline.api.deal_list import DealListPagination, paged
from pipeline.filters import ActivityFilter
from pipeline.models import Account, Activity, Contact
from pipeline.selectors import (
    ACTIVITY_COUNT_EXACT_UP_TO,
    ACTIVITY_LIST_SORTS,
    CONTACT_NAME_ORDER,
    accounts_visible_to,
    activities_listed_for,
    activities_visible_to,
    activity_list_page,
    contacts_in_name_order,
    contacts_visible_to,
    deals_visible_to,
)
from pipeline.services import (
    account_create,
    account_delete,
    account_restore,
    account_update,
    activity_delete,
    activity_log,
    contact_create,
    contact_delete,
    contact_update,
)
from pipeline.views.common import COUNT_CAP
from quotas.selectors import territories_visible_to
from salesmgr.api.base import (
    ADMINS,
    EVERYONE,
    IdempotentCreateMixin,
    IdFilter,
    ScopedViewSet,
    VisiblePrimaryKeyRelatedField,
)
from salesmgr.errors import PermissionDenied
from salesmgr.selectors import may_act_for, users_visible_to


class AccountSerializer(serializers.ModelSerializer):
    """An account; unless ``territory_pinned``, the assignment rules set its territory on every write."""

    owner = VisiblePrimaryKeyRelatedField(selector=users_visible_to, required=False)
    owner_name = serializers.CharField(source="owner.display_name", read_only=True)
    territory = VisiblePrimaryKeyRelatedField(
        selector=territories_visible_to, required=False, allow_null=True
    )
    territory_name = serializers.CharField(source="territory.name", read_only=True, allow_null=True)
    employee_count = serializers.IntegerField(
        min_value=0, max_value=2_000_000_000, required=False, allow_null=True
    )
    annual_revenue = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    territory_pinned = serializers.BooleanField(
        required=False,
        help_text="Placed in its territory by hand: the assignment rules leave it there.",
    )

    class Meta:
        model = Account
        fields = [
            "id",
            "name",
            "owner",
            "owner_name",
            "territory",
            "territory_name",
            "industry",
            "region",
            "employee_count",
            "country",
            "postcode",
            "annual_revenue",
            "territory_pinned",
            "website",
            "created_at",
            "deleted_at",
        ]
        read_only_fields = ["created_at", "deleted_at"]


class AccountFilter(django_filters.FilterSet):
    # Ids, not choices among all rows: one out of sight answers like one that does not exist.
    owner = IdFilter(field_name="owner_id")
    territory = IdFilter(field_name="territory_id")

    class Meta:
        model = Account
        fields = ["industry", "region"]


class ContactFilter(django_filters.FilterSet):
    account = IdFilter(field_name="account_id")

    class Meta:
        model = Contact
        fields = []


class _OwnedWrites:
    """Writes on a visible record still need the right to act for its owner (403 otherwise)."""

    def check_write(self, record_owner_id: int) -> None:
        if not may_act_for(actor=self.request.user, owner_id=record_owner_id):
            raise PermissionDenied(
                "You can read this record but only its owner or their manager may change it."
            )


@extend_schema_view(destroy=extend_schema(responses={204: None}))
class AccountViewSet(IdempotentCreateMixin, _OwnedWrites, viewsets.ModelViewSet, ScopedViewSet):
    """Customers: your own, your team's, and those in your territories."""

    selector = accounts_visible_to
    serializer_class = AccountSerializer
    search_fields = ["name", "industry", "region"]
    search_by_index = True  # account_*_trgm_idx
    filterset_class = AccountFilter
    ordering_fields = ["name", "created_at", "employee_count", "id"]
    ordering = ["name"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": EVERYONE, "write": EVERYONE, "restore": ADMINS}

    def visible(self):
        user = self.request.user
        deleted = self.request.query_params.get("deleted", "").lower() in ("true", "1")
        if user.is_admin and (deleted or self.action == "restore"):
            return accounts_visible_to(user, include_deleted=True).filter(deleted_at__isnull=False)
        return accounts_visible_to(user)

    def shape(self, queryset):
        return queryset.select_related("owner", "territory")

    def perform_create(self, serializer):
        serializer.instance = account_create(by=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        account = serializer.instance
        self.check_write(account.owner_id)
        serializer.instance = account_update(
            account=account, by=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        self.check_write(instance.owner_id)
        account_delete(account=instance, by=self.request.user)

    @extend_schema(
        summary="Restore a soft-deleted account (admins)", request=None, responses=AccountSerializer
    )
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None):
        account = account_restore(account=self.get_object(), by=request.user)
        return Response(AccountSerializer(account, context=self.get_serializer_context()).data)


class ContactSerializer(serializers.ModelSerializer):
    account = VisiblePrimaryKeyRelatedField(selector=accounts_visible_to)
    account_name = serializers.CharField(source="account.name", read_only=True)

    class Meta:
        model = Contact
        fields = [
            "id",
            "account",
            "account_name",
            "first_name",
            "last_name",
            "title",
            "email",
            "phone",
            "created_at",
        ]
        read_only_fields = ["created_at"]


class _ContactsInNameOrder:
    """The contacts a list shows in their name order, sliced the way the contacts page reads
    them (``contacts_in_name_order``), for the paginator: an exact count, then the page's rows
    read along the name index for a reader who sees many and apart for one who sees few."""

    def __init__(self, contacts):
        self.contacts = contacts
        self._count = None

    def count(self) -> int:
        if self._count is None:
            self._count = self.contacts.count()
        return self._count

    def __getitem__(self, rows: slice) -> list:
        many = self.count() > COUNT_CAP
        return contacts_in_name_order(self.contacts, offset=rows.start, limit=rows.stop, many=many)


@extend_schema_view(destroy=extend_schema(responses={204: None}))
class ContactViewSet(IdempotentCreateMixin, _OwnedWrites, viewsets.ModelViewSet, ScopedViewSet):
    """The people at the accounts you may see."""

    selector = contacts_visible_to
    serializer_class = ContactSerializer
    search_fields = ["first_name", "last_name", "email", "account__name"]
    search_by_index = True  # contact_*_trgm_idx, account_name_trgm_idx
    # The list is in name order and a name term's contacts lie together in it (all the Nguyens):
    # the row-by-row filter walks the order up to them, 156,000 rows for a term held by 14,000 of
    # 286,000 contacts at 1,000,000 deals (0.8 s), where their ids from the indexes took 0.3 s.
    search_by_ids_up_to = 100_000
    filterset_class = ContactFilter
    ordering_fields = ["last_name", "first_name", "created_at", "id"]
    ordering = ["last_name", "first_name", "id"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": EVERYONE, "write": EVERYONE}

    def visible(self):
        # The list reads the reader's owners and territories as ids first (one query), as the
        # contacts page does: given the recursive subqueries, PostgreSQL misjudges a team's
        # reach and sorts every contact it may see (0.9 s for manager1 at 1M deals).
        return contacts_visible_to(self.request.user, reach_read=self.action == "list")

    def shape(self, queryset):
        return queryset.select_related("account")

    def paginate_queryset(self, queryset):
        """In the default (name) order, the page is read as the contacts page reads it."""
        if tuple(queryset.query.order_by) == CONTACT_NAME_ORDER:
            queryset = _ContactsInNameOrder(queryset)
        return super().paginate_queryset(queryset)

    def perform_create(self, serializer):
        serializer.instance = contact_create(by=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = contact_update(
            contact=serializer.instance, by=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        contact_delete(contact=instance, by=self.request.user)


class ActivitySerializer(serializers.ModelSerializer):
    deal = VisiblePrimaryKeyRelatedField(selector=deals_visible_to, required=False, allow_null=True)
    deal_name = serializers.CharField(source="deal.name", read_only=True, allow_null=True)
    account = VisiblePrimaryKeyRelatedField(
        selector=accounts_visible_to, required=False, allow_null=True
    )
    account_name = serializers.CharField(source="account.name", read_only=True, allow_null=True)
    author_name = serializers.CharField(source="author.display_name", read_only=True)
    deal_hidden = serializers.BooleanField(
        read_only=True,
        help_text="On a deal you may no longer see (reassigned away): deal and deal_name are null.",
    )

    class Meta:
        model = Activity
        fields = [
            "id",
            "kind",
            "subject",
            "body",
            "occurred_at",
            "author",
            "author_name",
            "deal",
            "deal_name",
            "deal_hidden",
            "account",
            "account_name",
            "created_at",
        ]
        read_only_fields = ["author", "created_at"]
        extra_kwargs = {"occurred_at": {"required": False}}

    def to_representation(self, instance):
        """The deal and account only when the reader may see them (``activities_visible_to``)."""
        data = super().to_representation(instance)
        if instance.shown_deal is None:
            data["deal"] = data["deal_name"] = None
        if instance.shown_account is None:
            data["account"] = data["account_name"] = None
        return data


class ActivityListPagination(DealListPagination):
    """The deal list's paging: page numbers or cursors, and a count that says whether it is exact."""

    counted = "activities"
    exact_up_to = ACTIVITY_COUNT_EXACT_UP_TO


@extend_schema_view(
    list=extend_schema(
        description=(
            "Newest first unless ordered otherwise. Pages by number (?page=) or by cursor "
            f"(?cursor=, empty for the first page). The count is exact up to "
            f"{ACTIVITY_COUNT_EXACT_UP_TO} activities and the database's estimate beyond: "
            "count_exact says which."
        )
    ),
    destroy=extend_schema(responses={204: None}),
)
class ActivityViewSet(
    IdempotentCreateMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    """Notes, calls, emails, meetings and client visits. Logged, not edited; authors may delete theirs."""

    selector = activities_visible_to
    serializer_class = ActivitySerializer
    filterset_class = ActivityFilter
    search_fields = ["subject", "body"]
    ordering_fields = list(ACTIVITY_LIST_SORTS)
    ordering = ["-occurred_at", "-id"]
    pagination_class = ActivityListPagination
    lookup_value_regex = r"\d+"
    role_rules = {"read": EVERYONE, "write": EVERYONE}

    def visible(self):
        # One activity by its id (read, delete): its deal and account checked by primary key, not
        # against every deal in reach (385 ms for manager1 at 100,000 deals). The list reads
        # its parts itself.
        return activities_visible_to(self.request.user, few=True)

    def shape(self, queryset):
        return queryset.select_related("author", "deal", "account")

    def list(self, request, *args, **kwargs):
        """The visible activities in parts that do not overlap (``activities_listed_for``), each
        filtered alike, a page of them merged (``activity_list_page``), then its rows."""
        parts = activities_listed_for(request.user).map(
            lambda part: self.filter_queryset(part).order_by()
        )
        terms = OrderingFilter().get_ordering(request, parts.apart[0], self) or list(self.ordering)

        def read(sort, size, **where):
            return activity_list_page(parts, sort=sort, size=size, **where)

        page, links = paged(request, terms, read, self.paginator)
        found = self.shape(Activity.objects.filter(pk__in=page.ids)).in_bulk()
        rows = []
        for pk in page.ids:
            activity = found.get(pk)
            if activity is None:  # deleted between the page's two reads
                continue
            activity.deal_shown, activity.account_shown = page.shown[pk]
            rows.append(activity)
        return Response(
            {
                "count": page.count,
                "count_exact": page.count_exact,
                **links,
                "results": self.get_serializer(rows, many=True).data,
            }
        )

    def perform_create(self, serializer):
        # Deal and account ids were checked against what the author may see.
        serializer.instance = activity_log(by=self.request.user, **serializer.validated_data)

    def destroy(self, request, *args, **kwargs):
        activity_delete(activity=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
