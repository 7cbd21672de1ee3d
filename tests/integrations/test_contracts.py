"""The event contract v1 (DESIGN §4): one JSON Schema per event type, served by the API, that accepts
what the plant's systems really send, names the business key of each message, and refuses bad data
with a pointer to the field at fault."""

import copy
import json
import re
import uuid
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from integrations import contracts
from integrations.models import ApiKey, System, Transaction
from integrations.services.ingest import derive_correlation_id
from tests.fixtures.events import released_event

URL = "/api/v1/events"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"

# DESIGN §4, written out here rather than read from the schemas, so a schema that drifts fails.
OWNER = {
    "production_order.released": "ERP",
    "production_order.changed": "ERP/APS",
    "production_order.cancelled": "ERP",
    "production_order.closed": "ERP",
    "material.staged": "WMS",
    "material.issued": "WMS",
    "material.shortage": "WMS/MES",
    "operation.completed": "MES",
    "production.completed": "MES",
    "quality.hold_placed": "QMS",
    "quality.hold_released": "QMS",
    "inventory.adjusted": "WMS",
    "inventory.snapshot": "ERP/WMS",
    "goods.received": "WMS",
    "shipment.confirmed": "WMS/TMS",
}
BUSINESS_KEY = {
    "production_order.released": "order_number",
    "production_order.changed": "order_number",
    "production_order.cancelled": "order_number",
    "production_order.closed": "order_number",
    "material.staged": "order_number",
    "material.issued": "order_number",
    "material.shortage": "order_number",
    "operation.completed": "order_number",
    "production.completed": "order_number",
    "quality.hold_placed": "lot",
    "quality.hold_released": "lot",
    "inventory.adjusted": "lot",
    "inventory.snapshot": "as_of",
    "goods.received": "lot",
    "shipment.confirmed": "shipment_number",
}
EVENT_TYPES = sorted(OWNER)

# Which system of the test plant sends each type: the owner, as in production.
SENDER = {
    "ERP": "ERP-S4", "ERP/APS": "ERP-S4", "ERP/WMS": "ERP-S4",
    "WMS": "WMS-EAST", "WMS/MES": "WMS-EAST", "WMS/TMS": "WMS-EAST",
    "MES": "MES-P1000", "QMS": "QMS-CENTRAL",
}

ORDER = "1000004711"
VALID = {
    "production_order.released": released_event(ORDER)["data"],
    "production_order.changed": {
        "order_number": ORDER, "plant": "1000", "quantity": {"value": 60, "uom": "EA"},
        "scheduled_start": "2026-11-25T06:00:00+01:00", "scheduled_end": "2026-11-25T14:00:00+01:00",
    },
    "production_order.cancelled": {"order_number": ORDER, "plant": "1000", "reason": "customer order withdrawn"},
    "production_order.closed": {"order_number": ORDER, "plant": "1000"},
    "material.staged": {
        "order_number": ORDER, "plant": "1000", "material": "RM-210", "quantity": {"value": 100, "uom": "EA"},
        "lot": "L2611-0042", "from_location": "1000-A-01-03", "to_location": "PSA-WC-1000-01",
    },
    "material.issued": {
        "order_number": ORDER, "plant": "1000", "material": "RM-210", "quantity": {"value": 98.5, "uom": "KG"},
        "lot": "L2611-0042", "location": "PSA-WC-1000-01",
    },
    "material.shortage": {
        "order_number": ORDER, "plant": "1000", "material": "PK-050", "quantity_short": {"value": 40, "uom": "EA"},
    },
    "operation.completed": {
        "order_number": ORDER, "plant": "1000", "operation": "0010", "work_center": "WC-1000-01",
        "yield": {"value": 48, "uom": "EA"}, "scrap": {"value": 2, "uom": "EA"},
    },
    "production.completed": {
        "order_number": ORDER, "plant": "1000", "material": "FG-100", "quantity_good": {"value": 48, "uom": "EA"},
        "quantity_scrap": {"value": 0, "uom": "EA"}, "lot": "FG2611-0007",
    },
    "quality.hold_placed": {
        "plant": "1000", "material": "RM-210", "lot": "L2611-0042", "reason": "supplier certificate missing",
        "disposition": "pending",
    },
    "quality.hold_released": {
        "plant": "1000", "material": "RM-210", "lot": "L2611-0042", "disposition": "use_as_is",
        "reason": "certificate received, values within specification",
    },
    "inventory.adjusted": {
        "plant": "1000", "material": "RM-210", "lot": "L2611-0042", "location": "1000-A-01-03",
        "delta": {"value": -3, "uom": "EA"}, "reason_code": "CYCLE_COUNT",
    },
    "inventory.snapshot": {
        "plant": "1000", "as_of": "2026-11-23T22:00:00+01:00",
        "lines": [
            {"material": "RM-210", "lot": "L2611-0042", "location": "1000-A-01-03",
             "quantity": {"value": 412, "uom": "EA"}},
            {"material": "PK-050", "location": "1000-B-04-01", "quantity": {"value": 0, "uom": "EA"}},
        ],
    },
    "goods.received": {
        "plant": "1000", "material": "RM-210", "quantity": {"value": 500, "uom": "EA"}, "lot": "L2611-0057",
        "location": "1000-WE-01",
    },
    "shipment.confirmed": {
        "shipment_number": "SH-80004711", "plant": "1000", "carrier": "DHL Freight",
        "lines": [{"material": "FG-100", "quantity": {"value": 48, "uom": "EA"}, "lot": "FG2611-0007"}],
    },
}

MISSING = object()

# (type, where to change the valid example, the new value or MISSING to drop it, the pointer refused)
INVALID = [
    ("production_order.released", "/data/scheduled_start", MISSING, "/data/scheduled_start"),
    ("production_order.released", "/data/quantity/value", 0, "/data/quantity/value"),
    ("production_order.changed", "/data", {"order_number": ORDER, "plant": "1000"}, "/data"),
    ("production_order.changed", "/data/scheduled_end", "2026-11-31T25:00:00", "/data/scheduled_end"),
    ("production_order.changed", "/data/priority", "urgent", "/data/priority"),
    ("production_order.cancelled", "/data/order_number", MISSING, "/data/order_number"),
    ("production_order.cancelled", "/data/reason", "", "/data/reason"),
    ("production_order.closed", "/data/plant", MISSING, "/data/plant"),
    ("material.staged", "/data/quantity/value", -12, "/data/quantity/value"),
    ("material.staged", "/data/to_location", MISSING, "/data/to_location"),
    ("material.issued", "/data/location", MISSING, "/data/location"),
    ("material.issued", "/data/quantity/uom", MISSING, "/data/quantity/uom"),
    ("material.shortage", "/data/quantity_short", 40, "/data/quantity_short"),
    ("material.shortage", "/data/material", MISSING, "/data/material"),
    ("operation.completed", "/data/yield/value", -1, "/data/yield/value"),
    ("operation.completed", "/data/work_center", MISSING, "/data/work_center"),
    ("production.completed", "/data/quantity_good/value", -5, "/data/quantity_good/value"),
    ("production.completed", "/data/quantity_good/value", 0, "/data/quantity_good/value"),
    ("production.completed", "/data/quantity_scrap/value", -1, "/data/quantity_scrap/value"),
    ("quality.hold_placed", "/data/reason", MISSING, "/data/reason"),
    ("quality.hold_placed", "/data/disposition", "destroy", "/data/disposition"),
    ("quality.hold_released", "/data/lot", MISSING, "/data/lot"),
    ("inventory.adjusted", "/data/delta/value", 0, "/data/delta/value"),
    ("inventory.adjusted", "/data/reason_code", MISSING, "/data/reason_code"),
    ("inventory.snapshot", "/data/lines", [], "/data/lines"),
    ("inventory.snapshot", "/data/as_of", "yesterday 22:00", "/data/as_of"),
    ("inventory.snapshot", "/data/lines/0/quantity/value", -3, "/data/lines/0/quantity/value"),
    ("goods.received", "/data/lot", MISSING, "/data/lot"),
    ("goods.received", "/data/location", "X" * 41, "/data/location"),
    ("shipment.confirmed", "/data/lines", [], "/data/lines"),
    ("shipment.confirmed", "/data/carrier", MISSING, "/data/carrier"),
    ("shipment.confirmed", "/data/lines/0/material", MISSING, "/data/lines/0/material"),
]

# Variations of the valid examples that real systems send and that must still be accepted.
ALSO_VALID = [
    ("production_order.changed", "/data", {"order_number": ORDER, "plant": "1000", "priority": 1}),
    ("production_order.changed", "/data", {"order_number": ORDER, "plant": "1000",
                                           "scheduled_end": "2026-11-26T14:00:00Z"}),
    ("inventory.adjusted", "/data/delta/value", 7.25),
    ("operation.completed", "/data/yield/value", 0),
    ("goods.received", "/data/order_number", ORDER),
    ("material.staged", "/data/lot", MISSING),
    ("quality.hold_placed", "/data/disposition", MISSING),
    ("material.issued", "/data/movement_type", "261"),
]


def changed(event: dict, pointer: str, value) -> dict:
    """A deep copy of `event` with the value at `pointer` replaced, or dropped when it is MISSING."""
    event = copy.deepcopy(event)
    *parents, last = pointer.strip("/").split("/")
    node = event
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is MISSING:
        del node[int(last) if isinstance(node, list) else last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return event


def _shown(value) -> str:
    return "missing" if value is MISSING else json.dumps(value)[:24]


def cloud_event(event_type: str, data: dict) -> dict:
    source = SENDER[OWNER[event_type]]
    return {"specversion": "1.0", "id": f"{source}-{uuid.uuid4()}", "source": source, "type": event_type,
            "time": "2026-11-23T09:15:00+01:00", "plant": "1000", "datacontenttype": "application/json",
            "data": copy.deepcopy(data)}


@pytest.fixture
def keys(erp_key, wms_east, plant_1000):
    mes = System.objects.create(code="MES-P1000", name="MES", kind="MES", adapter="mes_b2mml")
    qms = System.objects.create(code="QMS-CENTRAL", name="QMS", kind="QMS", adapter="qms_epcis")
    return {"ERP-S4": erp_key, "WMS-EAST": ApiKey.issue(wms_east)[1], "MES-P1000": ApiKey.issue(mes)[1],
            "QMS-CENTRAL": ApiKey.issue(qms)[1]}


@pytest.fixture
def send(client, keys):
    def _send(event: dict):
        return client.post(URL, data=json.dumps(event), content_type="application/cloudevents+json",
                           HTTP_AUTHORIZATION=f"Bearer {keys[event['source']]}")

    return _send


def test_every_design_type_has_a_contract():
    listed = contracts.event_types()
    assert set(EVENT_TYPES) <= set(listed), set(EVENT_TYPES) - set(listed)
    for event_type in EVENT_TYPES:
        assert "1" in contracts.versions(event_type), event_type


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_the_schema_is_valid_2020_12_with_owner_and_a_required_business_key(event_type):
    schema = contracts.schema(event_type, "1")
    assert schema is not None, f"no {event_type}/1.json"
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://controltower.dev/contracts/{event_type}/1"
    assert schema["title"] and schema["description"].endswith(".")
    assert schema["x-owner"] == OWNER[event_type]
    key = schema["x-business-key"]
    assert key == BUSINESS_KEY[event_type]
    assert key in schema["required"] and "plant" in schema["required"]
    # Transaction.business_key holds 100 characters: a longer key would fail at the database, not at the contract.
    assert schema["properties"][key]["type"] == "string"
    assert schema["properties"][key]["maxLength"] <= Transaction._meta.get_field("business_key").max_length
    assert schema["properties"]["plant"] == {"type": "string", "minLength": 1, "maxLength": 16}
    assert all(v is not False for v in _additional_properties(schema)), "systems send extra fields"


def _additional_properties(node) -> list:
    if isinstance(node, dict):
        found = [node["additionalProperties"]] if "additionalProperties" in node else []
        return found + [v for child in node.values() for v in _additional_properties(child)]
    if isinstance(node, list):
        return [v for child in node for v in _additional_properties(child)]
    return []


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_the_api_serves_the_schema(client, event_type):
    response = client.get(f"/api/v1/contracts/{event_type}/1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/schema+json")
    path = contracts.CONTRACTS_DIR / event_type / "1.json"
    assert response.json() == json.loads(path.read_text())


def test_an_unknown_version_is_404(client):
    assert client.get("/api/v1/contracts/material.issued/2").status_code == 404


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_a_realistic_event_is_accepted_under_its_business_key(send, event_type):
    event = cloud_event(event_type, VALID[event_type])
    response = send(event)
    assert response.status_code == 202, response.content
    tx = Transaction.objects.get(pk=response.json()["transaction_id"])
    key = event["data"][BUSINESS_KEY[event_type]]
    assert (tx.event_type, tx.source.code, tx.plant.code) == (event_type, event["source"], "1000")
    assert tx.business_key == key and tx.business_key
    assert tx.correlation_id == derive_correlation_id("1000", key)
    assert tx.canonical_payload == event["data"]


@pytest.mark.parametrize(("event_type", "pointer", "value", "refused_at"), INVALID,
                         ids=[f"{t}:{p}={_shown(v)}" for t, p, v, _ in INVALID])
def test_bad_data_is_refused_with_a_pointer(send, event_type, pointer, value, refused_at):
    assert event_type in EVENT_TYPES
    response = send(changed(cloud_event(event_type, VALID[event_type]), pointer, value))
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 422 and body["title"] and body["type"] and body["detail"]
    assert refused_at in [e["pointer"] for e in body["errors"]], body["errors"]
    assert all(e["detail"] for e in body["errors"])
    assert not Transaction.objects.exists()


def test_every_type_has_a_refused_variant():
    assert {t for t, *_ in INVALID} == set(EVENT_TYPES)


@pytest.mark.parametrize(("event_type", "pointer", "value"), ALSO_VALID,
                         ids=[f"{t}:{p}={_shown(v)}" for t, p, v in ALSO_VALID])
def test_variations_real_systems_send_are_accepted(send, event_type, pointer, value):
    response = send(changed(cloud_event(event_type, VALID[event_type]), pointer, value))
    assert response.status_code == 202, response.content


def test_a_businesskey_extension_overrides_the_contracts_field(send):
    event = cloud_event("goods.received", {**VALID["goods.received"], "order_number": ORDER})
    response = send({**event, "businesskey": ORDER})
    assert response.status_code == 202, response.content
    assert Transaction.objects.get().business_key == ORDER


def test_the_example_in_the_partner_docs_is_accepted(send):
    blocks = re.findall(r"```json\n(.*?)```", DOCS.read_text(), flags=re.S)
    examples = [json.loads(block) for block in blocks]
    complete = [e for e in examples if isinstance(e, dict) and e.get("specversion") == "1.0" and "data" in e]
    assert complete, "docs/contracts.md shows no complete CloudEvent"
    for example in complete:
        response = send(example)
        assert response.status_code == 202, response.content
        tx = Transaction.objects.get(pk=response.json()["transaction_id"])
        assert tx.business_key == example["data"][BUSINESS_KEY[example["type"]]]
