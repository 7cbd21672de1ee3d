"""The WMS adapter over real HTTP: staging, lot blocks, putaway out; the WMS's own messages in."""

import json
import uuid

import pytest
from jsonschema import Draft202012Validator

from integrations import contracts
from integrations.connectors import connector_for
from integrations.connectors.base import ConnectorError, OutboundEvent
from integrations.models import ApiKey, QuarantinedMessage, System, Transaction


@pytest.fixture
def wms(sandbox):
    code = f"WMS-T-{uuid.uuid4().hex[:8]}"
    return System(code=code, name="test WMS", kind="WMS", adapter="wms_rest", base_url=sandbox.system_url(code),
                  timeout_s=5)


def send(system, event_type: str, data: dict):
    return connector_for(system).deliver(OutboundEvent(
        event_type=event_type, data=data, idempotency_key=str(uuid.uuid4()), transaction_id=str(uuid.uuid4()),
        correlation_id="c", plant=data.get("plant", "1000"), business_key="k", source="QMS-CENTRAL"))


HOLD = {"plant": "1000", "material": "RM-210", "lot": "L-4711", "reason": "salmonella test pending"}


def test_a_quality_hold_blocks_the_lot_and_a_release_frees_it(wms, sandbox, receiver):
    block = send(wms, "quality.hold_placed", HOLD)
    assert block.target_reference.startswith("LB-")
    sandbox.link(wms.code, receiver.base_url, "ct_key_for_test")
    pick = {"message_type": "PICK_CONFIRMED", "reference": "1000000123", "site": "1000", "sku": "RM-210",
            "qty": 5, "unit": "EA", "lot": "L-4711", "bin": "A-01-02"}
    refused = sandbox.http.post(f"/sandbox/{wms.code}/simulate/report", json=pick)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "LOT_BLOCKED"
    assert receiver.received == [], "a refused pick is not reported"

    assert send(wms, "quality.hold_released", HOLD).target_reference == block.target_reference
    assert sandbox.http.post(f"/sandbox/{wms.code}/simulate/report", json=pick).status_code == 201
    [reported] = receiver.received
    assert reported["path"] == f"/api/v1/inbound/{wms.code}" and reported["body"]["lot"] == "L-4711"


def test_releasing_a_lot_that_is_not_blocked_is_a_business_rejection(wms):
    with pytest.raises(ConnectorError) as refused:
        send(wms, "quality.hold_released", HOLD)
    assert refused.value.permanent and refused.value.http_status == 409
    assert "LOT_NOT_BLOCKED" in refused.value.response_excerpt


def test_finished_goods_are_put_away_once(wms, sandbox):
    data = {"order_number": "1000000123", "plant": "1000", "material": "FG-100",
            "quantity_good": {"value": 48, "uom": "EA"}, "quantity_scrap": {"value": 2, "uom": "EA"}, "lot": "FG-L1"}
    event = OutboundEvent(event_type="production.completed", data=data, idempotency_key=str(uuid.uuid4()),
                          transaction_id="t", correlation_id="c", plant="1000", business_key="1000000123",
                          source="MES-P1000")
    first = connector_for(wms).deliver(event)
    again = connector_for(wms).deliver(event)
    assert first.target_reference.startswith("PT-") and again.target_reference == first.target_reference
    [entry] = sandbox.ledger(wms.code)
    assert entry["request"]["qty"] == 48 and entry["replays"] == 1


def test_events_a_wms_does_not_take_are_refused_permanently(wms):
    with pytest.raises(ConnectorError) as refused:
        send(wms, "operation.completed", {"plant": "1000"})
    assert refused.value.permanent and refused.value.error_class == "unsupported_event"


MESSAGES = {
    "PICK_CONFIRMED": {"reference": "1000000123", "site": "1000", "sku": "RM-210", "qty": 5, "unit": "EA",
                       "lot": "L-1", "bin": "A-01-02"},
    "STAGED": {"reference": "1000000123", "site": "1000", "sku": "RM-210", "qty": 5, "unit": "EA",
               "from_bin": "A-01-02", "to_bin": "LINE-1"},
    "RECEIPT_CONFIRMED": {"reference": "1000000123", "site": "1000", "sku": "FG-100", "qty": 48, "unit": "EA",
                          "lot": "FG-L1", "bin": "FG-01"},
    "SHIPMENT_CONFIRMED": {"shipment": "80001234", "site": "1000", "carrier": "DHL",
                           "lines": [{"sku": "FG-100", "qty": 48, "unit": "EA", "lot": "FG-L1"}]},
    "STOCK_ADJUSTED": {"site": "1000", "sku": "RM-210", "lot": "L-1", "bin": "A-01-02", "delta": -2, "unit": "EA",
                       "reason_code": "DAMAGED"},
    "STOCK_SNAPSHOT": {"site": "1000", "as_of": "2026-11-23T06:00:00+01:00",
                       "lines": [{"sku": "RM-210", "lot": "L-1", "bin": "A-01-02", "qty": 93, "unit": "EA"}]},
    "SHORTAGE": {"reference": "1000000123", "site": "1000", "sku": "RM-220", "qty_short": 12, "unit": "EA"},
}


@pytest.fixture
def post_native(client, wms_east, plant_1000):
    key = ApiKey.issue(wms_east)[1]

    def _post(document):
        return client.post("/api/v1/inbound/WMS-EAST", data=json.dumps(document), content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {key}")

    return _post


@pytest.mark.parametrize("message_type", list(MESSAGES))
def test_each_wms_message_becomes_its_canonical_event(post_native, message_type):
    message = {"message_type": message_type, "message_id": f"WMS-EAST-{uuid.uuid4()}",
               "confirmed_at": "2026-11-23T07:12:00+01:00", **MESSAGES[message_type]}
    response = post_native(message)
    assert response.status_code == 200, response.content
    [result] = response.json()["results"]
    assert result["status"] == 202, result
    tx = Transaction.objects.get(pk=result["transaction_id"])
    assert tx.source.code == "WMS-EAST" and tx.plant.code == "1000"
    schema = contracts.schema(tx.event_type, "1")
    assert list(Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
                .iter_errors(tx.canonical_payload)) == []
    assert post_native(message).json()["results"][0]["duplicate"] is True, "a re-sent message is a duplicate"


def test_a_list_of_messages_is_one_result_each(post_native):
    messages = [{"message_type": t, "message_id": str(uuid.uuid4()), **MESSAGES[t]} for t in ("STAGED", "SHORTAGE")]
    results = post_native(messages).json()["results"]
    assert [r["status"] for r in results] == [202, 202]
    assert {Transaction.objects.get(pk=r["transaction_id"]).event_type for r in results} == {
        "material.staged", "material.shortage"}


@pytest.mark.parametrize(("message", "pointer"), [
    ({"message_type": "TELEPORTED"}, "/message_type"),
    ({"message_type": "PICK_CONFIRMED", "reference": "1", "site": "1000", "sku": "X", "qty": 1, "unit": "EA"}, "/bin"),
])
def test_an_unknown_or_incomplete_message_is_refused_and_kept(post_native, message, pointer):
    response = post_native(message)
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == pointer
    assert QuarantinedMessage.objects.get().http_status == 422


def test_a_message_without_an_id_is_refused_per_item(post_native):
    result = post_native({"message_type": "SHORTAGE", **MESSAGES["SHORTAGE"]}).json()["results"][0]
    assert result["status"] == 422 and result["errors"][0]["pointer"] == "/id"
    assert System.objects.filter(code="WMS-EAST").exists()
