"""Transactions as they would be stored for one production order, valid per their contracts."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from integrations import contracts
from integrations.choices import SystemKind
from integrations.models import Delivery, System, Transaction

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """A moment `minutes` after 08:00 UTC on the test day."""
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def mes(db):
    return System.objects.create(code="MES-P1000", name="MES plant 1000", kind=SystemKind.MES, adapter="webhook")


@pytest.fixture
def record(erp, wms_east, mes, plant_1000, plant_2000):
    """record(event_type, data, *, source="ERP-S4", minute=0, ...) → a stored Transaction.

    `minute` is when the tower received it; `sent_minute` when the source says it happened
    (defaults to the same). The data is checked against the event type's contract first.
    """
    systems = {s.code: s for s in (erp, wms_east, mes)}
    plants = {p.code: p for p in (plant_1000, plant_2000)}

    def make(event_type: str, data: dict, *, source: str = "ERP-S4", minute: float = 0,
             sent_minute: float | None = None, correlation_id: str | None = None) -> Transaction:
        assert contracts.errors(event_type, "1", data) == [], f"test data must follow the {event_type} contract"
        business_key = data.get("order_number") or data.get("lot") or ""
        return Transaction.objects.create(
            correlation_id=correlation_id or f"corr-{data['plant']}-{business_key}",
            source=systems[source], source_message_id=f"{source}-{uuid.uuid4()}", event_type=event_type,
            plant=plants[data["plant"]], business_key=business_key,
            raw_payload={"type": event_type, "data": data}, canonical_payload=data,
            source_time=at(minute if sent_minute is None else sent_minute), received_at=at(minute),
        )

    return make


def released(order_number="1000000101", plant="1000", quantity=50, **extra) -> dict:
    return {"order_number": order_number, "plant": plant, "material": "FG-100",
            "quantity": {"value": quantity, "uom": "EA"}, "scheduled_start": "2026-11-24T06:00:00+01:00",
            "components": [{"material": "RM-210", "quantity": 100, "uom": "EA", "lot_controlled": True}],
            "routing": [{"operation": "0010", "work_center": f"WC-{plant}-01"}], **extra}


def staged(quantity, order_number="1000000101", plant="1000", material="RM-210") -> dict:
    return {"order_number": order_number, "plant": plant, "material": material,
            "quantity": {"value": quantity, "uom": "EA"}, "lot": "L-4711", "from_location": "A-01-02",
            "to_location": "SM-LINE-1"}


def issued(quantity, order_number="1000000101", plant="1000", material="RM-210") -> dict:
    return {"order_number": order_number, "plant": plant, "material": material,
            "quantity": {"value": quantity, "uom": "EA"}, "lot": "L-4711", "location": "SM-LINE-1"}


def completed(good, scrap=0, order_number="1000000101", plant="1000", uom="EA") -> dict:
    return {"order_number": order_number, "plant": plant, "material": "FG-100",
            "quantity_good": {"value": good, "uom": uom}, "quantity_scrap": {"value": scrap, "uom": uom},
            "lot": "FG-L-0001"}


def delivery(tx: Transaction, target: System, status: str, reference: str = "", minute: float | None = None,
             attempts: int = 1) -> Delivery:
    return Delivery.objects.create(transaction=tx, target=target, status=status, target_reference=reference,
                                   attempt_count=attempts,
                                   delivered_at=at(minute) if minute is not None and status == "delivered" else None)
