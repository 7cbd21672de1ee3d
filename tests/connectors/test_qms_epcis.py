"""The QMS adapter: GS1 EPCIS 2.0 JSON-LD in (holds and releases of lots), and out over real HTTP.

Every official JSON example is posted to the inbound API and must be mapped or refused with a
reason and kept in quarantine, never a 500. Documents made here check the exact mapping.
"""

import copy
import json
import re
import uuid
from pathlib import Path

import pytest
from jsonschema import Draft7Validator

from integrations.choices import MappingDomain
from integrations.connectors import connector_for, epcis
from integrations.connectors.base import ConnectorError, OutboundEvent
from integrations.models import ApiKey, QuarantinedMessage, System, Transaction, ValueMapping

OFFICIAL = Path(__file__).resolve().parents[2].parent / "shared" / "standards" / "epcis"
EXAMPLES = OFFICIAL / "JSON"
URL = "/api/v1/inbound/QMS-CENTRAL"
CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
GTIN = "04012345123456"  # valid check digit


def official_validator() -> Draft7Validator:
    schema = json.loads((OFFICIAL / "EPCIS-JSON-Schema.json").read_text())
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


@pytest.fixture
def qms(plant_1000, plant_2000):
    system = System.objects.create(code="QMS-CENTRAL", name="Quality central", kind="QMS", adapter="qms_epcis")
    system.plants.set([plant_1000, plant_2000])
    return system


@pytest.fixture
def post(client, qms):
    key = ApiKey.issue(qms)[1]

    def _post(document, content_type: str = "application/ld+json"):
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        return client.post(URL, data=body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {key}")

    return _post


def lot_event(*, disposition="non_sellable_other", biz_step="holding", epc_class=None, location=None,
              event_id: str | None = "auto", event_time="2026-03-02T09:15:00.000+01:00", **extra) -> dict:
    event = {
        "type": "ObjectEvent",
        "eventTime": event_time,
        "eventTimeZoneOffset": "+01:00",
        "action": "OBSERVE",
        "bizStep": biz_step,
        "disposition": disposition,
        "readPoint": {"id": location or "https://controltower.dev/id/plant/1000"},
        "bizLocation": {"id": location or "https://controltower.dev/id/plant/1000"},
        "quantityList": [{"epcClass": epc_class or f"https://id.gs1.org/01/{GTIN}/10/L-4711", "quantity": 200,
                          "uom": "KGM"}],
        **extra,
    }
    if event_id == "auto":
        event["eventID"] = f"urn:uuid:{uuid.uuid4()}"
    elif event_id:
        event["eventID"] = event_id
    return event


def document(*events: dict) -> dict:
    return {
        "@context": [CONTEXT, {"ct": "https://controltower.dev/epcis/", "acme": "https://qms.acme.example/ns/"}],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-03-02T09:16:00Z",
        "epcisBody": {"eventList": list(events)},
    }


# The official examples ----------------------------------------------------------------------------

NOT_OBJECT = "is not a hold or release (those are ObjectEvents)"
SHIPPING = "disposition in_transit at bizStep shipping is neither a hold nor a release"
RECEIVING = "disposition in_progress at bizStep receiving is neither a hold nor a release"
INSPECTING = "disposition (none) at bizStep inspecting is neither a hold nor a release"
SENSOR = "disposition (none) at bizStep sensor_reporting is neither a hold nor a release"
NO_LOT = "names no lot"

# Per file: what the tower does with it, and why, event by event. None of GS1's examples places or
# releases a quality hold on a lot, so each is refused (422 "Nothing to ingest", kept in quarantine)
# with one reason per event; the test below turns one of them into a hold to show the other way.
EXPECTED = {
    "AssociationEvent/AssociationEvent-a.jsonld": ["AssociationEvent " + NOT_OBJECT],
    "AssociationEvent/AssociationEvent-b.jsonld": ["AssociationEvent " + NOT_OBJECT],
    "AssociationEvent/AssociationEvent-c.jsonld": ["AssociationEvent " + NOT_OBJECT],
    "AssociationEvent/AssociationEvent-d.jsonld": ["AssociationEvent " + NOT_OBJECT],
    "AssociationEvent/AssociationEvent-e.jsonld": ["AssociationEvent " + NOT_OBJECT],
    "AssociationEvent/AssociationEvent-f.jsonld": ["AssociationEvent " + NOT_OBJECT],
    "AssociationEvent/AssociationEvent-g.jsonld": ["AssociationEvent " + NOT_OBJECT],
    "AssociationEvent/AssociationEvent-h.jsonld": ["AssociationEvent " + NOT_OBJECT],
    "EPCISQueryDocument.jsonld": [SHIPPING, RECEIVING],
    "Example-TransactionEvents-2020_07_03y.jsonld": ["TransactionEvent " + NOT_OBJECT] * 2,
    "Example-Type-sourceOrDestination,measurement,bizTransaction.jsonld": ["AssociationEvent " + NOT_OBJECT],
    "Example_9.6.1-ObjectEvent-with-pseudo-SBDH-headers.jsonld": [SHIPPING, RECEIVING],
    "Example_9.6.1-ObjectEvent.jsonld": [SHIPPING, RECEIVING],
    "Example_9.6.1-with-comment.jsonld": [SHIPPING, RECEIVING],
    "Example_9.6.2-ObjectEvent.jsonld": [RECEIVING],
    "Example_9.6.3-AggregationEvent.jsonld": ["AggregationEvent " + NOT_OBJECT],
    "Example_9.6.4-TransformationEvent.jsonld": ["TransformationEvent " + NOT_OBJECT],
    # The second event is a release by its step (inspecting, in_progress) but names serial numbers, no lot.
    "PersistentDisposition-example.jsonld": [RECEIVING, NO_LOT],
    "WithDigitalLinkID/Example_9.6.1-ObjectEventWithDigitalLink.jsonld": [SHIPPING, RECEIVING],
    "WithDigitalLinkID/Example_9.6.2-ObjectEventWithDigitalLink.jsonld": [RECEIVING],
    "WithDigitalLinkID/Example_9.6.3-AggregationEventWithDigitalLink.jsonld": ["AggregationEvent " + NOT_OBJECT],
    "WithDigitalLinkID/Example_9.6.4-TransformationEventWithDigitalLink.jsonld": ["TransformationEvent " + NOT_OBJECT],
    "WithErrorDeclaration/ErrorDeclarationAndCorrectiveEvent.jsonld": ["TransformationEvent " + NOT_OBJECT] * 2,
    "WithErrorDeclaration/Example_9.6.1-ObjectEvent-with-error-declaration.jsonld": [SHIPPING, RECEIVING],
    "WithFullCombinationOfFields/aggregation_event_all_possible_fields.jsonld": ["AggregationEvent " + NOT_OBJECT],
    "WithFullCombinationOfFields/association_event_all_possible_fields.jsonld": ["AssociationEvent " + NOT_OBJECT],
    "WithFullCombinationOfFields/object_event_all_possible_fields.jsonld": [RECEIVING],
    "WithFullCombinationOfFields/transaction_event_all_possible_fields.jsonld": ["TransactionEvent " + NOT_OBJECT],
    "WithFullCombinationOfFields/transformation_event_all_possible_fields.jsonld":
        ["TransformationEvent " + NOT_OBJECT],
    "WithSensorData/SensorDataExample1.jsonld": [INSPECTING],
    "WithSensorData/SensorDataExample10.jsonld": [SENSOR],
    "WithSensorData/SensorDataExample11.jsonld": ["TransactionEvent " + NOT_OBJECT],
    "WithSensorData/SensorDataExample12.jsonld": ["TransformationEvent " + NOT_OBJECT],
    "WithSensorData/SensorDataExample13.jsonld": [SENSOR],
    "WithSensorData/SensorDataExample14.jsonld": [SENSOR],
    "WithSensorData/SensorDataExample15.jsonld": [SENSOR],
    "WithSensorData/SensorDataExample16.jsonld": [SENSOR],
    "WithSensorData/SensorDataExample17.jsonld": [SENSOR],
    "WithSensorData/SensorDataExample1b.jsonld": [INSPECTING],
    "WithSensorData/SensorDataExample2.jsonld": [INSPECTING],
    "WithSensorData/SensorDataExample3.jsonld": [INSPECTING],
    "WithSensorData/SensorDataExample4.jsonld": [INSPECTING],
    "WithSensorData/SensorDataExample5.jsonld": [INSPECTING],
    "WithSensorData/SensorDataExample6.jsonld": [INSPECTING],
    "WithSensorData/SensorDataExample7.jsonld": [INSPECTING],
    "WithSensorData/SensorDataExample8.jsonld": ["AggregationEvent " + NOT_OBJECT],
    "WithSensorData/SensorDataExample9.jsonld": [SENSOR],
}


def test_the_table_names_every_official_example():
    found = {str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*.jsonld")}
    assert len(found) == 47
    assert found == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_official_example_is_refused_with_a_reason_per_event_and_kept(post, name):
    raw = (EXAMPLES / name).read_bytes()
    assert official_validator().is_valid(json.loads(raw)), "the examples are valid EPCIS"

    response = post(raw)

    assert response.status_code == 422, response.content
    problem = response.json()
    assert problem["title"] == "Nothing to ingest"
    details = [error["detail"] for error in problem["errors"]]
    assert len(details) == len(EXPECTED[name])
    for detail, expected in zip(details, EXPECTED[name], strict=True):
        assert detail.startswith(expected) or expected in detail, (detail, expected)
    base = "/epcisBody/queryResults/resultsBody/eventList" if "Query" in name else "/epcisBody/eventList"
    assert [e["pointer"] for e in problem["errors"]] == [f"{base}/{i}" for i in range(len(details))]
    kept = QuarantinedMessage.objects.get()
    assert kept.http_status == 422 and kept.raw_body == raw.decode() and kept.reason.startswith("Nothing to ingest")
    assert Transaction.objects.count() == 0


def official_as_hold() -> dict:
    """GS1's example 9.6.2 (an LGTIN lot at an SGLN) turned into a failed inspection."""
    example = json.loads((EXAMPLES / "Example_9.6.2-ObjectEvent.jsonld").read_text())
    event = example["epcisBody"]["eventList"][0]
    event.update(bizStep="inspecting", disposition="non_conformant")
    return example


def test_an_official_example_made_a_hold_needs_its_location_mapped_to_a_plant(post, qms):
    refused = post(official_as_hold())
    assert refused.status_code == 422
    assert refused.json()["title"] == "Unknown plant"
    [error] = refused.json()["errors"]
    assert error["pointer"] == "/epcisBody/eventList/0/bizLocation"
    assert "urn:epc:id:sgln:0614141.00888.0" in error["detail"]

    # A plant value mapping may name the location URI or its GLN (0614141 00888 + check digit 9).
    ValueMapping.objects.create(system=qms, domain=MappingDomain.PLANT, external_value="0614141008889",
                                canonical_value="2000")
    response = post(official_as_hold())

    assert response.status_code == 200, response.content
    [result] = response.json()["results"]
    assert result["status"] == 202
    tx = Transaction.objects.get()
    assert tx.event_type == "quality.hold_placed" and tx.business_key == "998877" and tx.plant.code == "2000"
    assert tx.canonical_payload == {"plant": "2000", "material": "04012345123456", "lot": "998877",
                                    "reason": "non-conformant at inspecting", "disposition": "pending"}
    assert tx.source_message_id == "ni:///sha-256;a98f08ae6ac4de3482054314d637c07010b448d3802dccb028a06aafcc6a4b10" \
                                   "?ver=CBV2.0"
    assert tx.raw_payload["time"] == "2013-06-08T16:58:56.591000+02:00"  # eventTime in its own offset


# Documents made here: the exact mapping ----------------------------------------------------------


def test_a_hold_maps_to_exactly_one_hold_placed(qms):
    event = lot_event(disposition="https://ref.gs1.org/cbv/Disp-non_sellable_other",
                      biz_step="https://ref.gs1.org/cbv/BizStep-holding", event_id="urn:uuid:5b1d0f3e-0000-4000-8000-1")
    event["acme:holdReason"] = "salmonella test pending"

    [cloudevent] = connector_for(qms).parse_inbound(document(event))

    assert cloudevent == {
        "specversion": "1.0", "id": "urn:uuid:5b1d0f3e-0000-4000-8000-1", "source": "QMS-CENTRAL",
        "type": "quality.hold_placed", "time": "2026-03-02T09:15:00+01:00", "plant": "1000",
        "datacontenttype": "application/json",
        "data": {"plant": "1000", "material": GTIN, "lot": "L-4711", "reason": "salmonella test pending",
                 "disposition": "pending"},
    }


@pytest.mark.parametrize(("disposition", "biz_step", "decision", "expected"), [
    ("conformant", "inspecting", None, ("quality.hold_released", "use_as_is")),
    ("conformant", "receiving", None, ("quality.hold_released", "use_as_is")),
    ("in_progress", "inspecting", None, ("quality.hold_released", "use_as_is")),
    ("active", "holding", "scrap", ("quality.hold_released", "scrap")),
    ("non_conformant", "inspecting", None, ("quality.hold_placed", "pending")),
    ("recalled", "holding", None, ("quality.hold_placed", "pending")),
    ("damaged", "receiving", "return_to_vendor", ("quality.hold_placed", "return_to_vendor")),
    ("expired", "storing", None, ("quality.hold_placed", "pending")),
])
def test_disposition_and_step_decide_hold_or_release(qms, disposition, biz_step, decision, expected):
    extra = {"ct:decision": decision} if decision else {}
    [cloudevent] = connector_for(qms).parse_inbound(document(lot_event(disposition=disposition, biz_step=biz_step,
                                                                       **extra)))
    assert (cloudevent["type"], cloudevent["data"]["disposition"]) == expected


@pytest.mark.parametrize(("disposition", "biz_step"), [
    ("in_progress", "receiving"), ("in_transit", "shipping"), ("active", "commissioning"), (None, "inspecting"),
    ("sellable_not_accessible", "storing"), ("destroyed", "destroying"),
])
def test_ordinary_flow_events_are_not_for_the_tower(post, disposition, biz_step):
    event = lot_event(disposition=disposition, biz_step=biz_step)
    if disposition is None:
        del event["disposition"]
    response = post(document(event))
    assert response.status_code == 422 and response.json()["title"] == "Nothing to ingest"
    assert "neither a hold nor a release" in response.json()["errors"][0]["detail"]


def test_a_release_through_the_api_names_lot_material_plant_and_reason(post):
    event = lot_event(disposition="conformant", biz_step="inspecting",
                      epc_class="urn:epc:class:lgtin:4012345.012345.L%2F4711",
                      location="https://controltower.dev/id/plant/2000", **{"ct:reason": "retest passed"})

    response = post(document(event))

    assert response.status_code == 200, response.content
    tx = Transaction.objects.get()
    assert (tx.event_type, tx.plant.code, tx.business_key) == ("quality.hold_released", "2000", "L/4711")
    assert tx.canonical_payload == {"plant": "2000", "material": GTIN, "lot": "L/4711", "reason": "retest passed",
                                    "disposition": "use_as_is"}


def test_a_document_with_a_hold_among_other_events_maps_only_the_hold(post):
    shipping = lot_event(disposition="in_transit", biz_step="shipping")
    hold = lot_event(**{"rdfs:comment": "visual defect on 3 drums"})
    sensor = {"type": "AggregationEvent", "action": "ADD", "eventTime": "2026-03-02T09:00:00Z",
              "eventTimeZoneOffset": "+00:00", "parentID": "urn:epc:id:sscc:4012345.0111111111",
              "childEPCs": ["urn:epc:id:sgtin:4012345.011111.1"]}

    response = post(document(shipping, hold, sensor))

    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == 1
    assert Transaction.objects.get().canonical_payload["reason"] == "visual defect on 3 drums"


def test_each_lot_of_an_event_is_its_own_event(qms):
    event = lot_event()
    event["quantityList"] = [{"epcClass": f"https://id.gs1.org/01/{GTIN}/10/L-1"},
                             {"epcClass": "https://controltower.dev/id/material/RM-210/lot/L-2"}]

    events = connector_for(qms).parse_inbound(document(event))

    assert [(e["data"]["material"], e["data"]["lot"]) for e in events] == [(GTIN, "L-1"), ("RM-210", "L-2")]
    assert len({e["id"] for e in events}) == 2 and all(e["id"].startswith(event["eventID"]) for e in events)


def test_the_lot_may_come_from_ilmd_with_the_gtin_of_the_items(qms):
    event = lot_event(disposition="recalled", biz_step="holding")
    del event["quantityList"]
    event.update(action="ADD", epcList=["urn:epc:id:sgtin:4012345.012345.400", "urn:epc:id:sgtin:4012345.012345.401"],
                 ilmd={"cbvmda:lotNumber": "LOT-9"})

    [cloudevent] = connector_for(qms).parse_inbound(document(event))

    assert (cloudevent["data"]["material"], cloudevent["data"]["lot"]) == (GTIN, "LOT-9")


def test_a_bare_event_is_accepted(qms):
    event = {"@context": [CONTEXT], **lot_event()}
    [cloudevent] = connector_for(qms).parse_inbound(event)
    assert cloudevent["type"] == "quality.hold_placed"


def test_a_hold_declared_in_error_releases_the_lot(post):
    hold = lot_event()
    assert post(document(hold)).status_code == 200
    declared = {**copy.deepcopy(hold), "errorDeclaration": {"declarationTime": "2026-03-02T11:00:00Z",
                                                             "reason": "incorrect_data"}}

    response = post(document(declared))

    assert response.status_code == 200, response.content
    placed, released = Transaction.objects.order_by("received_at")
    assert released.event_type == "quality.hold_released"
    assert released.source_message_id == f"{hold['eventID']}#error-declared"
    assert released.canonical_payload["reason"] == "hold (blocked at holding) declared in error: incorrect_data"
    assert released.correlation_id == placed.correlation_id  # one thread per plant and lot


def test_a_resent_document_is_a_duplicate(post):
    hold = document(lot_event())
    first = post(hold)
    again = post(hold)
    assert [r["duplicate"] for r in first.json()["results"]] == [False]
    assert [r["duplicate"] for r in again.json()["results"]] == [True]
    assert again.json()["results"][0]["transaction_id"] == first.json()["results"][0]["transaction_id"]
    assert Transaction.objects.count() == 1


def test_without_an_event_id_a_resent_event_keeps_its_hash(post):
    first_copy = lot_event(event_id=None, recordTime="2026-03-02T09:20:00Z")
    second_copy = {**first_copy, "recordTime": "2026-03-02T10:45:00Z"}  # stored again by a repository

    post(document(first_copy))
    again = post(document(second_copy))

    assert again.json()["results"][0]["duplicate"] is True
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", Transaction.objects.get().source_message_id)


@pytest.mark.parametrize("bad_time", ["2026-02-30T10:00:00+01:00", "2026-03-02 10:00", "2026-03-02T25:00:00Z",
                                      "yesterday"])
def test_an_invalid_event_time_is_refused_with_its_pointer(post, bad_time):
    response = post(document(lot_event(event_time=bad_time)))

    assert response.status_code == 422
    problem = response.json()
    assert problem["title"] == "Invalid EPCIS document"
    assert {"pointer": "/epcisBody/eventList/0/eventTime", "detail": f"'{bad_time}' is not a 'date-time'"} \
        in problem["errors"]
    assert QuarantinedMessage.objects.get().http_status == 422
    assert Transaction.objects.count() == 0


@pytest.mark.parametrize(("event_time", "expected"), [
    ("2026-03-02t08:15:00.123456789z", "2026-03-02T09:15:00.123456+01:00"),  # RFC 3339 allows both
    ("9999-12-31T23:59:59-10:00", "9999-12-31T23:59:59-10:00"),  # no later time to show it in +01:00
])
def test_unusual_but_valid_event_times_are_read(qms, event_time, expected):
    [cloudevent] = connector_for(qms).parse_inbound(document(lot_event(event_time=event_time)))
    assert cloudevent["time"] == expected


def test_the_validator_checks_formats():
    # Without jsonschema's format extras a bad timestamp passes silently; this must never be so.
    bad = document(lot_event(event_time="2026-13-01T00:00:00Z"))
    assert [e["pointer"] for e in epcis.schema_errors(bad)] == ["/epcisBody/eventList/0/eventTime"]
    assert epcis.schema_errors(document(lot_event())) == []


def test_invalid_epcis_names_each_error(post):
    event = lot_event(biz_step="urn:epcglobal:cbv:bizstep:holding")  # the EPCIS 1.x form
    del event["action"]
    response = post(document(event))

    assert response.status_code == 422
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert pointers == {"/epcisBody/eventList/0/action", "/epcisBody/eventList/0/bizStep"}


@pytest.mark.parametrize("body", [b"[1, 2]", b'{"task": "WT-1"}', b'"ObjectEvent"'])
def test_json_that_is_not_epcis_is_refused(post, body):
    response = post(body)
    assert response.status_code == 422 and response.json()["title"] == "Invalid EPCIS document"


def test_unparsable_json_is_400(post):
    assert post(b'{"type": "EPCISDocument",').status_code == 400


def test_a_qms_serving_one_plant_places_unmapped_locations_there(plant_1000, client):
    local = System.objects.create(code="QMS-P1000", name="QMS Hamburg", kind="QMS", adapter="qms_epcis")
    local.plants.set([plant_1000])
    event = lot_event(location="urn:epc:id:sgln:4012345.00001.0")

    [cloudevent] = connector_for(local).parse_inbound(document(event))

    assert cloudevent["plant"] == "1000" and cloudevent["data"]["plant"] == "1000"


def test_an_unknown_plant_code_is_refused_per_event(post):
    response = post(document(lot_event(location="https://controltower.dev/id/plant/9999")))
    assert response.status_code == 200
    [result] = response.json()["results"]
    assert result["status"] == 422 and result["title"] == "Unknown plant"


# Outbound over real HTTP to the simulated QMS -----------------------------------------------------


@pytest.fixture
def qms_target(sandbox, qms):
    qms.base_url = sandbox.system_url("QMS-CENTRAL")
    qms.timeout_s = 5
    qms.save()
    return qms


def outbound(event_type: str, **data) -> OutboundEvent:
    data = {"plant": "1000", "material": "RM-210", "lot": f"L-{uuid.uuid4().hex[:8]}", **data}
    return OutboundEvent(event_type=event_type, data=data, idempotency_key=str(uuid.uuid4()),
                         transaction_id=str(uuid.uuid4()), correlation_id="c", plant=data["plant"],
                         business_key=data["lot"], source="WMS-EAST")


def test_a_hold_is_captured_once_as_valid_epcis(qms_target, sandbox):
    event = outbound("quality.hold_placed", reason="blocked on receipt: torn bags", disposition="pending")

    receipt = connector_for(qms_target).deliver(event)
    again = connector_for(qms_target).deliver(event)

    assert re.fullmatch(r"CAP-\d{6}", receipt.target_reference) and receipt.http_status == 202
    assert again.target_reference == receipt.target_reference and again.http_status == 200
    [entry] = sandbox.ledger("QMS-CENTRAL", idempotency_key=event.idempotency_key)
    assert (entry["operation"], entry["document_number"], entry["replays"]) == ("epcis.capture",
                                                                               receipt.target_reference, 1)
    sent = entry["request"]
    assert list(official_validator().iter_errors(sent)) == []
    [objects] = sent["epcisBody"]["eventList"]
    assert (objects["type"], objects["action"], objects["bizStep"], objects["disposition"]) == (
        "ObjectEvent", "OBSERVE", "holding", "non_sellable_other")
    assert objects["quantityList"] == [{"epcClass": f"https://controltower.dev/id/material/RM-210/lot/{event.data['lot']}"}]
    assert objects["bizLocation"] == {"id": "https://controltower.dev/id/plant/1000"}
    assert objects["ct:reason"] == "blocked on receipt: torn bags"
    # Read back by the tower's own inbound mapping, the document says what the event said.
    [mapped] = connector_for(qms_target).parse_inbound(sent)
    assert mapped["type"] == "quality.hold_placed" and mapped["data"] == event.data


def test_a_release_frees_the_hold_and_a_second_release_is_a_business_rejection(qms_target, sandbox):
    hold = outbound("quality.hold_placed", material=GTIN, reason="retest")
    connector_for(qms_target).deliver(hold)
    release = outbound("quality.hold_released", material=GTIN, lot=hold.data["lot"], disposition="use_as_is")

    receipt = connector_for(qms_target).deliver(release)
    [entry] = sandbox.ledger("QMS-CENTRAL", idempotency_key=release.idempotency_key)
    [objects] = entry["request"]["epcisBody"]["eventList"]
    assert (objects["bizStep"], objects["disposition"]) == ("inspecting", "conformant")
    assert objects["quantityList"][0]["epcClass"] == f"https://id.gs1.org/01/{GTIN}/10/{hold.data['lot']}"
    assert entry["response"]["holds"] == [{"material": GTIN, "lot": hold.data["lot"], "status": "released",
                                           "already": False}]
    assert receipt.target_reference == entry["document_number"]

    with pytest.raises(ConnectorError) as refused:
        connector_for(qms_target).deliver(outbound("quality.hold_released", material=GTIN, lot=hold.data["lot"]))
    assert refused.value.permanent and refused.value.http_status == 409
    assert "LotNotOnHold" in refused.value.response_excerpt


def test_a_plant_mapping_names_the_location_as_the_qms_knows_it(qms_target, sandbox):
    ValueMapping.objects.create(system=qms_target, domain=MappingDomain.PLANT,
                                external_value="urn:epc:id:sgln:4012345.01000.0", canonical_value="1000")
    event = outbound("quality.hold_placed", reason="recall 2026-07")

    connector_for(qms_target).deliver(event)

    [entry] = sandbox.ledger("QMS-CENTRAL", idempotency_key=event.idempotency_key)
    assert entry["request"]["epcisBody"]["eventList"][0]["bizLocation"] == {"id": "urn:epc:id:sgln:4012345.01000.0"}
    assert connector_for(qms_target).parse_inbound(entry["request"])[0]["plant"] == "1000"


def test_other_event_types_are_unsupported(qms_target):
    with pytest.raises(ConnectorError) as refused:
        connector_for(qms_target).deliver(outbound("material.issued", order_number="1000000001"))
    assert refused.value.permanent and refused.value.error_class == "unsupported_event"


def test_a_hold_that_cannot_name_its_lot_is_not_sent(qms_target, sandbox):
    event = outbound("quality.hold_placed", lot="", reason="x")
    with pytest.raises(ConnectorError) as refused:
        connector_for(qms_target).deliver(event)
    assert refused.value.permanent and refused.value.error_class == "invalid_document"
    assert sandbox.ledger("QMS-CENTRAL", idempotency_key=event.idempotency_key) == []


def test_an_unavailable_qms_is_a_transient_failure(sandbox, qms):
    code = f"QMS-T-{uuid.uuid4().hex[:8].upper()}"
    qms.base_url, qms.timeout_s = sandbox.system_url(code), 5
    sandbox.set_fault(code, "http_503")

    with pytest.raises(ConnectorError) as failed:
        connector_for(qms).deliver(outbound("quality.hold_placed", reason="x"))

    assert not failed.value.permanent and failed.value.http_status == 503
    assert sandbox.ledger(code) == []


def test_xml_sent_to_the_epcis_adapter_is_told_to_send_json(post):
    body = b'<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0"/>'
    response = post(body, content_type="application/xml")
    assert response.status_code == 422
    assert "sends EPCIS 2.0 JSON-LD, not XML" in response.json()["detail"]
    assert "<Element" not in response.content.decode()


def test_a_schema_error_points_into_the_event_without_repeating_it(post):
    """An event that fits none of the schema's alternatives: the closest one is named, the event is not dumped."""
    event = lot_event(epc_class="https://id.gs1.org/01/04012345123456/10/L%ZZ%")
    response = post(document(event))
    errors = response.json()["errors"]
    assert response.status_code == 422 and errors
    assert all(e["pointer"].startswith("/epcisBody/eventList/0/") for e in errors), errors
    assert all("'eventTime'" not in e["detail"] for e in errors), "the whole event is not repeated"
    assert len({(e["pointer"], e["detail"]) for e in errors}) == len(errors)
