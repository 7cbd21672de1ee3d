"""The simulated WMS's staging-request API: tasks, exactly-once by key, errors in the WMS's words."""

import re
import threading
import uuid

import httpx
import pytest

from tests.fixtures.sandbox import fresh_system


def staging_request(**changes) -> dict:
    body = {
        "reference": "1000000042",
        "site": "1000",
        "need_by": "2026-03-02T06:00:00+01:00",
        "lines": [
            {"sku": "RM-210", "qty": 120, "unit": "EA", "lot_tracked": True},
            {"sku": "RM-300", "qty": 42.5, "unit": "KG"},
        ],
    }
    body.update(changes)
    return body


def post(sandbox, system: str, body: dict, key: str | None, client: httpx.Client | None = None):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return (client or sandbox.http).post(f"{sandbox.system_url(system)}/api/staging-requests",
                                         json=body, headers=headers)


def test_staging_request_opens_a_task_and_records_it(sandbox):
    wms, key = fresh_system("WMS"), str(uuid.uuid4())

    response = post(sandbox, wms, staging_request(), key)

    assert response.status_code == 201
    task = response.json()
    assert re.fullmatch(r"WT-\d{6}", task["task_id"])
    assert task == {"task_id": task["task_id"], "status": "open", "reference": "1000000042", "lines": 2}
    [entry] = sandbox.ledger(wms)
    assert entry["idempotency_key"] == key
    assert entry["operation"] == "staging_request.create"
    assert entry["document_number"] == task["task_id"]
    assert entry["request"] == staging_request()
    assert (entry["http_status"], entry["replays"]) == (201, 0)


def test_same_key_again_replays_the_first_answer(sandbox):
    wms, key = fresh_system("WMS"), str(uuid.uuid4())
    first = post(sandbox, wms, staging_request(), key)

    again = post(sandbox, wms, staging_request(), key)
    other = post(sandbox, wms, staging_request(), str(uuid.uuid4()))

    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert other.status_code == 201 and other.json()["task_id"] != first.json()["task_id"]
    [entry] = sandbox.ledger(wms, idempotency_key=key)
    assert entry["replays"] == 1
    assert len(sandbox.ledger(wms)) == 2


def send_at_once(sandbox, wms: str, key: str, connections: int) -> list[httpx.Response]:
    """POST the same staging request with one key on several connections, released together."""
    start = threading.Barrier(connections)
    responses: list[httpx.Response] = []

    def send() -> None:
        with httpx.Client(timeout=30) as client:  # a connection of its own
            start.wait()
            responses.append(post(sandbox, wms, staging_request(), key, client))

    threads = [threading.Thread(target=send) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def test_same_key_on_ten_connections_at_once_opens_one_task(sandbox):
    wms = fresh_system("WMS")
    # Several bursts: the race between two first-time requests is not hit by every burst.
    for _ in range(5):
        key = str(uuid.uuid4())

        responses = send_at_once(sandbox, wms, key, connections=10)

        assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
        assert len({r.json()["task_id"] for r in responses}) == 1
        [entry] = sandbox.ledger(wms, idempotency_key=key)
        assert entry["replays"] == 9
    assert len(sandbox.ledger(wms)) == 5


def test_missing_idempotency_key_is_refused(sandbox):
    wms = fresh_system("WMS")

    response = post(sandbox, wms, staging_request(), key=None)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "MISSING_IDEMPOTENCY_KEY"
    assert sandbox.ledger(wms) == []


def test_invalid_request_names_each_field_and_is_not_recorded(sandbox):
    wms, key = fresh_system("WMS"), str(uuid.uuid4())
    body = staging_request(need_by="tomorrow morning",
                           lines=[{"sku": "RM-210", "qty": 0, "unit": "EA"}, {"qty": 5, "unit": "EA"}])

    response = post(sandbox, wms, body, key)
    corrected = post(sandbox, wms, staging_request(), key)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION"
    assert error["fields"]["lines[0].qty"] == "must be > 0"
    assert set(error["fields"]) == {"need_by", "lines[0].qty", "lines[1].sku"}
    # The refusal was not a posting, so the sender may correct it and retry with the same key.
    assert corrected.status_code == 201
    assert len(sandbox.ledger(wms)) == 1


def test_erp_unit_pc_is_unknown_to_the_wms(sandbox):
    wms = fresh_system("WMS")

    response = post(sandbox, wms, staging_request(lines=[{"sku": "RM-220", "qty": 4, "unit": "PC"}]),
                    str(uuid.uuid4()))

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "UNKNOWN_UNIT"
    assert "PC" in error["fields"]["lines[0].unit"]
    assert sandbox.ledger(wms) == []


def test_unknown_system_is_not_found(sandbox):
    assert post(sandbox, "SAP-PROD", staging_request(), "k").status_code == 404
    assert sandbox.http.get("/sandbox/SAP-PROD/ledger").status_code == 404
    assert sandbox.http.get("/sandbox/WMS-/faults").status_code == 404


def test_wms_api_is_not_served_by_an_erp(sandbox):
    before = len(sandbox.ledger("ERP-S4"))  # other tests post to the demo ERP in this session
    response = post(sandbox, "ERP-S4", staging_request(), str(uuid.uuid4()))

    assert response.status_code == 404
    assert len(sandbox.ledger("ERP-S4")) == before


@pytest.mark.parametrize(
    "code", ["ERP-S4", "WMS-EAST", "WMS-WEST", "MES-P1000", "MES-P2000", "MES-P3000", "QMS-CENTRAL"]
)
def test_demo_plant_systems_exist(sandbox, code):
    response = sandbox.http.get(f"/sandbox/{code}/ledger")

    assert response.status_code == 200
    assert response.json()["system"] == code  # pipeline tests post to the demo codes, so entries may exist
