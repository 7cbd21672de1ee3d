"""The replay API: send transactions again, one at once or many as a job with progress (integration admins).

Input serializers check shape only; `integrations.services.replay` decides meaning (targets,
filters) and answers problems with pointers into the body.
"""

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from controltower.api import CheckedCursorPagination, Problem, pointers
from integrations.api.authentication import IsPerson
from integrations.api.views import PROBLEM
from integrations.models import ReplayItem, ReplayJob, Transaction
from integrations.services.replay import dry_run_previews, replay_job_create, transaction_replay

ITEMS_PAGE = 1000


class IsReplayer(IsPerson):
    message = "Only integration admins may replay transactions."

    def has_permission(self, request, view):
        return super().has_permission(request, view) and request.user.sees_all_plants


class ReplayInputSerializer(serializers.Serializer):
    targets = serializers.ListField(child=serializers.CharField(), required=False,
                                    help_text="system codes; leave out to send to every target")
    dry_run = serializers.BooleanField(default=False, help_text="change nothing; answer what would be sent")
    new_posting = serializers.BooleanField(default=False,
                                           help_text="send with a new idempotency key: the target posts again")
    reason = serializers.CharField(help_text="why; kept in the history and the audit trail")


class BulkReplayInputSerializer(ReplayInputSerializer):
    filters = serializers.DictField(required=False, help_text="the filters of GET /api/v1/transactions")
    missing_for = serializers.CharField(required=False, help_text="replay missing: the system to re-send to")
    since = serializers.DateTimeField(required=False, help_text="replay missing: received since then")

    def validate(self, attrs):
        errors = {}
        if "missing_for" in attrs:
            if "filters" in attrs:
                errors["missing_for"] = "give either filters or missing_for, not both"
            if attrs.get("targets"):
                errors["targets"] = "replay missing re-sends to missing_for only; leave targets out"
            if "since" not in attrs:
                errors["since"] = "replay missing needs the time since when to re-send"
        else:
            if "filters" not in attrs:
                errors["filters"] = "give filters, or missing_for with since"
            if "since" in attrs:
                errors["since"] = "since goes with missing_for; to filter by time use filters.received_after"
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class ReplayItemSerializer(serializers.ModelSerializer):
    transaction_id = serializers.UUIDField()
    target = serializers.CharField(source="target.code")
    idempotency_key = serializers.SerializerMethodField(help_text="dry runs: the key it would be sent with "
                                                                  "(null: a new one)")
    event = serializers.SerializerMethodField(help_text="dry runs: the outbound event it would be sent as")
    event_error = serializers.SerializerMethodField(help_text="dry runs: why the event cannot be built, if so")

    class Meta:
        model = ReplayItem
        fields = ["position", "transaction_id", "target", "action", "detail", "done", "idempotency_key", "event",
                  "event_error"]

    def _preview(self, item) -> dict:
        return (self.context.get("previews") or {}).get((item.transaction_id, item.target_id)) or {}

    def get_idempotency_key(self, item) -> str | None:
        return self._preview(item).get("idempotency_key")

    def get_event(self, item) -> dict | None:
        return self._preview(item).get("event")

    def get_event_error(self, item) -> str | None:
        return self._preview(item).get("event_error")


class ReplayJobSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None)
    missing_for = serializers.SerializerMethodField()
    items = ReplayItemSerializer(source="page_items", many=True, read_only=True)
    items_next = serializers.CharField(read_only=True, allow_null=True,
                                       help_text="the URL of the next page of items, if there are more")

    class Meta:
        model = ReplayJob
        fields = ["id", "status", "total", "done", "dry_run", "new_posting", "reason", "filters", "targets",
                  "missing_for", "since", "created_by", "created_at", "finished_at", "items", "items_next"]

    def get_missing_for(self, job) -> str | None:
        return job.targets[0] if job.since and job.targets else None


class ReplayJobSummarySerializer(ReplayJobSerializer):
    class Meta(ReplayJobSerializer.Meta):
        fields = [f for f in ReplayJobSerializer.Meta.fields if f not in ("items", "items_next")]


class NewestJobsFirst(CheckedCursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50


class ItemsPageSerializer(serializers.Serializer):
    offset = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=ITEMS_PAGE, default=ITEMS_PAGE)


def validated(serializer_class, request) -> dict:
    """The body checked for shape; 422 with pointers when it is not right."""
    if not isinstance(request.data, dict):
        raise Problem(422, "Invalid replay", "The body is a JSON object.",
                      [{"pointer": "/", "detail": "expected a JSON object"}], slug="invalid-replay")
    serializer = serializer_class(data=request.data)
    if not serializer.is_valid():
        raise Problem(422, "Invalid replay", "Some fields are not valid.", pointers(serializer.errors),
                      slug="invalid-replay")
    return serializer.validated_data


def job_response(request, job: ReplayJob, *, offset: int = 0, limit: int = ITEMS_PAGE,
                 status_code: int = status.HTTP_200_OK) -> Response:
    """The job with one page of its items, in sending order; dry runs show key and event per item."""
    items = list(job.items.select_related("target").order_by("position")[offset:offset + limit + 1])
    job.page_items = items[:limit]
    url = reverse("api-replay", args=[job.pk])
    job.items_next = request.build_absolute_uri(f"{url}?offset={offset + limit}&limit={limit}") \
        if len(items) > limit else None
    previews = dry_run_previews(job.page_items) if job.dry_run else {}
    response = Response(ReplayJobSerializer(job, context={"previews": previews}).data, status=status_code)
    if status_code == status.HTTP_202_ACCEPTED:
        response["Location"] = request.build_absolute_uri(url)
    return response


class TransactionReplayApi(APIView):
    """Send one transaction again to its targets, now; answers the finished job."""

    permission_classes = [IsReplayer]

    @extend_schema(
        request=ReplayInputSerializer,
        responses={202: ReplayJobSerializer, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
        description="Replays reuse each delivery's idempotency key, so a target that applied it does nothing "
                    "twice; `new_posting: true` sends under a new key. A delivery a worker is sending now is "
                    "skipped (`skipped_in_flight`). `dry_run: true` changes nothing and shows per item the "
                    "key and the outbound event that would be sent. 409: the transaction has no deliveries.",
    )
    def post(self, request, pk):
        tx = get_object_or_404(Transaction.objects.for_user(request.user), pk=pk)
        data = validated(ReplayInputSerializer, request)
        job = transaction_replay(transaction=tx, actor=request.user, reason=data["reason"],
                                 targets=data.get("targets"), dry_run=data["dry_run"],
                                 new_posting=data["new_posting"])
        return job_response(request, job, status_code=status.HTTP_202_ACCEPTED)


class ReplayJobCreateApi(APIView):
    """Bulk replay by transaction filters, or "replay missing" to one system since a time; the jobs, newest first."""

    permission_classes = [IsReplayer]

    @extend_schema(responses={200: ReplayJobSummarySerializer(many=True), 403: PROBLEM})
    def get(self, request):
        paginator = NewestJobsFirst()
        jobs = paginator.paginate_queryset(ReplayJob.objects.select_related("created_by"), request, view=self)
        return paginator.get_paginated_response(ReplayJobSummarySerializer(jobs, many=True).data)

    @extend_schema(
        request=BulkReplayInputSerializer,
        responses={202: ReplayJobSerializer, 403: PROBLEM, 422: PROBLEM},
        description="Creates a job worked on the maintenance queue at a bounded rate, in order of receipt; "
                    "follow it at GET /api/v1/replays/{id}. Either `filters` (the names of GET "
                    "/api/v1/transactions) with optional `targets`, or `missing_for` + `since`: every "
                    "transaction received since then that was routed to that system, re-sent to it only.",
    )
    def post(self, request):
        data = validated(BulkReplayInputSerializer, request)
        job = replay_job_create(actor=request.user, reason=data["reason"], filters=data.get("filters"),
                                missing_for=data.get("missing_for"), since=data.get("since"),
                                targets=data.get("targets"), dry_run=data["dry_run"],
                                new_posting=data["new_posting"])
        return job_response(request, job, status_code=status.HTTP_202_ACCEPTED)


class ReplayJobDetailApi(APIView):
    """A replay job's progress and what it did per item, one page of items at a time."""

    permission_classes = [IsReplayer]

    @extend_schema(
        parameters=[OpenApiParameter("offset", OpenApiTypes.INT), OpenApiParameter("limit", OpenApiTypes.INT)],
        responses={200: ReplayJobSerializer, 403: PROBLEM, 404: PROBLEM},
    )
    def get(self, request, pk: int):
        job = get_object_or_404(ReplayJob.objects.select_related("created_by"), pk=pk)
        page = ItemsPageSerializer(data=request.query_params)
        page.is_valid(raise_exception=True)
        return job_response(request, job, **page.validated_data)
