"""The simulated QMS: EPCIS 2.0 capture, holds per lot, its own decisions pushed to the tower, faults."""

import json
import threading
import uuid
from pathlib import Path

import httpx
import pytest
from jsonschema import Draft7Validator

from tests.fixtures.sandbox import fresh_system

OFFICIAL = Path(__file__).resolve().parents[2].parent / "shared" / "standards" / "epcis"
CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
EPCIS = Draft7Validator(json.loads((OFFICIAL / "EPCIS-JSON-Schema.json").read_text()),
                        format_checker=Draft7Validator.FORMAT_CHECKER)


def lot_document(lot: str, disposition: str = "non_sellable_other", biz_step: str = "holding",
                 event_time: str = "2026-03-02T09:15:00.000+01:00", material: str = "RM-210") -> dict:
    return {
        "@context": [CONTEXT, {"ct": "https://controltower.dev/epcis/"}],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-03-02T09:16:00Z",
        "epcisBody": {"eventList": [{
            "type": "ObjectEvent", "eventID": f"urn:uuid:{uuid.uuid4()}", "eventTime": event_time,
            "eventTimeZoneOffset": "+01:00", "action": "OBSERVE", "bizStep": biz_step, "disposition": disposition,
            "bizLocation": {"id": "https://controltower.dev/id/plant/1000"},
            "quantityList": [{"epcClass": f"https://controltower.dev/id/material/{material}/lot/{lot}"}],
            "ct:reason": "moisture above spec",
        }]},
    }


def capture(sandbox, qms: str, document, key: str | None = "new", content_type="application/ld+json",
            client: httpx.Client | None = None) -> httpx.Response:
    headers = {"Content-Type": content_type}
    if key is not None:
        headers["Idempotency-Key"] = str(uuid.uuid4()) if key == "new" else key
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return (client or sandbox.http).post(f"/sandbox/{qms}/epcis/events", content=body, headers=headers)


def holds(sandbox, qms: str) -> dict:
    response = sandbox.http.get(f"/sandbox/{qms}/holds")
    response.raise_for_status()
    return {h["key"]: h for h in response.json()["holds"]}


# Capture ------------------------------------------------------------------------------------------


def test_a_captured_hold_is_recorded_once_per_key(sandbox):
    qms, key = fresh_system("QMS"), str(uuid.uuid4())
    document = lot_document("L-1")

    first = capture(sandbox, qms, document, key)
    again = capture(sandbox, qms, document, key)

    assert first.status_code == 202, first.text
    body = first.json()
    assert body["captureID"].startswith("CAP-") and first.headers["Location"].endswith(body["captureID"])
    assert body["holds"] == [{"material": "RM-210", "lot": "L-1", "status": "held", "already": False}]
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == body
    [entry] = sandbox.ledger(qms)
    assert (entry["operation"], entry["document_number"], entry["replays"]) == ("epcis.capture", body["captureID"], 1)
    assert entry["request"] == document
    hold = holds(sandbox, qms)["RM-210/L-1"]
    assert (hold["status"], hold["plant"], hold["reason"]) == ("held", "1000", "moisture above spec")
    assert len(hold["history"]) == 1


def test_a_release_frees_the_lot_and_releasing_it_again_is_refused(sandbox):
    qms = fresh_system("QMS")
    capture(sandbox, qms, lot_document("L-2"))

    released = capture(sandbox, qms, lot_document("L-2", "conformant", "inspecting"))
    key = str(uuid.uuid4())
    refused = capture(sandbox, qms, lot_document("L-2", "conformant", "inspecting"), key)

    assert released.status_code == 202 and released.json()["holds"][0]["status"] == "released"
    assert refused.status_code == 409 and refused.headers["Content-Type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"] == "qms:LotNotOnHold" and "L-2" in problem["detail"]
    assert problem["errors"] == [{"pointer": "/epcisBody/eventList/0/quantityList/0/epcClass",
                                  "detail": "not on hold"}]
    assert sandbox.ledger(qms, idempotency_key=key) == []  # refused: not a posting
    assert holds(sandbox, qms)["RM-210/L-2"]["status"] == "released"


def test_a_lot_never_held_cannot_be_released(sandbox):
    qms = fresh_system("QMS")
    response = capture(sandbox, qms, lot_document("L-3", "in_progress", "inspecting"))
    assert response.status_code == 409
    assert holds(sandbox, qms) == {} and sandbox.ledger(qms) == []


def test_holding_a_held_lot_again_is_accepted_and_said(sandbox):
    qms = fresh_system("QMS")
    capture(sandbox, qms, lot_document("L-4"))
    again = capture(sandbox, qms, lot_document("L-4", "recalled"))
    assert again.status_code == 202 and again.json()["holds"][0]["already"] is True
    assert len(holds(sandbox, qms)["RM-210/L-4"]["history"]) == 2


def test_events_that_are_not_holds_are_captured_and_change_nothing(sandbox):
    qms = fresh_system("QMS")
    example = json.loads((OFFICIAL / "JSON" / "Example_9.6.2-ObjectEvent.jsonld").read_text())

    response = capture(sandbox, qms, example)

    assert response.status_code == 202 and response.json()["holds"] == []
    assert holds(sandbox, qms) == {}


@pytest.mark.parametrize("bad_time", ["2026-02-30T10:00:00+01:00", "2026-03-02T10:00:00"])
def test_an_invalid_document_is_400_with_pointers_and_not_recorded(sandbox, bad_time):
    qms, key = fresh_system("QMS"), str(uuid.uuid4())

    response = capture(sandbox, qms, lot_document("L-5", event_time=bad_time), key)
    corrected = capture(sandbox, qms, lot_document("L-5"), key)

    assert response.status_code == 400
    problem = response.json()
    assert (problem["type"], problem["title"]) == ("epcisException:ValidationException", "Invalid EPCIS document")
    assert {"pointer": "/epcisBody/eventList/0/eventTime", "detail": f"'{bad_time}' is not a 'date-time'"} \
        in problem["errors"]
    assert corrected.status_code == 202  # the refusal was not recorded, so the same key may carry the fix
    assert len(sandbox.ledger(qms)) == 1


@pytest.mark.parametrize(("body", "headers", "status", "title"), [
    (b"{}", {"Content-Type": "application/ld+json"}, 400, "Missing Idempotency-Key"),
    (b"{", {"Content-Type": "application/ld+json", "Idempotency-Key": "k1"}, 400, "Unparsable body"),
    (b"<a/>", {"Content-Type": "application/xml", "Idempotency-Key": "k2"}, 415, "Unsupported media type"),
])
def test_requests_a_capture_interface_refuses(sandbox, body, headers, status, title):
    qms = fresh_system("QMS")
    response = sandbox.http.post(f"/sandbox/{qms}/epcis/events", content=body, headers=headers)
    assert response.status_code == status and response.json()["title"] == title
    assert sandbox.ledger(qms) == []


def test_only_a_qms_serves_epcis_capture(sandbox):
    assert capture(sandbox, "WMS-EAST", lot_document("L-6")).status_code == 404
    assert sandbox.http.get("/sandbox/WMS-EAST/holds").status_code == 404
    assert sandbox.http.post("/sandbox/ERP-S4/simulate/hold", json={}).status_code == 404


def test_the_same_key_on_ten_connections_at_once_captures_once(sandbox):
    qms, key = fresh_system("QMS"), str(uuid.uuid4())
    document, start, responses = lot_document("L-7"), threading.Barrier(10), []

    def send() -> None:
        with httpx.Client(base_url=sandbox.url, timeout=30) as client:
            start.wait()
            responses.append(capture(sandbox, qms, document, key, client=client))

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.status_code for r in responses) == [200] * 9 + [202]
    [entry] = sandbox.ledger(qms)
    assert entry["replays"] == 9
    assert len(holds(sandbox, qms)["RM-210/L-7"]["history"]) == 1


# Faults -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "status"), [("http_503", 503), ("reject", 422), ("down", 503)])
def test_faults_apply_to_capture_and_nothing_is_recorded(sandbox, mode, status):
    qms = fresh_system("QMS")
    sandbox.set_fault(qms, mode)

    response = capture(sandbox, qms, lot_document("L-8"))

    assert response.status_code == status
    assert sandbox.ledger(qms) == [] and holds(sandbox, qms) == {}
    sandbox.clear_fault(qms)
    assert capture(sandbox, qms, lot_document("L-8")).status_code == 202


# The QMS's own decisions, pushed to the tower -----------------------------------------------------


@pytest.fixture
def tower(http_receiver):
    """Plays the tower's inbound API: records each request; answers 200 with one result."""
    return http_receiver(status=200, reply={"results": [{"index": 0, "status": 202, "duplicate": False}]})


HOLD = {"plant": "2000", "material": "RM-410", "lot": "L-2026-0042", "reason": "supplier CoA missing"}


def simulate(sandbox, qms: str, action: str, body: dict) -> httpx.Response:
    return sandbox.http.post(f"/sandbox/{qms}/simulate/{action}", json=body)


def test_a_simulated_hold_is_pushed_as_valid_epcis_with_the_systems_key(sandbox, tower):
    qms = fresh_system("QMS")
    sandbox.link(qms, tower.base_url, "ct_qms_key")

    response = simulate(sandbox, qms, "hold", HOLD)

    assert response.status_code == 201, response.text
    assert response.json()["tower"] == {"status_code": 200, "body": {"results": [
        {"index": 0, "status": 202, "duplicate": False}]}}
    [pushed] = tower.requests
    assert pushed["path"] == f"/api/v1/inbound/{qms}"
    assert pushed["headers"]["Authorization"] == "Bearer ct_qms_key"
    assert pushed["headers"]["Content-Type"] == "application/ld+json"
    document = json.loads(pushed["raw"])
    assert list(EPCIS.iter_errors(document)) == []
    [event] = document["epcisBody"]["eventList"]
    assert (event["bizStep"], event["disposition"], event["qms:holdReason"]) == (
        "inspecting", "non_conformant", "supplier CoA missing")
    assert event["quantityList"] == [{"epcClass": "https://controltower.dev/id/material/RM-410/lot/L-2026-0042"}]
    assert event["bizLocation"] == {"id": "https://controltower.dev/id/plant/2000"}
    assert event["eventID"] == response.json()["event_id"]
    assert holds(sandbox, qms)["RM-410/L-2026-0042"]["status"] == "held"


def test_simulated_decisions_follow_the_hold_rules(sandbox, tower):
    qms = fresh_system("QMS")
    sandbox.link(qms, tower.base_url, "ct_qms_key")

    assert simulate(sandbox, qms, "release", HOLD).status_code == 409  # not held yet
    assert simulate(sandbox, qms, "hold", HOLD).status_code == 201
    again = simulate(sandbox, qms, "hold", HOLD)
    assert again.status_code == 409 and again.json()["type"] == "qms:LotOnHold"
    released = simulate(sandbox, qms, "release", {**HOLD, "reason": "CoA received", "usage_decision": "rework"})
    assert released.status_code == 201
    assert simulate(sandbox, qms, "release", HOLD).status_code == 409

    assert len(tower.requests) == 2  # refused decisions are not pushed
    release_event = json.loads(tower.requests[1]["raw"])["epcisBody"]["eventList"][0]
    assert (release_event["disposition"], release_event["qms:usageDecision"]) == ("active", "rework")
    assert list(EPCIS.iter_errors(json.loads(tower.requests[1]["raw"]))) == []


def test_a_simulated_decision_needs_an_outbound_link_and_valid_fields(sandbox):
    qms = fresh_system("QMS")
    no_link = simulate(sandbox, qms, "hold", HOLD)
    assert no_link.status_code == 409 and no_link.json()["type"] == "qms:NoOutboundLink"
    assert holds(sandbox, qms) == {}

    bad = simulate(sandbox, qms, "hold", {"plant": "2000", "material": "", "usage_decision": "burn"})
    assert bad.status_code == 400
    assert {e["pointer"] for e in bad.json()["errors"]} == {"/material", "/lot", "/reason", "/usage_decision"}


def test_an_unreachable_tower_is_502_and_the_hold_stands(sandbox):
    qms = fresh_system("QMS")
    sandbox.link(qms, "http://127.0.0.1:9", "ct_qms_key")

    response = simulate(sandbox, qms, "hold", HOLD)

    assert response.status_code == 502 and response.json()["type"] == "qms:TowerUnreachable"
    assert holds(sandbox, qms)["RM-410/L-2026-0042"]["status"] == "held"


@pytest.mark.django_db(transaction=True)
def test_the_tower_maps_what_the_simulated_qms_pushes(sandbox, live_server, plant_1000, plant_2000):
    from integrations.models import ApiKey, System, Transaction

    qms = fresh_system("QMS")
    system = System.objects.create(code=qms, name="test QMS", kind="QMS", adapter="qms_epcis")
    system.plants.set([plant_1000, plant_2000])
    sandbox.link(qms, live_server.url, ApiKey.issue(system)[1])

    placed = simulate(sandbox, qms, "hold", HOLD)
    released = simulate(sandbox, qms, "release", {**HOLD, "reason": "CoA received"})

    assert placed.json()["tower"]["status_code"] == 200, placed.text
    assert released.json()["tower"]["body"]["results"][0]["status"] == 202, released.text
    hold, release = Transaction.objects.filter(source=system).order_by("received_at")
    assert (hold.event_type, hold.business_key, hold.plant.code) == ("quality.hold_placed", "L-2026-0042", "2000")
    assert hold.canonical_payload == {**HOLD, "disposition": "pending"}
    assert hold.source_message_id == placed.json()["event_id"]
    assert release.event_type == "quality.hold_released"
    assert release.canonical_payload == {"plant": "2000", "material": "RM-410", "lot": "L-2026-0042",
                                         "reason": "CoA received", "disposition": "use_as_is"}
    assert release.correlation_id == hold.correlation_id
