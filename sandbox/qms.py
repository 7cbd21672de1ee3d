"""The simulated QMS: an EPCIS 2.0 capture interface that keeps quality holds per lot, and quality
decisions of its own (hold, release) that it pushes to the tower as EPCIS JSON-LD documents.

Capture (`POST /sandbox/{QMS}/epcis/events`) validates against the official EPCIS 2.0 JSON Schema
with format checks, applies every hold and release in the document or none (EPCIS capture is
atomic), and records the capture in the ledger under the caller's idempotency key. It reads only
what a QMS needs: ObjectEvents about lots (quantityList `epcClass` as LGTIN, GS1 Digital Link
`/01/{gtin}/10/{lot}`, or the tower's `…/id/material/{m}/lot/{l}`). Other valid events are captured
and change nothing. Errors follow the EPCIS REST binding: problem details with an
`epcisException:…` type (or `qms:…` for this QMS's own rules).

Holds are `Record`s of kind "hold" keyed "{material}/{lot}", with their history.
"""

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import httpx
from django.db import transaction as db_transaction
from django.utils import timezone
from jsonschema import Draft7Validator

from sandbox.ledger import Refused, apply_once
from sandbox.models import NumberRange, OutboundLink, Record
from sandbox.outbound import push_document
from sandbox.systems import QMS, Answer

SCHEMA_PATH = (Path(__file__).resolve().parents[1] / "integrations" / "standards" / "epcis"
               / "EPCIS-JSON-Schema.json")
CONTEXT_URL = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
QMS_NS = "https://qms.example.com/epcis/"  # this QMS's own extensions, prefix "qms:"
TOWER_IDS = "https://controltower.dev/id/"
CAPTURE = "epcis.capture"
HOLD = "hold"
HELD, RELEASED = "held", "released"
HOLD_DISPOSITIONS = {"non_sellable_other", "non_conformant", "recalled", "damaged", "expired"}
RELEASE_DISPOSITIONS = {"conformant", "active", "in_progress", "available", "sellable_accessible"}
QUALITY_STEPS = {"inspecting", "holding", "sampling"}
DECISIONS = ("pending", "scrap", "rework", "use_as_is", "return_to_vendor")
MAX_ERRORS = 50


def epcis_error(status: int, exception: str, title: str, detail: str = "", errors: list | None = None) -> Answer:
    """An error as the EPCIS 2.0 REST binding writes it: RFC 7807 problem details."""
    body: dict = {"type": exception if ":" in exception else f"epcisException:{exception}", "title": title,
                  "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    return Answer(status, body)


# Validation ---------------------------------------------------------------------------------------


@cache
def _validator() -> Draft7Validator:
    checker = Draft7Validator.FORMAT_CHECKER
    if not {"date-time", "uri"} <= set(checker.checkers):
        raise RuntimeError("jsonschema's format extras are missing: bad timestamps would pass")
    return Draft7Validator(json.loads(SCHEMA_PATH.read_text()), format_checker=checker)


def schema_errors(document: object) -> list[dict]:
    """[{pointer, detail}] for each way `document` breaks the EPCIS 2.0 JSON Schema."""
    errors = []
    for error in _validator().iter_errors(document):
        pointer = "".join(f"/{str(p).replace('~', '~0').replace('/', '~1')}" for p in error.absolute_path)
        errors.append({"pointer": pointer or "/", "detail": error.message[:300]})
    return sorted(errors, key=lambda e: e["pointer"])[:MAX_ERRORS]


# Reading events -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LotChange:
    """One hold or release an event asks for."""

    action: str  # HELD or RELEASED
    material: str
    lot: str
    plant: str
    reason: str
    pointer: str

    @property
    def key(self) -> str:
        return f"{self.material}/{self.lot}"


def _term(value: object, prefix: str) -> str:
    if not isinstance(value, str):
        return ""
    for start in (f"https://ref.gs1.org/cbv/{prefix}-", f"cbv:{prefix}-"):
        if value.startswith(start):
            return value[len(start):]
    return value


_LGTIN = re.compile(r"^urn:epc:class:lgtin:(\d+\.\d+)\.(.+)$")
_DIGITAL_LINK = re.compile(r"(?:^|/)01/(\d{8,14})/10/([^/]+)/?$")
_TOWER_LOT = re.compile(r"^/id/material/([^/]+)/lot/([^/]+)/?$")


def _material_lot(epc_class: object) -> tuple[str, str] | None:
    if not isinstance(epc_class, str):
        return None
    lgtin = _LGTIN.match(epc_class)
    if lgtin:
        return lgtin.group(1), unquote(lgtin.group(2))
    path = urlsplit(epc_class).path
    match = _TOWER_LOT.match(path) if epc_class.startswith(TOWER_IDS) else _DIGITAL_LINK.search(path)
    if match:
        return unquote(match.group(1)), unquote(match.group(2))
    return None


def _reason(event: dict) -> str:
    for key, value in event.items():
        if ":" in key and key.lower().endswith("reason") and isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _plant(event: dict) -> str:
    location = (event.get("bizLocation") or event.get("readPoint") or {}).get("id", "")
    if location.startswith(TOWER_IDS + "plant/"):
        return unquote(location[len(TOWER_IDS + "plant/"):])
    return location


def lot_changes(document: dict) -> list[LotChange]:
    """The holds and releases a schema-valid EPCIS document asks for, in document order."""
    if document.get("type") == "EPCISDocument":
        events = [(f"/epcisBody/eventList/{i}", e) for i, e in enumerate(document["epcisBody"]["eventList"])]
    elif document.get("type") == "ObjectEvent":
        events = [("", document)]
    else:
        events = []
    changes = []
    for where, event in events:
        if event.get("type") != "ObjectEvent" or event.get("action") == "DELETE":
            continue
        disposition, step = _term(event.get("disposition"), "Disp"), _term(event.get("bizStep"), "BizStep")
        if disposition in HOLD_DISPOSITIONS:
            action = HELD
        elif disposition in RELEASE_DISPOSITIONS and (step in QUALITY_STEPS or disposition == "conformant"):
            action = RELEASED
        else:
            continue
        for i, element in enumerate(event.get("quantityList") or []):
            found = _material_lot(element.get("epcClass"))
            if found:
                changes.append(LotChange(action, found[0], found[1], _plant(event),
                                         _reason(event) or f"{disposition} at {step or 'no step'}",
                                         f"{where}/quantityList/{i}/epcClass"))
    return changes


# Capture ------------------------------------------------------------------------------------------


class LotNotOnHold(Exception):
    def __init__(self, change: LotChange):
        self.change = change


def capture(system: str, idempotency_key: str, document: object) -> Answer:
    """Capture an EPCIS document once per idempotency key: 202 with a capture ID.

    Invalid documents (400) and releases of lots that are not on hold (409) are not recorded, so
    the sender may correct them and retry with the same key.
    """

    def apply() -> tuple[str, Answer]:
        errors = schema_errors(document)
        if errors:
            raise Refused(epcis_error(400, "ValidationException", "Invalid EPCIS document",
                                      f"{len(errors)} error(s) against the EPCIS 2.0 JSON Schema", errors))
        changes = lot_changes(document)
        capture_id = f"CAP-{NumberRange.take_next(QMS):06d}"
        try:
            applied = [_apply(system, change, capture_id) for change in changes]
        except LotNotOnHold as e:
            raise Refused(epcis_error(
                409, "qms:LotNotOnHold", "Lot not on hold",
                f"lot {e.change.lot} of material {e.change.material} is not on hold, so it cannot be released; "
                "nothing in this document was captured", [{"pointer": e.change.pointer, "detail": "not on hold"}],
            )) from None
        body = {"captureID": capture_id, "status": "captured", "holds": applied}
        return capture_id, Answer(202, body, {"Location": f"/sandbox/{system}/epcis/capture/{capture_id}"})

    return apply_once(system=system, idempotency_key=idempotency_key, operation=CAPTURE, request=document,
                      apply=apply)


def _apply(system: str, change: LotChange, reference: str) -> dict:
    """Place or release one hold (inside the caller's transaction); raises LotNotOnHold."""
    record = Record.objects.select_for_update().filter(system=system, kind=HOLD, key=change.key).first()
    held = record is not None and record.data.get("status") == HELD
    if change.action == RELEASED and not held:
        raise LotNotOnHold(change)
    now = timezone.now().isoformat()
    data = record.data if record else {"material": change.material, "lot": change.lot, "history": []}
    if change.action == HELD and not held:
        data.update(status=HELD, plant=change.plant, reason=change.reason, placed_at=now, released_at=None)
    elif change.action == RELEASED:
        data.update(status=RELEASED, released_at=now)
    data["history"].append({"action": change.action, "reason": change.reason, "reference": reference, "at": now})
    Record.objects.update_or_create(system=system, kind=HOLD, key=change.key, defaults={"data": data})
    return {"material": change.material, "lot": change.lot, "status": data["status"],
            "already": change.action == HELD and held}


def holds(system: str) -> list[dict]:
    return [{"key": r.key, **r.data} for r in Record.objects.filter(system=system, kind=HOLD)]


# Quality decisions of the QMS itself --------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    plant: str
    material: str
    lot: str
    reason: str
    usage_decision: str


def decision_parse(payload: object, action: str) -> Decision | Answer:
    """Read {plant, material, lot, reason, usage_decision?}; 400 naming each bad field."""
    if not isinstance(payload, dict):
        return epcis_error(400, "qms:BadRequest", "Bad request", "body must be a JSON object")
    errors = []
    for name, limit in (("plant", 16), ("material", 40), ("lot", 40), ("reason", 200)):
        value = payload.get(name)
        optional = name == "reason" and action == RELEASED
        if (value is None and optional) or (isinstance(value, str) and value.strip() and len(value) <= limit):
            continue
        errors.append({"pointer": f"/{name}", "detail": f"must be a non-empty string of at most {limit} characters"})
    decision = payload.get("usage_decision", "use_as_is" if action == RELEASED else "pending")
    if decision not in DECISIONS:
        errors.append({"pointer": "/usage_decision", "detail": f"must be one of {', '.join(DECISIONS)}"})
    if errors:
        return epcis_error(400, "qms:BadRequest", "Bad request", f"{len(errors)} invalid field(s)", errors)
    return Decision(payload["plant"], payload["material"], payload["lot"], payload.get("reason") or "", decision)


def decide(system: str, action: str, decision: Decision) -> Answer:
    """Place (HELD) or release (RELEASED) a hold in the QMS and push the EPCIS event to the tower.

    201 with the event and the tower's reply; 409 without an outbound link (nothing changes), or
    when the lot is already on hold / not on hold; 502 if the tower cannot be reached, in which
    case the decision stands in the QMS, as it would in a real one.
    """
    if not OutboundLink.objects.filter(system=system).exists():
        return epcis_error(409, "qms:NoOutboundLink", "No outbound link",
                           f"{system} has no outbound link to the Control Tower; PUT /sandbox/{system}/outbound")
    document = decision_document(action, decision)
    event = document["epcisBody"]["eventList"][0]
    change = LotChange(action, decision.material, decision.lot, decision.plant, decision.reason or action,
                       "/lot")
    with db_transaction.atomic():
        record = Record.objects.select_for_update().filter(system=system, kind=HOLD, key=change.key).first()
        if action == HELD and record is not None and record.data.get("status") == HELD:
            return epcis_error(409, "qms:LotOnHold", "Lot already on hold",
                               f"lot {decision.lot} of material {decision.material} is already on hold")
        try:
            _apply(system, change, event["eventID"])
        except LotNotOnHold:
            return epcis_error(409, "qms:LotNotOnHold", "Lot not on hold",
                               f"lot {decision.lot} of material {decision.material} is not on hold")
    answer = {"event_id": event["eventID"], "lot": decision.lot, "material": decision.material,
              "status": action, "document": document}
    try:
        reply = push_document(system, json.dumps(document).encode(), "application/ld+json")
    except httpx.HTTPError as e:
        return Answer(502, {**answer, "type": "qms:TowerUnreachable", "title": "Tower unreachable",
                            "status": 502, "detail": f"{type(e).__name__}: {e}"})
    try:
        tower_body = reply.json()
    except ValueError:
        tower_body = reply.text
    return Answer(201, {**answer, "tower": {"status_code": reply.status_code, "body": tower_body}})


def decision_document(action: str, decision: Decision) -> dict:
    """The EPCISDocument this QMS sends for a decision: one ObjectEvent at the plant, about the lot."""
    now = timezone.now().astimezone(dt.UTC)
    if action == HELD:
        disposition, extensions = "non_conformant", {"qms:holdReason": decision.reason}
    else:
        disposition = "conformant" if decision.usage_decision == "use_as_is" else "active"
        extensions = {"qms:releaseReason": decision.reason} if decision.reason else {}
    extensions["qms:usageDecision"] = decision.usage_decision
    event = {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:{uuid.uuid4()}",
        "eventTime": now.isoformat(timespec="milliseconds"),
        "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE",
        "bizStep": "inspecting",
        "disposition": disposition,
        "readPoint": {"id": f"{TOWER_IDS}plant/{quote(decision.plant, safe='')}"},
        "bizLocation": {"id": f"{TOWER_IDS}plant/{quote(decision.plant, safe='')}"},
        "quantityList": [{"epcClass": _lot_class(decision.material, decision.lot)}],
        **extensions,
    }
    return {
        "@context": [CONTEXT_URL, {"qms": QMS_NS}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": now.isoformat(timespec="milliseconds"),
        "epcisBody": {"eventList": [event]},
    }


def _lot_class(material: str, lot: str) -> str:
    if material.isdigit() and len(material) in (8, 12, 13, 14):
        return f"https://id.gs1.org/01/{material.zfill(14)}/10/{quote(lot, safe='')}"
    return f"{TOWER_IDS}material/{quote(material, safe='')}/lot/{quote(lot, safe='')}"
