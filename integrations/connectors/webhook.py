"""Any other system: the canonical CloudEvent, POSTed as structured JSON."""

from integrations.connectors.base import Connector, OutboundEvent, Receipt


class WebhookConnector(Connector):
    def deliver(self, event: OutboundEvent) -> Receipt:
        cloudevent = {
            "specversion": "1.0", "id": event.idempotency_key, "source": "control-tower",
            "type": event.event_type, "plant": event.plant, "correlationid": event.correlation_id,
            "businesskey": event.business_key, "data": event.data,
        }
        response = self.post("", event=event, json=cloudevent,
                             headers={"Content-Type": "application/cloudevents+json"})
        reference = response.headers.get("Location", "") or event.idempotency_key
        return Receipt(target_reference=reference, http_status=response.status_code,
                       response_excerpt=response.text[:500])
