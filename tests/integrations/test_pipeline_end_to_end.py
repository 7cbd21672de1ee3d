"""The thin path, for real: ERP → tower API → Celery worker → connector → sandbox WMS ledger.

Real PostgreSQL, Redis, a Celery worker process, and HTTP both ways. Nothing is mocked.
"""

import json

import httpx
import pytest

from integrations.models import Attempt, Delivery, Transaction
from tests.fixtures.events import released_event
from tests.fixtures.pipeline import delivered, wait_until

pytestmark = [pytest.mark.pipeline, pytest.mark.django_db(transaction=True)]


def test_an_order_released_in_the_erp_reaches_the_plant_wms(tower, sandbox, client, carol):
    response = httpx.post(f"{sandbox.system_url('ERP-S4')}/production-orders",
                          json={"plant": "1000", "material": "FG-100", "quantity": 40, "uom": "EA"}, timeout=30)
    assert response.status_code == 201, response.text
    order_number, answer = response.json()["order_number"], response.json()["tower"]
    assert answer["status_code"] == 202 and answer["body"]["duplicate"] is False
    tx_id = answer["body"]["transaction_id"]

    wait_until(lambda: delivered(tx_id), what="the order to be delivered to WMS-EAST")

    client.force_login(carol)
    detail = client.get(f"/api/v1/transactions/{tx_id}").json()
    assert (detail["status"], detail["business_key"], detail["plant"]) == ("delivered", order_number, "1000")
    [delivery] = detail["deliveries"]
    assert delivery["target"] == "WMS-EAST" and delivery["status"] == "delivered"
    assert delivery["target_reference"].startswith("WT-")
    [attempt] = delivery["attempts"]
    assert attempt["outcome"] == "delivered" and attempt["http_status"] == 201
    assert [step["status"] for step in detail["history"]] == ["received", "routed", "delivered"]

    [entry] = sandbox.ledger("WMS-EAST", idempotency_key=delivery["idempotency_key"])
    assert entry["document_number"] == delivery["target_reference"]
    assert entry["request"]["reference"] == order_number

    page = client.get("/transactions/?plant=1000").content.decode()
    assert order_number in page and 'data-status="delivered"' in page


def test_the_same_event_posted_twice_is_one_transaction_and_one_posting(tower, sandbox, erp_key):
    event = released_event("1000000777")
    headers = {"Authorization": f"Bearer {erp_key}", "Content-Type": "application/cloudevents+json"}
    first = httpx.post(f"{tower.url}/api/v1/events", content=json.dumps(event), headers=headers, timeout=10)
    second = httpx.post(f"{tower.url}/api/v1/events", content=json.dumps(event), headers=headers, timeout=10)
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json() == {**first.json(), "duplicate": True, "status": second.json()["status"]}
    tx_id = first.json()["transaction_id"]

    wait_until(lambda: delivered(tx_id), what="delivery")
    # A third copy after delivery is still a duplicate and posts nothing new.
    third = httpx.post(f"{tower.url}/api/v1/events", content=json.dumps(event), headers=headers, timeout=10)
    assert third.status_code == 200 and third.json()["status"] == "delivered"

    assert Transaction.objects.filter(source_message_id=event["id"]).count() == 1
    delivery = Delivery.objects.get(transaction_id=tx_id)
    assert len(sandbox.ledger("WMS-EAST", idempotency_key=str(delivery.idempotency_key))) == 1


def test_a_wms_answering_503_is_retried_until_it_accepts(tower, sandbox, erp_key):
    sandbox.set_fault("WMS-EAST", "http_503", duration_s=60)
    try:
        response = httpx.post(f"{tower.url}/api/v1/events", json=released_event("1000000888"),
                              headers={"Authorization": f"Bearer {erp_key}"}, timeout=10)
        tx_id = response.json()["transaction_id"]
        wait_until(lambda: Attempt.objects.filter(delivery__transaction_id=tx_id, outcome="transient_error").exists(),
                   what="an attempt refused with 503")
    finally:
        sandbox.clear_fault("WMS-EAST")  # the WMS recovers
    wait_until(lambda: delivered(tx_id), what="delivery after the WMS recovers")
    delivery = Delivery.objects.get(transaction_id=tx_id)
    outcomes = list(delivery.attempts.order_by("number").values_list("outcome", "http_status"))
    assert outcomes[0] == ("transient_error", 503)
    assert outcomes[-1] == ("delivered", 201)
    assert len(sandbox.ledger("WMS-EAST", idempotency_key=str(delivery.idempotency_key))) == 1


def test_a_wms_rejection_is_not_retried_and_opens_one_exception(tower, sandbox, erp_key):
    # Pallets are a canonical unit, but this WMS stocks no pallets: a business rejection, owned by a person.
    response = httpx.post(f"{tower.url}/api/v1/events",
                          json=released_event("1000000999", components=[
                              {"material": "RM-210", "quantity": 5, "uom": "PAL"}]),
                          headers={"Authorization": f"Bearer {erp_key}"}, timeout=10)
    tx_id = response.json()["transaction_id"]
    wait_until(lambda: Transaction.objects.filter(pk=tx_id, status="failed").exists(), what="rejection")
    delivery = Delivery.objects.get(transaction_id=tx_id)
    assert delivery.status == "rejected" and delivery.attempt_count == 1
    assert "UNKNOWN_UNIT" in delivery.last_error
    [exception] = delivery.exceptions.all()
    assert exception.category == "business_rejection" and exception.plant.code == "1000"
    assert sandbox.ledger("WMS-EAST", idempotency_key=str(delivery.idempotency_key)) == []
