"""``/api/v1/imports/``: spreadsheet imports, as on the import pages.

POST a CSV or XLSX file (multipart: ``kind``, ``file``) to get a job with the
file's columns and the guessed ``mapping``; POST ``<id>/check/`` with the
mapping to start the dry run and ``<id>/run/`` to write the checked file, both
in the background (202); follow the job's counts by its id and read its
rejected rows at ``<id>/rejections/``. The rules are those of
``pipeline.services.import_jobs``.
"""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from pipeline.models import ImportJob, ImportKind
from pipeline.selectors import import_jobs_visible_to
from pipeline.services.import_jobs import (
    import_check_start,
    import_job_create,
    import_job_not_queued,
    import_rejection_summary,
    import_run_start,
)
from pipeline.tasks import run_import
from salesmgr.api.base import EVERYONE, ScopedViewSet
from salesmgr.queue import task_publish

NOT_QUEUED = "The task queue could not be reached; start the job again in a minute."
REJECTIONS_LISTED = 1000


class ImportJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportJob
        fields = [
            "id",
            "kind",
            "status",
            "requested_by",
            "file_name",
            "headers",
            "mapping",
            "day_first",
            "total",
            "done",
            "created",
            "updated",
            "rejected",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class UploadRequest(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ImportKind.choices)
    file = serializers.FileField(
        help_text="A CSV (UTF-8) or XLSX file whose first row names the columns."
    )


class CheckRequest(serializers.Serializer):
    mapping = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        help_text="Field name (name, account, owner, stage, ...) -> the column header that holds it.",
    )
    day_first = serializers.BooleanField(default=True, help_text="Read 02/03/2026 as 2 March.")


class Rejection(serializers.Serializer):
    row = serializers.IntegerField(help_text="The row in the spreadsheet; the headers are row 1.")
    reasons = serializers.CharField()
    values = serializers.ListField(child=serializers.JSONField())


def _queue(job_id: int) -> None:
    if task_publish(run_import, args=[job_id], ignore_result=True) is None:
        import_job_not_queued(job_id=job_id, message=NOT_QUEUED)


@extend_schema_view(
    list=extend_schema(summary="Your imports, newest first (admins: everyone's)"),
    retrieve=extend_schema(summary="One import and its progress"),
)
class ImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Upload a spreadsheet, dry-run it, run it, and read its rejected rows."""

    selector = import_jobs_visible_to
    serializer_class = ImportJobSerializer
    ordering_fields = ["created_at", "id"]
    ordering = ["-created_at", "-id"]
    lookup_value_regex = r"\d+"
    role_rules = {
        "read": EVERYONE,
        "create": EVERYONE,
        "check": EVERYONE,
        "run": EVERYONE,
        "rejections": EVERYONE,
    }

    @extend_schema(
        summary="Upload a file to import; answers the job with its columns and guessed mapping",
        request={"multipart/form-data": UploadRequest},
        responses={201: ImportJobSerializer},
    )
    def create(self, request):
        upload = UploadRequest(data=request.data)
        upload.is_valid(raise_exception=True)
        job = import_job_create(
            by=request.user,
            kind=upload.validated_data["kind"],
            upload=upload.validated_data["file"],
        )
        return Response(ImportJobSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Keep the column mapping (remembered for your next import) and start the dry run",
        request=CheckRequest,
        responses={202: ImportJobSerializer},
    )
    @action(detail=True, methods=["post"])
    def check(self, request, pk=None):
        job = self.get_object()
        payload = CheckRequest(data=request.data)
        payload.is_valid(raise_exception=True)
        import_check_start(
            job=job,
            by=request.user,
            mapping=payload.validated_data["mapping"],
            day_first=payload.validated_data["day_first"],
            run=_queue,
        )
        job.refresh_from_db()
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Write the checked file in the background",
        request=None,
        responses={202: ImportJobSerializer},
    )
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        job = self.get_object()
        import_run_start(job=job, by=request.user, run=_queue)
        job.refresh_from_db()
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="The rows the dry run (?phase=check) or the run rejected, and why (the first 1,000)",
        responses={200: Rejection(many=True)},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def rejections(self, request, pk=None):
        job = self.get_object()
        rows = import_rejection_summary(
            job, dry_run=request.query_params.get("phase") == "check", limit=REJECTIONS_LISTED
        )
        return Response(Rejection(rows, many=True).data)

    def get_parsers(self):
        """A file comes as multipart form data; everything else is JSON."""
        action_map = getattr(self, "action_map", None) or {}
        request = getattr(self, "request", None)
        if request is not None and action_map.get(request.method.lower()) == "create":
            return [MultiPartParser(), FormParser()]
        return super().get_parsers()
