"""Ingest: turn one inbound CloudEvent into a stored transaction, or refuse it with pointers.

Refusals raise `Problem`; the API keeps the refused body in quarantine (`quarantine_keep`).
"""

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError
from django.db import transaction as db_transaction
from rest_framework import status

from controltower.api import Problem
from controltower.models import Plant
from integrations import contracts
from integrations.doorbell import ring_router
from integrations.models import QuarantinedMessage, System, Transaction
from integrations.services.payloads import storable, storable_time_problem, unstorable_values

logger = logging.getLogger(__name__)

# Derived correlation IDs are UUIDv5 in this namespace over "plant:business key", so every message
# about one order shares one thread even when systems do not propagate an ID.
CORRELATION_NAMESPACE = uuid.UUID("6f1d7c52-9a57-4c1e-8f39-1b0f2a3c7d10")
EXCERPT_BYTES = 64 * 1024


@dataclass(frozen=True)
class IngestResult:
    transaction: Transaction
    duplicate: bool
    # A copy whose content is not the first one's: not applied (the id was taken), kept for a person.
    content_differs: bool = False

    @classmethod
    def copy_of(cls, first: Transaction, event: dict) -> "IngestResult":
        return cls(first, duplicate=True, content_differs=first.raw_payload != event)


def rfc3339_parse(value: str) -> datetime:
    """An RFC 3339 timestamp (already format-checked) as a datetime.

    Python's fromisoformat refuses some valid RFC 3339 forms: a lowercase `t`/`z`, and more than
    six fractional digits (nanoseconds, as Java and Go write them).
    """
    normal = re.sub(r"(\.\d{6})\d+", r"\1", value.upper())
    return datetime.fromisoformat(normal.replace("Z", "+00:00"))


def derive_correlation_id(plant_code: str, business_key: str) -> str:
    return str(uuid.uuid5(CORRELATION_NAMESPACE, f"{plant_code}:{business_key}"))


DATASCHEMA = re.compile(r"/contracts/(?P<type>[^/]+)/(?P<version>[^/]+)/?$")


def _schema_version(event: dict) -> str:
    """The contract version the event names in `dataschema` (…/contracts/{type}/{version}); 1 by default."""
    dataschema = event.get("dataschema")
    if not dataschema:
        return "1"
    match = DATASCHEMA.search(dataschema)
    if match is None or match["type"] != event["type"]:
        raise Problem(422, "Unknown event type", f"dataschema must name the contract of {event['type']}.",
                      [{"pointer": "/dataschema", "detail": f"expected …/contracts/{event['type']}/{{version}}"}],
                      slug="unknown-event-type")
    return match["version"]


def _check_envelope(source: System, event: object) -> None:
    """Refuse what is not a CloudEvent from `source`, before anything else is looked at."""
    if not isinstance(event, dict):
        raise Problem(status.HTTP_400_BAD_REQUEST, "Unparsable body", "A CloudEvent must be a JSON object.",
                      [{"pointer": "/", "detail": f"expected an object, got {type(event).__name__}"}],
                      slug="unparsable")
    unstorable = unstorable_values(event)
    if unstorable:
        raise Problem(422, "Unstorable values", "Some values cannot be stored: a NUL character, an unpaired "
                      "surrogate, or a number out of range.", unstorable, slug="invalid-event")
    envelope_errors = contracts.errors(contracts.ENVELOPE, "1", event)
    if envelope_errors:
        raise Problem(422, "Invalid CloudEvent", "The envelope does not follow CloudEvents 1.0.", envelope_errors,
                      slug="invalid-event")
    if event["source"] != source.code:
        raise Problem(status.HTTP_403_FORBIDDEN, "Wrong source",
                      f"This API key belongs to {source.code}; it cannot send as {event['source']!r}.",
                      [{"pointer": "/source", "detail": f"must be {source.code!r}"}], slug="wrong-source")


class PlantsByCode(dict):
    """Plants looked up once per call, however many events name them, and the plants the sender serves."""

    def __missing__(self, code: str) -> Plant | None:
        self[code] = Plant.objects.filter(code=code).first()
        return self[code]

    def __init__(self):
        super().__init__()
        self._served: dict[int, set[int]] = {}

    def served_by(self, source: System) -> set[int]:
        """The ids of the plants `source` serves; empty when it is not tied to plants (it serves all)."""
        if source.pk not in self._served:
            self._served[source.pk] = set(source.plants.values_list("pk", flat=True))
        return self._served[source.pk]


def _prepare(source: System, event: dict, plants: PlantsByCode) -> Transaction:
    """Check the data against its contract and build the (unsaved) transaction."""
    event_type, version = event["type"], _schema_version(event)
    schema = contracts.schema(event_type, version)
    if schema is None:
        pointer = "/dataschema" if contracts.schema(event_type, "1") else "/type"
        raise Problem(422, "Unknown event type", f"No contract for {event_type!r} version {version!r}.",
                      [{"pointer": pointer, "detail": f"known types: {', '.join(contracts.event_types())}"}],
                      slug="unknown-event-type")
    data = event["data"]
    data_errors = contracts.errors(event_type, version, data, prefix="/data")
    if data_errors:
        raise Problem(422, "Invalid event data", f"The data does not match {event_type} v{version}.", data_errors,
                      slug="invalid-event")

    if event.get("plant") and data.get("plant") and event["plant"] != data["plant"]:
        raise Problem(422, "Conflicting plant", "The envelope and the data name different plants.",
                      [{"pointer": "/plant", "detail": f"{event['plant']!r} but data says {data['plant']!r}"}],
                      slug="invalid-event")
    plant_code = event.get("plant") or data.get("plant") or ""
    plant = plants[plant_code] if plant_code else None
    if plant_code and plant is None:
        raise Problem(422, "Unknown plant", f"Plant {plant_code!r} is not configured.",
                      [{"pointer": "/plant" if event.get("plant") else "/data/plant",
                        "detail": f"unknown plant {plant_code!r}"}], slug="unknown-plant")
    served = plants.served_by(source)
    if plant is not None and served and plant.pk not in served:
        raise Problem(422, "Plant not served", f"{source.code} does not serve plant {plant_code}.",
                      [{"pointer": "/plant" if event.get("plant") else "/data/plant",
                        "detail": f"{source.code} serves plant(s) "
                                  f"{', '.join(sorted(p.code for p in source.plants.all()))}"}],
                      slug="plant-not-served")
    try:
        source_time = rfc3339_parse(event["time"]) if event.get("time") else None
        time_problem = storable_time_problem(source_time) if source_time else ""
    except ValueError as e:  # valid RFC 3339 Python cannot hold, such as a leap second (23:59:60)
        source_time, time_problem = None, f"cannot be read: {e}"
    if time_problem:
        raise Problem(422, "Invalid event time", f"The event time {event['time']!r} cannot be kept.",
                      [{"pointer": "/time", "detail": time_problem}], slug="invalid-event")
    business_key = event.get("businesskey") or str(data.get(schema.get("x-business-key", ""), ""))
    tx = Transaction(
        correlation_id=event.get("correlationid") or derive_correlation_id(plant_code, business_key or event["id"]),
        source=source, source_message_id=event["id"], event_type=event_type, schema_version=version,
        plant=plant, business_key=business_key, raw_payload=event, canonical_payload=data,
        source_time=source_time,
    )
    tx.set_status(tx.status, f"received from {source.code}")
    return tx


def transaction_ingest(*, source: System, event: object) -> IngestResult:
    """Validate a structured CloudEvent from `source`, store it once, and ring the router.

    The same (source, id) again returns the first transaction with duplicate=True, also when
    the copies race: the unique constraint decides, and the loser reads the winner's row.
    """
    _check_envelope(source, event)
    existing = Transaction.objects.filter(source=source, source_message_id=event["id"]).first()
    if existing:
        return IngestResult.copy_of(existing, event)
    tx = _prepare(source, event, PlantsByCode())
    try:
        with db_transaction.atomic():
            tx.save(force_insert=True)
    except IntegrityError:
        # A copy sent at the same instant won the unique constraint; answer with its IDs.
        return IngestResult.copy_of(Transaction.objects.get(source=source, source_message_id=event["id"]), event)
    db_transaction.on_commit(ring_router)
    return IngestResult(tx, duplicate=False)


def transactions_ingest_batch(*, source: System, events: list, sizes: list[int] | None = None
                              ) -> list[IngestResult | Problem]:
    """Ingest many CloudEvents in one database round trip; one result per event, in order.

    Each event is judged on its own: refusals come back as `Problem`s beside the accepted ones.
    `sizes` (bytes per event, when known) holds each to the limit of a single message.
    """
    results: list[IngestResult | Problem | None] = [None] * len(events)
    for index, event in enumerate(events):
        try:
            if sizes and sizes[index] > settings.MAX_MESSAGE_BYTES:
                raise Problem(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "Message too large",
                              f"The event is {sizes[index]} bytes; the limit is {settings.MAX_MESSAGE_BYTES}.",
                              [{"pointer": "/", "detail": f"at most {settings.MAX_MESSAGE_BYTES} bytes"}],
                              slug="too-large")
            _check_envelope(source, event)
        except Problem as problem:
            results[index] = problem
    candidates = [i for i, r in enumerate(results) if r is None]
    ids = {events[i]["id"] for i in candidates}
    stored = {tx.source_message_id: tx for tx in Transaction.objects.filter(source=source, source_message_id__in=ids)}

    plants, fresh, first_index = PlantsByCode(), {}, {}
    for index in candidates:
        message_id = events[index]["id"]
        if message_id in stored:
            results[index] = IngestResult.copy_of(stored[message_id], events[index])
        elif message_id in first_index:
            continue  # a copy within this batch: answered below with the first one's result
        else:
            try:
                fresh[index] = _prepare(source, events[index], plants)
                first_index[message_id] = index
            except Problem as problem:
                results[index] = problem

    if fresh:
        Transaction.objects.bulk_create(fresh.values(), ignore_conflicts=True)
        # Rows that lost to a concurrent copy were skipped: read back which row won each id.
        winners = dict(Transaction.objects.filter(source=source, source_message_id__in=first_index)
                       .values_list("source_message_id", "pk"))
        for index, tx in fresh.items():
            if winners[tx.source_message_id] == tx.pk:
                results[index] = IngestResult(tx, duplicate=False)
            else:
                results[index] = IngestResult.copy_of(Transaction.objects.get(pk=winners[tx.source_message_id]),
                                                      events[index])
        db_transaction.on_commit(ring_router)
    for index in candidates:
        if results[index] is None:  # an in-batch copy
            first = results[first_index[events[index]["id"]]]
            results[index] = (IngestResult.copy_of(first.transaction, events[index]) if isinstance(first, IngestResult)
                              else first)
    return results


def quarantine_keep_differing_copy(*, source: System, endpoint: str, content_type: str, raw: bytes,
                                   result: IngestResult) -> QuarantinedMessage:
    """Keep a resend that reused a message id with other content: it was not applied, and a person
    decides whether it is a correction (resubmit it with a new id) or noise (discard it)."""
    first = result.transaction
    logger.warning("%s resent message %s with different content; not applied, kept in quarantine",
                   source.code, first.source_message_id)
    answered = Problem(status.HTTP_200_OK, "Duplicate id with different content",
                       f"{first.source_message_id} was first applied as transaction {first.pk}; this copy was not",
                       [{"pointer": "/id", "detail": "already used for a message with other content; send a "
                                                     "correction with a new id"}])
    return quarantine_keep(source=source, endpoint=endpoint, content_type=content_type, raw=raw, size=len(raw),
                           problem=answered)


def quarantine_keep(*, source: System | None, endpoint: str, content_type: str, raw: bytes, size: int,
                    problem: Problem) -> QuarantinedMessage:
    """Keep a refused message with its reason and pointers, for a person to fix and resubmit."""
    # An oversized body is kept only in part: storing it whole would defeat the limit.
    body = raw[:EXCERPT_BYTES] if problem.status_code == status.HTTP_413_REQUEST_ENTITY_TOO_LARGE else raw
    return QuarantinedMessage.objects.create(
        source=source, endpoint=endpoint, content_type=content_type[:200],
        raw_body=storable(body.decode("utf-8", errors="replace")),
        body_size=size, http_status=problem.status_code, reason=storable(f"{problem.title}: {problem.detail}")[:300],
        errors=storable(problem.errors),
    )
