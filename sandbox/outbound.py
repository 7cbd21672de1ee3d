"""How the simulated systems push events to the Control Tower: CloudEvents over HTTP.

Each system pushes with its own API key (its OutboundLink), as a real system would, in
structured mode: the whole CloudEvent is the JSON body.
"""

import json
import uuid
from decimal import Decimal

import httpx
from django.utils import timezone

from sandbox.models import OutboundLink, ProductionOrder

PUSH_TIMEOUT_S = 10


class NoOutboundLink(Exception):
    """The simulated system has no outbound link, so it does not know where to push."""


def push_event(system_code: str, event: dict) -> httpx.Response:
    """POST ``event`` as a structured-mode CloudEvent to the tower of ``system_code``'s outbound link.

    Returns the tower's response whatever its status; raises NoOutboundLink when the system has
    no link, and httpx.HTTPError when the tower cannot be reached or does not answer in time.
    """
    return _push(system_code, "/api/v1/events", json.dumps(event).encode(), "application/cloudevents+json")


def push_document(system_code: str, body: bytes, content_type: str) -> httpx.Response:
    """POST a native document (B2MML XML, EPCIS JSON-LD…) to the tower's /api/v1/inbound/{system_code}.

    Same contract as ``push_event``.
    """
    return _push(system_code, f"/api/v1/inbound/{system_code}", body, content_type)


def _push(system_code: str, path: str, body: bytes, content_type: str) -> httpx.Response:
    link = OutboundLink.objects.filter(system=system_code).first()
    if link is None:
        raise NoOutboundLink(system_code)
    return httpx.post(f"{link.tower_url.rstrip('/')}{path}", content=body, timeout=PUSH_TIMEOUT_S,
                      headers={"Authorization": f"Bearer {link.api_key}", "Content-Type": content_type})


def production_order_released_event(system_code: str, order: ProductionOrder) -> dict:
    """The ``production_order.released`` CloudEvent (contract v1) for an order the ERP released."""
    return {
        "specversion": "1.0",
        "id": f"{system_code}-{uuid.uuid4()}",
        "source": system_code,
        "type": "production_order.released",
        "time": timezone.now().isoformat(),
        "plant": order.plant,
        "businesskey": order.order_number,
        "datacontenttype": "application/json",
        "data": {
            "order_number": order.order_number,
            "plant": order.plant,
            "material": order.material,
            "quantity": {"value": _number(order.quantity), "uom": order.uom},
            "scheduled_start": order.scheduled_start.isoformat(),
            "components": [
                {"material": c["material"], "quantity": c["quantity"], "uom": c["uom"],
                 "lot_controlled": c["lot_controlled"]}
                for c in order.components
            ],
            # One operation per order is enough for the tower to follow; the MES simulation
            # will report against this work center.
            "routing": [{"operation": "0010", "work_center": f"WC-{order.plant}-01"}],
        },
    }


def _number(value: Decimal) -> int | float:
    """A quantity as a JSON number: 120 rather than 120.000."""
    return int(value) if value == value.to_integral_value() else float(value)
