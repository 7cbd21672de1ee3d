"""Every fault the sandbox can inject, and how the tower copes: retry, hold, rejection.

(http_503 → retry and reject → rejection are in test_pipeline_end_to_end.py.)
"""

import httpx
import pytest

from integrations.models import Delivery, System, Transaction
from integrations.services.sweep import pipeline_sweep
from tests.fixtures.events import released_event
from tests.fixtures.pipeline import delivered, wait_until

pytestmark = [pytest.mark.pipeline, pytest.mark.django_db(transaction=True)]


def post(tower, erp_key, order_number: str) -> str:
    return httpx.post(f"{tower.url}/api/v1/events", json=released_event(order_number), timeout=10,
                      headers={"Authorization": f"Bearer {erp_key}"}).json()["transaction_id"]


def attempts(tx_id) -> list[tuple[str, str]]:
    delivery = Delivery.objects.filter(transaction_id=tx_id).first()  # none before routing
    return list(delivery.attempts.order_by("number").values_list("outcome", "error_class")) if delivery else []


def test_a_timeout_is_retried_and_delivered_once_the_target_answers(tower, sandbox, erp_key, wms_east):
    System.objects.filter(pk=wms_east.pk).update(timeout_s=1)
    sandbox.set_fault("WMS-EAST", "timeout", duration_s=60)
    try:
        tx_id = post(tower, erp_key, "1000000901")
        wait_until(lambda: attempts(tx_id) and attempts(tx_id)[0][0] == "transient_error", what="a timed-out try")
    finally:
        sandbox.clear_fault("WMS-EAST")
    wait_until(lambda: delivered(tx_id), what="delivery after the timeouts stop")
    assert attempts(tx_id)[0] == ("transient_error", "timeout")
    key = str(Delivery.objects.get(transaction_id=tx_id).idempotency_key)
    assert len(sandbox.ledger("WMS-EAST", idempotency_key=key)) == 1


def test_a_slow_target_is_waited_for(tower, sandbox, erp_key):
    sandbox.set_fault("WMS-EAST", "slow", duration_s=60)
    try:
        tx_id = post(tower, erp_key, "1000000902")
        wait_until(lambda: delivered(tx_id), what="a slow but successful delivery")
    finally:
        sandbox.clear_fault("WMS-EAST")
    [attempt] = Delivery.objects.get(transaction_id=tx_id).attempts.all()
    assert attempt.outcome == "delivered" and attempt.duration_ms >= 2000


def test_a_target_that_is_down_opens_the_circuit_holds_without_attempts_and_drains(tower, sandbox, erp_key,
                                                                                    wms_east):
    # A long cool-down while it is down: no half-open probe may spend an attempt before we count them.
    System.objects.filter(pk=wms_east.pk).update(circuit_threshold=2, circuit_cooldown_s=600, retry_base_s=30)
    sandbox.set_fault("WMS-EAST", "down", duration_s=300)
    try:
        ids = [post(tower, erp_key, f"100000095{n}") for n in range(4)]
        wait_until(lambda: System.objects.get(pk=wms_east.pk).circuit_state == "open", what="the circuit to open")
        wait_until(lambda: Delivery.objects.filter(transaction_id__in=ids, status="held").count() >= 2,
                   what="held deliveries")
        # Two failures open it; with two worker processes a third may have been in flight meanwhile.
        # Once it is open, nothing more is spent: held deliveries have no attempt at all.
        spent = sum(Delivery.objects.filter(transaction_id__in=ids).values_list("attempt_count", flat=True))
        assert 2 <= spent <= 3
        assert not Delivery.objects.filter(transaction_id__in=ids, status="held", attempt_count__gt=1).exists()
        assert Delivery.objects.filter(transaction_id__in=ids, status="held", attempt_count=0).exists()
    finally:
        sandbox.clear_fault("WMS-EAST")
    # The retry delays are long (30 s base): only the circuit's probe and drain bring these in now.
    Delivery.objects.filter(transaction_id__in=ids, status="retrying").update(status="held")
    System.objects.filter(pk=wms_east.pk).update(circuit_cooldown_s=1)

    def drained():
        pipeline_sweep()  # beat's job in a deployment
        return Transaction.objects.filter(pk__in=ids, status="delivered").count() == 4

    wait_until(drained, timeout_s=60, interval_s=1, what="the held deliveries to drain after recovery")
    assert System.objects.get(pk=wms_east.pk).circuit_state == "closed"
    keys = {str(k) for k in Delivery.objects.filter(transaction_id__in=ids).values_list("idempotency_key", flat=True)}
    postings = [e for e in sandbox.ledger("WMS-EAST") if e["idempotency_key"] in keys]
    assert len(postings) == 4
