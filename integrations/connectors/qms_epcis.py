"""A QMS or traceability system speaking GS1 EPCIS 2.0 JSON-LD: quality holds and releases of lots.

Inbound (`parse_inbound`), an EPCISDocument, EPCISQueryDocument or bare event, first validated
against the official EPCIS JSON Schema with format checks (422 with JSON Pointers if invalid).
Only ObjectEvents (action OBSERVE or ADD) about lots become canonical events; everything else
(shipping, receiving, aggregation, sensor reports…) is not for the tower and is skipped.

| EPCIS `disposition` (CBV 2.0)                  | `bizStep`                      | canonical               | `data.disposition` |
|------------------------------------------------|--------------------------------|-------------------------|--------------------|
| non_sellable_other (blocked, quarantine)       | any                            | `quality.hold_placed`   | pending            |
| non_conformant                                 | any                            | `quality.hold_placed`   | pending            |
| recalled, damaged, expired                     | any                            | `quality.hold_placed`   | pending            |
| conformant                                     | any                            | `quality.hold_released` | use_as_is          |
| active, in_progress, available, sellable_accessible | inspecting, holding, sampling | `quality.hold_released` | use_as_is     |
| anything else (in_progress at receiving, …)    |                                | skipped                 |                    |

CBV 2.0 has no "quarantine" disposition; `non_sellable_other` is the one a blocked lot gets. A
release needs a quality step (or `conformant`), because `in_progress` is also every ordinary
receiving or commissioning event's disposition. An extension whose name ends in `decision`
(`ct:decision`) with a canonical value (scrap, rework…) overrides `data.disposition`.

An event carrying an `errorDeclaration` retracts what it said: a hold declared in error becomes a
release, a release declared in error a hold again (reason: the declaration's reason).

- lot and material: `quantityList[].epcClass` (LGTIN, Digital Link `/01/{gtin}/10/{lot}`, or the
  tower's `…/id/material/{m}/lot/{l}`), or `ilmd` `cbvmda:lotNumber` with the GTIN of `epcList`/
  `quantityList`. Material is the GTIN-14 as text (a material value mapping can translate it).
  One canonical event per lot.
- plant: `bizLocation`, else `readPoint`: a plant value mapping (domain plant) of the system for
  the location URI or its GLN, or the tower's `…/id/plant/{code}`; else the one plant the system
  serves; else 422 pointing at the event's bizLocation.
- reason: an extension whose name ends in `reason` (`ct:reason`, `acme:holdReason`), else
  `rdfs:comment`, else the disposition and step.
- id: the EPCIS `eventID` (else a hash of the event), so a re-sent document is a duplicate.

Outbound (`deliver`), `quality.hold_placed`/`hold_released` as an EPCISDocument with one
ObjectEvent: hold = OBSERVE, bizStep `holding`, disposition `non_sellable_other`; release =
OBSERVE, bizStep `inspecting`, disposition `conformant` (use_as_is or none) or `active` (another
decision, named in `ct:decision`). Validated before sending; POSTed to `{base_url}/epcis/events`.
"""

import hashlib
import json
import uuid
import xml.etree.ElementTree as ET

from django.utils import timezone

from integrations.choices import MappingDomain
from integrations.connectors import epcis
from integrations.connectors.base import Connector, ConnectorError, OutboundEvent, Receipt

HOLD_PLACED, HOLD_RELEASED = "quality.hold_placed", "quality.hold_released"
HOLD_DISPOSITIONS = {
    "non_sellable_other": "blocked",
    "non_conformant": "non-conformant",
    "recalled": "recalled",
    "damaged": "damaged",
    "expired": "expired",
}
RELEASE_ANYWHERE = {"conformant"}
RELEASE_IN_QUALITY_STEP = {"active", "in_progress", "available", "sellable_accessible"}
QUALITY_STEPS = {"inspecting", "holding", "sampling"}
DECISIONS = {"pending", "scrap", "rework", "use_as_is", "return_to_vendor"}
ACTIONS = {"OBSERVE", "ADD"}
MAX_ID = 200
MAX_REASON = 200
# eventIDs of what the tower sends: a UUIDv5 of the delivery's idempotency key, stable across retries.
EVENT_ID_NAMESPACE = uuid.UUID("0b7c2f1e-5d1a-4a8e-9c55-3e2f6a9d4b21")


def _local_name(key: str) -> str:
    """`acme:holdReason` → `holdReason`; `https://x.example/ns#reason` → `reason`."""
    for separator in ("#", "/", ":"):
        key = key.rsplit(separator, 1)[-1]
    return key


def _text(value: object) -> str:
    if isinstance(value, dict):  # a JSON-LD value object
        value = value.get("@value")
    return value.strip() if isinstance(value, str) else ""


def _extension(event: dict, suffix: str) -> str:
    """The text of the first namespaced extension of `event` whose local name ends with `suffix`."""
    for key, value in event.items():
        if ":" in key and _local_name(key).lower().endswith(suffix) and _text(value):
            return _text(value)
    return ""


def classify(event: dict) -> tuple[str, str, str] | str:
    """(event type, decision, reason) for a hold or release, or why the event is not one."""
    kind = event.get("type")
    if kind != "ObjectEvent":
        return f"{kind} is not a hold or release (those are ObjectEvents)"
    action = event.get("action")
    if action not in ACTIONS:
        return f"ObjectEvent with action {action} is not a hold or release"
    disposition = epcis.cbv_term(event.get("disposition"), "disposition")
    step = epcis.cbv_term(event.get("bizStep"), "bizStep")
    at = f" at {step}" if step else ""
    if disposition in HOLD_DISPOSITIONS:
        event_type, decision, said = HOLD_PLACED, "pending", f"{HOLD_DISPOSITIONS[disposition]}{at}"
    elif disposition in RELEASE_ANYWHERE or (disposition in RELEASE_IN_QUALITY_STEP and step in QUALITY_STEPS):
        event_type, decision, said = HOLD_RELEASED, "use_as_is", f"{disposition}{at}"
    else:
        return (f"disposition {disposition or '(none)'} at bizStep {step or '(none)'} is neither a hold nor "
                "a release")
    stated = _extension(event, "decision")
    if stated in DECISIONS:
        decision = stated
    reason = _extension(event, "reason") or _text(event.get("rdfs:comment")) or said
    declaration = event.get("errorDeclaration")
    if isinstance(declaration, dict):
        why = epcis.cbv_term(declaration.get("reason"), "errorReason") or "no reason given"
        retracted = "hold" if event_type == HOLD_PLACED else "release"
        event_type, decision = (HOLD_RELEASED, "use_as_is") if event_type == HOLD_PLACED else (HOLD_PLACED, "pending")
        reason = f"{retracted} ({reason}) declared in error: {why}"
    return event_type, decision, reason[:MAX_REASON]


def lots_of(event: dict) -> list[epcis.ClassRef] | str:
    """The (material, lot) pairs an event is about, or why it names none."""
    with_lot, without_lot = [], []
    for element in event.get("quantityList") or []:
        ref = epcis.class_ref(element.get("epcClass"))
        if ref:
            (with_lot if ref.lot else without_lot).append(ref)
    for epc in event.get("epcList") or []:
        ref = epcis.class_ref(epc)
        if ref:
            (with_lot if ref.lot else without_lot).append(ref)
    ilmd = event.get("ilmd") if isinstance(event.get("ilmd"), dict) else {}
    ilmd_lot = next((_text(v) for k, v in ilmd.items() if _local_name(k) == "lotNumber" and _text(v)), "")
    if ilmd_lot:
        with_lot += [epcis.ClassRef(ref.material, ilmd_lot) for ref in without_lot]
    found = list(dict.fromkeys(with_lot))  # in order, once each
    if not found:
        return "names no lot (no LGTIN or Digital Link with a lot, no ilmd lotNumber with a GTIN)"
    return found


class PlantResolver:
    """Which plant an event's location is, from the system's plant mappings; read once per document."""

    def __init__(self, system):
        self.system = system
        self._mappings: dict[str, str] | None = None
        self._served: list[str] | None = None

    def _load(self) -> None:
        from integrations.models import ValueMapping

        if self.system.pk is None:  # an unsaved system (a test's) has no mappings and serves no plants
            self._mappings, self._served = {}, []
            return
        self._mappings = dict(ValueMapping.objects.filter(system=self.system, domain=MappingDomain.PLANT)
                              .values_list("external_value", "canonical_value"))
        self._served = list(self.system.plants.values_list("code", flat=True))

    def location(self, location: str) -> str | None:
        if self._mappings is None:
            self._load()
        for candidate in (location, epcis.gln_of(location)):
            if candidate and candidate in self._mappings:
                return self._mappings[candidate]
        return epcis.tower_plant(location)

    def plant_of(self, event: dict) -> str | None:
        for field in ("bizLocation", "readPoint"):
            place = event.get(field)
            if isinstance(place, dict) and isinstance(place.get("id"), str):
                plant = self.location(place["id"])
                if plant:
                    return plant
        if self._served is None:
            self._load()
        return self._served[0] if len(self._served) == 1 else None


def _message_id(base: str, ref: epcis.ClassRef, lots: int) -> str:
    message_id = base if lots == 1 else f"{base}#{ref.material}/{ref.lot}"
    if len(message_id) > MAX_ID:
        message_id = "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()
    return message_id


class QmsEpcisConnector(Connector):
    def parse_inbound(self, document) -> list[dict]:
        from controltower.api import Problem

        if isinstance(document, ET.Element):
            raise Problem(422, "Unrecognised document", f"{self.system.code} sends EPCIS 2.0 JSON-LD, not XML.",
                          [{"pointer": "/", "detail": "send application/ld+json"}], slug="unrecognised-document")
        if not isinstance(document, dict):
            raise Problem(422, "Invalid EPCIS document", "An EPCIS document or event is a JSON object.",
                          [{"pointer": "/", "detail": f"expected an object, got {type(document).__name__}"}],
                          slug="invalid-document")
        errors = epcis.schema_errors(document)
        if errors:
            raise Problem(422, "Invalid EPCIS document",
                          f"The document does not follow the EPCIS 2.0 JSON Schema ({len(errors)} error(s)).",
                          errors, slug="invalid-document")
        if document["type"] not in ("EPCISDocument", "EPCISQueryDocument", *epcis.EVENT_TYPES):
            raise Problem(422, "Nothing to ingest", f"{document['type']} is not an EPCIS document or standard event.",
                          [{"pointer": "/type", "detail": "expected EPCISDocument or an EPCIS event"}],
                          slug="unrecognised-document")
        plants = PlantResolver(self.system)
        cloudevents, skipped, unplaced = [], [], []
        for where, event in epcis.events_of(document):
            mapped = classify(event)
            lots = lots_of(event) if isinstance(mapped, tuple) else mapped
            if isinstance(lots, str):  # why it is not a hold or release of a lot
                skipped.append({"pointer": where or "/", "detail": lots})
                continue
            plant = plants.plant_of(event)
            if plant is None:
                field = "readPoint" if "readPoint" in event and "bizLocation" not in event else "bizLocation"
                place = (event.get(field) or {}).get("id", "(none)")
                detail = (f"location {place} is no plant of {self.system.code}; add a plant value mapping for it "
                          f"or name the plant as {epcis.TOWER_IDS}plant/{{code}}")
                unplaced.append({"pointer": f"{where}/{field}", "detail": detail})
                continue
            event_type, decision, reason = mapped
            try:
                time = epcis.event_time(event)
            except ValueError as e:  # valid RFC 3339 that Python cannot hold, e.g. year 0 or a leap second
                raise Problem(422, "Invalid EPCIS document", "The event time cannot be read.",
                              [{"pointer": f"{where}/eventTime", "detail": str(e)}], slug="invalid-document") from None
            base = epcis.event_identity(event)
            if "errorDeclaration" in event:
                base += "#error-declared"  # the declaration repeats the eventID of the event it retracts
            for ref in lots:
                cloudevents.append({
                    "specversion": "1.0", "id": _message_id(base, ref, len(lots)), "source": self.system.code,
                    "type": event_type, "time": time, "plant": plant,
                    "datacontenttype": "application/json",
                    "data": {"plant": plant, "material": ref.material, "lot": ref.lot, "reason": reason,
                             "disposition": decision},
                })
        if unplaced:
            raise Problem(422, "Unknown plant", f"{len(unplaced)} hold or release event(s) name no plant of "
                          f"{self.system.code}, and it does not serve exactly one plant.", unplaced, slug="unknown-plant")
        if not cloudevents:
            raise Problem(422, "Nothing to ingest", "The EPCIS document holds no quality hold or release of a lot.",
                          skipped or [{"pointer": "/", "detail": "no events"}], slug="unrecognised-document")
        return cloudevents

    def deliver(self, event: OutboundEvent) -> Receipt:
        if event.event_type not in (HOLD_PLACED, HOLD_RELEASED):
            raise self.unsupported(event)
        document = self.document(event)
        errors = epcis.schema_errors(document)
        if errors:
            raise ConnectorError(f"{self.system.code}: the EPCIS document would be invalid: "
                                 + "; ".join(f"{e['pointer']} {e['detail']}" for e in errors[:3]),
                                 permanent=True, error_class="invalid_document")
        response = self.post("/epcis/events", event=event, content=json.dumps(document).encode(),
                             headers={"Content-Type": "application/ld+json"})
        try:
            capture_id = str(response.json().get("captureID", ""))
        except (ValueError, AttributeError):
            capture_id = ""
        capture_id = capture_id or response.headers.get("Location", "").rstrip("/").rsplit("/", 1)[-1]
        return Receipt(target_reference=capture_id, http_status=response.status_code,
                       response_excerpt=response.text[:500])

    def document(self, event: OutboundEvent) -> dict:
        """The EPCISDocument that tells the QMS about one hold or release."""
        data = event.data
        material, lot, plant = data.get("material"), data.get("lot"), data.get("plant") or event.plant
        if not (isinstance(material, str) and material and isinstance(lot, str) and lot and plant):
            raise ConnectorError(f"{event.event_type} needs plant, material and lot to name the lot in EPCIS",
                                 permanent=True, error_class="invalid_document")
        decision = data.get("disposition")
        if event.event_type == HOLD_PLACED:
            step, disposition = "holding", "non_sellable_other"
        else:
            step = "inspecting"
            disposition = "conformant" if decision in (None, "use_as_is") else "active"
        extensions = {}
        if data.get("reason"):
            extensions["ct:reason"] = data["reason"]
        if decision:
            extensions["ct:decision"] = decision
        now = timezone.now()
        objects = epcis.object_event(
            event_id=f"urn:uuid:{uuid.uuid5(EVENT_ID_NAMESPACE, event.idempotency_key)}", when=now,
            biz_step=step, disposition=disposition, epc_classes=[epcis.lot_class_uri(material, lot)],
            location=self._location(plant), extensions=extensions,
        )
        return epcis.epcis_document([objects], created=now, namespaces={"ct": epcis.TOWER_NS})

    def _location(self, plant: str) -> str:
        """The QMS's name for the plant (a plant value mapping, e.g. an SGLN), else the tower's URI."""
        from integrations.models import ValueMapping

        if self.system.pk is None:  # an unsaved system (a test's) has no mappings
            return epcis.plant_location_uri(plant)
        mapped = (ValueMapping.objects.filter(system=self.system, domain=MappingDomain.PLANT, canonical_value=plant)
                  .values_list("external_value", flat=True).first())
        return mapped or epcis.plant_location_uri(plant)
