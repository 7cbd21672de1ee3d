"""Any other system: the canonical CloudEvent, POSTed as structured JSON and signed.

The receiver checks `Webhook-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with
the shared secret, and refuses old timestamps, so a captured request cannot be replayed later.
The secret is read from the environment variable that `System.credentials_ref` names; a webhook
system without one is a configuration fault (a permanent error), never an unsigned post.
"""

import hashlib
import hmac
import json
import os
import time

from integrations.connectors.base import Connector, ConnectorError, OutboundEvent, Receipt

SIGNATURE_HEADER = "Webhook-Signature"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class WebhookConnector(Connector):
    def deliver(self, event: OutboundEvent) -> Receipt:
        secret = os.environ.get(self.system.credentials_ref) if self.system.credentials_ref else None
        if not secret:
            raise ConnectorError(
                f"{self.system.code} has no signing secret: set credentials_ref to the name of an environment "
                "variable holding it", permanent=True, error_class="configuration")
        cloudevent = {
            "specversion": "1.0", "id": event.idempotency_key, "source": "control-tower",
            "type": event.event_type, "plant": event.plant, "correlationid": event.correlation_id,
            "businesskey": event.business_key, "data": event.data,
        }
        body = json.dumps(cloudevent, separators=(",", ":")).encode()
        response = self.post("", event=event, content=body, headers={
            "Content-Type": "application/cloudevents+json",
            SIGNATURE_HEADER: signature(secret, int(time.time()), body),
        })
        reference = response.headers.get("Location", "") or event.idempotency_key
        return Receipt(target_reference=reference, http_status=response.status_code,
                       response_excerpt=response.text[:500])
