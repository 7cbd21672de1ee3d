"""GS1 EPCIS 2.0 JSON-LD: validating documents, reading identifiers, building ObjectEvents.

Plain functions with no database access. Validation uses the official single-file JSON Schema in
`integrations/standards/epcis/` with Draft 7 and its format checker: without jsonschema's format
extras a malformed `eventTime` would pass silently, so the validator refuses to run without them.

Identifiers read (GS1 Tag Data Standard URNs and GS1 Digital Link URIs):

- lot classes: `urn:epc:class:lgtin:{company prefix}.{indicator+item ref}.{lot}` and
  `https://id.gs1.org/01/{gtin}/10/{lot}` (any host; the path decides);
- items and item classes without a lot (the lot then comes from `ilmd`'s `cbvmda:lotNumber`):
  `urn:epc:id:sgtin:…`, `urn:epc:idpat:sgtin:{cp}.{item ref}.*`, `https://id.gs1.org/01/{gtin}[/21/…]`;
- locations: `urn:epc:id:sgln:{cp}.{location ref}.{extension}` and `https://id.gs1.org/414/{gln}[/254/…]`.

Materials that are not GTINs and plants, which have no GS1 key in the tower, are written as
`https://controltower.dev/id/material/{material}/lot/{lot}` and `https://controltower.dev/id/plant/{code}`
(URIs in the project's namespace, shaped like Digital Link paths).
"""

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "standards" / "epcis" / "EPCIS-JSON-Schema.json"
CONTEXT_URL = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
CBV = "https://ref.gs1.org/cbv/"
TOWER_IDS = "https://controltower.dev/id/"
TOWER_NS = "https://controltower.dev/epcis/"  # the "ct:" prefix of the tower's own extensions
EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent")
MAX_ERRORS = 50

# Prefixes under which CBV terms may appear: bare ("recalled"), compact ("cbv:Disp-recalled"),
# full ("https://ref.gs1.org/cbv/Disp-recalled"). EPCIS 1.x URNs are refused by the schema.
_CBV_PREFIXES = {"disposition": "Disp-", "bizStep": "BizStep-", "errorReason": "ER-"}


# Validation ---------------------------------------------------------------------------------------


@cache
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


@cache
def validator() -> Draft7Validator:
    """The EPCIS 2.0 validator with format checks; raises if the format extras are missing."""
    checker = Draft7Validator.FORMAT_CHECKER
    missing = {"date-time", "uri"} - set(checker.checkers)
    if missing:
        raise RuntimeError(f"jsonschema cannot check formats {sorted(missing)}: install jsonschema[format-nongpl]")
    return Draft7Validator(schema(), format_checker=checker)


def pointer(path) -> str:
    """A JSON Pointer (RFC 6901) for a path of keys and indexes."""
    return "".join(f"/{str(part).replace('~', '~0').replace('/', '~1')}" for part in path) or "/"


def schema_errors(document: object) -> list[dict]:
    """Every way `document` breaks the EPCIS 2.0 JSON Schema, as [{pointer, detail}] in document order.

    An anyOf/oneOf failure points at the alternative that came closest, not at the whole event
    (whose text the validator would otherwise repeat); the same error is reported once.
    """
    found: dict[tuple[str, str], None] = {}
    for error in validator().iter_errors(document):
        if error.context:  # anyOf / oneOf
            error = best_match(error.context)
        path = list(error.absolute_path)
        detail = error.message
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else ""
            path.append(missing)
            detail = f"'{missing}' is required"
        elif len(detail) > 300:
            detail = f"{detail[:300]}…"
        found[(pointer(path), detail)] = None
    return [{"pointer": where, "detail": detail} for where, detail in sorted(found)][:MAX_ERRORS]


def events_of(document: dict) -> list[tuple[str, dict]]:
    """(pointer, event) for each event of an EPCISDocument, EPCISQueryDocument or bare event."""
    kind = document.get("type")
    if kind == "EPCISDocument":
        base, events = "/epcisBody/eventList", document.get("epcisBody", {}).get("eventList", [])
    elif kind == "EPCISQueryDocument":
        base = "/epcisBody/queryResults/resultsBody/eventList"
        events = document.get("epcisBody", {}).get("queryResults", {}).get("resultsBody", {}).get("eventList", [])
    else:
        return [("", document)]
    return [(f"{base}/{index}", event) for index, event in enumerate(events) if isinstance(event, dict)]


# Vocabulary and identifiers -----------------------------------------------------------------------


def cbv_term(value: object, field: str) -> str:
    """A CBV disposition, business step or error reason as its bare term ("recalled"); other URIs unchanged."""
    if not isinstance(value, str):
        return ""
    prefix = _CBV_PREFIXES[field]
    for start in (CBV + prefix, "cbv:" + prefix):
        if value.startswith(start):
            return value[len(start):]
    return value


def gs1_check_digit(digits: str) -> str:
    """The GS1 mod-10 check digit for `digits` (a GTIN or GLN without its check digit)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def is_gtin(value: str) -> bool:
    return value.isdigit() and len(value) in (8, 12, 13, 14) and gs1_check_digit(value[:-1]) == value[-1]


@dataclass(frozen=True)
class ClassRef:
    """What an EPC or EPC class names: a material (a GTIN-14 or the tower's material) and maybe a lot."""

    material: str
    lot: str | None


_TDS_CLASS = re.compile(r"^urn:epc:(?:class:lgtin|id:sgtin|idpat:sgtin):(\d+)\.(\d+)\.(.+)$")
_DL_GTIN = re.compile(r"(?:^|/)01/(\d{8,14})(?:/22/[^/]+)?(?:/10/([^/]+))?(?:/21/[^/]+)?/?$")
_TOWER_CLASS = re.compile(r"^/id/material/([^/]+)(?:/lot/([^/]+))?/?$")


def class_ref(uri: object) -> ClassRef | None:
    """The material and lot an EPC, EPC class or pattern names, or None if it names neither."""
    if not isinstance(uri, str):
        return None
    tds = _TDS_CLASS.match(uri)
    if tds:
        company, item, rest = tds.groups()
        if len(company) + len(item) != 13:
            return None
        gtin = item[0] + company + item[1:]
        lot = unquote(rest) if uri.startswith("urn:epc:class:lgtin:") else None
        return ClassRef(gtin + gs1_check_digit(gtin), lot or None)
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return None
    if uri.startswith(TOWER_IDS):
        tower = _TOWER_CLASS.match(parts.path)
        if tower:
            return ClassRef(unquote(tower.group(1)), unquote(tower.group(2)) if tower.group(2) else None)
        return None
    link = _DL_GTIN.search(parts.path)
    if link:
        gtin = link.group(1).zfill(14)
        return ClassRef(gtin, unquote(link.group(2)) if link.group(2) else None)
    return None


_SGLN = re.compile(r"^urn:epc:id:sgln:(\d+)\.(\d*)\.(.*)$")
_DL_GLN = re.compile(r"(?:^|/)414/(\d{13})(?:/254/[^/]+)?/?$")


def gln_of(location: str) -> str | None:
    """The 13-digit GLN of an SGLN or a Digital Link location URI, or None."""
    sgln = _SGLN.match(location)
    if sgln and len(sgln.group(1)) + len(sgln.group(2)) == 12:
        digits = sgln.group(1) + sgln.group(2)
        return digits + gs1_check_digit(digits)
    if location.startswith(("http://", "https://")):
        link = _DL_GLN.search(urlsplit(location).path)
        if link:
            return link.group(1)
    return None


def tower_plant(location: str) -> str | None:
    """The plant code of a `https://controltower.dev/id/plant/{code}` location, or None."""
    start = TOWER_IDS + "plant/"
    if location.startswith(start):
        code = unquote(location[len(start):].strip("/"))
        return code if code and "/" not in code else None
    return None


def lot_class_uri(material: str, lot: str) -> str:
    """The EPC class of one lot: a GS1 Digital Link if the material is a GTIN, else the tower's URI.

    (An LGTIN URN would need the GS1 company prefix length, which a GTIN alone does not tell.)
    """
    if is_gtin(material):
        return f"https://id.gs1.org/01/{material.zfill(14)}/10/{quote(lot, safe='')}"
    return f"{TOWER_IDS}material/{quote(material, safe='')}/lot/{quote(lot, safe='')}"


def plant_location_uri(plant: str) -> str:
    return f"{TOWER_IDS}plant/{quote(plant, safe='')}"


# Times and identities -----------------------------------------------------------------------------


def parse_offset(offset: object) -> timezone | None:
    match = re.fullmatch(r"([+-])(\d\d):(\d\d)", offset) if isinstance(offset, str) else None
    if not match:
        return None
    sign = -1 if match.group(1) == "-" else 1
    return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))


def parse_time(value: str) -> datetime:
    """An RFC 3339 date-time (as the schema's format check accepts it) as an aware datetime."""
    text = value.upper()
    # Python reads at most six fractional digits; RFC 3339 allows any number.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def event_time(event: dict) -> str:
    """`eventTime` as ISO 8601 in the event's own `eventTimeZoneOffset` (or as sent)."""
    moment = parse_time(event["eventTime"])
    offset = parse_offset(event.get("eventTimeZoneOffset"))
    try:
        return (moment.astimezone(offset) if offset else moment).isoformat()
    except OverflowError:  # 9999-12-31T23:59:59-10:00 has no later local time
        return moment.isoformat()


def event_identity(event: dict) -> str:
    """The event's `eventID`, else a SHA-256 of its content, so a re-sent event keeps its identity.

    `recordTime` (set by whoever stored it) and `errorDeclaration` (added later to the same event)
    are left out of the hash. The hash is the tower's own, not the EPCIS event hash algorithm.
    """
    if isinstance(event.get("eventID"), str) and event["eventID"]:
        return event["eventID"]
    content = {k: v for k, v in event.items() if k not in ("recordTime", "errorDeclaration")}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f"sha256:{digest}"


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _offset(moment: datetime) -> str:
    minutes = int(moment.utcoffset().total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


# Building documents -------------------------------------------------------------------------------


def object_event(*, event_id: str, when: datetime, action: str = "OBSERVE", biz_step: str, disposition: str,
                 epc_classes: list[str], location: str, extensions: dict | None = None) -> dict:
    """One ObjectEvent about lots (quantityList), observed at `location` (readPoint and bizLocation)."""
    if when.tzinfo is None:
        raise ValueError("an EPCIS eventTime needs a time zone")
    return {
        "type": "ObjectEvent",
        "eventID": event_id,
        "eventTime": _iso(when),
        "eventTimeZoneOffset": _offset(when),
        "action": action,
        "bizStep": biz_step,
        "disposition": disposition,
        "readPoint": {"id": location},
        "bizLocation": {"id": location},
        "quantityList": [{"epcClass": uri} for uri in epc_classes],
        **(extensions or {}),
    }


def epcis_document(events: list[dict], *, created: datetime, namespaces: dict[str, str] | None = None,
                   sender: str = "", receiver: str = "") -> dict:
    """An EPCISDocument (schema 2.0) holding `events`; `namespaces` adds prefixes for extensions."""
    document = {
        "@context": [CONTEXT_URL, namespaces] if namespaces else [CONTEXT_URL],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _iso(created),
    }
    if sender:
        document["sender"] = sender
    if receiver:
        document["receiver"] = receiver
    document["epcisBody"] = {"eventList": events}
    return document
