"""The v1 REST API: ingest for systems; transactions, contracts and quarantine for people."""

import json
from urllib.parse import unquote

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db.models import Prefetch
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from controltower.api import BodyLeftUnread, Problem
from integrations import contracts
from integrations.api.authentication import ApiKeyAuthentication, IsPerson, IsSystem
from integrations.api.serializers import (
    IngestResultSerializer,
    QuarantinedMessageSerializer,
    TransactionDetailSerializer,
    TransactionSerializer,
)
from integrations.filtersets import TransactionFilterSet
from integrations.models import Attempt, Delivery, QuarantinedMessage, Transaction
from integrations.services.inbound import inbound_ingest
from integrations.services.ingest import (
    EXCERPT_BYTES,
    quarantine_keep,
    quarantine_keep_differing_copy,
    transaction_ingest,
    transactions_ingest_batch,
)
from integrations.services.payloads import parse_json_body
from integrations.services.quarantine import quarantine_discard, quarantine_resubmit

PROBLEM = OpenApiResponse(OpenApiTypes.OBJECT, description="application/problem+json with errors[{pointer, detail}]")


def read_body(request) -> tuple[bytes, int]:
    """The body and its full size; past Django's own limit, only its start is read."""
    django_request = request._request
    try:
        raw = django_request.body
    except RequestDataTooBig:
        return django_request.read(EXCERPT_BYTES), int(django_request.META.get("CONTENT_LENGTH") or 0)
    return raw, len(raw)


EVENT_MEDIA_TYPES = ("application/cloudevents+json", "application/json")
BATCH_MEDIA_TYPES = ("application/cloudevents-batch+json", "application/json")


def media_type_of(request) -> str:
    return (request.content_type or "").split(";")[0].strip().lower()


def require_media_type(request, accepted: tuple[str, ...]) -> None:
    """Refuse a body whose Content-Type is not one of `accepted` (parameters such as charset aside) with 415."""
    media_type = media_type_of(request)
    if media_type not in accepted:
        raise Problem(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "Unsupported media type",
                      f"Send {' or '.join(accepted)}, not {media_type or 'no Content-Type'}.",
                      [{"pointer": "/", "detail": f"Content-Type must be {' or '.join(accepted)}"}],
                      slug="unsupported-media-type")


def cloudevent_from(request, raw: bytes) -> object:
    """The CloudEvent of an HTTP request (CloudEvents HTTP binding), or a 415/400 problem.

    Structured mode (the event is the JSON body) when the Content-Type says cloudevents, or when
    there is no `ce-specversion` header; binary mode otherwise: attributes in `ce-` headers
    (percent-decoded), and the JSON body is `data`.
    """
    attributes = [key for key in request.META if key.startswith("HTTP_CE_")]
    if media_type_of(request) == "application/cloudevents+json" or "HTTP_CE_SPECVERSION" not in request.META:
        if attributes and media_type_of(request) != "application/cloudevents+json":
            raise Problem(422, "Invalid CloudEvent", "ce- headers without ce-specversion: binary mode needs it.",
                          [{"pointer": "/", "detail": "add the header ce-specversion: 1.0, or send the whole "
                                                      "event as application/cloudevents+json"}],
                          slug="invalid-event")
        require_media_type(request, EVENT_MEDIA_TYPES)
        return parse_json_body(raw)
    require_media_type(request, ("application/json",))
    event = {key[len("HTTP_CE_"):].lower(): unquote(request.META[key]) for key in attributes}
    event["data"] = parse_json_body(raw)
    return event


class EventIngestApi(APIView):
    """Ingest one CloudEvent (structured JSON mode, or binary mode with `ce-` headers)."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsSystem]
    parser_classes = [BodyLeftUnread]  # the raw body is read here, so a refused one is kept exactly as sent

    @extend_schema(
        request={"application/cloudevents+json": OpenApiTypes.OBJECT, "application/json": OpenApiTypes.OBJECT},
        responses={202: IngestResultSerializer, 200: IngestResultSerializer, 400: PROBLEM, 401: PROBLEM,
                   403: PROBLEM, 413: PROBLEM, 415: PROBLEM, 422: PROBLEM},
        description="202 for a new transaction; 200 with `duplicate: true` for the same (source, id) again.",
    )
    def post(self, request):
        system = request.user.system
        raw, size = read_body(request)
        try:
            if size > settings.MAX_MESSAGE_BYTES:
                raise Problem(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "Message too large",
                              f"The body is {size} bytes; the limit is {settings.MAX_MESSAGE_BYTES}.",
                              [{"pointer": "/", "detail": f"at most {settings.MAX_MESSAGE_BYTES} bytes"}],
                              slug="too-large")
            result = transaction_ingest(source=system, event=cloudevent_from(request, raw))
        except Problem as problem:
            quarantine_keep(source=system, endpoint=request.path, content_type=request.content_type or "",
                            raw=raw, size=size, problem=problem)
            raise
        if result.content_differs:
            quarantine_keep_differing_copy(source=system, endpoint=request.path,
                                           content_type=request.content_type or "", raw=raw, result=result)
        tx = result.transaction
        body = {"transaction_id": tx.pk, "correlation_id": tx.correlation_id, "status": tx.status,
                "duplicate": result.duplicate, "content_differs": result.content_differs}
        return Response(IngestResultSerializer(body).data,
                        status=status.HTTP_200_OK if result.duplicate else status.HTTP_202_ACCEPTED)


def batch_results(outcomes, request, system, content_type: str, raw) -> list[dict]:
    """One result per ingested event, in order; each refused one kept in quarantine.

    `raw` is the list of each event's own bytes, or the one document they all came from.
    """
    results = []
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, Problem):
            body = raw[index] if isinstance(raw, list) else raw
            quarantine_keep(source=system, endpoint=f"{request.path}#{index}", content_type=content_type, raw=body,
                            size=len(body), problem=outcome)
            results.append({"index": index, "status": outcome.status_code, "title": outcome.title,
                            "detail": str(outcome.detail), "errors": outcome.errors})
        else:
            if outcome.content_differs:
                body = raw[index] if isinstance(raw, list) else raw
                quarantine_keep_differing_copy(source=system, endpoint=f"{request.path}#{index}",
                                               content_type=content_type, raw=body, result=outcome)
            tx = outcome.transaction
            results.append({"index": index, "status": 200 if outcome.duplicate else 202,
                            "transaction_id": str(tx.pk), "correlation_id": tx.correlation_id,
                            "duplicate": outcome.duplicate, "content_differs": outcome.content_differs})
    return results


class EventBatchIngestApi(APIView):
    """Ingest up to 1,000 CloudEvents (a JSON array, CloudEvents batch mode); one result per item, in order."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsSystem]
    parser_classes = [BodyLeftUnread]

    @extend_schema(
        request={"application/cloudevents-batch+json": OpenApiTypes.OBJECT, "application/json": OpenApiTypes.OBJECT},
        responses={200: OpenApiTypes.OBJECT, 400: PROBLEM, 401: PROBLEM, 413: PROBLEM, 415: PROBLEM, 422: PROBLEM},
        description="200 with `results`: per item `{index, status: 202|200, transaction_id, correlation_id, "
                    "duplicate}` or `{index, status: 4xx, title, detail, errors}` (that item is quarantined).",
    )
    def post(self, request):
        system = request.user.system
        raw, size = read_body(request)
        content_type = request.content_type or ""
        try:
            if size > settings.MAX_BATCH_BYTES:
                raise Problem(413, "Batch too large", f"The body is {size} bytes; the limit is "
                              f"{settings.MAX_BATCH_BYTES}.", [{"pointer": "/", "detail": "split the batch"}],
                              slug="too-large")
            require_media_type(request, BATCH_MEDIA_TYPES)
            events = parse_json_body(raw)
            if not isinstance(events, list) or not 1 <= len(events) <= settings.MAX_BATCH_EVENTS:
                raise Problem(422, "Invalid batch", f"A batch is a JSON array of 1 to {settings.MAX_BATCH_EVENTS} "
                              "CloudEvents.", [{"pointer": "/", "detail": "expected an array of 1 to "
                                                f"{settings.MAX_BATCH_EVENTS} events"}], slug="invalid-batch")
        except Problem as problem:
            quarantine_keep(source=system, endpoint=request.path, content_type=content_type, raw=raw, size=size,
                            problem=problem)
            raise
        items = [json.dumps(event).encode() for event in events]
        outcomes = transactions_ingest_batch(source=system, events=events, sizes=[len(item) for item in items])
        return Response({"results": batch_results(outcomes, request, system, content_type, items)},
                        status=status.HTTP_200_OK)


class InboundNativeApi(APIView):
    """A system's native document (its JSON, B2MML XML, EPCIS JSON-LD), mapped to events by its adapter."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsSystem]
    parser_classes = [BodyLeftUnread]

    @extend_schema(
        request={"application/xml": OpenApiTypes.STR, "application/json": OpenApiTypes.OBJECT},
        responses={200: OpenApiTypes.OBJECT, 400: PROBLEM, 401: PROBLEM, 403: PROBLEM, 413: PROBLEM, 415: PROBLEM,
                   422: PROBLEM},
        description="200 with `results` as for /events/batch, one per event the document holds.",
    )
    def post(self, request, system: str):
        sender = request.user.system
        raw, size = read_body(request)
        content_type = request.content_type or ""
        try:
            if system != sender.code:
                raise Problem(403, "Wrong system", f"This API key belongs to {sender.code}, not {system}.",
                              [{"pointer": "/", "detail": f"post to /api/v1/inbound/{sender.code}"}],
                              slug="wrong-source")
            if size > settings.MAX_MESSAGE_BYTES:
                raise Problem(413, "Message too large", f"The body is {size} bytes; the limit is "
                              f"{settings.MAX_MESSAGE_BYTES}.", [{"pointer": "/", "detail": "too large"}],
                              slug="too-large")
            outcomes = inbound_ingest(system=sender, raw=raw, content_type=content_type)
        except Problem as problem:
            quarantine_keep(source=sender, endpoint=request.path, content_type=content_type, raw=raw, size=size,
                            problem=problem)
            raise
        return Response({"results": batch_results(outcomes, request, sender, content_type, raw)})


class TransactionListApi(generics.ListAPIView):
    """Transactions of the plants you may see, newest first, filtered by query parameters."""

    permission_classes = [IsPerson]
    serializer_class = TransactionSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = TransactionFilterSet

    def get_queryset(self):
        return Transaction.objects.for_user(self.request.user).select_related("source", "plant")


class TransactionDetailApi(generics.RetrieveAPIView):
    """One transaction with its payloads, deliveries, attempts and history."""

    permission_classes = [IsPerson]
    serializer_class = TransactionDetailSerializer

    def get_queryset(self):
        deliveries = Delivery.objects.select_related("target").prefetch_related(
            Prefetch("attempts", queryset=Attempt.objects.order_by("number"))
        )
        return Transaction.objects.for_user(self.request.user).select_related("source", "plant").prefetch_related(
            Prefetch("deliveries", queryset=deliveries)
        )


class ContractApi(APIView):
    """The JSON Schema of an event type at a version, for partners to validate before they send."""

    authentication_classes = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 404: PROBLEM})
    def get(self, request, event_type: str, version: str):
        schema = contracts.schema(event_type, version)
        if schema is None:
            raise Problem(404, "Not found", f"No contract for {event_type!r} version {version!r}.")
        return Response(schema, content_type="application/schema+json")


class IsIntegrationAdmin(IsPerson):
    message = "Only integration admins may see this."

    def has_permission(self, request, view):
        return super().has_permission(request, view) and request.user.sees_all_plants


class QuarantineListApi(generics.ListAPIView):
    """Refused inbound messages with their raw bodies and reasons (integration admins)."""

    permission_classes = [IsIntegrationAdmin]
    serializer_class = QuarantinedMessageSerializer
    queryset = QuarantinedMessage.objects.select_related("source")


def quarantined_exists(pk: int) -> None:
    """404 before anything else is judged: a missing message is the first thing to say."""
    if not QuarantinedMessage.objects.filter(pk=pk).exists():
        raise Problem(404, "Not found", "No such quarantined message.")


def reason_from(request) -> str:
    reason = request.data.get("reason") if isinstance(request.data, dict) else None
    if not isinstance(reason, str) or not reason.strip():
        raise Problem(422, "Reason required", "Say why, for the audit trail.",
                      [{"pointer": "/reason", "detail": "a non-empty text is required"}], slug="invalid-request")
    return reason.strip()


class QuarantineResubmitApi(APIView):
    """Resubmit a refused message, corrected (`event`) or as kept, as its original sender (integration admins)."""

    permission_classes = [IsIntegrationAdmin]

    @extend_schema(request=OpenApiTypes.OBJECT, responses={202: IngestResultSerializer, 409: PROBLEM, 422: PROBLEM})
    def post(self, request, pk: int):
        quarantined_exists(pk)
        reason = reason_from(request)
        event = request.data.get("event")
        if event is not None and not isinstance(event, dict):
            raise Problem(422, "Invalid correction", "`event` must be a CloudEvent object.",
                          [{"pointer": "/event", "detail": "expected an object"}], slug="invalid-request")
        try:
            result = quarantine_resubmit(message_id=pk, event=event, reason=reason, actor=request.user)
        except QuarantinedMessage.DoesNotExist:
            raise Problem(404, "Not found", "No such quarantined message.") from None
        tx = result.transaction
        body = {"transaction_id": tx.pk, "correlation_id": tx.correlation_id, "status": tx.status,
                "duplicate": result.duplicate}
        return Response(IngestResultSerializer(body).data, status=status.HTTP_202_ACCEPTED)


class QuarantineDiscardApi(APIView):
    """Discard a refused message, with a reason (integration admins)."""

    permission_classes = [IsIntegrationAdmin]

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: QuarantinedMessageSerializer, 409: PROBLEM})
    def post(self, request, pk: int):
        quarantined_exists(pk)
        reason = reason_from(request)
        try:
            message = quarantine_discard(message_id=pk, reason=reason, actor=request.user)
        except QuarantinedMessage.DoesNotExist:
            raise Problem(404, "Not found", "No such quarantined message.") from None
        return Response(QuarantinedMessageSerializer(message).data)


