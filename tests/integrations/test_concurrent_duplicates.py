"""Copies of the same events racing on many connections: one transaction, one posting each."""

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from integrations.models import Delivery, Transaction
from tests.fixtures.events import released_event
from tests.fixtures.pipeline import wait_until

pytestmark = [pytest.mark.pipeline, pytest.mark.django_db(transaction=True)]


def test_200_events_sent_3_times_concurrently_are_200_transactions_and_200_postings(tower, sandbox, erp_key):
    events = [released_event(f"30000{n:05d}", "2000" if n % 2 else "1000") for n in range(200)]
    copies = [event for event in events for _ in range(3)]
    headers = {"Authorization": f"Bearer {erp_key}", "Content-Type": "application/cloudevents+json"}

    with httpx.Client(base_url=tower.url, headers=headers, timeout=30) as client, ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(lambda e: client.post("/api/v1/events", content=json.dumps(e)), copies))

    assert Counter(r.status_code for r in responses) == {202: 200, 200: 400}
    ids_per_event = {}
    for event, response in zip(copies, responses, strict=True):
        ids_per_event.setdefault(event["id"], set()).add(response.json()["transaction_id"])
    assert all(len(ids) == 1 for ids in ids_per_event.values()), "every copy answered with the first one's ID"
    assert Transaction.objects.filter(business_key__startswith="30000").count() == 200

    wait_until(lambda: Transaction.objects.filter(business_key__startswith="30000", status="delivered").count() == 200,
               timeout_s=120, what="all 200 orders delivered")
    keys = {str(k) for k in Delivery.objects.filter(transaction__business_key__startswith="30000")
            .values_list("idempotency_key", flat=True)}
    assert len(keys) == 200
    postings = Counter(e["idempotency_key"] for e in sandbox.ledger("WMS-EAST") if e["idempotency_key"] in keys)
    assert len(postings) == 200 and set(postings.values()) == {1}, "exactly one posting per delivery"
