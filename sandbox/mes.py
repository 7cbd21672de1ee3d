"""The simulated MES: takes B2MML V0700 OperationsSchedules, holds the orders, reports performance.

Receiving a schedule (``schedule_receive``), once per idempotency key:

- the body is parsed safely (defusedxml: no DTD, no entities) and validated against the official
  ``B2MML-OperationsSchedule.xsd`` the tower ships (``integrations/standards/b2mml``);
- every request must be ``Production`` work for the MES's own plant: ``MES-P1000`` (and
  ``MES-P1000-…``) serves plant 1000 only; a code without ``-P<plant>`` (``MES-T-…``) serves any;
- a request with RequestState ``Cancelled`` cancels an order the MES holds; one it does not hold is
  refused. A request for a held order changes what it carries (dates, priority, quantity,
  operations); a request for an unknown order creates it and must name its produced material;
- all requests are checked before any is applied: one refusal refuses the document (422, nothing
  recorded, so the sender may correct it and retry with the same key);
- the schedule is kept (Record kind ``schedule``), each order too (kind ``order``), and the ledger
  gets one entry per key; the same key again answers the stored response (200, replayed).

Answers are JSON in B2MML's words (ConfirmBOD's Success/Failure, ErrorMessage's ErrorDescription).

Reporting (``performance_simulate``): the MES builds a V0700 OperationsPerformance for operations of
an order it holds, validates it against the official XSD and pushes it to the tower's
``/api/v1/inbound/{code}`` with its outbound link's key, as a real MES would.
"""

import datetime as dt
import re
from decimal import Decimal
from xml.etree.ElementTree import ParseError

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from django.db import IntegrityError
from django.db import transaction as db_transaction
from django.utils import timezone

from integrations.connectors.b2mml import (
    NS_V0700,
    OPERATIONS_PERFORMANCE_XSD,
    OPERATIONS_SCHEDULE_XSD,
    Builder,
    Reader,
    decimal_text,
    parse_decimal,
    serialize,
    split_tag,
    validate,
    xml_datetime,
)
from sandbox.ledger import replay
from sandbox.models import LedgerEntry, NumberRange, OutboundLink, Record
from sandbox.outbound import push_document
from sandbox.systems import Answer

SCHEDULE_RECEIVE = "operations_schedule.receive"
ORDER, SCHEDULE, PERFORMANCE = "order", "schedule", "performance"
_PLANT_IN_CODE = re.compile(r"^MES-P([A-Za-z0-9]+)(?:-|$)")
_r = Reader(NS_V0700)


def plant_of(system: str) -> str | None:
    """The one plant a simulated MES serves (MES-P1000 → "1000"), or None when it serves any."""
    match = _PLANT_IN_CODE.match(system)
    return match.group(1) if match else None


def mes_error(status: int, code: str, description: str, errors: list[dict] | None = None) -> Answer:
    """A refusal in the MES's style: {"Confirm": "Failure", "ErrorCode", "ErrorDescription", "Errors"?}."""
    body: dict = {"Confirm": "Failure", "ErrorCode": code, "ErrorDescription": description}
    if errors:
        body["Errors"] = errors
    return Answer(status, body)


# Receiving schedules ------------------------------------------------------------------------------


def schedule_receive(system: str, idempotency_key: str, raw: bytes) -> Answer:
    """Apply one OperationsSchedule document once per idempotency key (see the module docstring)."""
    replayed = replay(system, idempotency_key)
    if replayed:
        return replayed
    try:
        document = fromstring(raw, forbid_dtd=True)
    except DefusedXmlException as e:
        return mes_error(400, "UNSAFE_XML", f"DTDs and entities are not accepted: {type(e).__name__}")
    except ParseError as e:
        return mes_error(400, "NOT_WELL_FORMED", f"the body is not well-formed XML: {e}")
    namespace, local = split_tag(document.tag)
    if (namespace, local) != (NS_V0700, "OperationsSchedule"):
        return mes_error(422, "WRONG_DOCUMENT", f"expected a B2MML V0700 OperationsSchedule ({NS_V0700}), "
                                                f"got {local} in {namespace or 'no namespace'}")
    errors = validate(raw, OPERATIONS_SCHEDULE_XSD)
    if errors:
        return mes_error(422, "SCHEMA_INVALID", "the document does not validate against B2MML-OperationsSchedule.xsd",
                         [{"Line": e.line, "Path": e.path, "Description": e.message} for e in errors])
    requests = [_read_request(document, request) for request in _r.children(document, "OperationsRequest")]
    problems = _request_problems(system, requests)
    if problems:
        code = problems[0]["ErrorCode"]
        return mes_error(422, code, "; ".join(p["Description"] for p in problems), problems)
    document_id = _r.text(document, "ID")
    try:
        with db_transaction.atomic():
            schedule_id = f"MS-{NumberRange.take_next('MES'):06d}"
            results = [_apply(system, schedule_id, document_id, request) for request in requests]
            body = {"Confirm": "Success", "ScheduleID": schedule_id, "OperationsScheduleID": document_id,
                    "OperationsRequests": results}
            xml = raw.decode("utf-8", errors="replace")
            Record.objects.create(system=system, kind=SCHEDULE, key=schedule_id,
                                  data={"document_id": document_id, "idempotency_key": idempotency_key,
                                        "requests": results, "xml": xml})
            LedgerEntry.objects.create(
                system=system, idempotency_key=idempotency_key, operation=SCHEDULE_RECEIVE,
                document_number=schedule_id, request={"document_id": document_id, "xml": xml},
                response=body, http_status=201,
            )
    except IntegrityError:
        # The same key committed first on another connection: answer as its replay. Without one, a
        # concurrent document created the same order first; the sender retries.
        return replay(system, idempotency_key) or mes_error(409, "CONFLICT", "a concurrent schedule changed the "
                                                                                "same order; send it again")
    return Answer(201, body)


def _site(element) -> str:
    scope = _r.child(element, "HierarchyScope")
    while scope is not None:
        if _r.text(scope, "EquipmentLevel") == "Site" or _r.text(scope, "EquipmentElementLevel") == "Site":
            return _r.text(scope, "EquipmentID")
        scope = _r.child(scope, "HierarchyScopeChild")
    return ""


def _read_request(schedule, request) -> dict:
    """What the MES reads of one OperationsRequest."""
    order = _r.text(request, "ID")
    operations, components, produced = [], [], None
    for segment in _r.children(request, "SegmentRequirement"):
        segment_id = _r.text(segment, "ID")
        equipment = [_r.text(e, "EquipmentID") for e in _r.children(segment, "EquipmentRequirement")]
        if segment_id != order:  # a segment named after the order stands for the whole order
            operations.append({"operation": segment_id, "work_center": next((e for e in equipment if e), "")})
        for requirement in _r.children(segment, "MaterialRequirement"):
            use = _r.text(requirement, "MaterialUse")
            quantity = parse_decimal(_r.text(requirement, "Quantity", "QuantityString"))
            line = {"material": _r.text(requirement, "MaterialDefinitionID"),
                    "quantity": decimal_text(quantity) if quantity is not None else "",
                    "uom": _r.text(requirement, "Quantity", "UnitOfMeasure"),
                    "lot_controlled": any(_r.text(p, "ID") == "LotControlled"
                                          and _r.text(p, "Value", "ValueString") == "true"
                                          for p in _r.children(requirement, "MaterialRequirementProperty"))}
            if use == "Produced" and produced is None:
                produced = line
            elif use == "Consumed":
                components.append(line)
    return {
        "order_number": order,
        "state": _r.text(request, "RequestState"),
        "operations_type": _r.text(request, "OperationsType") or _r.text(schedule, "OperationsType"),
        "plant": _site(request) or _site(schedule),
        "start": _r.text(request, "StartTime"), "end": _r.text(request, "EndTime"),
        "priority": _r.text(request, "Priority"),
        "description": _r.text(request, "Description"),
        "operations": operations, "components": components, "produced": produced,
    }


def _request_problems(system: str, requests: list[dict]) -> list[dict]:
    plant = plant_of(system)
    problems = []

    def problem(code: str, request: dict, description: str) -> None:
        problems.append({"ErrorCode": code, "OperationsRequestID": request["order_number"],
                         "Description": description})

    held = {r.key: r.data for r in Record.objects.filter(system=system, kind=ORDER,
                                                         key__in=[q["order_number"] for q in requests])}
    for request in requests:
        order = request["order_number"]
        if request["operations_type"] != "Production":
            problem("NOT_PRODUCTION", request, f"request {order}: this MES runs Production work, not "
                                               f"{request['operations_type'] or 'unspecified'} work")
        if not request["plant"]:
            problem("NO_SITE", request, f"request {order}: no HierarchyScope at level Site")
        elif plant and request["plant"] != plant:
            problem("WRONG_PLANT", request, f"request {order} is for plant {request['plant']}; {system} runs "
                                            f"plant {plant} only")
        current = held.get(order)
        if request["state"] == "Cancelled":
            if current is None:
                problem("UNKNOWN_ORDER", request, f"cannot cancel order {order}: this MES does not hold it")
            elif current["state"] == "Completed":
                problem("ORDER_COMPLETED", request, f"cannot cancel order {order}: it is completed")
        elif current is not None:
            if current["state"] == "Cancelled":
                problem("ORDER_CANCELLED", request, f"order {order} is cancelled; it cannot be changed")
        elif not (request["produced"] and request["produced"]["material"] and request["produced"]["quantity"]):
            problem("UNKNOWN_ORDER", request, f"order {order} is not held by this MES, and the request names no "
                                              "produced material to create it from")
    return problems


def _apply(system: str, schedule_id: str, document_id: str, request: dict) -> dict:
    """Create, change or cancel the order of one checked request; returns what was done."""
    order = request["order_number"]
    record = Record.objects.select_for_update().filter(system=system, kind=ORDER, key=order).first()
    if request["state"] == "Cancelled":
        record.data.update(state="Cancelled", reason=request["description"])
        action = "cancelled"
    elif record is not None:
        changes = {name: request[name] for name in ("start", "end", "priority") if request[name]}
        if request["produced"]:
            changes.update({name: value for name, value in request["produced"].items()
                            if name in ("material", "quantity", "uom") and value})
        if request["operations"]:
            changes["operations"] = request["operations"]
        if request["components"]:
            changes["components"] = request["components"]
        record.data.update(changes)
        action = "changed"
    else:
        produced = request["produced"]
        record = Record(system=system, kind=ORDER, key=order, data={
            "order_number": order, "plant": request["plant"], "material": produced["material"],
            "quantity": produced["quantity"], "uom": produced["uom"], "start": request["start"],
            "end": request["end"], "priority": request["priority"], "state": "Released",
            "operations": request["operations"] or [{"operation": order, "work_center": ""}],
            "components": request["components"], "confirmed": [], "schedules": [],
        })
        action = "released"
    record.data["schedules"] = [*record.data.get("schedules", []), schedule_id]
    record.data["schedule_document_id"] = document_id
    record.save()
    return {"ID": order, "Action": action, "RequestState": record.data["state"]}


# Reporting performance ----------------------------------------------------------------------------


def performance_simulate(system: str, payload: object) -> Answer:
    """Report production of an order the MES holds: build, validate and push an OperationsPerformance.

    Body: ``{"order_number", "operations"?: [...] (default all), "yield"?: good quantity of the last
    operation (default the order quantity), "scrap"?: (default 0), "lot"?: finished lot}``, or
    ``{"document_id"}`` to push a document sent before again, unchanged (a duplicate).
    """
    if not isinstance(payload, dict):
        return mes_error(400, "BAD_REQUEST", "body must be a JSON object")
    if not OutboundLink.objects.filter(system=system).exists():
        return mes_error(409, "NO_OUTBOUND_LINK", f"{system} has no outbound link to the Control Tower; "
                                                  f"PUT /sandbox/{system}/outbound")
    if payload.get("document_id") is not None:
        sent = Record.objects.filter(system=system, kind=PERFORMANCE, key=str(payload["document_id"])).first()
        if sent is None:
            return mes_error(404, "UNKNOWN_DOCUMENT", f"no performance document {payload['document_id']!r}")
        return _push(system, sent.key, sent.data, sent.data["xml"].encode())
    problem = _simulate_problem(payload)
    if problem:
        return problem
    record = Record.objects.filter(system=system, kind=ORDER, key=payload["order_number"]).first()
    if record is None:
        return mes_error(422, "UNKNOWN_ORDER", f"this MES holds no order {payload['order_number']}")
    order = record.data
    if order["state"] == "Cancelled":
        return mes_error(422, "ORDER_CANCELLED", f"order {order['order_number']} is cancelled")
    known = [step["operation"] for step in order["operations"]]
    wanted = payload.get("operations") or known
    unknown = [op for op in wanted if op not in known]
    if unknown:
        return mes_error(422, "UNKNOWN_OPERATION", f"order {order['order_number']} has no operation(s) "
                                                   f"{', '.join(map(str, unknown))}; it has {', '.join(known)}")
    with db_transaction.atomic():
        document_id = f"{system}-OP-{NumberRange.take_next('MES-OP'):06d}"
        steps = [step for step in order["operations"] if step["operation"] in wanted]
        final = known[-1] in wanted
        body = performance_document(document_id, order, steps, final=final,
                                    good=Decimal(str(payload.get("yield", order["quantity"]))),
                                    scrap=Decimal(str(payload.get("scrap", 0))),
                                    lot=payload.get("lot") or f"L{order['order_number']}"[:40])
        errors = validate(body, OPERATIONS_PERFORMANCE_XSD)
        if errors:  # the simulator's own bug: never push an invalid document
            raise RuntimeError(f"simulated OperationsPerformance is invalid: {errors[0]} at {errors[0].path}")
        data = {"order_number": order["order_number"], "operations": [s["operation"] for s in steps],
                "response_state": "Completed" if final else "Running", "xml": body.decode()}
        Record.objects.create(system=system, kind=PERFORMANCE, key=document_id, data=data)
        order["confirmed"] = sorted({*order.get("confirmed", []), *data["operations"]})
        if final:
            order["state"] = "Completed"
        record.save()
    return _push(system, document_id, data, body)


def _simulate_problem(payload: dict) -> Answer | None:
    errors = []
    if not isinstance(payload.get("order_number"), str) or not payload["order_number"].strip():
        errors.append({"Field": "order_number", "Description": "must be a non-empty string"})
    operations = payload.get("operations")
    if operations is not None and (not isinstance(operations, list) or not operations
                                   or not all(isinstance(op, str) for op in operations)):
        errors.append({"Field": "operations", "Description": "must be a non-empty list of operation numbers"})
    for name in ("yield", "scrap"):
        value = payload.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
            errors.append({"Field": name, "Description": "must be a number >= 0"})
    lot = payload.get("lot")
    if lot is not None and (not isinstance(lot, str) or not 0 < len(lot) <= 40):
        errors.append({"Field": "lot", "Description": "must be a string of 1 to 40 characters"})
    if errors:
        return mes_error(400, "BAD_REQUEST", "; ".join(f"{e['Field']} {e['Description']}" for e in errors), errors)
    return None


def _push(system: str, document_id: str, data: dict, body: bytes) -> Answer:
    summary = {"DocumentID": document_id, "OrderNumber": data["order_number"], "Operations": data["operations"],
               "ResponseState": data["response_state"]}
    try:
        reply = push_document(system, body, "application/xml")
    except httpx.HTTPError as e:
        return Answer(502, {**mes_error(502, "TOWER_UNREACHABLE", f"{type(e).__name__}: {e}").body, **summary})
    try:
        tower = reply.json()
    except ValueError:
        tower = reply.text
    return Answer(201, {**summary, "tower": {"status_code": reply.status_code, "body": tower}})


def performance_document(document_id: str, order: dict, steps: list[dict], *, final: bool, good: Decimal,
                         scrap: Decimal, lot: str, now: dt.datetime | None = None) -> bytes:
    """A V0700 OperationsPerformance reporting `steps` of `order` as completed.

    Each operation is one SegmentResponse with its work center as EquipmentActual. The components
    are consumed on the order's first operation (from the line's supply area, PSA-<plant>), the
    order's material is produced on its last one (good quantity, and scrap as a Quantity keyed
    Scrap); other operations report their yield as SegmentData Yield/Scrap.
    """
    b, now = Builder(), now or timezone.now()
    number, plant, uom = order["order_number"], order["plant"], order["uom"]
    first, last = order["operations"][0]["operation"], order["operations"][-1]["operation"]
    root = b.element("OperationsPerformance")
    b.sub(root, "ID", document_id)
    b.sub(root, "PublishedDate", xml_datetime(now))
    b.hierarchy_scope(root, plant, "Site")
    b.sub(root, "OperationsType", "Production")
    if order.get("schedule_document_id"):
        b.sub(root, "OperationsScheduleID", order["schedule_document_id"])
    response = b.sub(root, "OperationsResponse")
    b.sub(response, "ID", f"R-{number}")
    b.sub(response, "OperationsType", "Production")
    b.sub(response, "OperationsRequestID", number)
    b.sub(response, "ResponseState", "Completed" if final else "Running")
    minutes = 10
    for index, step in enumerate(steps):
        operation = step["operation"]
        end = now - dt.timedelta(minutes=minutes * (len(steps) - 1 - index))
        segment = b.sub(response, "SegmentResponse")
        b.sub(segment, "ID", f"{number}-{operation}")
        b.sub(segment, "ActualStartTime", xml_datetime(end - dt.timedelta(minutes=minutes)))
        b.sub(segment, "ActualEndTime", xml_datetime(end))
        b.sub(segment, "OperationsType", "Production")
        b.sub(segment, "ProcessSegmentID", operation)
        b.sub(segment, "OperationsRequestID", number)
        b.sub(segment, "SegmentRequirementID", operation)
        b.sub(segment, "SegmentState", "Completed")
        if operation != last:
            for name, value in (("Yield", good + scrap), ("Scrap", Decimal(0))):
                data = b.sub(segment, "SegmentData")
                b.sub(data, "ID", name)
                b.value(data, decimal_text(value), "decimal", uom)
        if step.get("work_center"):
            equipment = b.sub(segment, "EquipmentActual")
            b.sub(equipment, "ID", step["work_center"])
            b.sub(equipment, "EquipmentID", step["work_center"])
        if operation == first:
            for n, component in enumerate(order.get("components") or [], start=1):
                actual = b.sub(segment, "MaterialActual")
                b.sub(actual, "ID", f"C{n * 10:04d}")
                b.sub(actual, "MaterialDefinitionID", component["material"])
                if component.get("lot_controlled"):
                    b.sub(actual, "MaterialLotID", f"{component['material']}-{number}"[:40])
                b.sub(actual, "MaterialUse", "Consumed")
                storage = b.sub(actual, "StorageLocation")
                b.sub(storage, "Location", f"PSA-{plant}")
                b.sub(storage, "LocationType", "Operational Location ID")
                b.quantity(actual, component["quantity"], component["uom"])
        if operation == last:
            actual = b.sub(segment, "MaterialActual")
            b.sub(actual, "ID", "P0010")
            b.sub(actual, "MaterialDefinitionID", order["material"])
            b.sub(actual, "MaterialLotID", lot)
            b.sub(actual, "MaterialUse", "Produced")
            b.quantity(actual, good, uom)
            if scrap:
                b.quantity(actual, scrap, uom, key="Scrap")
    return serialize(root)
