"""POST /api/v1/events/batch: many CloudEvents at once, each judged on its own, answered in order."""

import json

import pytest

from integrations.models import QuarantinedMessage, Transaction
from tests.fixtures.events import released_event

URL = "/api/v1/events/batch"


@pytest.fixture
def post_batch(client, erp_key, plant_1000, plant_2000):
    def _post(body):
        raw = body if isinstance(body, bytes) else json.dumps(body)
        return client.post(URL, data=raw, content_type="application/cloudevents-batch+json",
                           HTTP_AUTHORIZATION=f"Bearer {erp_key}")

    return _post


def test_each_item_gets_its_own_result_in_order(post_batch, django_capture_on_commit_callbacks):
    stored_before = released_event("1000000001")
    post_batch([stored_before])
    accepted, broken, wrong_source = released_event("1000000002"), released_event("1000000003"), released_event()
    del broken["data"]["quantity"]
    wrong_source["source"] = "WMS-EAST"

    with django_capture_on_commit_callbacks() as callbacks:
        response = post_batch([accepted, broken, accepted, stored_before, wrong_source, "not an event"])
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4, 5]
    assert [r["status"] for r in results] == [202, 422, 200, 200, 403, 400]
    assert results[0]["duplicate"] is False and results[2]["duplicate"] is True
    assert results[2]["transaction_id"] == results[0]["transaction_id"], "a copy within the batch"
    first = Transaction.objects.get(source_message_id=stored_before["id"])
    assert results[3]["transaction_id"] == str(first.pk)
    assert {"pointer": "/data/quantity", "detail": "'quantity' is required"} in results[1]["errors"]
    assert len(callbacks) == 1, "one wake-up for the whole batch"

    assert Transaction.objects.count() == 2
    stored = Transaction.objects.get(source_message_id=accepted["id"])
    assert (stored.business_key, stored.status, stored.plant.code) == ("1000000002", "received", "1000")
    kept = QuarantinedMessage.objects.order_by("endpoint")
    assert [(q.endpoint, q.http_status) for q in kept] == [
        (f"{URL}#1", 422), (f"{URL}#4", 403), (f"{URL}#5", 400)]
    assert json.loads(kept[0].raw_body) == broken


@pytest.mark.parametrize(("body", "status"), [
    (b"[{", 400),
    (b"[]", 422),
    (b'{"specversion": "1.0"}', 422),
])
def test_a_batch_that_is_not_a_list_of_events_is_refused_whole(post_batch, body, status):
    response = post_batch(body)
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert Transaction.objects.count() == 0
    assert QuarantinedMessage.objects.get().raw_body == body.decode()


def test_more_than_a_thousand_events_are_refused(post_batch):
    response = post_batch([released_event(f"10000{n:05d}") for n in range(1001)])
    assert response.status_code == 422 and "1 to 1000" in response.json()["detail"]
    assert Transaction.objects.count() == 0


def test_a_thousand_events_are_stored(post_batch):
    response = post_batch([released_event(f"10000{n:05d}") for n in range(1000)])
    assert response.status_code == 200
    assert {r["status"] for r in response.json()["results"]} == {202}
    assert Transaction.objects.count() == 1000


def test_an_oversized_batch_is_413(post_batch, settings):
    settings.MAX_BATCH_BYTES = 2048
    response = post_batch([released_event(f"10000{n:05d}") for n in range(5)])
    assert response.status_code == 413
    assert QuarantinedMessage.objects.get().http_status == 413
