"""An MES that speaks ISA-95 B2MML XML: schedules out (V0700), performance in (V0700, V0600, V0401).

Outbound (tower → MES), POSTed as `application/xml` to `{base_url}/b2mml/operations-schedule`:

| canonical event | B2MML V0700 `OperationsSchedule` (OperationsType `Production`) |
|---|---|
| `production_order.released` | one `OperationsRequest` (ID = order number, StartTime/EndTime = scheduled start/end, site = plant, RequestState `Released`); one `SegmentRequirement` per routing operation (ID = ProcessSegmentID = OperationsSegmentID = operation, EarliestStartTime/LatestEndTime = the order's window, the work center as `EquipmentRequirement` at level WorkCenter); the components as `MaterialRequirement`s `Consumed` on the first operation, the order's material `Produced` on the last one |
| `production_order.changed` | the same request ID with only what changed: StartTime/EndTime, Priority, and a `Produced` requirement with the new quantity; no RequestState (a change does not change the state) |
| `production_order.cancelled` | the same request ID with RequestState `Cancelled` (ISA-95's request state for it) and the reason as its Description |

V0700 requires at least one `SegmentRequirement` per request, each with ProcessSegmentID,
OperationsDefinitionID and OperationsSegmentID. A change or a cancel carries no routing, so its
request has one segment standing for the whole order: all four IDs are the order number.
`OperationsDefinitionID` is the order number throughout: the order's own routing, as released.
Every document is validated against `B2MML-OperationsSchedule.xsd` before it is sent; one that
fails is a permanent error with the XSD message, so a bug never reaches a plant.

Inbound (MES → tower), recognised by root element and namespace:

- V0700 `OperationsPerformance` and its `Sync`/`Process`/`Show` BODs (`http://www.mesa.org/xml/B2MML`),
- V0600 `ProductionPerformance` and BODs (`http://www.mesa.org/xml/B2MML-V0600`),
- V0401 `ProductionPerformance` and BODs (`http://www.wbf.org/xml/B2MML-V0401`).

Each is validated against the root schema of its version. Schedules of any version are refused
(the MES receives them); anything else is refused naming its root and namespace. Every refusal is
a 422 problem; the API keeps the document in quarantine.

Each `SegmentResponse` (nested ones included) gives:

- `operation.completed` when it is finished (SegmentState `Completed`/`Closed`, or no state) and
  says so: by that state, or by reporting a yield. Operation = SegmentRequirementID, else
  ProcessSegmentID, else OperationsSegmentID, else its ID. Work center = its first
  EquipmentActual's EquipmentID, else the equipment of its own hierarchy scope. Yield and scrap =
  the produced MaterialActuals' quantities (a Quantity whose Key is Scrap/Reject counts as scrap),
  else its SegmentData/ProductionData `Yield` and `Scrap` values, else 0.
- `material.issued` for each consumed MaterialActual with a quantity > 0: material =
  MaterialDefinitionID, lot = MaterialLotID, location = its StorageLocation/Location, else its own
  hierarchy scope, else the segment's equipment, else the segment's process segment: the MES's
  point of use, which a `location` value mapping for the MES turns into a storage location.

One `production.completed` per response (order) when its ResponseState (or, without one, the
document's PerformanceState) is `Completed`/`Closed`, or when a finished segment reports a
produced MaterialActual (MaterialUse `Produced`, `Yield Produced` or `Material Produced`): the
tower's schedule lists the produced material only on the last operation, so that is how the MES
reports the final operation's output; intermediate operations report their yield as
SegmentData. Material and lot = the last produced MaterialActual; good and scrap = the sums for
that material.

Order number = the segment's OperationsRequestID, else the response's OperationsRequestID /
ProductionRequestID, else the response's ID (MESs that answer per order, such as the Courbon
example, use the order as the response ID). Plant = the EquipmentID at level `Site` of the
nearest hierarchy scope (or legacy Location) — segment, response, document — else the system's
only plant. Time = the segment's ActualEndTime (the response's EndTime for
`production.completed`), else the document's PublishedDate, else the BOD's CreationDateTime;
naive times are in the plant's time zone. Event IDs are the document ID (else the BOD ID, else a
hash of the document), response, segment and kind: a re-sent document is a duplicate.

A document that lacks what a mapping needs (no order, no plant, no work center, a quantity without
a unit…) is refused as a whole, naming each place; nothing of it is ingested. A document that maps
is then judged event by event, like a batch: each event meets its contract or is refused (and kept
in quarantine with the document) beside the others, and re-sending the corrected document adds
only what was refused, since the accepted events come back as duplicates.
"""

import hashlib
import uuid
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal
from xml.etree import ElementTree as ET

from django.utils import timezone

from integrations.connectors.b2mml import (
    NS_V0401,
    NS_V0600,
    NS_V0700,
    OPERATIONS_SCHEDULE_XSD,
    ROOT_SCHEMAS,
    VERSION_OF,
    Builder,
    Reader,
    bod_parts,
    json_number,
    parse_datetime,
    parse_decimal,
    serialize,
    split_tag,
    to_lxml,
    validate,
    xml_datetime,
)
from integrations.connectors.base import Connector, ConnectorError, OutboundEvent, Receipt

SCHEDULE_PATH = "/b2mml/operations-schedule"
PRODUCED_USES = frozenset({"Produced", "Yield Produced", "Material Produced"})
CONSUMED_USES = frozenset({"Consumed", "Material Consumed"})
FINISHED_STATES = frozenset({"Completed", "Closed"})
SCRAP_KEYS = frozenset({"scrap", "scrapped", "reject", "rejected"})
YIELD_DATA_IDS = frozenset({"yield", "good", "yieldquantity", "goodquantity", "quantitygood"})
SCRAP_DATA_IDS = frozenset({"scrap", "scrapquantity", "reject", "rejected", "quantityscrap"})
SCHEDULE_NOUNS = frozenset({"OperationsSchedule", "ProductionSchedule", "OperationsRequest", "ProductionRequest"})
PERFORMANCE_VERBS = (None, "Sync", "Process", "Show")
NON_SITE_LEVELS = frozenset({"Enterprise", "Site", "Area"})
ZERO_UOM = "EA"  # the unit of a zero yield when the MES reports no quantity at all
MAX_EVENT_ID = 200


@dataclass(frozen=True)
class Dialect:
    """Where one B2MML release keeps what the mapping reads."""

    noun: str
    response: str
    request_ref: str
    child_segment: str
    segment_data: str
    legacy_actuals: bool


DIALECTS = {
    NS_V0700: Dialect("OperationsPerformance", "OperationsResponse", "OperationsRequestID", "SegmentResponseChild",
                      "SegmentData", legacy_actuals=False),
    NS_V0600: Dialect("ProductionPerformance", "ProductionResponse", "ProductionRequestID", "SegmentResponse",
                      "ProductionData", legacy_actuals=True),
    NS_V0401: Dialect("ProductionPerformance", "ProductionResponse", "ProductionRequestID", "SegmentResponse",
                      "ProductionData", legacy_actuals=True),
}


def _problem(status: int, title: str, detail: str, errors: list[dict], slug: str):
    from controltower.api import Problem

    return Problem(status, title, detail, errors, slug=slug)


class MesB2mmlConnector(Connector):
    # Outbound ------------------------------------------------------------------------------------

    def deliver(self, event: OutboundEvent) -> Receipt:
        build = {
            "production_order.released": self._released,
            "production_order.changed": self._changed,
            "production_order.cancelled": self._cancelled,
        }.get(event.event_type)
        if build is None:
            raise self.unsupported(event)
        try:
            body = serialize(build(event))
        except (KeyError, TypeError, ValueError) as e:
            raise ConnectorError(f"{event.event_type} for {self.system.code} cannot be written as B2MML: {e!r}",
                                 permanent=True, error_class="invalid_document") from e
        # Validated as sent (the serialised bytes), so line numbers point into the body.
        errors = validate(body, OPERATIONS_SCHEDULE_XSD)
        if errors:
            listing = "\n".join(f"{error} (at {error.path})" for error in errors)
            raise ConnectorError(
                f"OperationsSchedule for {event.business_key or event.data.get('order_number')} does not validate "
                f"against B2MML-OperationsSchedule.xsd: {errors[0]}", permanent=True,
                response_excerpt=listing, error_class="invalid_document")
        response = self.post(SCHEDULE_PATH, event=event, content=body,
                             headers={"Content-Type": "application/xml; charset=utf-8"})
        return Receipt(target_reference=self._schedule_id(response, event), http_status=response.status_code,
                       response_excerpt=response.text[:500])

    @staticmethod
    def _schedule_id(response, event: OutboundEvent) -> str:
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if isinstance(answer, dict) and answer.get("ScheduleID"):
            return str(answer["ScheduleID"])
        return response.headers.get("Location", "") or event.idempotency_key

    def _schedule(self, b: Builder, event: OutboundEvent, description: str):
        data = event.data
        root = b.element("OperationsSchedule")
        b.sub(root, "ID", event.idempotency_key)
        b.sub(root, "Description", description)
        b.sub(root, "PublishedDate", xml_datetime(timezone.now()))
        if data.get("scheduled_start"):
            b.sub(root, "StartTime", xml_datetime(data["scheduled_start"]))
        if data.get("scheduled_end"):
            b.sub(root, "EndTime", xml_datetime(data["scheduled_end"]))
        b.hierarchy_scope(root, data["plant"], "Site")
        b.sub(root, "OperationsType", "Production")
        request = b.sub(root, "OperationsRequest")
        b.sub(request, "ID", data["order_number"])
        return root, request

    def _request_head(self, b: Builder, request, data: dict, state: str | None, description: str = "") -> None:
        """The request's elements before its segments, in schema order."""
        if description:
            b.sub(request, "Description", description)
        if data.get("scheduled_start"):
            b.sub(request, "StartTime", xml_datetime(data["scheduled_start"]))
        if data.get("scheduled_end"):
            b.sub(request, "EndTime", xml_datetime(data["scheduled_end"]))
        b.hierarchy_scope(request, data["plant"], "Site")
        b.sub(request, "OperationsType", "Production")
        if data.get("priority") is not None:
            b.sub(request, "Priority", str(int(data["priority"])))
        if state:
            b.sub(request, "RequestState", state)
        b.sub(request, "OperationsDefinitionID", data["order_number"])

    def _segment(self, b: Builder, request, segment_id: str, data: dict, state: str | None = None):
        segment = b.sub(request, "SegmentRequirement")
        b.sub(segment, "ID", segment_id)
        if data.get("scheduled_start"):
            b.sub(segment, "EarliestStartTime", xml_datetime(data["scheduled_start"]))
        if data.get("scheduled_end"):
            b.sub(segment, "LatestEndTime", xml_datetime(data["scheduled_end"]))
        b.sub(segment, "OperationsType", "Production")
        b.sub(segment, "ProcessSegmentID", segment_id)
        b.sub(segment, "OperationsDefinitionID", data["order_number"])
        b.sub(segment, "OperationsSegmentID", segment_id)
        if state:
            b.sub(segment, "SegmentState", state)
        return segment

    @staticmethod
    def _material(b: Builder, segment, requirement_id: str, material: str | None, use: str, value, uom: str,
                  lot_controlled: bool | None = None) -> None:
        requirement = b.sub(segment, "MaterialRequirement")
        b.sub(requirement, "ID", requirement_id)
        if material:
            b.sub(requirement, "MaterialDefinitionID", material)
        b.sub(requirement, "MaterialUse", use)
        b.quantity(requirement, value, uom)
        if lot_controlled is not None:
            prop = b.sub(requirement, "MaterialRequirementProperty")
            b.sub(prop, "ID", "LotControlled")
            b.value(prop, "true" if lot_controlled else "false", "boolean")

    def _released(self, event: OutboundEvent):
        data, b = event.data, Builder()
        order = data["order_number"]
        root, request = self._schedule(b, event, f"Production order {order} released")
        self._request_head(b, request, data, "Released")
        # Without a routing the whole order is one segment, as for a change or a cancel.
        routing = data.get("routing") or [{"operation": order, "work_center": ""}]
        for index, step in enumerate(routing):
            segment = self._segment(b, request, step["operation"], data)
            if step.get("work_center"):
                equipment = b.sub(segment, "EquipmentRequirement")
                b.sub(equipment, "ID", step["work_center"])
                b.sub(equipment, "EquipmentID", step["work_center"])
                b.sub(equipment, "EquipmentLevel", "WorkCenter")
            if index == 0:
                for number, component in enumerate(data.get("components") or [], start=1):
                    self._material(b, segment, f"C{number * 10:04d}", component["material"], "Consumed",
                                   component["quantity"], component["uom"], component.get("lot_controlled"))
            if index == len(routing) - 1:
                self._material(b, segment, "P0010", data["material"], "Produced", data["quantity"]["value"],
                               data["quantity"]["uom"])
        return root

    def _changed(self, event: OutboundEvent):
        data, b = event.data, Builder()
        order = data["order_number"]
        root, request = self._schedule(b, event, f"Production order {order} changed")
        self._request_head(b, request, data, None, "changed: " + ", ".join(
            name for name in ("quantity", "scheduled_start", "scheduled_end", "priority") if name in data))
        segment = self._segment(b, request, order, data)
        if data.get("quantity"):
            self._material(b, segment, "P0010", None, "Produced", data["quantity"]["value"], data["quantity"]["uom"])
        return root

    def _cancelled(self, event: OutboundEvent):
        data, b = event.data, Builder()
        order = data["order_number"]
        root, request = self._schedule(b, event, f"Production order {order} cancelled")
        self._request_head(b, request, data, "Cancelled", data.get("reason") or "cancelled")
        self._segment(b, request, order, data, state="Cancelled")
        return root

    # Inbound -------------------------------------------------------------------------------------

    def parse_inbound(self, document) -> list[dict]:
        if not isinstance(document, ET.Element):
            raise _problem(422, "Unrecognised document", f"{self.system.code} sends B2MML XML, not JSON.",
                           [{"pointer": "/", "detail": "send application/xml: a B2MML OperationsPerformance "
                                                       "(V0700) or ProductionPerformance (V0600, V0401)"}],
                           slug="unrecognised-document")
        namespace, local = split_tag(document.tag)
        verb, noun = bod_parts(local)
        version = VERSION_OF.get(namespace)
        if version and noun in SCHEDULE_NOUNS:
            raise _problem(422, "Schedule not accepted", "A schedule is sent to the MES, not by it.",
                           [{"pointer": f"/{local}", "detail": f"a schedule is sent to the MES, not by it: {local} "
                                                               f"(B2MML {version}, {namespace})"}],
                           slug="unrecognised-document")
        dialect = DIALECTS.get(namespace)
        if dialect is None or dialect.noun != noun:
            known = "V0700 OperationsPerformance, V0600 or V0401 ProductionPerformance (or their Sync/Process BODs)"
            what = f"B2MML {version} {local}" if version else f"{local} in namespace {namespace or '(none)'}"
            raise _problem(422, "Unrecognised document", f"{self.system.code} ({self.system.adapter}) does not map "
                           f"{what}.", [{"pointer": f"/{local}", "detail": f"root {local!r}, namespace "
                                         f"{namespace or '(none)'!r}; accepted: {known}"}],
                           slug="unrecognised-document")
        if verb not in PERFORMANCE_VERBS:
            raise _problem(422, "Unrecognised document", f"The verb {verb} is not taken for {noun}.",
                           [{"pointer": f"/{local}", "detail": f"{local}: send {noun}, or Sync/Process/Show{noun}"}],
                           slug="unrecognised-document")
        self._validate(document, ROOT_SCHEMAS[(namespace, noun)], version, local, bod=verb is not None)
        return _Mapping(self.system, document, Reader(namespace), dialect, local, verb is not None).events()

    @staticmethod
    def _validate(document, xsd: str, version: str, local: str, *, bod: bool) -> None:
        tree = to_lxml(document)
        # Lenient on one attribute: `releaseID` is required on every BOD wrapper but names only the
        # OAGIS release of the envelope; it carries no business data and the tower reads none of it.
        # The official Courbon V0401 example (PES-…-53107.xml) omits it, so a missing releaseID is
        # accepted as if empty; every other rule of the schema is enforced.
        if bod and tree.get("releaseID") is None:
            tree.set("releaseID", "")
        errors = validate(tree, xsd)
        if errors:
            raise _problem(422, "Invalid B2MML", f"{local} does not validate against the B2MML {version} schema "
                           f"{xsd.rsplit('/', 1)[-1]} (lines count from the root element).",
                           [{"pointer": error.path, "detail": str(error)} for error in errors],
                           slug="invalid-document")


@dataclass
class _Segment:
    element: ET.Element
    path: str
    key: str


@dataclass
class _Mapping:
    """One inbound document turned into CloudEvents, or the list of what stops it."""

    system: object
    root: ET.Element
    r: Reader
    dialect: Dialect
    local: str
    bod: bool
    events_out: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    used_ids: set = field(default_factory=set)
    system_plants: list = field(default_factory=list)
    _plant_zones: dict = field(default_factory=dict)

    def events(self) -> list[dict]:
        self.system_plants = list(self.system.plants.values_list("code", flat=True))
        if self.bod:
            data_area = self.r.child(self.root, "DataArea")
            performances = self.r.children(data_area, self.dialect.noun)
            base = f"/{self.local}/DataArea/{self.dialect.noun}"
            paths = [f"{base}[{i}]" for i in range(1, len(performances) + 1)]
            bod_id = self.r.text(self.root, "ApplicationArea", "BODID")
            created = self.r.text(self.root, "ApplicationArea", "CreationDateTime")
        else:
            performances, paths, bod_id, created = [self.root], [f"/{self.local}"], "", ""
        digest = hashlib.sha256(ET.tostring(self.root)).hexdigest()[:20]
        for index, (performance, path) in enumerate(zip(performances, paths, strict=True), start=1):
            doc_key = self.r.text(performance, "ID") or (f"{bod_id}/{index}" if bod_id else f"sha256:{digest}/{index}")
            self._performance(performance, path, doc_key, created)
        if self.errors:
            raise _problem(422, "Unmappable document", f"{self.local} lacks what the mapping to canonical events "
                           "needs; nothing of it was ingested.", self.errors, slug="unmappable-document")
        return self.events_out

    # Walking ------------------------------------------------------------------------------------

    def _performance(self, performance, path: str, doc_key: str, created: str) -> None:
        r, d = self.r, self.dialect
        doc_time = r.text(performance, "PublishedDate") or created
        performance_state = r.text(performance, "PerformanceState")
        responses = r.children(performance, d.response)
        for j, response in enumerate(responses, start=1):
            response_path = f"{path}/{d.response}[{j}]"
            response_key = r.text(response, "ID") or f"R{j}"
            segments = list(self._segments(response, response_path, ""))
            order_ref = (r.texts(response, d.request_ref) or [r.text(response, "ID")])[0]
            completions = []
            for segment in segments:
                completions += self._segment(segment, performance, response, order_ref, doc_key, response_key,
                                             doc_time)
            state = r.text(response, "ResponseState") or performance_state
            if state in FINISHED_STATES or completions:
                self._production_completed(response, response_path, performance, segments, order_ref, doc_key,
                                           response_key, doc_time, state, completions)

    def _segments(self, parent, path: str, key_prefix: str, name: str = "SegmentResponse"):
        """The response's segment responses and, after each, its children (depth first)."""
        for k, segment in enumerate(self.r.children(parent, name), start=1):
            segment_path = f"{path}/{name}[{k}]"
            key = f"{key_prefix}{self.r.text(segment, 'ID') or f'S{k}'}"
            yield _Segment(segment, segment_path, key)
            yield from self._segments(segment, segment_path, key + "/", self.dialect.child_segment)

    def _segment(self, seg: _Segment, performance, response, order_ref: str, doc_key: str, response_key: str,
                 doc_time: str) -> list[tuple]:
        """Emit the segment's events; return its produced actuals if it completes the order."""
        r, element = self.r, seg.element
        order = (r.texts(element, "OperationsRequestID") or [order_ref])[0]
        if not order:
            self._error(seg.path, "no order: give the response an OperationsRequestID/ProductionRequestID or an ID")
            return []
        plant = self._plant([element, response, performance], seg.path)
        if plant is None:
            return []
        operation = self._operation(element)
        state = r.text(element, "SegmentState")
        time = r.text(element, "ActualEndTime") or doc_time
        produced, consumed = self._actuals(element, seg.path)
        finished = state in FINISHED_STATES or not state

        good, scrap = self._yield(produced, element, seg.path)
        if finished and (state in FINISHED_STATES or produced or good is not None):
            work_center = self._work_center(element)
            if not work_center:
                self._error(seg.path, "operation.completed needs a work center: the segment has no EquipmentActual "
                                      "with an EquipmentID and no equipment in its HierarchyScope")
            else:
                uom = (good or scrap or (Decimal(0), ZERO_UOM))[1]
                data = {"order_number": order, "plant": plant, "operation": operation or seg.key,
                        "work_center": work_center,
                        "yield": self._quantity(good or (Decimal(0), uom)),
                        "scrap": self._quantity(scrap or (Decimal(0), uom))}
                self._emit("operation.completed", [doc_key, response_key, seg.key], time, plant, data)

        for number, (actual, actual_path) in enumerate(consumed, start=1):
            self._material_issued(actual, actual_path, element, order, plant, operation or seg.key,
                                  [doc_key, response_key, seg.key, r.text(actual, "ID") or f"M{number}"], time)
        return [(actual, path, element) for actual, path in produced] if finished else []

    def _material_issued(self, actual, path: str, segment, order: str, plant: str, operation: str,
                         key: list[str], time: str) -> None:
        material = self._material_id(actual, path)
        quantities = self._quantities(actual, path)
        if material is None or quantities is None:
            return
        goods = [q for q in quantities if q[2].lower() not in SCRAP_KEYS]
        if not goods:
            self._error(path, "a consumed MaterialActual needs a Quantity with a UnitOfMeasure")
            return
        value, uom, _ = goods[0]
        if value <= 0:
            return  # nothing was taken
        location = (self._material_location(actual) or self._work_center(segment) or operation)
        data = {"order_number": order, "plant": plant, "material": material,
                "quantity": {"value": json_number(value), "uom": uom}, "location": location}
        lots = self.r.texts(actual, "MaterialLotID")
        if lots:
            data["lot"] = lots[0]
        self._emit("material.issued", key, time, plant, data, kind_in_id=True)

    def _production_completed(self, response, path: str, performance, segments: list[_Segment], order_ref: str,
                              doc_key: str, response_key: str, doc_time: str, state: str,
                              completions: list[tuple]) -> None:
        r = self.r
        if not completions and state in FINISHED_STATES:
            for seg in segments:
                completions += [(a, p, seg.element) for a, p in self._actuals(seg.element, seg.path)[0]]
        if not completions:
            self._error(path, f"the response is {state} but reports no produced MaterialActual "
                              "(MaterialUse Produced): production.completed needs the material and quantity")
            return
        last_actual, last_path, last_segment = completions[-1]
        material = self._material_id(last_actual, last_path)
        if material is None:
            return
        good_total, scrap_total, uom, lot = Decimal(0), Decimal(0), None, None
        for actual, actual_path, _ in completions:
            if self._material_id(actual, actual_path) != material:
                continue
            good, scrap = self._yield([(actual, actual_path)], None, actual_path)
            for part in (good, scrap):
                if part and uom and part[1] != uom:
                    self._error(actual_path, f"quantities of {material} in {uom} and {part[1]}: one unit, please")
                    return
                uom = uom or (part[1] if part else None)
            good_total += good[0] if good else 0
            scrap_total += scrap[0] if scrap else 0
            lot = (r.texts(actual, "MaterialLotID") or [lot])[0]
        order = (r.texts(last_segment, "OperationsRequestID") or [order_ref])[0]
        if not order or uom is None:
            self._error(path, "production.completed needs an order reference and a produced quantity with a unit")
            return
        plant = self._plant([last_segment, response, performance], path)
        if plant is None:
            return
        time = r.text(response, "EndTime") or r.text(last_segment, "ActualEndTime") or doc_time
        data = {"order_number": order, "plant": plant, "material": material,
                "quantity_good": {"value": json_number(good_total), "uom": uom},
                "quantity_scrap": {"value": json_number(scrap_total), "uom": uom}}
        if lot:
            data["lot"] = lot
        self._emit("production.completed", [doc_key, response_key], time, plant, data)

    # Reading ------------------------------------------------------------------------------------

    def _actuals(self, segment, path: str) -> tuple[list, list]:
        """(produced, consumed) MaterialActuals of one segment (not its children), with their paths."""
        r = self.r
        produced, consumed = [], []
        for n, actual in enumerate(r.children(segment, "MaterialActual"), start=1):
            use = r.text(actual, "MaterialUse")
            target = produced if use in PRODUCED_USES else consumed if use in CONSUMED_USES else None
            if target is not None:
                target.append((actual, f"{path}/MaterialActual[{n}]"))
        if self.dialect.legacy_actuals:  # V0401's own elements, kept in V0600 "for backward compatibility"
            for name, target in (("MaterialProducedActual", produced), ("MaterialConsumedActual", consumed)):
                for n, actual in enumerate(r.children(segment, name), start=1):
                    target.append((actual, f"{path}/{name}[{n}]"))
        return produced, consumed

    def _quantities(self, element, path: str) -> list[tuple[Decimal, str, str]] | None:
        out = []
        for n, quantity in enumerate(self.r.children(element, "Quantity"), start=1):
            text, uom = self.r.text(quantity, "QuantityString"), self.r.text(quantity, "UnitOfMeasure")
            value = parse_decimal(text)
            if value is None or value < 0:
                self._error(f"{path}/Quantity[{n}]", f"QuantityString {text!r} is not a quantity >= 0")
                return None
            if not uom:
                self._error(f"{path}/Quantity[{n}]", "the quantity has no UnitOfMeasure")
                return None
            out.append((value, uom, self.r.text(quantity, "Key")))
        return out

    def _yield(self, produced: list, segment, path: str) -> tuple[tuple | None, tuple | None]:
        """(good, scrap) as (Decimal, uom) or None, from produced actuals, else the segment's data."""
        good = scrap = None

        def add(total, value, uom, where):
            if total and total[1] != uom:
                self._error(where, f"yield or scrap in {total[1]} and {uom}: one unit, please")
                return total
            return ((total[0] if total else Decimal(0)) + value, uom)

        for actual, actual_path in produced:
            quantities = self._quantities(actual, actual_path) or []
            goods = [q for q in quantities if q[2].lower() not in SCRAP_KEYS]
            scraps = [q for q in quantities if q[2].lower() in SCRAP_KEYS]
            if goods:  # several quantities are one amount in several units: the first counts
                good = add(good, goods[0][0], goods[0][1], actual_path)
            if scraps:
                scrap = add(scrap, scraps[0][0], scraps[0][1], actual_path)
        if produced or segment is None:
            return good, scrap
        for n, data in enumerate(self.r.children(segment, self.dialect.segment_data), start=1):
            name = self.r.text(data, "ID").lower()
            if name not in YIELD_DATA_IDS | SCRAP_DATA_IDS:
                continue
            where = f"{path}/{self.dialect.segment_data}[{n}]"
            text, uom = self.r.text(data, "Value", "ValueString"), self.r.text(data, "Value", "UnitOfMeasure")
            value = parse_decimal(text)
            if value is None or value < 0 or not uom:
                self._error(where, f"{name} needs a Value with a number >= 0 and a UnitOfMeasure")
                continue
            if name in YIELD_DATA_IDS:
                good = add(good, value, uom, where)
            else:
                scrap = add(scrap, value, uom, where)
        return good, scrap

    def _material_id(self, actual, path: str) -> str | None:
        materials = self.r.texts(actual, "MaterialDefinitionID")
        if not materials:
            self._error(path, "the MaterialActual names no MaterialDefinitionID")
            return None
        return materials[0]

    def _operation(self, segment) -> str:
        for name in ("SegmentRequirementID", "ProcessSegmentID", "OperationsSegmentID", "ID"):
            values = self.r.texts(segment, name)
            if values:
                return values[0]
        return ""

    def _scopes(self, element):
        """(EquipmentID, level) of the element's HierarchyScope and legacy Location chains, outermost first."""
        r = self.r
        for name in ("HierarchyScope", "Location"):
            scope = r.child(element, name)
            while scope is not None:
                yield r.text(scope, "EquipmentID"), (r.text(scope, "EquipmentLevel")
                                                     or r.text(scope, "EquipmentElementLevel"))
                scope = next((c for c in (r.child(scope, "HierarchyScopeChild"), r.child(scope, "HierarchyScope"),
                                          r.child(scope, "Location")) if c is not None), None)

    def _equipment(self, element) -> str:
        """The innermost equipment below site level in the element's own scope."""
        found = [equipment for equipment, level in self._scopes(element) if equipment and level not in NON_SITE_LEVELS]
        return found[-1] if found else ""

    def _work_center(self, segment) -> str:
        for actual in self.r.children(segment, "EquipmentActual"):
            ids = self.r.texts(actual, "EquipmentID")
            if ids:
                return ids[0]
        return self._equipment(segment)

    def _material_location(self, actual) -> str:
        storage = self.r.child(actual, "StorageLocation")  # V0700: ResourceLocation, innermost child
        location = ""
        while storage is not None:
            location = self.r.text(storage, "Location") or location
            storage = self.r.child(storage, "LocationChild")
        return location or self._equipment(actual)

    def _plant(self, elements: list, path: str) -> str | None:
        for element in elements:
            for equipment, level in self._scopes(element):
                if level == "Site" and equipment:
                    if self.system_plants and equipment not in self.system_plants:
                        self._error(path, f"the document names site {equipment!r}, but {self.system.code} serves "
                                          f"plant(s) {', '.join(self.system_plants)}")
                        return None
                    return equipment
        if len(self.system_plants) == 1:
            return self.system_plants[0]
        self._error(path, f"no plant: no HierarchyScope at level Site, and {self.system.code} serves "
                          f"{len(self.system_plants)} plants")
        return None

    # Writing ------------------------------------------------------------------------------------

    @staticmethod
    def _quantity(quantity: tuple) -> dict:
        return {"value": json_number(quantity[0]), "uom": quantity[1]}

    def _error(self, pointer: str, detail: str) -> None:
        error = {"pointer": pointer, "detail": detail}
        if error not in self.errors:
            self.errors.append(error)

    def _time(self, text: str, plant: str) -> str | None:
        if plant not in self._plant_zones:
            from controltower.models import Plant

            name = Plant.objects.filter(code=plant).values_list("time_zone", flat=True).first()
            try:
                self._plant_zones[plant] = zoneinfo.ZoneInfo(name) if name else zoneinfo.ZoneInfo("UTC")
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                self._plant_zones[plant] = zoneinfo.ZoneInfo("UTC")
        parsed = parse_datetime(text, self._plant_zones[plant])
        return parsed.isoformat() if parsed else None

    def _emit(self, event_type: str, key: list[str], time: str, plant: str, data: dict,
              kind_in_id: bool = False) -> None:
        parts = key[:-1] + [event_type, key[-1]] if kind_in_id else key + [event_type]
        event_id = "/".join(parts)
        if len(event_id) > MAX_EVENT_ID:
            event_id = f"b2mml-{uuid.uuid5(uuid.NAMESPACE_URL, event_id)}"
        base, n = event_id, 2
        while event_id in self.used_ids:  # two segments with one ID: still one event each
            event_id, n = f"{base}#{n}", n + 1
        self.used_ids.add(event_id)
        event = {"specversion": "1.0", "id": event_id, "source": self.system.code, "type": event_type,
                 "plant": plant, "subject": data["order_number"], "datacontenttype": "application/json",
                 "data": data}
        when = self._time(time, plant)
        if when:
            event["time"] = when
        self.events_out.append(event)
