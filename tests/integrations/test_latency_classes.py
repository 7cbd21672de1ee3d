"""Micro-batch and end-of-day deliveries wait for their scheduled run; the others go at once."""

import datetime as dt
import zoneinfo

import pytest

from integrations.models import Delivery, RoutingRule, Transaction
from integrations.services.delivery import deliveries_claim
from integrations.services.routing import transactions_route_received
from integrations.services.schedule import first_attempt_at
from tests.fixtures.events import released_event

UTC = dt.UTC
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def test_micro_batches_fall_due_at_the_next_interval_boundary(settings):
    settings.MICRO_BATCH_INTERVAL_S = 300
    assert first_attempt_at("micro_batch", None, dt.datetime(2026, 11, 23, 8, 7, 12, tzinfo=UTC)) == \
        dt.datetime(2026, 11, 23, 8, 10, tzinfo=UTC)
    assert first_attempt_at("micro_batch", None, dt.datetime(2026, 11, 23, 8, 10, tzinfo=UTC)) == \
        dt.datetime(2026, 11, 23, 8, 15, tzinfo=UTC), "a boundary itself waits for the next one"


def test_end_of_day_is_in_plant_time(plant_1000, settings):
    settings.END_OF_DAY_TIME = "23:30"
    morning = dt.datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)
    assert first_attempt_at("end_of_day", plant_1000, morning) == dt.datetime(2026, 11, 23, 23, 30, tzinfo=BERLIN)
    late = dt.datetime(2026, 11, 23, 23, 45, tzinfo=BERLIN)
    assert first_attempt_at("end_of_day", plant_1000, late) == dt.datetime(2026, 11, 24, 23, 30, tzinfo=BERLIN)


def test_immediate_goes_at_once():
    now = dt.datetime(2026, 11, 23, 8, 7, 12, tzinfo=UTC)
    assert first_attempt_at("immediate", None, now) == now == first_attempt_at("near_real_time", None, now)


@pytest.mark.parametrize("latency_class", ["micro_batch", "end_of_day"])
def test_scheduled_deliveries_are_not_rung_or_claimed_before_their_run(
        latency_class, erp, plant_1000, wms_east, django_capture_on_commit_callbacks):
    rule = RoutingRule.objects.create(name="batched", event_type="production_order.released", plant=plant_1000,
                                      latency_class=latency_class)
    rule.targets.set([wms_east])
    event = released_event()
    tx = Transaction(correlation_id="c", source=erp, source_message_id=event["id"], event_type=event["type"],
                     plant=plant_1000, business_key="1", raw_payload=event, canonical_payload=event["data"])
    tx.set_status("received", "test")
    tx.save()
    with django_capture_on_commit_callbacks() as callbacks:
        transactions_route_received()
    assert callbacks == [], "no wake-up before the scheduled run"
    delivery = Delivery.objects.get()
    assert delivery.next_attempt_at > delivery.created_at
    assert deliveries_claim(latency_class=latency_class, batch_size=10, worker="w").examined == 0
    Delivery.objects.update(next_attempt_at=delivery.created_at)  # the run's time has come
    assert len(deliveries_claim(latency_class=latency_class, batch_size=10, worker="w").claimed) == 1
