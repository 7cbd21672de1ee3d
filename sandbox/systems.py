"""The simulated systems: which codes exist, what kind each is, and what each does when called.

Known codes are the demo plant's systems; any code starting with a kind prefix (``WMS-T-7f3a``)
is also accepted, so that each test can work on a system of its own.

The business rules live here as plain functions returning an ``Answer`` (status and JSON body in
the system's own style), so the HTTP views and the traffic generator share one code path.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import httpx
from django.db import IntegrityError
from django.db import transaction as db_transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from sandbox.answer import Answer
from sandbox.ledger import Refused, apply_once
from sandbox.models import NumberRange, OutboundLink, ProductionOrder
from sandbox.outbound import production_order_released_event, push_event

ERP, WMS, MES, QMS = "ERP", "WMS", "MES", "QMS"

SYSTEMS = {
    "ERP-S4": ERP,
    "WMS-EAST": WMS,
    "WMS-WEST": WMS,
    "MES-P1000": MES,
    "MES-P2000": MES,
    "MES-P3000": MES,
    "QMS-CENTRAL": QMS,
}
MAX_CODE_LENGTH = 40


def kind_of(code: str) -> str | None:
    """The kind of the simulated system ``code`` ("ERP", "WMS", …), or None if there is none."""
    if code in SYSTEMS:
        return SYSTEMS[code]
    prefix, _, rest = code.partition("-")
    if prefix in (ERP, WMS, MES, QMS) and rest and len(code) <= MAX_CODE_LENGTH:
        return prefix
    return None


# WMS: staging requests ----------------------------------------------------------------------------

WMS_UNITS = ("EA", "KG", "L", "M")  # the warehouse counts pieces as EA; the ERP's PC is unknown here
STAGING_REQUEST_CREATE = "staging_request.create"


def wms_error(status: int, code: str, message: str, fields: dict[str, str] | None = None) -> Answer:
    """An error in the WMS's style: {"error": {"code", "message", "fields"?}}."""
    error: dict = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return Answer(status, {"error": error})


def staging_request_create(system: str, idempotency_key: str, payload: object) -> Answer:
    """Open a WMS task to stage an order's material, once per idempotency key.

    A key seen before gets the stored response again (200, ``Idempotent-Replayed: true``) and
    counts a replay in the ledger; a new valid request takes the next task number and is
    recorded in the ledger with the key. Invalid requests are answered 422 and not recorded,
    so the sender may correct them and retry with the same key.
    """

    def apply():
        problem = _staging_request_problem(payload)
        if problem:
            raise Refused(problem)
        task_id = f"WT-{NumberRange.take_next(WMS):06d}"
        return task_id, Answer(201, {"task_id": task_id, "status": "open", "reference": payload["reference"],
                                     "lines": len(payload["lines"])})

    return apply_once(system=system, idempotency_key=idempotency_key, operation=STAGING_REQUEST_CREATE,
                      request=payload, apply=apply)


def _staging_request_problem(payload: object) -> Answer | None:
    if not isinstance(payload, dict):
        return wms_error(422, "VALIDATION", "body must be a JSON object")
    fields: dict[str, str] = {}
    for name, limit in (("reference", 40), ("site", 16)):
        if not _is_text(payload.get(name), limit):
            fields[name] = f"must be a non-empty string of at most {limit} characters"
    if not _is_datetime(payload.get("need_by")):
        fields["need_by"] = "must be an ISO 8601 date-time with a UTC offset"
    lines = payload.get("lines")
    unknown_units: dict[str, str] = {}
    if not isinstance(lines, list) or not lines:
        fields["lines"] = "must be a non-empty list"
    else:
        for i, line in enumerate(lines):
            where = f"lines[{i}]"
            if not isinstance(line, dict):
                fields[where] = "must be an object"
                continue
            if not _is_text(line.get("sku"), 40):
                fields[f"{where}.sku"] = "must be a non-empty string of at most 40 characters"
            if not _is_positive_number(line.get("qty")):
                fields[f"{where}.qty"] = "must be > 0"
            unit = line.get("unit")
            if not _is_text(unit, 8):
                fields[f"{where}.unit"] = "must be a unit code"
            elif unit not in WMS_UNITS:
                unknown_units[f"{where}.unit"] = f"unknown unit {unit!r}; known: {', '.join(WMS_UNITS)}"
            if "lot_tracked" in line and not isinstance(line["lot_tracked"], bool):
                fields[f"{where}.lot_tracked"] = "must be true or false"
    if fields:
        message = "; ".join(f"{name} {problem}" for name, problem in fields.items())
        return wms_error(422, "VALIDATION", message, fields)
    if unknown_units:
        return wms_error(422, "UNKNOWN_UNIT", "; ".join(unknown_units.values()), unknown_units)
    return None


# ERP: production orders ---------------------------------------------------------------------------

ERP_ORDER_NUMBER_BASE = 1_000_000_000  # SAP-style 10-digit order numbers: 1000000001, 1000000002, …


class OrderNumberTaken(Exception):
    """The ERP already has a production order with the requested number."""


@dataclass(frozen=True)
class ProductionOrderRequest:
    """A valid request to release a production order in the simulated ERP."""

    plant: str
    material: str
    quantity: Decimal
    uom: str
    scheduled_start: dt.datetime
    components: list[dict]
    order_number: str | None = None


def erp_error(status: int, code: str, message: str, details: list[dict] | None = None) -> Answer:
    """An error in the ERP's style (OData-like): {"error": {"code", "message", "details"?: [{target, message}]}}."""
    error: dict = {"code": code, "message": message}
    if details:
        error["details"] = details
    return Answer(status, {"error": error})


def production_order_request_parse(payload: object) -> ProductionOrderRequest | Answer:
    """Read a production-order request body, or answer 400 naming each invalid field."""
    if not isinstance(payload, dict):
        return erp_error(400, "BAD_REQUEST", "body must be a JSON object")
    details: list[dict] = []

    def problem(target: str, message: str) -> None:
        details.append({"target": target, "message": message})

    for name, limit in (("plant", 16), ("material", 40)):
        if not _is_text(payload.get(name), limit):
            problem(name, f"must be a non-empty string of at most {limit} characters")
    if not _is_positive_number(payload.get("quantity")):
        problem("quantity", "must be a number > 0")
    uom = payload.get("uom", "PC")
    if not _is_text(uom, 8):
        problem("uom", "must be a unit code of at most 8 characters")
    start = payload.get("scheduled_start")
    if start is not None and not _is_datetime(start):
        problem("scheduled_start", "must be an ISO 8601 date-time with a UTC offset")
    order_number = payload.get("order_number")
    if order_number is not None and not _is_text(order_number, 40):
        problem("order_number", "must be a non-empty string of at most 40 characters")
    components = payload.get("components", [])
    if not isinstance(components, list):
        problem("components", "must be a list")
        components = []
    for i, component in enumerate(components):
        where = f"components[{i}]"
        if not isinstance(component, dict):
            problem(where, "must be an object")
            continue
        if not _is_text(component.get("material"), 40):
            problem(f"{where}.material", "must be a non-empty string of at most 40 characters")
        if not _is_positive_number(component.get("quantity")):
            problem(f"{where}.quantity", "must be a number > 0")
        if not _is_text(component.get("uom"), 8):
            problem(f"{where}.uom", "must be a unit code of at most 8 characters")
        if not isinstance(component.get("lot_controlled", False), bool):
            problem(f"{where}.lot_controlled", "must be true or false")
    if details:
        return erp_error(400, "BAD_REQUEST", f"{len(details)} invalid field(s)", details)
    return ProductionOrderRequest(
        plant=payload["plant"],
        material=payload["material"],
        quantity=Decimal(str(payload["quantity"])),
        uom=uom,
        scheduled_start=parse_datetime(start) if start else timezone.now() + dt.timedelta(hours=1),
        components=[
            {"material": c["material"], "quantity": c["quantity"], "uom": c["uom"],
             "lot_controlled": c.get("lot_controlled", False)}
            for c in components
        ],
        order_number=order_number,
    )


def production_order_create(system: str, request: ProductionOrderRequest) -> ProductionOrder:
    """Create and release a production order in the simulated ERP ``system``.

    Takes the next number of the ERP number range unless the request names one; raises
    OrderNumberTaken if that number exists.
    """
    try:
        with db_transaction.atomic():
            number = request.order_number or str(ERP_ORDER_NUMBER_BASE + NumberRange.take_next(ERP))
            return ProductionOrder.objects.create(
                system=system, order_number=number, plant=request.plant, material=request.material,
                quantity=request.quantity, uom=request.uom, status=ProductionOrder.Status.RELEASED,
                scheduled_start=request.scheduled_start, components=request.components,
            )
    except IntegrityError:
        raise OrderNumberTaken(number) from None


def production_order_release(system: str, request: ProductionOrderRequest) -> Answer:
    """Release a production order in the ERP ``system`` and push ``production_order.released``.

    Answers 201 with the order number and the tower's reply (whatever its status); 409 if the
    system has no outbound link (nothing is created) or the order number exists; 502 if the tower
    cannot be reached, in which case the order stays released in the ERP, as it would in a real one.
    """
    if not OutboundLink.objects.filter(system=system).exists():
        return erp_error(409, "NO_OUTBOUND_LINK",
                         f"{system} has no outbound link to the Control Tower; PUT /sandbox/{system}/outbound")
    try:
        order = production_order_create(system, request)
    except OrderNumberTaken as e:
        return erp_error(409, "ORDER_EXISTS", f"production order {e} already exists")
    try:
        reply = push_event(system, production_order_released_event(system, order))
    except httpx.HTTPError as e:
        answer = erp_error(502, "TOWER_UNREACHABLE", f"{type(e).__name__}: {e}")
        return Answer(502, {**answer.body, "order_number": order.order_number})
    return Answer(201, {"order_number": order.order_number,
                        "tower": {"status_code": reply.status_code, "body": _reply_body(reply)}})


def _reply_body(reply: httpx.Response) -> object:
    try:
        return reply.json()
    except ValueError:
        return reply.text


# Field checks -------------------------------------------------------------------------------------


def _is_text(value: object, max_length: int) -> bool:
    return isinstance(value, str) and len(value.strip()) > 0 and len(value) <= max_length


def _is_positive_number(value: object) -> bool:
    # bool is an int in Python, but `true` is not a quantity.
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return False
    return parsed is not None and parsed.tzinfo is not None
