"""Gates in front of a target: circuit breaker, maintenance windows, pause, rate limit.

Held deliveries spend no attempt, and drain by themselves, in order, when the gate opens.
Real HTTP to the sandbox WMS (or to a closed port, for a system that is down).
"""

import datetime as dt
import zoneinfo

import pytest
from django.utils import timezone

from exceptions_queue.models import ExceptionCase
from integrations.models import Delivery, MaintenanceWindow, System, Transaction
from integrations.services.delivery import deliveries_claim, deliveries_deliver_due
from integrations.services.gates import held_release
from integrations.services.routing import transactions_route_received
from tests.fixtures.events import released_event

CLOSED_PORT_URL = "http://127.0.0.1:9/sandbox/WMS-EAST"


@pytest.fixture
def orders(erp, plant_1000, plant_2000, released_to_wms_east):
    """Receive and route released orders; return their deliveries, oldest first."""

    def _orders(count: int, plant=None, prefix: str = "60000") -> list[Delivery]:
        for n in range(count):
            event = released_event(f"{prefix}{n:05d}", (plant or plant_1000).code)
            tx = Transaction(correlation_id="c", source=erp, source_message_id=event["id"], event_type=event["type"],
                             plant=plant or plant_1000, business_key=f"{prefix}{n:05d}", raw_payload=event,
                             canonical_payload=event["data"])
            tx.set_status("received", "test")
            tx.save()
        transactions_route_received()
        return list(Delivery.objects.filter(transaction__business_key__startswith=prefix).order_by("created_at", "id"))

    return _orders


def statuses(deliveries) -> list[tuple[str, int]]:
    by_pk = {d.pk: d for d in Delivery.objects.filter(pk__in=[d.pk for d in deliveries])}
    return [(by_pk[d.pk].status, by_pk[d.pk].attempt_count) for d in deliveries]


def deliver_all():
    return deliveries_deliver_due(latency_class="immediate", batch_size=1, max_batches=100)


def test_the_circuit_opens_after_repeated_failures_and_holds_without_spending_attempts(orders, wms_east, sandbox):
    wms_east.base_url, wms_east.circuit_threshold = CLOSED_PORT_URL, 2
    wms_east.save()
    deliveries = orders(5)
    deliver_all()
    # Two attempts fail and open the circuit; the rest are held. A failed one that falls due again
    # while the circuit is open is held too: either way no further attempt is spent.
    assert [attempts for _, attempts in statuses(deliveries)] == [1, 1, 0, 0, 0]
    assert [status for status, _ in statuses(deliveries)][2:] == ["held"] * 3
    wms_east.refresh_from_db()
    assert wms_east.circuit_state == "open"
    assert ExceptionCase.objects.get(category="connectivity").title == "WMS-EAST is unreachable: circuit open"
    assert held_release() == 0, "nothing is released while the circuit is open and cooling down"

    # The WMS is back and the cool-down has passed: one probe goes first, then everything drains.
    System.objects.filter(pk=wms_east.pk).update(base_url=sandbox.system_url("WMS-EAST"),
                                                 circuit_opened_at=timezone.now() - dt.timedelta(minutes=5))
    Delivery.objects.filter(status="retrying").update(next_attempt_at=timezone.now())
    assert held_release() == 1, "the oldest held delivery is the probe"
    wms_east.refresh_from_db()
    assert wms_east.circuit_state == "half_open"
    deliver_all()
    wms_east.refresh_from_db()
    assert wms_east.circuit_state == "closed" and wms_east.circuit_failures == 0
    outage = ExceptionCase.objects.get(category="connectivity")
    assert (outage.status, outage.resolution) == ("resolved", "WMS-EAST answers again: circuit closed")
    held_release()
    deliver_all()
    assert [s for s, _ in statuses(deliveries)] == ["delivered"] * 5
    assert [a for _, a in statuses(deliveries)][2:] == [1, 1, 1], "held ones spent exactly one attempt"
    for d in Delivery.objects.filter(pk__in=[d.pk for d in deliveries]):
        assert len(sandbox.ledger("WMS-EAST", idempotency_key=str(d.idempotency_key))) == 1


def test_a_maintenance_window_holds_deliveries_and_they_drain_in_order_after_it(orders, wms_east, sandbox):
    wms_east.base_url = sandbox.system_url("WMS-EAST")
    wms_east.save()
    now = timezone.now()
    window = MaintenanceWindow.objects.create(name="WMS upgrade", system=wms_east, starts_at=now - dt.timedelta(
        minutes=1), ends_at=now + dt.timedelta(hours=1))
    deliveries = orders(4)
    deliver_all()
    assert statuses(deliveries) == [("held", 0)] * 4
    assert "maintenance window 'WMS upgrade'" in Delivery.objects.get(pk=deliveries[0].pk).held_reason
    assert "held for WMS-EAST" in deliveries[0].transaction.__class__.objects.get(
        pk=deliveries[0].transaction_id).history[-1]["note"]
    assert held_release() == 0

    window.ends_at = timezone.now() - dt.timedelta(seconds=1)
    window.save()
    assert held_release() == 4
    deliver_all()
    assert statuses(deliveries) == [("delivered", 1)] * 4
    delivered_order = list(Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).order_by("delivered_at", "id")
                           .values_list("pk", flat=True))
    assert delivered_order == [d.pk for d in deliveries], "drained oldest first"


def test_a_plant_window_holds_only_that_plants_deliveries(orders, wms_east, sandbox, plant_2000):
    wms_east.base_url = sandbox.system_url("WMS-EAST")
    wms_east.save()
    now = timezone.now()
    MaintenanceWindow.objects.create(name="Columbus shutdown", plant=plant_2000, starts_at=now - dt.timedelta(hours=1),
                                     ends_at=now + dt.timedelta(hours=1))
    hamburg = orders(1, prefix="61000")
    columbus = orders(1, plant=plant_2000, prefix="62000")
    deliver_all()
    assert statuses(hamburg) == [("delivered", 1)]
    assert statuses(columbus) == [("held", 0)]


def test_a_manual_pause_holds_until_resumed(orders, wms_east, sandbox):
    System.objects.filter(pk=wms_east.pk).update(base_url=sandbox.system_url("WMS-EAST"), paused=True,
                                                 paused_reason="stock count")
    deliveries = orders(2)
    deliver_all()
    assert statuses(deliveries) == [("held", 0)] * 2
    assert Delivery.objects.get(pk=deliveries[0].pk).held_reason == "WMS-EAST paused: stock count"
    System.objects.filter(pk=wms_east.pk).update(paused=False)
    assert held_release() == 2
    deliver_all()
    assert statuses(deliveries) == [("delivered", 1)] * 2


def test_the_rate_limit_defers_without_spending_attempts(orders, wms_east, settings):
    System.objects.filter(pk=wms_east.pk).update(rate_limit_per_s=0.5, code="WMS-RL-TEST")  # a fresh bucket
    deliveries = orders(3)
    batch = deliveries_claim(latency_class="immediate", batch_size=10, worker="w")
    assert [c.delivery.pk for c in batch.claimed] == [deliveries[0].pk] and batch.examined == 3
    later = Delivery.objects.filter(pk__in=[deliveries[1].pk, deliveries[2].pk])
    assert all(d.attempt_count == 0 and d.status == "pending" and d.next_attempt_at > timezone.now() for d in later)


@pytest.mark.parametrize(("local_moment", "inside"), [
    ("2026-11-29 02:00", True),   # Sunday, window opens
    ("2026-11-29 03:59", True),
    ("2026-11-29 04:00", False),  # closed again
    ("2026-11-28 03:00", False),  # Saturday
    ("2026-03-29 03:30", True),   # Sunday of the spring DST change in Berlin
])
def test_a_weekly_window_is_in_plant_time(plant_1000, local_moment, inside):
    window = MaintenanceWindow(name="MES weekly", plant=plant_1000, kind="weekly", weekday=6,
                               start_time=dt.time(2, 0), duration_minutes=120)
    moment = dt.datetime.fromisoformat(local_moment).replace(tzinfo=zoneinfo.ZoneInfo("Europe/Berlin"))
    assert (window.occurrence_at(moment) is not None) is inside


def test_a_weekly_window_may_run_past_midnight(plant_1000):
    window = MaintenanceWindow(name="Sunday night", plant=plant_1000, kind="weekly", weekday=6,
                               start_time=dt.time(23, 0), duration_minutes=240)
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    start, end = window.occurrence_at(dt.datetime(2026, 11, 30, 1, 0, tzinfo=berlin))  # Monday 01:00
    assert (start.hour, end.hour, end.weekday()) == (23, 3, 0)


def test_a_target_answering_503_counts_toward_the_circuit_and_a_rejection_does_not(orders, wms_east, sandbox):
    wms_east.base_url, wms_east.circuit_threshold = sandbox.system_url("WMS-EAST"), 2
    wms_east.save()
    sandbox.set_fault("WMS-EAST", "reject", duration_s=60)
    try:
        orders(2, prefix="63000")
        deliver_all()
        wms_east.refresh_from_db()
        assert (wms_east.circuit_state, wms_east.circuit_failures) == ("closed", 0), "a rejecting system is up"
        sandbox.set_fault("WMS-EAST", "http_503", duration_s=60)
        orders(2, prefix="64000")
        deliver_all()
        wms_east.refresh_from_db()
        assert wms_east.circuit_state == "open"
    finally:
        sandbox.clear_fault("WMS-EAST")


def test_a_failed_probe_spends_no_attempt_and_keeps_its_place(orders, wms_east, sandbox):
    """A long outage: each half-open probe that fails is the circuit's question, not the delivery's
    attempt, and the probe stays first in line instead of going to the back behind a backoff."""
    wms_east.base_url, wms_east.circuit_threshold = CLOSED_PORT_URL, 1
    wms_east.save()
    deliveries = orders(3)
    deliver_all()
    assert statuses(deliveries) == [("held", 1), ("held", 0), ("held", 0)]

    System.objects.filter(pk=wms_east.pk).update(max_attempts=2)
    for _ in range(3):  # three cool-downs pass; each probe fails
        System.objects.filter(pk=wms_east.pk).update(circuit_opened_at=timezone.now() - dt.timedelta(minutes=5))
        assert held_release() == 1
        deliver_all()
        assert [s for s, _ in statuses(deliveries)] == ["held"] * 3, "the probe keeps its place"
        wms_east.refresh_from_db()
        assert wms_east.circuit_state == "open"
    probe = Delivery.objects.get(pk=deliveries[0].pk)
    assert list(probe.attempts.values_list("outcome", flat=True)) == ["transient_error"] + ["probe_failed"] * 3
    assert probe.attempts_spent() == 1, "with 2 attempts allowed, three failed probes did not make it dead"

    System.objects.filter(pk=wms_east.pk).update(base_url=sandbox.system_url("WMS-EAST"),
                                                 circuit_opened_at=timezone.now() - dt.timedelta(minutes=5))
    held_release()
    deliver_all()
    held_release()
    deliver_all()
    delivered = list(Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).order_by("delivered_at", "id")
                     .values_list("pk", flat=True))
    assert delivered == [d.pk for d in deliveries], "drained oldest first, the old probe included"
