"""GET /metrics as a Prometheus scraper reads it: the open work per plant and system, and refused keys."""

import datetime as dt
import json
import re

from django.utils import timezone

from exceptions_queue.models import Category, ExceptionCase
from integrations.models import Delivery, QuarantinedMessage, Transaction
from tests.fixtures.events import released_event

SAMPLE = re.compile(r'^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$')


def scrape(client, **headers) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for line in response.content.decode().splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) controltower_[a-z_]+ ", line), line
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
        samples[(match["name"], labels)] = float(match["value"])
    return samples


def post(client, event, key=None):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return client.post("/api/v1/events", data=json.dumps(event), content_type="application/cloudevents+json", **auth)


def test_metrics_show_waiting_work_by_plant_and_target(client, erp_key, released_to_wms_east, wms_east):
    assert post(client, released_event(), erp_key).status_code == 202
    tx = Transaction.objects.get()
    Delivery.objects.create(transaction=tx, target=wms_east, created_at=timezone.now() - dt.timedelta(minutes=5))
    ExceptionCase.objects.create(category=Category.UNROUTED, role="integration_admin", cause_key="x", title="x")
    wms_east.circuit_state = "open"
    wms_east.save()

    samples = scrape(client)

    assert samples[("controltower_transactions_open", frozenset({("plant", "1000"), ("status", "received")}))] == 1
    assert samples[("controltower_deliveries_waiting", frozenset({("target", "WMS-EAST"), ("status", "pending")}))] == 1
    lag = samples[("controltower_delivery_oldest_waiting_seconds", frozenset({("target", "WMS-EAST")}))]
    assert 300 <= lag < 400
    assert samples[("controltower_exceptions_open", frozenset({("category", "unrouted")}))] == 1
    assert samples[("controltower_system_circuit_open", frozenset({("system", "WMS-EAST")}))] == 1
    assert samples[("controltower_system_circuit_open", frozenset({("system", "ERP-S4")}))] == 0


def test_refused_keys_are_counted_not_stored(client, erp_key, released_to_wms_east):
    def failures(reason):
        return scrape(client).get(("controltower_api_auth_failures_total", frozenset({("reason", reason)})), 0)

    before = failures("unknown_key"), failures("no_credentials")
    assert post(client, released_event(), "ct_not_a_key").status_code == 401
    assert post(client, released_event(), "ct_not_a_key").status_code == 401
    assert post(client, released_event()).status_code == 401

    assert (failures("unknown_key"), failures("no_credentials")) == (before[0] + 2, before[1] + 1)
    assert not Transaction.objects.exists() and not QuarantinedMessage.objects.exists()


def test_a_metrics_token_keeps_metrics_from_anyone_without_it(client, db, settings):
    settings.METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert ("controltower_quarantine_open", frozenset()) in scrape(client, HTTP_AUTHORIZATION="Bearer scrape-me")


def test_metrics_go_on_without_redis(client, db, settings):
    """The gauges come from PostgreSQL: a dead Redis only drops the counters it keeps."""
    from controltower import redis_client

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"
    redis_client._client = None
    try:
        samples = scrape(client)
    finally:
        redis_client._client = None
    assert ("controltower_quarantine_open", frozenset()) in samples
    assert not any(name == "controltower_api_auth_failures_total" for name, _ in samples)


def test_deliveries_past_their_sla_are_counted_by_plant_and_target(client, erp_key, released_to_wms_east,
                                                                    wms_east, plant_1000):
    """GIVEN an SLA of 60 s for immediate deliveries, and 600 s for released orders in plant 1000
    WHEN one release has waited 5 min and another 15 min for WMS-EAST, and a change has waited 5 min
    THEN only the 15-minute release and the change are late: the more specific SLA applies."""
    from integrations.models import ServiceLevel

    ServiceLevel.objects.create(latency_class="immediate", max_seconds=60)
    ServiceLevel.objects.create(event_type="production_order.released", latency_class="immediate",
                                plant=plant_1000, max_seconds=600)
    for order in ("4711", "4712"):
        assert post(client, released_event(order), erp_key).status_code == 202
    changed = {**released_event("4711"), "type": "production_order.changed",
               "data": {"order_number": "4711", "plant": "1000", "quantity": {"value": 40, "uom": "EA"}}}
    assert post(client, changed, erp_key).status_code == 202, "the change contract"
    now = timezone.now()
    for tx, minutes in zip(Transaction.objects.order_by("received_at"), (5, 15, 5), strict=True):
        Transaction.objects.filter(pk=tx.pk).update(received_at=now - dt.timedelta(minutes=minutes))
        Delivery.objects.create(transaction=tx, target=wms_east, latency_class="immediate")

    late = scrape(client)[("controltower_deliveries_past_sla", frozenset({("plant", "1000"), ("target", "WMS-EAST")}))]
    assert late == 2
