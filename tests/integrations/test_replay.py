"""Replay: one transaction at once, many as a job; idempotency keys reused unless a new posting is asked for.

The first tests run the services and the API against real PostgreSQL, with wake-ups captured on
commit; the last ones run the whole pipeline (Celery worker, sandbox WMS ledger) for real.
"""

import dataclasses
import threading
from datetime import timedelta

import httpx
import pytest
from django.db import connection
from django.db import transaction as db_transaction
from django.utils import timezone

from controltower.models import AuditEntry
from integrations.choices import SystemKind
from integrations.models import Delivery, ReplayItem, ReplayJob, System, Transaction
from integrations.services import replay as replay_service
from integrations.services.delivery import outbound_event
from integrations.services.replay import replay_job_create, replay_job_run
from tests.fixtures.events import released_event
from tests.fixtures.pipeline import delivered, wait_until

PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def rings(monkeypatch):
    """The wake-ups replay sends after commit, recorded instead of sent to the broker."""
    sent = {"deliveries": [], "replays": []}
    monkeypatch.setattr(replay_service, "ring_deliveries", lambda lc, **kw: sent["deliveries"].append(lc))
    monkeypatch.setattr(replay_service, "ring_replay", lambda job_id, **kw: sent["replays"].append(job_id))
    return sent


@pytest.fixture
def fast_replays(monkeypatch):
    monkeypatch.setenv("CT_REPLAY_RATE_PER_S", "1000")


@pytest.fixture
def mes(db):
    return System.objects.create(code="MES-P1000", name="MES plant 1000", kind=SystemKind.MES, adapter="webhook")


@pytest.fixture
def routed(erp, plant_1000, wms_east):
    """A transaction already delivered to its targets (WMS-EAST unless told otherwise)."""

    def make(order_number="1000000001", *, plant=plant_1000, received_at=None, targets=None,
             status="delivered") -> Transaction:
        event = released_event(order_number, plant.code)
        tx = Transaction.objects.create(
            correlation_id=order_number, source=erp, source_message_id=event["id"], event_type=event["type"],
            plant=plant, business_key=order_number, raw_payload=event, canonical_payload=event["data"],
            status=status, received_at=received_at or timezone.now(),
        )
        for target in [wms_east] if targets is None else targets:
            Delivery.objects.create(transaction=tx, target=target, status=status, attempt_count=1,
                                    target_reference="WT-1", last_error="", delivered_at=timezone.now())
        return tx

    return make


def post(client, url, body):
    return client.post(url, body, content_type="application/json")


# --- one transaction ---------------------------------------------------------------------------------


def test_a_replay_reuses_the_key_makes_the_delivery_due_and_rings_its_queue(
        client, carol, routed, rings, django_capture_on_commit_callbacks):
    tx = routed()
    delivery = tx.deliveries.get()
    Delivery.objects.filter(pk=delivery.pk).update(status="dead", last_error="refused", held_reason="x",
                                                   next_attempt_at=timezone.now() + timedelta(hours=1))
    client.force_login(carol)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, f"/api/v1/transactions/{tx.pk}/replay", {"reason": "WMS restored from backup"})

    assert response.status_code == 202, response.content
    job = response.json()
    assert (job["status"], job["total"], job["done"], job["created_by"]) == ("done", 1, 1, "carol")
    [item] = job["items"]
    assert (item["transaction_id"], item["target"], item["action"]) == (str(tx.pk), "WMS-EAST", "resend")
    assert str(delivery.idempotency_key) in item["detail"]
    assert response["Location"].endswith(f"/api/v1/replays/{job['id']}")

    after = Delivery.objects.get(pk=delivery.pk)
    assert after.idempotency_key == delivery.idempotency_key, "a replay never changes the key by itself"
    assert (after.status, after.last_error, after.held_reason) == ("pending", "", "")
    assert after.next_attempt_at <= timezone.now()
    tx.refresh_from_db()
    assert tx.status == "routed"
    assert tx.history[-1]["note"] == "replayed to WMS-EAST by carol: WMS restored from backup"
    assert rings["deliveries"] == ["immediate"], "the delivery queue is rung once the replay is committed"

    audit = AuditEntry.objects.get(action="transaction.replay")
    assert (audit.actor, audit.object_id, audit.reason) == (carol, str(tx.pk), "WMS restored from backup")
    assert audit.after["deliveries"][0]["idempotency_key"] == str(delivery.idempotency_key)


def test_a_new_posting_gets_a_new_key_and_the_old_one_is_kept_in_history_and_audit(
        client, carol, routed, rings, django_capture_on_commit_callbacks):
    tx = routed()
    old_key = str(tx.deliveries.get().idempotency_key)
    client.force_login(carol)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, f"/api/v1/transactions/{tx.pk}/replay",
                        {"reason": "WMS lost the task; post it again", "new_posting": True})

    assert response.status_code == 202
    assert response.json()["items"][0]["action"] == "new_posting"
    new_key = str(tx.deliveries.get().idempotency_key)
    assert new_key != old_key
    tx.refresh_from_db()
    assert old_key in tx.history[-1]["note"] and new_key in tx.history[-1]["note"]
    assert "by carol" in tx.history[-1]["note"] and tx.history[-1]["note"].endswith("post it again")
    audit = AuditEntry.objects.get(action="transaction.replay")
    assert audit.after["new_posting"] is True
    assert audit.after["deliveries"][0] == {"target": "WMS-EAST", "action": "new_posting",
                                            "idempotency_key": new_key, "previous_idempotency_key": old_key}
    assert rings["deliveries"] == ["immediate"]


def test_a_dry_run_changes_nothing_and_shows_the_key_and_the_event(
        client, carol, routed, rings, django_capture_on_commit_callbacks):
    tx = routed()
    delivery = tx.deliveries.get()
    client.force_login(carol)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(client, f"/api/v1/transactions/{tx.pk}/replay", {"reason": "check", "dry_run": True})

    assert response.status_code == 202
    body = response.json()
    assert body["dry_run"] is True and body["status"] == "done"
    [item] = body["items"]
    assert item["action"] == "would_resend"
    assert item["idempotency_key"] == str(delivery.idempotency_key)
    assert item["event"] == dataclasses.asdict(outbound_event(delivery))
    assert item["event"]["data"]["order_number"] == "1000000001"

    assert callbacks == [] and rings == {"deliveries": [], "replays": []}
    after = Delivery.objects.get(pk=delivery.pk)
    assert (after.status, after.next_attempt_at) == ("delivered", delivery.next_attempt_at)
    tx.refresh_from_db()
    assert tx.status == "delivered" and len(tx.history) == 0
    assert not AuditEntry.objects.exists(), "dry runs are not audited"


def test_a_dry_run_new_posting_says_a_new_key_would_be_made(client, carol, routed, rings):
    tx = routed()
    client.force_login(carol)
    response = post(client, f"/api/v1/transactions/{tx.pk}/replay",
                    {"reason": "check", "dry_run": True, "new_posting": True})
    [item] = response.json()["items"]
    assert item["action"] == "would_new_posting"
    assert item["idempotency_key"] is None and item["event"]["idempotency_key"] is None
    assert str(tx.deliveries.get().idempotency_key) in item["detail"]


def test_a_delivery_a_worker_is_sending_is_skipped(
        client, carol, routed, mes, rings, django_capture_on_commit_callbacks, wms_east):
    tx = routed(targets=[wms_east, mes])
    lease = timezone.now() + timedelta(seconds=30)
    Delivery.objects.filter(target=wms_east).update(status="pending", lease_owner="w1", lease_expires_at=lease)
    client.force_login(carol)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, f"/api/v1/transactions/{tx.pk}/replay", {"reason": "resend"})

    actions = {item["target"]: item["action"] for item in response.json()["items"]}
    assert actions == {"WMS-EAST": "skipped_in_flight", "MES-P1000": "resend"}
    in_flight = Delivery.objects.get(target=wms_east)
    assert (in_flight.lease_owner, in_flight.lease_expires_at) == ("w1", lease), "the worker's lease stands"
    assert Delivery.objects.get(target=mes).status == "pending"
    assert rings["deliveries"] == ["immediate"]


def test_a_parked_delivery_keeps_its_place_behind_its_prerequisite(client, carol, routed, mes, rings, wms_east):
    """GIVEN a delivery parked behind a prerequisite WHEN its transaction is replayed THEN it stays parked,
    and the transaction's status still shows it, while its other delivery is sent again."""
    tx = routed(targets=[wms_east, mes])
    Delivery.objects.filter(target=mes).update(status="parked", held_reason="waits for material.issued")
    client.force_login(carol)
    response = post(client, f"/api/v1/transactions/{tx.pk}/replay", {"reason": "resend"})

    actions = {item["target"]: item["action"] for item in response.json()["items"]}
    assert actions == {"WMS-EAST": "resend", "MES-P1000": "skipped_parked"}
    assert Delivery.objects.get(target=mes).status == "parked"
    tx.refresh_from_db()
    assert tx.status == "parked"


def test_only_the_targets_asked_for_are_replayed_and_an_unknown_one_is_pointed_at(
        client, carol, routed, mes, rings, wms_east):
    tx = routed(targets=[wms_east, mes])
    client.force_login(carol)
    response = post(client, f"/api/v1/transactions/{tx.pk}/replay",
                    {"reason": "x", "targets": ["MES-P1000", "ERP-S4"]})
    assert response.status_code == 422 and response["Content-Type"] == PROBLEM_JSON
    assert [e["pointer"] for e in response.json()["errors"]] == ["/targets/1"]
    assert not ReplayJob.objects.exists()

    response = post(client, f"/api/v1/transactions/{tx.pk}/replay", {"reason": "x", "targets": ["MES-P1000"]})
    assert [item["target"] for item in response.json()["items"]] == ["MES-P1000"]
    assert Delivery.objects.get(target=wms_east).status == "delivered"


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": None}])
def test_a_replay_without_a_reason_is_refused(client, carol, routed, body):
    tx = routed()
    client.force_login(carol)
    response = post(client, f"/api/v1/transactions/{tx.pk}/replay", body)
    assert response.status_code == 422 and response["Content-Type"] == PROBLEM_JSON
    assert [e["pointer"] for e in response.json()["errors"]] == ["/reason"]
    assert tx.deliveries.get().status == "delivered"


def test_an_unknown_transaction_is_404(client, carol, db):
    client.force_login(carol)
    response = post(client, "/api/v1/transactions/00000000-0000-0000-0000-000000000000/replay", {"reason": "x"})
    assert response.status_code == 404 and response["Content-Type"] == PROBLEM_JSON


def test_a_transaction_without_deliveries_has_nothing_to_replay(client, carol, routed):
    tx = routed(targets=[])
    client.force_login(carol)
    response = post(client, f"/api/v1/transactions/{tx.pk}/replay", {"reason": "x"})
    assert response.status_code == 409 and response["Content-Type"] == PROBLEM_JSON


def test_only_integration_admins_may_replay(client, alice, bob, routed, erp_key):
    tx = routed()  # plant 1000: alice plans it and may see it, but may not replay it
    job = ReplayJob.objects.create(reason="x")
    for person in (alice, bob):
        client.force_login(person)
        for response in (post(client, f"/api/v1/transactions/{tx.pk}/replay", {"reason": "x"}),
                         post(client, "/api/v1/replays", {"reason": "x", "filters": {"plant": "1000"}}),
                         client.get(f"/api/v1/replays/{job.pk}")):
            assert response.status_code == 403 and response["Content-Type"] == PROBLEM_JSON
            assert response.json()["detail"] == "Only integration admins may replay transactions."
    client.logout()
    response = client.post(f"/api/v1/transactions/{tx.pk}/replay", {"reason": "x"}, content_type="application/json",
                            HTTP_AUTHORIZATION=f"Bearer {erp_key}")
    assert response.status_code == 403, "a system's API key may not replay"
    assert tx.deliveries.get().status == "delivered" and not AuditEntry.objects.exists()


# --- bulk jobs -----------------------------------------------------------------------------------


def test_a_bulk_replay_makes_a_job_in_order_of_receipt_and_rings_for_it(
        client, carol, routed, plant_2000, rings, django_capture_on_commit_callbacks):
    now = timezone.now()
    # Created out of order on purpose: the job must follow received_at, not insertion order.
    third = routed("1000000003", received_at=now - timedelta(minutes=1))
    first = routed("1000000001", received_at=now - timedelta(minutes=30))
    second = routed("1000000002", received_at=now - timedelta(minutes=10))
    routed("2000000001", plant=plant_2000, received_at=now - timedelta(minutes=20))
    client.force_login(carol)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, "/api/v1/replays", {"filters": {"plant": "1000", "status": ["delivered"]},
                                                    "reason": "WMS restored"})

    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["total"], body["done"]) == ("pending", 3, 0)
    assert [(i["position"], i["transaction_id"], i["action"]) for i in body["items"]] == [
        (1, str(first.pk), "queued"), (2, str(second.pk), "queued"), (3, str(third.pk), "queued")]
    assert rings["replays"] == [body["id"]], "replay_run is enqueued once the job is committed"
    assert not Delivery.objects.exclude(status="delivered").exists(), "nothing is sent before the task runs"
    audit = AuditEntry.objects.get(action="replay.bulk")
    assert audit.object_id == str(body["id"]) and audit.after["total"] == 3 and audit.reason == "WMS restored"


def test_the_task_works_items_in_order_reports_progress_and_can_run_again(
        carol, routed, rings, fast_replays, django_capture_on_commit_callbacks):
    now = timezone.now()
    txs = [routed(f"100000000{n}", received_at=now - timedelta(minutes=10 - n)) for n in range(4)]
    job = replay_job_create(actor=carol, reason="restore", filters={"plant": "1000"})

    with django_capture_on_commit_callbacks(execute=True):
        assert replay_job_run(job_id=job.pk, max_items=2) == 2
    job.refresh_from_db()
    assert (job.status, job.done, job.total) == ("running", 2, 4)
    assert list(job.items.values_list("done", "action")) == [
        (True, "resend"), (True, "resend"), (False, "queued"), (False, "queued")]
    assert [Delivery.objects.get(transaction=tx).status for tx in txs] == ["pending", "pending",
                                                                          "delivered", "delivered"]
    assert rings["deliveries"] == ["immediate"]

    with django_capture_on_commit_callbacks(execute=True):
        assert replay_job_run(job_id=job.pk) == 2, "a second run picks up after the last done item"
    job.refresh_from_db()
    assert (job.status, job.done) == ("done", 4) and job.finished_at is not None
    assert replay_job_run(job_id=job.pk) == 0, "a finished job is not worked again"
    # Sent in order of receipt: each delivery was made due no later than the next one.
    due = [Delivery.objects.get(transaction=tx).next_attempt_at for tx in txs]
    assert due == sorted(due)
    tx = Transaction.objects.get(pk=txs[0].pk)
    assert tx.status == "routed" and tx.history[-1]["note"] == f"replayed to WMS-EAST by carol (replay {job.pk}): restore"


def test_a_bulk_new_posting_audits_every_key_it_replaces(carol, routed, rings, fast_replays):
    tx = routed()
    old_key = str(tx.deliveries.get().idempotency_key)
    job = replay_job_create(actor=carol, reason="post again", filters={"business_key": "1000000001"},
                            new_posting=True)
    replay_job_run(job_id=job.pk)
    new_key = str(tx.deliveries.get().idempotency_key)
    assert new_key != old_key
    entry = AuditEntry.objects.get(action="transaction.replay", object_id=str(tx.pk))
    assert entry.after["deliveries"][0]["previous_idempotency_key"] == old_key
    assert entry.reason == "post again"


def test_replay_missing_takes_everything_routed_to_that_system_since_then(
        client, carol, routed, mes, rings, fast_replays, wms_east):
    since = timezone.now() - timedelta(hours=1)
    routed("1000000001", received_at=since - timedelta(minutes=5))  # before the backup was taken
    to_both = routed("1000000002", received_at=since + timedelta(minutes=5), targets=[wms_east, mes])
    retrying = routed("1000000003", received_at=since + timedelta(minutes=10), status="retrying")
    routed("1000000004", received_at=since + timedelta(minutes=15), targets=[mes])  # never went to WMS-EAST
    client.force_login(carol)
    response = post(client, "/api/v1/replays", {"missing_for": "WMS-EAST", "since": since.isoformat(),
                                                "reason": "WMS-EAST restored from last night's backup"})

    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["missing_for"], body["targets"]) == ("WMS-EAST", ["WMS-EAST"])
    assert [(i["transaction_id"], i["target"]) for i in body["items"]] == [
        (str(to_both.pk), "WMS-EAST"), (str(retrying.pk), "WMS-EAST")]
    replay_job_run(job_id=body["id"])
    assert Delivery.objects.get(transaction=to_both, target=mes).status == "delivered", "other targets untouched"
    progress = client.get(f"/api/v1/replays/{body['id']}").json()
    assert (progress["status"], progress["done"]) == ("done", 2)
    assert {i["action"] for i in progress["items"]} == {"resend"}


def test_a_dry_run_bulk_job_records_what_it_would_do_and_changes_nothing(
        client, carol, routed, rings, fast_replays):
    tx = routed()
    client.force_login(carol)
    body = post(client, "/api/v1/replays", {"filters": {"type": "production_order.released"}, "dry_run": True,
                                            "reason": "what would go?"}).json()
    replay_job_run(job_id=body["id"])
    job = client.get(f"/api/v1/replays/{body['id']}").json()
    assert (job["status"], job["done"]) == ("done", 1)
    [item] = job["items"]
    delivery = tx.deliveries.get()
    assert item["action"] == "would_resend" and item["idempotency_key"] == str(delivery.idempotency_key)
    assert item["event"]["transaction_id"] == str(tx.pk)
    assert delivery.status == "delivered" and rings["deliveries"] == []
    assert not AuditEntry.objects.exists()


def test_a_job_shows_its_items_a_page_at_a_time(client, carol, routed, rings):
    for n in range(3):
        routed(f"100000000{n}", received_at=timezone.now() - timedelta(minutes=5 - n))
    job = replay_job_create(actor=carol, reason="x", filters={"plant": "1000"})
    client.force_login(carol)
    first = client.get(f"/api/v1/replays/{job.pk}?limit=2").json()
    assert [i["position"] for i in first["items"]] == [1, 2] and first["total"] == 3
    second = client.get(first["items_next"]).json()
    assert [i["position"] for i in second["items"]] == [3] and second["items_next"] is None
    assert client.get("/api/v1/replays/999999").status_code == 404


def test_replay_jobs_are_listed_newest_first_without_their_items(client, carol, alice, routed, rings):
    routed("1000000001")
    older = replay_job_create(actor=carol, reason="WMS restored from backup", filters={"plant": "1000"})
    newer = replay_job_create(actor=carol, reason="second pass", filters={"plant": "1000"}, dry_run=True)
    client.force_login(carol)
    jobs = client.get("/api/v1/replays").json()["results"]
    assert [(j["id"], j["reason"], j["dry_run"]) for j in jobs] == [
        (newer.pk, "second pass", True), (older.pk, "WMS restored from backup", False)]
    assert "items" not in jobs[0] and jobs[0]["created_by"] == "carol"
    client.force_login(alice)
    assert client.get("/api/v1/replays").status_code == 403, "replays are for integration admins"


def test_bulk_filters_are_checked_with_pointers(client, carol, db):
    client.force_login(carol)
    response = post(client, "/api/v1/replays", {"reason": "x", "filters": {
        "status": "lost", "received_after": "yesterday", "colour": "red"}})
    assert response.status_code == 422 and response["Content-Type"] == PROBLEM_JSON
    assert sorted(e["pointer"] for e in response.json()["errors"]) == [
        "/filters/colour", "/filters/received_after", "/filters/status"]

    response = post(client, "/api/v1/replays", {"reason": "x", "filters": {}})
    assert [e["pointer"] for e in response.json()["errors"]] == ["/filters"]
    response = post(client, "/api/v1/replays", {"reason": "x", "filters": {"plant": "1000"}, "targets": ["NOPE"]})
    assert [e["pointer"] for e in response.json()["errors"]] == ["/targets/0"]
    response = post(client, "/api/v1/replays", {"reason": "x", "missing_for": "NOPE", "since": "2026-01-01T00:00Z"})
    assert [e["pointer"] for e in response.json()["errors"]] == ["/missing_for"]
    response = post(client, "/api/v1/replays", {"reason": "x", "missing_for": "WMS-EAST"})
    assert [e["pointer"] for e in response.json()["errors"]] == ["/since"]
    response = post(client, "/api/v1/replays", {"filters": {"plant": "1000"}})
    assert [e["pointer"] for e in response.json()["errors"]] == ["/reason"]
    assert not ReplayJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_job_another_run_holds_is_left_to_it(carol, routed, rings, fast_replays):
    """GIVEN a run holding the job row WHEN a second run starts THEN it leaves at once, working nothing."""
    routed()
    job = replay_job_create(actor=carol, reason="x", filters={"plant": "1000"})
    locked, release = threading.Event(), threading.Event()

    def other_run():
        try:
            with db_transaction.atomic():
                ReplayJob.objects.select_for_update().get(pk=job.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_run)
    thread.start()
    try:
        assert locked.wait(10)
        assert replay_job_run(job_id=job.pk) == 0
    finally:
        release.set()
        thread.join()
    assert ReplayItem.objects.get(job=job).action == "queued"
    assert replay_job_run(job_id=job.pk) == 1


# --- the whole pipeline, for real -----------------------------------------------------------------------

def ingest(tower, erp_key, order_number: str) -> str:
    response = httpx.post(f"{tower.url}/api/v1/events", json=released_event(order_number),
                          headers={"Authorization": f"Bearer {erp_key}"}, timeout=10)
    assert response.status_code == 202, response.text
    tx_id = response.json()["transaction_id"]
    wait_until(lambda: delivered(tx_id), what=f"order {order_number} to be delivered")
    return tx_id


def ledger_entry(sandbox, key) -> dict:
    [entry] = sandbox.ledger("WMS-EAST", idempotency_key=str(key))
    return entry


@pytest.mark.pipeline
@pytest.mark.django_db(transaction=True)
def test_a_replay_reaches_the_wms_once_per_key_and_a_new_posting_posts_again(tower, sandbox, client, carol, erp_key):
    tx_id = ingest(tower, erp_key, "1000000501")
    delivery = Delivery.objects.get(transaction_id=tx_id)
    key = delivery.idempotency_key
    assert ledger_entry(sandbox, key)["replays"] == 0

    client.force_login(carol)
    response = post(client, f"/api/v1/transactions/{tx_id}/replay", {"reason": "WMS asked for it again"})
    assert response.status_code == 202 and response.json()["items"][0]["action"] == "resend"
    wait_until(lambda: ledger_entry(sandbox, key)["replays"] >= 1, what="the replay to reach the WMS")
    wait_until(lambda: delivered(tx_id), what="the replayed delivery to be recorded")
    assert len(sandbox.ledger("WMS-EAST", idempotency_key=str(key))) == 1, "the same key posts once"
    assert Delivery.objects.get(pk=delivery.pk).attempts.count() == 2

    response = post(client, f"/api/v1/transactions/{tx_id}/replay",
                    {"reason": "the WMS task was deleted by hand", "new_posting": True})
    assert response.status_code == 202 and response.json()["items"][0]["action"] == "new_posting"
    new_key = Delivery.objects.get(pk=delivery.pk).idempotency_key
    assert new_key != key
    wait_until(lambda: sandbox.ledger("WMS-EAST", idempotency_key=str(new_key)), what="the new posting")
    wait_until(lambda: delivered(tx_id), what="the new posting to be recorded")
    assert len(sandbox.ledger("WMS-EAST", idempotency_key=str(key))) == 1, "the old posting stays one"
    assert ledger_entry(sandbox, new_key)["request"]["reference"] == "1000000501"


@pytest.mark.pipeline
@pytest.mark.django_db(transaction=True)
def test_replay_missing_resends_everything_since_then_and_posts_nothing_twice(tower, sandbox, client, carol,
                                                                             erp_key):
    before = ingest(tower, erp_key, "1000000601")
    since = timezone.now()
    tx_ids = [ingest(tower, erp_key, f"100000061{n}") for n in range(3)]
    keys = {tx_id: Delivery.objects.get(transaction_id=tx_id).idempotency_key for tx_id in [before, *tx_ids]}

    client.force_login(carol)
    response = post(client, "/api/v1/replays", {"missing_for": "WMS-EAST", "since": since.isoformat(),
                                                "reason": "WMS-EAST restored from backup"})
    assert response.status_code == 202, response.content
    job = response.json()
    assert [item["transaction_id"] for item in job["items"]] == tx_ids, "in order of receipt, none before"

    def finished():
        progress = client.get(f"/api/v1/replays/{job['id']}").json()
        return progress if progress["status"] == "done" else None

    progress = wait_until(finished, what="the replay job to finish")
    assert progress["done"] == progress["total"] == 3
    assert {item["action"] for item in progress["items"]} == {"resend"}
    for tx_id in tx_ids:
        wait_until(lambda t=tx_id: ledger_entry(sandbox, keys[t])["replays"] >= 1, what="every one re-sent")
        wait_until(lambda t=tx_id: delivered(t), what="every one delivered again")
    for tx_id in tx_ids:
        assert len(sandbox.ledger("WMS-EAST", idempotency_key=str(keys[tx_id]))) == 1
    assert ledger_entry(sandbox, keys[before])["replays"] == 0, "what came before the time is not re-sent"


@pytest.mark.pipeline
@pytest.mark.django_db(transaction=True)
def test_a_dry_run_sends_nothing_and_shows_the_key_and_payload(tower, sandbox, client, carol, erp_key):
    tx_id = ingest(tower, erp_key, "1000000701")
    delivery = Delivery.objects.get(transaction_id=tx_id)
    before = ledger_entry(sandbox, delivery.idempotency_key)

    client.force_login(carol)
    response = post(client, f"/api/v1/transactions/{tx_id}/replay", {"reason": "what would go?", "dry_run": True})
    [item] = response.json()["items"]
    assert item["idempotency_key"] == str(delivery.idempotency_key)
    assert item["event"]["data"]["order_number"] == "1000000701" and item["event"]["event_type"] == \
        "production_order.released"

    # A bulk dry run goes through the worker too; once it is done, still nothing has been sent.
    job = post(client, "/api/v1/replays", {"filters": {"business_key": "1000000701"}, "dry_run": True,
                                           "reason": "what would go?"}).json()
    wait_until(lambda: ReplayJob.objects.filter(pk=job["id"], status="done").exists(), what="the dry run job")
    assert ReplayItem.objects.get(job_id=job["id"]).action == "would_resend"
    after = Delivery.objects.get(pk=delivery.pk)
    assert (after.status, after.attempt_count) == ("delivered", delivery.attempt_count)
    assert ledger_entry(sandbox, delivery.idempotency_key) == before
    assert len(sandbox.ledger("WMS-EAST", idempotency_key=str(delivery.idempotency_key))) == 1
