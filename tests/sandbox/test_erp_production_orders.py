"""The simulated ERP: releasing production orders and pushing production_order.released.

A tiny HTTP server in the test plays the tower and records what the ERP sent, so each test
can check the push itself: the API key, the CloudEvent envelope, and the contract of `data`.
"""

import json
import re
import uuid
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from tests.fixtures.sandbox import fresh_system

CONTRACTS = Path(__file__).resolve().parents[2] / "integrations" / "contracts"


def validator(path: str) -> Draft202012Validator:
    schema = json.loads((CONTRACTS / path).read_text())
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


RELEASED = validator("production_order.released/1.json")
CLOUDEVENT = validator("cloudevent.json")


@pytest.fixture
def tower(http_receiver):
    """Plays the tower's event API: records each push, answers 202 with a new transaction."""
    return http_receiver(status=202, reply=lambda request: {"transaction_id": str(uuid.uuid4()), "duplicate": False})


def release(sandbox, erp: str, **body):
    order = {"plant": "1000", "material": "FG-100", "quantity": 120, **body}
    return sandbox.http.post(f"{sandbox.system_url(erp)}/production-orders", json=order)


def assert_valid_release(event: dict, erp: str) -> None:
    assert list(CLOUDEVENT.iter_errors(event)) == []
    assert list(RELEASED.iter_errors(event["data"])) == []
    assert event["type"] == "production_order.released"
    assert event["source"] == erp
    assert event["id"].startswith(f"{erp}-")
    assert event["plant"] == event["data"]["plant"]
    assert event["businesskey"] == event["data"]["order_number"]


def test_release_without_outbound_link_is_refused(sandbox):
    response = release(sandbox, fresh_system("ERP"))

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "NO_OUTBOUND_LINK"


def test_release_pushes_a_valid_cloudevent_with_the_systems_key(sandbox, tower):
    erp = fresh_system("ERP")
    sandbox.link(erp, tower.base_url, "erp-key-123")
    components = [{"material": "RM-210", "quantity": 120, "uom": "PC", "lot_controlled": True},
                  {"material": "RM-300", "quantity": 42, "uom": "KG", "lot_controlled": True}]

    response = release(sandbox, erp, uom="PC", scheduled_start="2026-03-02T06:00:00+01:00", components=components)

    assert response.status_code == 201
    answer = response.json()
    assert re.fullmatch(r"1\d{9}", answer["order_number"])
    assert answer["tower"]["status_code"] == 202
    assert answer["tower"]["body"]["duplicate"] is False
    [pushed] = tower.requests
    assert pushed["path"] == "/api/v1/events"
    assert pushed["headers"]["Authorization"] == "Bearer erp-key-123"
    assert pushed["headers"]["Content-Type"] == "application/cloudevents+json"
    event = pushed["body"]
    assert_valid_release(event, erp)
    assert event["data"]["order_number"] == answer["order_number"]
    assert event["data"]["quantity"] == {"value": 120, "uom": "PC"}
    assert event["data"]["scheduled_start"] == "2026-03-02T06:00:00+01:00"
    assert event["data"]["components"] == components
    assert event["data"]["routing"] == [{"operation": "0010", "work_center": "WC-1000-01"}]


def test_orders_are_numbered_in_sequence(sandbox, tower):
    erp = fresh_system("ERP")
    sandbox.link(erp, tower.base_url, "k")

    first, second = (release(sandbox, erp).json()["order_number"] for _ in range(2))

    assert int(second) == int(first) + 1


def test_given_order_number_is_kept_and_not_reused(sandbox, tower):
    erp = fresh_system("ERP")
    sandbox.link(erp, tower.base_url, "k")
    number = f"T{uuid.uuid4().hex[:12]}"

    first = release(sandbox, erp, order_number=number)
    again = release(sandbox, erp, order_number=number)

    assert first.json()["order_number"] == number
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "ORDER_EXISTS"
    assert len(tower.requests) == 1


def test_invalid_order_names_each_field(sandbox, tower):
    erp = fresh_system("ERP")
    sandbox.link(erp, tower.base_url, "k")

    response = release(sandbox, erp, quantity=0, scheduled_start="next week",
                       components=[{"material": "RM-210", "quantity": 1}])

    assert response.status_code == 400
    targets = {d["target"] for d in response.json()["error"]["details"]}
    assert targets == {"quantity", "scheduled_start", "components[0].uom"}
    assert tower.requests == []


def test_unreachable_tower_is_a_bad_gateway_and_the_order_stays_released(sandbox, tower):
    erp = fresh_system("ERP")
    sandbox.link(erp, "http://127.0.0.1:9", "k")  # discard port: nothing listens

    response = release(sandbox, erp)

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "TOWER_UNREACHABLE"
    # The ERP kept the order: the next one takes the following number.
    sandbox.link(erp, tower.base_url, "k")
    following = release(sandbox, erp).json()["order_number"]
    assert int(following) == int(response.json()["order_number"]) + 1


def test_erp_faults_apply_to_releases(sandbox, tower):
    erp = fresh_system("ERP")
    sandbox.link(erp, tower.base_url, "k")
    sandbox.set_fault(erp, "http_503")

    assert release(sandbox, erp).status_code == 503
    assert tower.requests == []


def test_traffic_generator_releases_orders_for_the_given_plants(sandbox, tower):
    erp = fresh_system("ERP")
    sandbox.link(erp, tower.base_url, "traffic-key")

    run = sandbox.command("sandbox_traffic", "--system", erp, "--plants", "1000,2000", "--count", "3",
                          "--rate", "50", "--seed", "7", "--releases-only")

    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 4 and lines[-1] == "released 3 order(s)"
    for line in lines[:3]:
        assert re.fullmatch(r"1\d{9} plant (1000|2000) FG-\d{3} x\d+ → tower 202", line)
    assert len(tower.requests) == 3
    for pushed in tower.requests:
        assert pushed["headers"]["Authorization"] == "Bearer traffic-key"
        assert_valid_release(pushed["body"], erp)
        assert pushed["body"]["data"]["plant"] in {"1000", "2000"}
        assert pushed["body"]["data"]["components"]


def test_traffic_generator_needs_an_outbound_link(sandbox):
    run = sandbox.command("sandbox_traffic", "--system", fresh_system("ERP"), "--count", "1")

    assert run.returncode != 0
    assert "no outbound link" in run.stderr
