"""A warehouse management system with a REST JSON API in warehouse words (SKU, EA, tasks, bins)."""

from integrations.connectors.base import Connector, OutboundEvent, Receipt


class WmsRestConnector(Connector):
    def deliver(self, event: OutboundEvent) -> Receipt:
        if event.event_type != "production_order.released":
            raise self.unsupported(event)
        data = event.data
        # A released order becomes a staging request: bring its components to the line.
        components = data.get("components") or [
            {"material": data["material"], "quantity": data["quantity"]["value"], "uom": data["quantity"]["uom"]}
        ]
        body = {
            "reference": data["order_number"],
            "site": data["plant"],
            "need_by": data["scheduled_start"],
            "lines": [
                {"sku": c["material"], "qty": c["quantity"], "unit": c["uom"],
                 "lot_tracked": c.get("lot_controlled", False)}
                for c in components
            ],
        }
        response = self.post("/api/staging-requests", event=event, json=body)
        task = response.json()
        return Receipt(target_reference=str(task.get("task_id", "")), http_status=response.status_code,
                       response_excerpt=response.text[:500])
