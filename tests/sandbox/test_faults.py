"""Fault injection: what a caller of a simulated system sees under each mode, and recovery.

Every test breaks a system of its own (fresh code), so no fault outlives the test that set it.
"""

import time
import uuid

import httpx
import pytest

from tests.fixtures.sandbox import fresh_system

STAGING_REQUEST = {
    "reference": "1000000007",
    "site": "2000",
    "need_by": "2026-03-02T06:00:00Z",
    "lines": [{"sku": "RM-410", "qty": 10, "unit": "EA"}],
}


def stage(sandbox, wms: str, timeout: float = 10) -> httpx.Response:
    with httpx.Client(timeout=timeout) as client:
        return client.post(f"{sandbox.system_url(wms)}/api/staging-requests", json=STAGING_REQUEST,
                           headers={"Idempotency-Key": str(uuid.uuid4())})


def test_http_503_answers_unavailable_and_applies_nothing(sandbox):
    wms = fresh_system("WMS")
    sandbox.set_fault(wms, "http_503")

    response = stage(sandbox, wms)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "UNAVAILABLE"
    assert sandbox.ledger(wms) == []


def test_reject_answers_422_rejected(sandbox):
    wms = fresh_system("WMS")
    sandbox.set_fault(wms, "reject")

    response = stage(sandbox, wms)

    assert response.status_code == 422
    assert response.json()["error"] == {"code": "REJECTED", "message": "rejected by fault injection"}
    assert sandbox.ledger(wms) == []


def test_slow_answers_after_two_seconds_and_applies_the_posting(sandbox):
    wms = fresh_system("WMS")
    sandbox.set_fault(wms, "slow")

    started = time.monotonic()
    response = stage(sandbox, wms)

    assert response.status_code == 201
    assert time.monotonic() - started >= 2
    assert len(sandbox.ledger(wms)) == 1


def test_down_answers_nothing_and_closes_the_connection(sandbox):
    wms = fresh_system("WMS")
    sandbox.set_fault(wms, "down")

    response = stage(sandbox, wms)

    assert response.status_code == 503
    assert response.headers["connection"] == "close"
    assert response.content == b""


def test_timeout_leaves_the_caller_without_an_answer(sandbox):
    wms = fresh_system("WMS")
    sandbox.set_fault(wms, "timeout")

    with pytest.raises(httpx.ReadTimeout):
        stage(sandbox, wms, timeout=1)
    assert sandbox.ledger(wms) == []


def test_fault_expires_by_itself(sandbox):
    wms = fresh_system("WMS")
    sandbox.set_fault(wms, "http_503", duration_s=1)
    assert stage(sandbox, wms).status_code == 503

    time.sleep(1.1)

    assert sandbox.http.get(f"/sandbox/{wms}/faults").json() == {"mode": None}
    assert stage(sandbox, wms).status_code == 201


def test_clearing_the_fault_restores_service(sandbox):
    wms = fresh_system("WMS")
    fault = sandbox.set_fault(wms, "http_503", duration_s=600)
    assert sandbox.http.get(f"/sandbox/{wms}/faults").json() == fault
    assert stage(sandbox, wms).status_code == 503

    sandbox.clear_fault(wms)

    assert stage(sandbox, wms).status_code == 201


def test_rate_zero_never_faults(sandbox):
    wms = fresh_system("WMS")
    sandbox.set_fault(wms, "http_503", rate=0)

    statuses = {stage(sandbox, wms).status_code for _ in range(20)}

    assert statuses == {201}


def test_rate_half_faults_some_requests(sandbox):
    wms = fresh_system("WMS")
    sandbox.set_fault(wms, "http_503", rate=0.5)

    statuses = {stage(sandbox, wms).status_code for _ in range(40)}

    assert statuses == {201, 503}  # wrong by chance once in 2**39 runs


def test_control_endpoints_answer_while_the_system_is_down(sandbox):
    wms = fresh_system("WMS")
    sandbox.set_fault(wms, "down")

    assert sandbox.http.get(f"/sandbox/{wms}/faults").json()["mode"] == "down"
    assert sandbox.ledger(wms) == []
    assert sandbox.http.get("/sandbox/healthz").json() == {"status": "ok"}


def test_invalid_fault_is_refused_with_every_reason(sandbox):
    wms = fresh_system("WMS")

    response = sandbox.http.post(f"/sandbox/{wms}/faults", json={"mode": "flood", "duration_s": -5, "rate": 2})

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert len(errors) == 3
    assert any("mode" in e for e in errors) and any("duration_s" in e for e in errors)
    assert any("rate" in e for e in errors)
    assert sandbox.http.get(f"/sandbox/{wms}/faults").json() == {"mode": None}
