"""A warehouse management system with a REST JSON API in warehouse words (SKU, EA, tasks, bins, lots).

Outbound, the tower asks it to stage an order's material, to block or release a lot on a
quality hold, and to put away what production finished. Inbound, it reports its own messages
(`message_type`: PICK_CONFIRMED, STAGED, RECEIPT_CONFIRMED, SHIPMENT_CONFIRMED, STOCK_ADJUSTED,
STOCK_SNAPSHOT, SHORTAGE), which become canonical events.
"""

from controltower.api import Problem
from integrations.connectors.base import Connector, OutboundEvent, Receipt


def _quantity(message: dict, field: str = "qty") -> dict:
    return {"value": message[field], "uom": message["unit"]}


def _pick(m: dict) -> dict:
    return {"order_number": m["reference"], "plant": m["site"], "material": m["sku"], "quantity": _quantity(m),
            "location": m["bin"], **({"lot": m["lot"]} if m.get("lot") else {})}


def _staged(m: dict) -> dict:
    return {"order_number": m["reference"], "plant": m["site"], "material": m["sku"], "quantity": _quantity(m),
            "from_location": m["from_bin"], "to_location": m["to_bin"], **({"lot": m["lot"]} if m.get("lot") else {})}


def _receipt(m: dict) -> dict:
    return {"plant": m["site"], "material": m["sku"], "quantity": _quantity(m), "lot": m["lot"], "location": m["bin"],
            **({"order_number": m["reference"]} if m.get("reference") else {})}


def _shipment(m: dict) -> dict:
    return {"shipment_number": m["shipment"], "plant": m["site"], "carrier": m["carrier"],
            "lines": [{"material": line["sku"], "quantity": _quantity(line), **({"lot": line["lot"]}
                       if line.get("lot") else {})} for line in m["lines"]]}


def _adjusted(m: dict) -> dict:
    return {"plant": m["site"], "material": m["sku"], "lot": m["lot"], "location": m["bin"],
            "delta": _quantity(m, "delta"), "reason_code": m["reason_code"]}


def _snapshot(m: dict) -> dict:
    return {"plant": m["site"], "as_of": m["as_of"],
            "lines": [{"material": line["sku"], "location": line["bin"], "quantity": _quantity(line),
                       **({"lot": line["lot"]} if line.get("lot") else {})} for line in m["lines"]]}


def _shortage(m: dict) -> dict:
    return {"order_number": m["reference"], "plant": m["site"], "material": m["sku"],
            "quantity_short": _quantity(m, "qty_short")}


# message_type → (canonical event type, how its data is made)
INBOUND = {
    "PICK_CONFIRMED": ("material.issued", _pick),
    "STAGED": ("material.staged", _staged),
    "RECEIPT_CONFIRMED": ("goods.received", _receipt),
    "SHIPMENT_CONFIRMED": ("shipment.confirmed", _shipment),
    "STOCK_ADJUSTED": ("inventory.adjusted", _adjusted),
    "STOCK_SNAPSHOT": ("inventory.snapshot", _snapshot),
    "SHORTAGE": ("material.shortage", _shortage),
}


class WmsRestConnector(Connector):
    def deliver(self, event: OutboundEvent) -> Receipt:
        data = event.data
        if event.event_type == "production_order.released":
            # A released order becomes a staging request: bring its components to the line.
            components = data.get("components") or [
                {"material": data["material"], "quantity": data["quantity"]["value"], "uom": data["quantity"]["uom"]}
            ]
            path, body, reference = "/api/staging-requests", {
                "reference": data["order_number"], "site": data["plant"], "need_by": data["scheduled_start"],
                "lines": [{"sku": c["material"], "qty": c["quantity"], "unit": c["uom"],
                           "lot_tracked": c.get("lot_controlled", False)} for c in components],
            }, "task_id"
        elif event.event_type == "quality.hold_placed":
            path, body, reference = "/api/lot-blocks", {
                "site": data["plant"], "sku": data["material"], "lot": data["lot"], "reason": data["reason"],
            }, "block_id"
        elif event.event_type == "quality.hold_released":
            path, body, reference = "/api/lot-blocks/release", {
                "site": data["plant"], "sku": data["material"], "lot": data["lot"],
            }, "block_id"
        elif event.event_type == "production.completed":
            good = data["quantity_good"]
            path, body, reference = "/api/putaway-tasks", {
                "reference": data["order_number"], "site": data["plant"], "sku": data["material"],
                "qty": good["value"], "unit": good["uom"], **({"lot": data["lot"]} if data.get("lot") else {}),
            }, "task_id"
        else:
            raise self.unsupported(event)
        response = self.post(path, event=event, json=body)
        return Receipt(target_reference=str(response.json().get(reference, "")), http_status=response.status_code,
                       response_excerpt=response.text[:500])

    def parse_inbound(self, document) -> list[dict]:
        messages = document if isinstance(document, list) else [document]
        events = []
        for index, message in enumerate(messages):
            where = f"/{index}" if isinstance(document, list) else ""
            if not isinstance(message, dict) or message.get("message_type") not in INBOUND:
                raise Problem(422, "Unknown WMS message", "Each message needs a known message_type.",
                              [{"pointer": f"{where}/message_type", "detail": f"one of {', '.join(INBOUND)}"}],
                              slug="unrecognised-document")
            event_type, make = INBOUND[message["message_type"]]
            try:
                data = make(message)
            except (KeyError, TypeError) as e:
                raise Problem(422, "Incomplete WMS message", f"{message['message_type']} lacks a field.",
                              [{"pointer": f"{where}/{e.args[0] if e.args else ''}", "detail": "is required"}],
                              slug="unrecognised-document") from None
            events.append({
                "specversion": "1.0", "id": str(message.get("message_id") or ""), "source": self.system.code,
                "type": event_type, "plant": data["plant"], "data": data,
                **({"time": message["confirmed_at"]} if message.get("confirmed_at") else {}),
            })
        return events
