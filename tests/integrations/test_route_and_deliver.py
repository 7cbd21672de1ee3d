"""Routing and delivery services against real PostgreSQL; outside calls go to real closed ports."""

from datetime import timedelta

import pytest
from django.utils import timezone

from exceptions_queue.models import ExceptionCase
from integrations.choices import LatencyClass
from integrations.models import Attempt, Delivery, RoutingRule, Transaction
from integrations.services.delivery import (
    deliveries_claim,
    deliveries_deliver_due,
    delivery_record_outcome,
    delivery_send,
    leases_expire,
    retry_delay_s,
)
from integrations.services.routing import transactions_route_received
from tests.fixtures.events import released_event


@pytest.fixture
def receive(erp, plant_1000, plant_2000):
    def _receive(order_number="1000000001", plant=plant_1000, **data):
        event = released_event(order_number, plant.code, **data)
        tx = Transaction(correlation_id=order_number, source=erp, source_message_id=event["id"],
                         event_type=event["type"], plant=plant, business_key=order_number,
                         raw_payload=event, canonical_payload=event["data"])
        tx.set_status("received", "test")
        tx.save()
        return tx

    return _receive


def test_a_received_order_is_routed_to_its_plants_wms(receive, released_to_wms_east, wms_east):
    tx = receive()
    assert transactions_route_received() == 1
    tx.refresh_from_db()
    assert tx.status == "routed" and tx.routing_rule == released_to_wms_east[0] and tx.routing_rule_version == 1
    [delivery] = tx.deliveries.all()
    assert (delivery.target, delivery.status, delivery.latency_class) == (wms_east, "pending", "immediate")
    assert transactions_route_received() == 0, "routed once only"


def test_rule_conditions_and_plants_pick_the_targets(receive, plant_1000, wms_east, erp):
    rule = RoutingRule.objects.create(name="Pumps only", event_type="production_order.released", plant=plant_1000,
                                      conditions={"material": "FG-200"}, latency_class=LatencyClass.NEAR_REAL_TIME)
    rule.targets.set([wms_east])
    pump, other = receive("1000000001", material="FG-200"), receive("1000000002", material="FG-999")
    transactions_route_received()
    assert pump.deliveries.get().latency_class == "near_real_time"
    other.refresh_from_db()
    assert other.status == "unrouted" and not other.deliveries.exists()


def test_a_rule_without_targets_records_the_event_without_an_exception(receive, plant_1000):
    RoutingRule.objects.create(name="Snapshots are kept for reconciliation", event_type="production_order.released",
                               plant=plant_1000)
    tx = receive()
    transactions_route_received()
    tx.refresh_from_db()
    assert tx.status == "ignored" and not tx.deliveries.exists()
    assert not ExceptionCase.objects.exists()


def test_unrouted_events_of_one_cause_fold_into_one_exception(receive):
    receive("1000000001"), receive("1000000002")
    transactions_route_received()
    [exception] = ExceptionCase.objects.all()
    assert exception.category == "unrouted" and exception.occurrences == 2 and exception.role == "integration_admin"
    assert "production_order.released in plant 1000" in exception.title


def test_an_unreachable_target_is_retried_later_with_every_attempt_recorded(receive, released_to_wms_east):
    tx = receive()
    transactions_route_received()
    assert deliveries_deliver_due(latency_class="immediate") == 1
    delivery = tx.deliveries.get()
    assert delivery.status == "retrying" and delivery.attempt_count == 1
    assert delivery.next_attempt_at > timezone.now() - timedelta(seconds=1)
    assert not delivery.lease_owner, "the lease is released after the outcome is recorded"
    attempt = delivery.attempts.get()
    assert (attempt.outcome, attempt.error_class) == ("transient_error", "connection")
    assert attempt.finished_at is not None
    tx.refresh_from_db()
    assert tx.status == "routed" and "retry in" in tx.history[-1]["note"]


def test_the_last_failed_attempt_makes_the_delivery_dead_with_an_exception(receive, released_to_wms_east, wms_east):
    wms_east.max_attempts = 2
    wms_east.save()
    tx = receive()
    transactions_route_received()
    for _ in range(2):
        Delivery.objects.update(next_attempt_at=timezone.now())
        deliveries_deliver_due(latency_class="immediate")
    delivery = tx.deliveries.get()
    assert delivery.status == "dead" and delivery.attempt_count == 2
    tx.refresh_from_db()
    assert tx.status == "dead"
    exception = ExceptionCase.objects.get(delivery=delivery)
    assert exception.category == "delivery_dead" and exception.severity == "high"
    assert deliveries_deliver_due(latency_class="immediate") == 0, "a dead delivery is not tried again"


def test_a_delivery_that_gets_through_later_closes_its_exception(receive, released_to_wms_east, wms_east, sandbox):
    """A replay (or any later attempt) delivers what was dead: the exception is resolved by itself,
    so nobody acts on it again (a resubmit would post twice)."""
    wms_east.max_attempts = 1
    wms_east.save()
    tx = receive()
    transactions_route_received()
    deliveries_deliver_due(latency_class="immediate")
    assert ExceptionCase.objects.get(category="delivery_dead").status == "open"

    wms_east.base_url = sandbox.system_url("WMS-EAST")
    wms_east.save()
    Delivery.objects.update(status="pending", next_attempt_at=timezone.now())  # as a replay does
    deliveries_deliver_due(latency_class="immediate")

    assert tx.deliveries.get().status == "delivered"
    exception = ExceptionCase.objects.get(category="delivery_dead")
    assert exception.status == "resolved" and exception.resolution == "delivered to WMS-EAST on attempt 2"


def test_a_target_with_an_unknown_adapter_is_rejected_not_retried(receive, released_to_wms_east, wms_east):
    wms_east.adapter = "carrier_pigeon"
    wms_east.save()
    tx = receive()
    transactions_route_received()
    deliveries_deliver_due(latency_class="immediate")
    delivery = tx.deliveries.get()
    assert delivery.status == "rejected" and "carrier_pigeon" in delivery.last_error
    assert ExceptionCase.objects.get(delivery=delivery).category == "business_rejection"


def test_a_dead_workers_lease_expires_and_its_late_result_does_not_count(receive, released_to_wms_east):
    tx = receive()
    transactions_route_received()
    [claimed_by_a] = deliveries_claim(latency_class="immediate", batch_size=10, worker="worker-a").claimed
    assert deliveries_claim(latency_class="immediate", batch_size=10, worker="worker-b").claimed == [], "leased"

    Delivery.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))  # worker-a died
    assert leases_expire() == 1
    assert Attempt.objects.get(pk=claimed_by_a.attempt.pk).outcome == "lost"

    [claimed_by_b] = deliveries_claim(latency_class="immediate", batch_size=10, worker="worker-b").claimed
    assert claimed_by_b.attempt.number == 2
    # worker-a wakes up late and reports; worker-b holds the delivery now, so nothing changes.
    assert delivery_record_outcome(claimed_by_a, delivery_send(claimed_by_a), worker="worker-a") == "pending"
    assert tx.deliveries.get().lease_owner == "worker-b"


def test_a_lease_that_ran_out_before_the_sweeper_came_closes_the_dead_workers_attempt(receive,
                                                                                        released_to_wms_east):
    """Another worker may claim an expired lease before the sweeper runs: the old attempt must not
    stay "in flight" forever once the delivery has moved on."""
    receive()
    transactions_route_received()
    [claimed_by_a] = deliveries_claim(latency_class="immediate", batch_size=10, worker="worker-a").claimed
    Delivery.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))  # worker-a died

    [claimed_by_b] = deliveries_claim(latency_class="immediate", batch_size=10, worker="worker-b").claimed

    assert Attempt.objects.get(pk=claimed_by_a.attempt.pk).outcome == "lost"
    assert claimed_by_b.attempt.number == 2


@pytest.mark.parametrize("attempt", [1, 2, 5, 12])
def test_retry_delays_use_full_jitter_under_the_cap(attempt):
    ceiling = min(600.0, 2.0 * 2 ** (attempt - 1))
    delays = [retry_delay_s(attempt, base_s=2.0, cap_s=600.0) for _ in range(300)]
    assert all(0 <= d <= ceiling for d in delays)
    assert max(delays) > ceiling * 0.7 and min(delays) < ceiling * 0.3, "spread over the whole range"


def test_a_rule_may_take_only_one_senders_events(receive, plant_1000, wms_east, erp):
    from_wms = RoutingRule.objects.create(name="Issues from the warehouse", event_type="production_order.released",
                                          plant=plant_1000, source=wms_east)
    from_wms.targets.set([wms_east])
    tx = receive()  # sent by the ERP, not the warehouse
    transactions_route_received()
    tx.refresh_from_db()
    assert tx.status == "unrouted"
    from_erp = RoutingRule.objects.create(name="Releases from the ERP", event_type="production_order.released",
                                          plant=plant_1000, source=erp)
    tx2 = receive("1000000002")
    transactions_route_received()
    tx2.refresh_from_db()
    assert tx2.status == "ignored" and tx2.routing_rule is None, "the ERP's rule matched; it has no target"
    assert from_erp.pk


@pytest.mark.django_db(transaction=True)
def test_a_row_the_driver_cannot_read_fails_alone_and_routing_goes_on(erp, released_to_wms_east):
    """GIVEN two received transactions, one holding a time PostgreSQL keeps but psycopg cannot read back
    (stored by an older version, before ingest refused such times)
    WHEN the router claims its batch
    THEN the readable one is routed, the other is failed with an exception, and nothing stalls."""
    from django.db import connection

    stored = []
    for order in ("1000000001", "1000000002"):
        event = released_event(order)
        stored.append(Transaction.objects.create(
            correlation_id=order, source=erp, source_message_id=event["id"], event_type=event["type"],
            plant=released_to_wms_east[0].plant, business_key=order, raw_payload=event,
            canonical_payload=event["data"]))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE integrations_transaction SET source_time = '0001-01-01 00:00:00+14' WHERE id = %s",
                       [stored[0].pk])

    assert transactions_route_received() == 1

    statuses = dict(Transaction.objects.values_list("business_key", "status"))
    assert statuses == {"1000000001": "failed", "1000000002": "routed"}
    assert ExceptionCase.objects.get(transaction_id=stored[0].pk).category == "processing_error"
