"""The simulated WMS beyond staging: lot blocks, putaway, and what it reports to the tower.

A blocked lot cannot be picked: that is the rule the tower exists to make true across systems
(a QMS hold reaches the WMS as a lot block). Reports go to the tower as the WMS's own JSON
messages (`message_type` …), as a real WMS's interface would send them.
"""

import json
import uuid

import httpx
from django.utils import timezone

from sandbox.ledger import Refused, apply_once
from sandbox.models import NumberRange, Record
from sandbox.outbound import NoOutboundLink, push_document
from sandbox.systems import WMS_UNITS, Answer, wms_error

LOT_BLOCK = "lot_block"
STOCK = "stock"
MESSAGE_TYPES = ("PICK_CONFIRMED", "STAGED", "RECEIPT_CONFIRMED", "SHIPMENT_CONFIRMED", "STOCK_ADJUSTED",
                 "STOCK_SNAPSHOT", "SHORTAGE")


def _lot_key(payload: dict) -> str:
    return f"{payload['site']}:{payload['sku']}:{payload['lot']}"


def _require(payload: object, *names: str) -> None:
    if not isinstance(payload, dict):
        raise Refused(wms_error(422, "VALIDATION", "body must be a JSON object"))
    missing = {name: "is required" for name in names if not str(payload.get(name) or "").strip()}
    if missing:
        raise Refused(wms_error(422, "VALIDATION", "; ".join(f"{n} {p}" for n, p in missing.items()), missing))


def lot_is_blocked(system: str, site: str, sku: str, lot: str) -> bool:
    record = Record.objects.filter(system=system, kind=LOT_BLOCK, key=f"{site}:{sku}:{lot}").first()
    return bool(record and record.data.get("status") == "blocked")


def lot_block(system: str, idempotency_key: str, payload: object) -> Answer:
    """Block a lot (quality hold): no pick may take from it until it is released."""

    def apply():
        _require(payload, "site", "sku", "lot", "reason")
        block_id = f"LB-{NumberRange.take_next('WMS-LB'):06d}"
        Record.objects.update_or_create(system=system, kind=LOT_BLOCK, key=_lot_key(payload), defaults={
            "data": {"status": "blocked", "block_id": block_id, "reason": payload["reason"]}})
        return block_id, Answer(201, {"block_id": block_id, "lot": payload["lot"], "status": "blocked"})

    return apply_once(system=system, idempotency_key=idempotency_key, operation="lot_block.create",
                      request=payload, apply=apply)


def lot_release(system: str, idempotency_key: str, payload: object) -> Answer:
    """Release a blocked lot; a lot that is not blocked is refused (409), as the WMS would."""

    def apply():
        _require(payload, "site", "sku", "lot")
        record = Record.objects.select_for_update().filter(system=system, kind=LOT_BLOCK,
                                                           key=_lot_key(payload)).first()
        if record is None or record.data.get("status") != "blocked":
            raise Refused(wms_error(409, "LOT_NOT_BLOCKED", f"lot {payload['lot']} of {payload['sku']} is not "
                                                            "blocked"))
        record.data = {**record.data, "status": "released"}
        record.save(update_fields=["data", "updated_at"])
        return record.data["block_id"], Answer(201, {"block_id": record.data["block_id"], "lot": payload["lot"],
                                                     "status": "released"})

    return apply_once(system=system, idempotency_key=idempotency_key, operation="lot_block.release",
                      request=payload, apply=apply)


def putaway_create(system: str, idempotency_key: str, payload: object) -> Answer:
    """Open a putaway task for finished goods reported by production; they enter stock."""

    def apply():
        _require(payload, "reference", "site", "sku", "qty", "unit")
        if payload["unit"] not in WMS_UNITS:
            raise Refused(wms_error(422, "UNKNOWN_UNIT", f"unknown unit {payload['unit']!r}"))
        task_id = f"PT-{NumberRange.take_next('WMS-PT'):06d}"
        key = f"{payload['site']}:{payload['sku']}:{payload.get('lot') or '-'}"
        stock, _ = Record.objects.select_for_update().get_or_create(system=system, kind=STOCK, key=key,
                                                                    defaults={"data": {"qty": 0}})
        stock.data = {"qty": stock.data["qty"] + payload["qty"], "unit": payload["unit"]}
        stock.save(update_fields=["data", "updated_at"])
        return task_id, Answer(201, {"task_id": task_id, "status": "open", "reference": payload["reference"]})

    return apply_once(system=system, idempotency_key=idempotency_key, operation="putaway.create",
                      request=payload, apply=apply)


def report(system: str, message: dict) -> Answer:
    """Send one of the WMS's own messages to the tower (a pick from a blocked lot is refused first)."""
    if not isinstance(message, dict) or message.get("message_type") not in MESSAGE_TYPES:
        return wms_error(422, "VALIDATION", f"message_type must be one of {', '.join(MESSAGE_TYPES)}")
    if message["message_type"] == "PICK_CONFIRMED" and lot_is_blocked(
            system, message.get("site", ""), message.get("sku", ""), message.get("lot", "")):
        return wms_error(409, "LOT_BLOCKED", f"lot {message.get('lot')} of {message.get('sku')} is blocked; "
                                             "it cannot be picked")
    message = {"message_id": f"{system}-{uuid.uuid4()}", "confirmed_at": timezone.now().isoformat(), **message}
    try:
        reply = push_document(system, json.dumps(message).encode(), "application/json")
    except NoOutboundLink:
        return wms_error(409, "NO_OUTBOUND_LINK", f"{system} has no outbound link to the Control Tower")
    except httpx.HTTPError as e:
        return wms_error(502, "TOWER_UNREACHABLE", f"{type(e).__name__}: {e}")
    try:
        body = reply.json()
    except ValueError:
        body = reply.text
    return Answer(201, {"message_id": message["message_id"], "tower": {"status_code": reply.status_code,
                                                                       "body": body}})


