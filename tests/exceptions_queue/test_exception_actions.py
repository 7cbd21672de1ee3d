"""The exception queues and the actions that fix what is in them."""

import json
import uuid

import httpx
import pytest

from controltower.models import AuditEntry
from exceptions_queue.models import ExceptionCase
from exceptions_queue.services import exception_raise
from integrations.models import Delivery, System, Transaction
from integrations.services.routing import transactions_route_received
from tests.fixtures.events import released_event
from tests.fixtures.pipeline import wait_until


def act(client, exception, action, **data):
    return client.post(f"/api/v1/exceptions/{exception.pk}/{action}", data=json.dumps(data),
                       content_type="application/json")


@pytest.fixture
def rejected(erp, plant_1000, wms_east):
    """A release WMS-EAST rejected, with its exception in the planners' queue of plant 1000."""
    event = released_event("1000000321")
    tx = Transaction.objects.create(correlation_id="c", source=erp, source_message_id=str(uuid.uuid4()),
                                    event_type=event["type"], plant=plant_1000, business_key="1000000321",
                                    raw_payload=event, canonical_payload=event["data"], status="failed")
    delivery = Delivery.objects.create(transaction=tx, target=wms_east, status="rejected", attempt_count=1,
                                       last_error="UNKNOWN_UNIT")
    exception = exception_raise(cause_key=f"rejected:{delivery.pk}", category="business_rejection", role="planner",
                                plant=plant_1000, transaction=tx, delivery=delivery, title="WMS-EAST rejected it")
    return exception


def test_queues_are_scoped_by_plant_and_sorted_most_severe_first(client, alice, bob, plant_1000, plant_2000):
    low = exception_raise(cause_key="a", category="unrouted", role="planner", plant=plant_1000, title="low",
                          severity="low")
    high = exception_raise(cause_key="b", category="delivery_dead", role="planner", plant=plant_1000, title="high",
                           severity="high")
    exception_raise(cause_key="c", category="unrouted", role="planner", plant=plant_2000, title="other plant")
    client.force_login(alice)
    rows = client.get("/api/v1/exceptions?role=planner").json()["results"]
    assert [r["id"] for r in rows] == [high.pk, low.pk]
    client.force_login(bob)
    assert [r["title"] for r in client.get("/api/v1/exceptions").json()["results"]] == ["other plant"]


def test_retry_sends_the_rejected_delivery_again_with_its_key(client, alice, rejected,
                                                              django_capture_on_commit_callbacks):
    key = rejected.delivery.idempotency_key
    client.force_login(alice)
    with django_capture_on_commit_callbacks() as callbacks:
        response = act(client, rejected, "retry", reason="WMS unit table fixed")
    assert response.status_code == 200 and response.json()["status"] == "resolved"
    delivery = Delivery.objects.get(pk=rejected.delivery.pk)
    assert (delivery.status, delivery.idempotency_key) == ("pending", key)
    assert len(callbacks) == 1
    assert AuditEntry.objects.get(action="exception.retry").reason == "WMS unit table fixed"
    assert act(client, rejected, "retry").status_code == 422, "a resolved exception takes no more actions"


def test_resubmit_validates_the_corrected_payload_and_makes_a_new_posting(client, alice, rejected):
    client.force_login(alice)
    payload = dict(rejected.transaction.canonical_payload)
    del payload["material"]
    response = act(client, rejected, "resubmit", payload=payload)
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/payload/material"
    payload["material"] = "FG-100"
    payload["components"] = [{"material": "RM-210", "quantity": 5, "uom": "EA"}]
    old_key = rejected.delivery.idempotency_key
    assert act(client, rejected, "resubmit", payload=payload).status_code == 200
    delivery = Delivery.objects.get(pk=rejected.delivery.pk)
    assert delivery.status == "pending" and delivery.idempotency_key != old_key
    assert Transaction.objects.get(pk=rejected.transaction.pk).canonical_payload["components"][0]["uom"] == "EA"


def test_cancel_and_resolve_need_a_reason(client, alice, rejected):
    client.force_login(alice)
    assert act(client, rejected, "resolve").json()["errors"][0]["pointer"] == "/reason"
    response = act(client, rejected, "cancel", reason="order was deleted in the ERP")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert Delivery.objects.get(pk=rejected.delivery.pk).status == "cancelled"
    tx = Transaction.objects.get(pk=rejected.transaction.pk)
    assert tx.status == "cancelled", "no longer failed: nothing is left to act on"
    assert tx.history[-1]["note"].startswith("cancelled by alice: order was deleted")


def test_resolve_ends_the_delivery_as_done_by_hand_and_the_transaction_is_done(client, alice, rejected):
    west = System.objects.create(code="WMS-WEST", name="west", kind="WMS", adapter="wms_rest")
    other = Delivery.objects.create(transaction=rejected.transaction, target=west, status="delivered")
    client.force_login(alice)
    assert act(client, rejected, "resolve", reason="posted by hand in the WMS").status_code == 200
    assert Delivery.objects.get(pk=other.pk).status == "delivered"
    assert Transaction.objects.get(pk=rejected.transaction.pk).status == "delivered"


def test_a_delivered_delivery_is_not_resubmitted_or_posted_twice(client, alice, rejected):
    Delivery.objects.filter(pk=rejected.delivery.pk).update(status="delivered")  # a replay got it through
    client.force_login(alice)
    payload = dict(rejected.transaction.canonical_payload)
    response = act(client, rejected, "resubmit", payload=payload)
    assert response.status_code == 422 and "already has it" in response.json()["detail"]
    assert act(client, rejected, "retry").status_code == 422


def test_a_correction_keeps_the_plant_and_the_order(client, alice, rejected):
    client.force_login(alice)
    for field, value in (("plant", "2000"), ("order_number", "9999999999")):
        payload = {**rejected.transaction.canonical_payload, field: value}
        response = act(client, rejected, "resubmit", payload=payload)
        assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == f"/payload/{field}"


def test_a_person_outside_the_role_or_plant_cannot_act(client, bob, rejected, plant_1000):
    client.force_login(bob)  # warehouse supervisor of plant 2000
    assert act(client, rejected, "retry").status_code == 404
    bob.plants.add(plant_1000)
    assert act(client, rejected, "retry").status_code == 403, "the planners' queue is not his"


def test_assign_to_a_person(client, carol, alice, bob, rejected):
    client.force_login(carol)
    assert act(client, rejected, "assign", owner="alice").json()["owner"] == "alice"
    assert act(client, rejected, "assign", owner="nobody").status_code == 422
    refused = act(client, rejected, "assign", owner="bob")  # a warehouse supervisor of plant 2000
    assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == "/owner"


def test_map_value_adds_the_mapping_and_reprocesses_the_waiting_messages(client, carol, erp, plant_1000,
                                                                          released_to_wms_east):
    event = released_event("1000000777", components=[{"material": "RM-210", "quantity": 4, "uom": "PC"}])
    tx = Transaction(correlation_id="c", source=erp, source_message_id=event["id"], event_type=event["type"],
                     plant=plant_1000, business_key="1000000777", raw_payload=event, canonical_payload=event["data"])
    tx.set_status("received", "test")
    tx.save()
    transactions_route_received()
    exception = ExceptionCase.objects.get(category="mapping")
    client.force_login(carol)
    response = act(client, exception, "map_value", canonical_value="EA")
    assert response.status_code == 200 and response.json()["status"] == "resolved"
    assert transactions_route_received() == 1
    tx.refresh_from_db()
    assert tx.status == "routed" and tx.canonical_payload["components"][0]["uom"] == "EA"


@pytest.mark.pipeline
@pytest.mark.django_db(transaction=True)
def test_retry_after_a_rejection_delivers_for_real(tower, sandbox, erp_key, alice, client):
    sandbox.set_fault("WMS-EAST", "reject", duration_s=60)
    try:
        tx_id = httpx.post(f"{tower.url}/api/v1/events", json=released_event("1000000888"), timeout=10,
                           headers={"Authorization": f"Bearer {erp_key}"}).json()["transaction_id"]
        wait_until(lambda: Transaction.objects.filter(pk=tx_id, status="failed").exists(), what="rejection")
    finally:
        sandbox.clear_fault("WMS-EAST")
    exception = ExceptionCase.objects.get(transaction_id=tx_id)
    client.force_login(alice)
    assert act(client, exception, "retry", reason="WMS accepts again").status_code == 200
    wait_until(lambda: Transaction.objects.filter(pk=tx_id, status="delivered").exists(), what="delivery after retry")
