"""The simulated MES: B2MML OperationsSchedules in (validated, plant rules, exactly once by key), and
OperationsPerformance documents pushed to the tower when asked to report production.

A tiny HTTP server plays the tower's inbound endpoint and records what the MES pushed; each pushed
document is validated against the official schema in ../shared and mapped by the real adapter.
"""

import uuid
from pathlib import Path

import pytest
from defusedxml.ElementTree import fromstring
from lxml import etree

from integrations import contracts
from integrations.connectors.b2mml import serialize
from integrations.connectors.base import OutboundEvent
from integrations.connectors.mes_b2mml import MesB2mmlConnector
from integrations.models import System
from tests.fixtures.sandbox import fresh_system

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "standards" / "b2mml"


def official(relative: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SHARED / relative)))


def schedule(event_type: str = "production_order.released", **data) -> bytes:
    """An OperationsSchedule as the tower's adapter writes it."""
    order = data.pop("order_number", None) or f"8{uuid.uuid4().int % 10**9:09d}"
    body = {"order_number": order, "plant": "1000"}
    if event_type == "production_order.released":
        body.update(material="FG-100", quantity={"value": 50, "uom": "ea"},
                    scheduled_start="2026-11-24T06:00:00+01:00",
                    components=[{"material": "RM-210", "quantity": 100, "uom": "kg", "lot_controlled": True}],
                    routing=[{"operation": "0010", "work_center": "WC-1000-01"},
                             {"operation": "0020", "work_center": "WC-1000-02"}])
    body.update(data)
    event = OutboundEvent(event_type=event_type, data=body, idempotency_key=str(uuid.uuid4()), transaction_id="1",
                          correlation_id="c", plant=body["plant"], business_key=order, source="ERP-S4")
    build = {"production_order.released": "_released", "production_order.changed": "_changed",
             "production_order.cancelled": "_cancelled"}[event_type]
    return serialize(getattr(MesB2mmlConnector(None), build)(event))


def order_of(document: bytes) -> str:
    return etree.fromstring(document).findtext("{http://www.mesa.org/xml/B2MML}OperationsRequest/"
                                               "{http://www.mesa.org/xml/B2MML}ID")


def send(sandbox, system: str, body: bytes, key: str | None = "new", content_type: str = "application/xml"):
    headers = {"Content-Type": content_type}
    if key is not None:
        headers["Idempotency-Key"] = str(uuid.uuid4()) if key == "new" else key
    return sandbox.http.post(f"{sandbox.system_url(system)}/b2mml/operations-schedule", content=body,
                             headers=headers)


# Receiving schedules -----------------------------------------------------------------------------


def test_a_schedule_is_taken_recorded_and_answered_with_its_id(sandbox):
    mes, key, body = fresh_system("MES"), str(uuid.uuid4()), schedule()

    response = send(sandbox, mes, body, key)

    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["Confirm"] == "Success" and answer["ScheduleID"].startswith("MS-")
    assert answer["OperationsRequests"] == [{"ID": order_of(body), "Action": "released", "RequestState": "Released"}]
    [entry] = sandbox.ledger(mes)
    assert (entry["idempotency_key"], entry["operation"], entry["document_number"]) == \
        (key, "operations_schedule.receive", answer["ScheduleID"])
    assert entry["request"]["xml"].encode() == body
    assert official("Schema/B2MML-OperationsSchedule.xsd").validate(etree.fromstring(body))


def test_same_key_again_replays_without_a_new_effect(sandbox):
    mes, key, body = fresh_system("MES"), str(uuid.uuid4()), schedule()
    first = send(sandbox, mes, body, key)

    again = send(sandbox, mes, body, key)

    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    [entry] = sandbox.ledger(mes)
    assert entry["replays"] == 1


def test_change_then_cancel_a_held_order(sandbox):
    mes, released = fresh_system("MES"), schedule()
    order = order_of(released)
    send(sandbox, mes, released)

    changed = send(sandbox, mes, schedule("production_order.changed", order_number=order, priority=2))
    cancelled = send(sandbox, mes, schedule("production_order.cancelled", order_number=order, reason="no demand"))
    again = send(sandbox, mes, schedule("production_order.changed", order_number=order, priority=1))

    assert changed.json()["OperationsRequests"] == [{"ID": order, "Action": "changed", "RequestState": "Released"}]
    assert cancelled.json()["OperationsRequests"] == [{"ID": order, "Action": "cancelled",
                                                       "RequestState": "Cancelled"}]
    assert (again.status_code, again.json()["ErrorCode"]) == (422, "ORDER_CANCELLED")


@pytest.mark.parametrize(("system", "body", "code"), [
    (f"MES-P1000-{uuid.uuid4().hex[:6]}", schedule(plant="2000"), "WRONG_PLANT"),
    ("MES-T-ANY", schedule("production_order.cancelled", order_number="0000000404"), "UNKNOWN_ORDER"),
    ("MES-T-ANY", schedule("production_order.changed", order_number="0000000405", priority=1), "UNKNOWN_ORDER"),
    ("MES-T-ANY", schedule().replace(b">Production<", b">Maintenance<"), "NOT_PRODUCTION"),
], ids=["wrong-plant", "cancel-unknown", "change-unknown", "not-production"])
def test_business_rules_refuse_with_422_and_record_nothing(sandbox, system, body, code):
    before = len(sandbox.ledger(system))

    response = send(sandbox, system, body)

    assert response.status_code == 422
    answer = response.json()
    assert answer["Confirm"] == "Failure" and answer["ErrorCode"] == code and answer["ErrorDescription"]
    assert "ScheduleID" not in answer and len(sandbox.ledger(system)) == before


def test_a_plant_mes_takes_its_own_plant(sandbox):
    assert send(sandbox, f"MES-P1000-{uuid.uuid4().hex[:6]}", schedule()).status_code == 201


def test_an_invalid_document_is_refused_with_the_xsd_errors(sandbox):
    mes = fresh_system("MES")
    body = schedule().replace(b"<OperationsType>Production</OperationsType>", b"", 1)
    body = body.replace(b"<OperationsDefinitionID>", b"<OperationsDefinitionId>", 1).replace(
        b"</OperationsDefinitionID>", b"</OperationsDefinitionId>", 1)

    response = send(sandbox, mes, body)

    assert response.status_code == 422
    answer = response.json()
    assert answer["ErrorCode"] == "SCHEMA_INVALID"
    assert answer["Errors"][0]["Line"] > 1 and "OperationsDefinitionId" in answer["Errors"][0]["Description"]
    assert sandbox.ledger(mes) == []


@pytest.mark.parametrize(("body", "key", "content_type", "status", "code"), [
    (schedule(), None, "application/xml", 400, "MISSING_IDEMPOTENCY_KEY"),
    (b'{"order": 1}', "new", "application/json", 415, "UNSUPPORTED_MEDIA_TYPE"),
    (b"<OperationsSchedule", "new", "application/xml", 400, "NOT_WELL_FORMED"),
    (b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "new", "application/xml", 400, "UNSAFE_XML"),
    (b'<ProductionSchedule xmlns="http://www.wbf.org/xml/B2MML-V0401"/>', "new", "application/xml", 422,
     "WRONG_DOCUMENT"),
], ids=["no-key", "json", "not-well-formed", "dtd", "legacy-schedule"])
def test_malformed_requests(sandbox, body, key, content_type, status, code):
    response = send(sandbox, fresh_system("MES"), body, key, content_type)
    assert (response.status_code, response.json()["ErrorCode"]) == (status, code)


def test_faults_apply_to_the_schedule_endpoint(sandbox):
    mes = fresh_system("MES")
    sandbox.set_fault(mes, "reject")
    assert send(sandbox, mes, schedule()).status_code == 422
    sandbox.clear_fault(mes)
    assert send(sandbox, mes, schedule()).status_code == 201


def test_only_mes_systems_take_schedules(sandbox):
    assert send(sandbox, fresh_system("WMS"), schedule()).status_code == 404


# Reporting performance ---------------------------------------------------------------------------


@pytest.fixture
def tower(http_receiver):
    """Plays the tower's inbound API: records each request; answers 200."""
    return http_receiver(status=200, reply={"results": []})


def simulate(sandbox, mes: str, **body):
    return sandbox.http.post(f"{sandbox.system_url(mes)}/simulate/performance", json=body)


@pytest.fixture
def linked_mes(sandbox, tower):
    mes = f"MES-P1000-{uuid.uuid4().hex[:6]}"
    sandbox.link(mes, tower.base_url, "ct_test_key")
    return mes


def adapter_events(mes_code: str, body: bytes, plant) -> list[dict]:
    system = System.objects.create(code=mes_code[:32], name="MES", kind="MES", adapter="mes_b2mml")
    system.plants.set([plant])
    return MesB2mmlConnector(system).parse_inbound(fromstring(body, forbid_dtd=True))


def test_simulated_performance_is_valid_b2mml_pushed_with_the_mes_key(sandbox, tower, linked_mes, plant_1000):
    released = schedule()
    order = order_of(released)
    send(sandbox, linked_mes, released)

    response = simulate(sandbox, linked_mes, order_number=order, scrap=2, lot="FG-LOT-1")

    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["OrderNumber"] == order and answer["Operations"] == ["0010", "0020"]
    assert answer["ResponseState"] == "Completed" and answer["tower"]["status_code"] == 200
    [pushed] = tower.requests
    assert pushed["path"] == f"/api/v1/inbound/{linked_mes}"
    assert pushed["headers"]["Authorization"] == "Bearer ct_test_key"
    assert pushed["headers"]["Content-Type"] == "application/xml"
    assert official("Schema/B2MML-OperationsPerformance.xsd").validate(etree.fromstring(pushed["raw"]))

    events = adapter_events(linked_mes, pushed["raw"], plant_1000)

    assert [e["type"] for e in events] == ["operation.completed", "material.issued", "operation.completed",
                                           "production.completed"]
    for e in events:
        assert contracts.errors(e["type"], "1", e["data"]) == []
    assert events[1]["data"] == {"order_number": order, "plant": "1000", "material": "RM-210",
                                 "quantity": {"value": 100, "uom": "kg"}, "location": "PSA-1000",
                                 "lot": f"RM-210-{order}"}
    assert events[3]["data"] == {"order_number": order, "plant": "1000", "material": "FG-100",
                                 "quantity_good": {"value": 50, "uom": "ea"},
                                 "quantity_scrap": {"value": 2, "uom": "ea"}, "lot": "FG-LOT-1"}


def test_one_operation_reported_does_not_complete_the_order(sandbox, tower, linked_mes, plant_1000):
    released = schedule()
    send(sandbox, linked_mes, released)

    response = simulate(sandbox, linked_mes, order_number=order_of(released), operations=["0010"], **{"yield": 49})

    assert response.json()["ResponseState"] == "Running"
    events = adapter_events(linked_mes, tower.requests[0]["raw"], plant_1000)
    assert [e["type"] for e in events] == ["operation.completed", "material.issued"]
    assert events[0]["data"]["yield"] == {"value": 49, "uom": "ea"}


def test_a_document_sent_again_is_the_same_bytes(sandbox, tower, linked_mes):
    released = schedule()
    send(sandbox, linked_mes, released)
    first = simulate(sandbox, linked_mes, order_number=order_of(released)).json()

    again = simulate(sandbox, linked_mes, document_id=first["DocumentID"])

    assert again.status_code == 201 and again.json()["DocumentID"] == first["DocumentID"]
    assert tower.requests[0]["raw"] == tower.requests[1]["raw"]


def test_simulate_refusals(sandbox, tower, linked_mes):
    released = schedule()
    send(sandbox, linked_mes, released)
    unlinked = fresh_system("MES")

    assert simulate(sandbox, unlinked, order_number="1").json()["ErrorCode"] == "NO_OUTBOUND_LINK"
    assert simulate(sandbox, linked_mes, order_number="0000000000").json()["ErrorCode"] == "UNKNOWN_ORDER"
    assert simulate(sandbox, linked_mes, order_number=order_of(released),
                    operations=["9999"]).json()["ErrorCode"] == "UNKNOWN_OPERATION"
    assert simulate(sandbox, linked_mes, order_number=order_of(released), scrap=-1).status_code == 400
    assert simulate(sandbox, linked_mes, document_id="nope").status_code == 404
    assert simulate(sandbox, fresh_system("WMS"), order_number="1").status_code == 404
    assert tower.requests == []
