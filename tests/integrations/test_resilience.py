"""Break a running tower on purpose: nothing is lost, nothing is posted twice.

Each test breaks a private stack (its own PostgreSQL, Redis, worker, beat and sandbox).
"""

import os
import signal
from collections import Counter

import httpx
import pytest

from tests.fixtures.events import released_event
from tests.fixtures.pipeline import ARTIFACTS
from tests.fixtures.stack import DemoStack, accepts

pytestmark = pytest.mark.pipeline


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # A short sweep interval and lease keep the recovery within seconds.
    stack = DemoStack(tmp_path_factory.mktemp("resilience") / "var", CT_SWEEP_INTERVAL_S="1", CT_DELIVERY_LEASE_S="6")
    stack.start()
    yield stack
    stack.stop()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "resilience-stack.log").write_text(stack.log)  # what each process printed, for a failure


def ledger_postings(stack: DemoStack, system: str, keys: set[str]) -> Counter:
    entries = httpx.get(f"{stack.sandbox_url}/sandbox/{system}/ledger", timeout=10).json()["entries"]
    return Counter(e["idempotency_key"] for e in entries if e["idempotency_key"] in keys)


def delivery_keys(stack: DemoStack, prefix: str, target: str = "WMS-EAST") -> set[str]:
    """The idempotency keys of the orders' deliveries to one target (releases also go to the MES)."""
    with stack.db() as conn:
        rows = conn.execute("SELECT d.idempotency_key::text FROM integrations_delivery d JOIN integrations_transaction t"
                            " ON t.id = d.transaction_id JOIN integrations_system s ON s.id = d.target_id"
                            " WHERE t.business_key LIKE %s AND s.code = %s", (prefix + "%", target)).fetchall()
    return {row[0] for row in rows}


def delivered_count(stack: DemoStack, prefix: str) -> int:
    return stack.scalar("SELECT count(*) FROM integrations_transaction WHERE business_key LIKE %s AND status = "
                        "'delivered'", prefix + "%")


def test_events_posted_while_redis_is_down_are_accepted_and_delivered_when_it_returns(stack):
    stack.kill_redis()
    assert not accepts(stack.runtime["redis_port"])

    responses = [stack.post_event(released_event(f"40000{n:05d}", "1000")) for n in range(20)]
    assert [r.status_code for r in responses] == [202] * 20, "the API answers while Redis is down"
    assert stack.scalar("SELECT count(*) FROM integrations_transaction WHERE business_key LIKE '40000%%'") == 20
    assert delivered_count(stack, "40000") == 0

    stack.start_redis()
    stack.wait_until(lambda: delivered_count(stack, "40000") == 20, 90, "every event delivered after Redis returns")
    keys = delivery_keys(stack, "40000")
    postings = ledger_postings(stack, "WMS-EAST", keys)
    assert len(keys) == 20 and len(postings) == 20 and set(postings.values()) == {1}


def test_a_worker_killed_mid_delivery_loses_nothing_and_posts_nothing_twice(stack):
    # The WMS answers slowly, so deliveries are surely in flight when the worker dies.
    httpx.post(f"{stack.sandbox_url}/sandbox/WMS-EAST/faults", json={"mode": "slow", "duration_s": 20, "rate": 1},
               timeout=5).raise_for_status()
    responses = [stack.post_event(released_event(f"50000{n:05d}", "1000")) for n in range(6)]
    assert all(r.status_code == 202 for r in responses)
    stack.wait_until(lambda: stack.scalar("SELECT count(*) FROM integrations_attempt WHERE outcome = 'in_flight'") > 0,
                     30, "a delivery in flight")

    pool = stack.worker_pool_pids()
    assert pool, "the Celery worker has pool processes"
    for pid in pool:
        os.kill(pid, signal.SIGKILL)
    httpx.delete(f"{stack.sandbox_url}/sandbox/WMS-EAST/faults", timeout=5)

    stack.wait_until(lambda: delivered_count(stack, "50000") == 6, 90, "every order delivered after the kill")
    keys = delivery_keys(stack, "50000")
    postings = ledger_postings(stack, "WMS-EAST", keys)
    assert len(postings) == 6 and set(postings.values()) == {1}, "exactly one posting per delivery"
    lost = stack.scalar("SELECT count(*) FROM integrations_attempt a JOIN integrations_delivery d ON d.id = a.delivery_id"
                        " JOIN integrations_transaction t ON t.id = d.transaction_id WHERE t.business_key LIKE '50000%%'"
                        " AND a.outcome = 'lost'")
    assert lost >= 1, "the killed worker's attempts are recorded as lost, not left in flight"
    assert stack.scalar("SELECT count(*) FROM integrations_attempt WHERE outcome = 'in_flight'") == 0
