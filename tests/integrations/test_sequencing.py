"""Deliveries that must wait for others about the same order: parked, then released in order."""

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from exceptions_queue.models import ExceptionCase
from integrations.choices import SystemKind
from integrations.models import Delivery, RoutingRule, System, Transaction
from integrations.services.delivery import deliveries_deliver_due
from integrations.services.routing import transactions_route_received
from integrations.services.sweep import pipeline_sweep

ORDER = "1000000123"


@pytest.fixture
def erp_target(erp, receiver, monkeypatch):
    """The ERP receives canonical events at a recording HTTP server (webhook adapter)."""
    monkeypatch.setenv("CT_TEST_WEBHOOK_SECRET", "s3cret")
    erp.adapter, erp.base_url, erp.credentials_ref = "webhook", receiver.url, "CT_TEST_WEBHOOK_SECRET"
    erp.save()
    return erp


@pytest.fixture
def receive(plant_1000, erp_target, wms_east):
    mes = System.objects.create(code="MES-P1000", name="MES", kind=SystemKind.MES, adapter="mes_b2mml")
    senders = {"production.completed": mes, "material.issued": wms_east, "production_order.released": erp_target,
               "production_order.changed": erp_target, "production_order.cancelled": erp_target}
    for event_type in senders:
        rule = RoutingRule.objects.create(name=f"{event_type} to ERP", event_type=event_type, plant=plant_1000)
        rule.targets.set([erp_target])

    def _receive(event_type: str, **data) -> Transaction:
        tx = Transaction(correlation_id=ORDER, source=senders[event_type], source_message_id=str(uuid.uuid4()),
                         event_type=event_type, plant=plant_1000, business_key=ORDER, raw_payload={},
                         canonical_payload={"order_number": ORDER, "plant": "1000", **data})
        tx.set_status("received", "test")
        tx.save()
        transactions_route_received()
        tx.refresh_from_db()
        return tx

    return _receive


def deliver():
    # Twice: a released delivery is picked up by the wake-up its release rings on commit, which
    # these tests (inside one database transaction) stand in for with a second pass.
    deliveries_deliver_due(latency_class="immediate")
    deliveries_deliver_due(latency_class="immediate")


def test_a_completion_before_the_issue_is_parked_then_both_reach_the_erp_in_order(receive, receiver):
    completion = receive("production.completed", quantity_good={"value": 48, "uom": "EA"})
    assert completion.status == "parked"
    assert "waits for material.issued of 1000000123 to reach ERP-S4" in completion.history[-1]["note"]
    deliver()
    assert receiver.received == [], "the ERP must not see the completion before the issue"

    issue = receive("material.issued", material="RM-210", quantity={"value": 100, "uom": "EA"})
    deliver()
    assert receiver.types() == [("material.issued", ORDER), ("production.completed", ORDER)]
    completion.refresh_from_db(), issue.refresh_from_db()
    assert (issue.status, completion.status) == ("delivered", "delivered")
    assert any("prerequisites delivered" in step["note"] for step in completion.history)


def test_a_completion_after_its_issue_is_delivered_goes_at_once(receive, receiver):
    receive("material.issued", material="RM-210", quantity={"value": 100, "uom": "EA"})
    deliver()
    completion = receive("production.completed", quantity_good={"value": 48, "uom": "EA"})
    assert completion.status == "routed"
    deliver()
    assert receiver.types() == [("material.issued", ORDER), ("production.completed", ORDER)]


def test_a_change_waits_for_the_release(receive, receiver):
    change = receive("production_order.changed", quantity={"value": 60, "uom": "EA"})
    assert change.status == "parked"
    receive("production_order.released", material="FG-100")
    deliver()
    assert receiver.types() == [("production_order.released", ORDER), ("production_order.changed", ORDER)]


def test_a_cancellation_waits_for_the_release_it_cancels(receive, receiver):
    cancel = receive("production_order.cancelled", reason="customer order withdrawn")
    assert cancel.status == "parked"
    receive("production_order.released", material="FG-100")
    deliver()
    assert receiver.types() == [("production_order.released", ORDER), ("production_order.cancelled", ORDER)]


def test_a_rejected_issue_does_not_let_the_completion_through(receive, receiver):
    """The ERP refused the issue: backflushing the completion now would post against stock never issued."""
    issue = receive("material.issued", material="RM-210", quantity={"value": 100, "uom": "EA"})
    Delivery.objects.filter(transaction=issue).update(status="rejected")
    completion = receive("production.completed", quantity_good={"value": 48, "uom": "EA"})
    assert completion.status == "parked"
    deliver()
    assert receiver.received == []

    Delivery.objects.filter(transaction=issue).update(status="pending", next_attempt_at=timezone.now())  # fixed
    deliver()
    assert receiver.types() == [("material.issued", ORDER), ("production.completed", ORDER)]


def test_a_delivery_parked_too_long_becomes_one_sequence_conflict(receive, settings):
    completion = receive("production.completed", quantity_good={"value": 48, "uom": "EA"})
    Delivery.objects.filter(transaction=completion).update(
        created_at=timezone.now() - dt.timedelta(seconds=settings.SEQUENCE_WAIT_S + 60))
    assert pipeline_sweep().sequence_conflicts == 1
    assert pipeline_sweep().sequence_conflicts == 0, "raised once, not every sweep"
    conflict = ExceptionCase.objects.get(category="sequence_conflict")
    assert conflict.role == "planner" and conflict.occurrences == 1 and conflict.plant.code == "1000"
    assert "stuck before ERP-S4" in conflict.title
