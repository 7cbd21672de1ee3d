"""The S/4HANA adapter over real HTTP against the simulated ERP: postings out, production orders in.

Outbound tests deliver canonical events (already in the ERP's vocabulary: PC, storage location
0001) and check what the ERP applied: its ledger, its stock, the reference in the receipt, and
S/4's own words in the errors. Inbound tests feed S/4 production orders to ``parse_inbound`` and
validate every CloudEvent against the envelope and the contract of its type.
"""

import json
import re
import time
import uuid

import pytest

from integrations import contracts
from integrations.connectors import connector_for
from integrations.connectors.base import ConnectorError, OutboundEvent
from integrations.connectors.erp_s4 import posting_reference, sap_message
from integrations.services.inbound import inbound_ingest
from tests.fixtures.sandbox import fresh_system

ODATA = "sap/opu/odata/sap"
DOCUMENTS = f"{ODATA}/API_MATERIAL_DOCUMENT_SRV/A_MaterialDocumentHeader"
ORDERS = f"{ODATA}/API_PRODUCTION_ORDER_2_SRV/A_ProductionOrder_2"
STOCK = f"{ODATA}/API_MATERIAL_STOCK_SRV/A_MatlStkInAcctMod"


@pytest.fixture
def erp_code():
    return fresh_system("ERP")


@pytest.fixture
def s4(erp, sandbox, plant_1000, erp_code):
    """The tower's ERP-S4 system, pointed at an ERP of its own in the sandbox."""
    erp.base_url = sandbox.system_url(erp_code)
    erp.timeout_s = 5
    erp.save()
    return erp


def event(event_type: str, data: dict, key: str | None = None) -> OutboundEvent:
    return OutboundEvent(event_type=event_type, data=data, idempotency_key=key or str(uuid.uuid4()),
                         transaction_id=str(uuid.uuid4()), correlation_id="3f0c6a4e-corr-0001",
                         plant=data.get("plant", "1000"), business_key=data.get("order_number", "k"), source="WMS-EAST")


def deliver(system, event_type: str, data: dict, key: str | None = None):
    return connector_for(system).deliver(event(event_type, data, key))


def seed_order(sandbox, erp_code: str, status: str = "REL", **body) -> str:
    order = {"plant": "1000", "material": "FG-100", "quantity": 50, "uom": "PC", "status": status,
             "components": [{"material": "RM-210", "quantity": 50, "uom": "PC", "lot_controlled": True}], **body}
    response = sandbox.http.post(f"/sandbox/{erp_code}/simulate/production-orders", json=order)
    assert response.status_code == 201, response.text
    return response.json()["order_number"]


def seed_stock(sandbox, erp_code: str, quantity: float, *, material: str = "RM-210", batch: str = "L1",
               location: str = "0001", stock_type: str = "unrestricted", unit: str = "PC") -> None:
    response = sandbox.http.post(f"/sandbox/{erp_code}/simulate/stock", json={
        "plant": "1000", "storage_location": location, "material": material, "batch": batch,
        "quantity": quantity, "unit": unit, "stock_type": stock_type})
    assert response.status_code == 201, response.text


def stock(sandbox, erp_code: str, material: str = "RM-210", batch: str = "L1") -> dict[tuple[str, str], str]:
    response = sandbox.http.get(f"{sandbox.system_url(erp_code)}/{STOCK}", params={
        "$filter": f"Plant eq '1000' and Material eq '{material}' and Batch eq '{batch}'"})
    return {(r["StorageLocation"], r["InventoryStockType"]): r["MatlWrhsStkQtyInMatlBaseUnit"]
            for r in response.json()["d"]["results"]}


def issued(order: str, quantity: float = 10, **changes) -> dict:
    return {"order_number": order, "plant": "1000", "material": "RM-210", "quantity": {"value": quantity, "uom": "PC"},
            "lot": "L1", "location": "0001"} | changes


# Outbound: material documents ---------------------------------------------------------------------


def test_material_issued_posts_a_goods_issue_to_the_order(s4, sandbox, erp_code):
    order = seed_order(sandbox, erp_code)
    seed_stock(sandbox, erp_code, 100)
    key = str(uuid.uuid4())

    receipt = deliver(s4, "material.issued", issued(order, 12.5), key=key)

    assert re.fullmatch(r"49\d{8}/\d{4}", receipt.target_reference)
    assert receipt.http_status == 201
    [entry] = sandbox.ledger(erp_code)
    assert entry["idempotency_key"] == key, "the Idempotency-Key header is sent too"
    assert entry["document_number"] == receipt.target_reference
    header = entry["request"]
    assert header["GoodsMovementCode"] == "03"
    assert header["MaterialDocumentHeaderText"] == posting_reference(key)
    assert len(header["MaterialDocumentHeaderText"]) == 25
    assert re.fullmatch(r"/Date\(\d+\)/", header["PostingDate"]) and header["DocumentDate"] == header["PostingDate"]
    assert header["to_MaterialDocumentItem"]["results"] == [{
        "Material": "RM-210", "Plant": "1000", "GoodsMovementType": "261", "QuantityInEntryUnit": "12.5",
        "EntryUnit": "PC", "StorageLocation": "0001", "Batch": "L1", "ManufacturingOrder": order,
        "GoodsMovementRefDocType": "F", "MaterialDocumentItemText": "3f0c6a4e-corr-0001"}]
    assert stock(sandbox, erp_code) == {("0001", "01"): "87.500"}


def test_goods_received_for_an_order_is_a_101_and_without_one_a_501(s4, sandbox, erp_code):
    order = seed_order(sandbox, erp_code)
    from_order = {"order_number": order, "plant": "1000", "material": "FG-100",
                  "quantity": {"value": 48, "uom": "PC"}, "lot": "FG-L1", "location": "0002"}
    from_supplier = {"plant": "1000", "material": "RM-210", "quantity": {"value": 500, "uom": "PC"},
                     "lot": "L1", "location": "0001"}

    first = deliver(s4, "goods.received", from_order)
    second = deliver(s4, "goods.received", from_supplier)

    assert first.target_reference != second.target_reference
    receipt, supply = (entry["request"] for entry in sandbox.ledger(erp_code))
    assert receipt["GoodsMovementCode"] == "02"
    assert receipt["to_MaterialDocumentItem"]["results"][0]["GoodsMovementType"] == "101"
    assert supply["GoodsMovementCode"] == "05"
    [supply_item] = supply["to_MaterialDocumentItem"]["results"]
    assert supply_item["GoodsMovementType"] == "501" and "ManufacturingOrder" not in supply_item
    assert stock(sandbox, erp_code, "FG-100", "FG-L1") == {("0002", "01"): "48.000"}
    assert stock(sandbox, erp_code) == {("0001", "01"): "500.000"}


def test_production_completed_receives_the_good_quantity_where_the_order_says(s4, sandbox, erp_code):
    order = seed_order(sandbox, erp_code)
    data = {"order_number": order, "plant": "1000", "material": "FG-100", "quantity_good": {"value": 48, "uom": "PC"},
            "quantity_scrap": {"value": 2, "uom": "PC"}, "lot": "FG-L2"}

    receipt = deliver(s4, "production.completed", data)

    [entry] = sandbox.ledger(erp_code)
    [item] = entry["request"]["to_MaterialDocumentItem"]["results"]
    assert (item["GoodsMovementType"], item["QuantityInEntryUnit"], item["Batch"]) == ("101", "48", "FG-L2")
    assert "StorageLocation" not in item, "S/4 takes the order's receiving storage location"
    assert entry["document_number"] == receipt.target_reference
    assert stock(sandbox, erp_code, "FG-100", "FG-L2") == {("0001", "01"): "48.000"}


def test_a_quality_hold_blocks_all_of_the_lot_and_its_release_frees_it(s4, sandbox, erp_code):
    seed_stock(sandbox, erp_code, 30, location="0001")
    seed_stock(sandbox, erp_code, 12.5, location="0002")
    seed_stock(sandbox, erp_code, 99, batch="OTHER")
    hold = {"plant": "1000", "material": "RM-210", "lot": "L1", "reason": "salmonella test pending"}

    placed = deliver(s4, "quality.hold_placed", hold)

    assert stock(sandbox, erp_code) == {("0001", "07"): "30.000", ("0002", "07"): "12.500"}
    assert stock(sandbox, erp_code, batch="OTHER") == {("0001", "01"): "99.000"}
    [entry] = sandbox.ledger(erp_code)
    assert entry["request"]["GoodsMovementCode"] == "04"
    assert [(i["GoodsMovementType"], i["StorageLocation"], i["QuantityInEntryUnit"])
            for i in entry["request"]["to_MaterialDocumentItem"]["results"]] == [("344", "0001", "30"),
                                                                                 ("344", "0002", "12.5")]

    released = deliver(s4, "quality.hold_released", {**hold, "disposition": "use_as_is"})

    assert released.target_reference != placed.target_reference
    assert stock(sandbox, erp_code) == {("0001", "01"): "30.000", ("0002", "01"): "12.500"}


def test_a_hold_on_a_lot_without_stock_is_retried(s4):
    with pytest.raises(ConnectorError) as failed:
        deliver(s4, "quality.hold_placed", {"plant": "1000", "material": "RM-210", "lot": "NONE", "reason": "r"})

    assert not failed.value.permanent
    assert failed.value.error_class == "nothing_to_post"
    assert "no unrestricted-use stock of batch NONE of material RM-210 in plant 1000" in str(failed.value)


# Outbound: confirmations and snapshots ------------------------------------------------------------


def test_operation_completed_is_a_final_confirmation(s4, sandbox, erp_code):
    order = seed_order(sandbox, erp_code)
    key = str(uuid.uuid4())
    data = {"order_number": order, "plant": "1000", "operation": "0010", "work_center": "WC-1000-01",
            "yield": {"value": 48, "uom": "PC"}, "scrap": {"value": 2, "uom": "PC"}}

    receipt = deliver(s4, "operation.completed", data, key=key)

    assert re.fullmatch(r"\d{10}/00000001", receipt.target_reference)
    [entry] = sandbox.ledger(erp_code)
    body = entry["request"]
    assert {k: body[k] for k in ("OrderID", "OrderOperation", "ConfirmationYieldQuantity", "ConfirmationScrapQuantity",
                                 "ConfirmationUnit", "FinalConfirmationType", "WorkCenter", "ConfirmationText")} == {
        "OrderID": order, "OrderOperation": "0010", "ConfirmationYieldQuantity": "48",
        "ConfirmationScrapQuantity": "2", "ConfirmationUnit": "PC", "FinalConfirmationType": "1",
        "WorkCenter": "WC-1000-01", "ConfirmationText": posting_reference(key)}
    assert entry["response"]["d"]["IsFinalConfirmation"] is True

    with pytest.raises(ConnectorError) as again:
        deliver(s4, "operation.completed", data)
    assert again.value.permanent
    assert f"Operation 0010 of order {order} is already finally confirmed" in str(again.value)


def test_inventory_snapshot_is_kept_for_reconciliation(s4, sandbox, erp_code):
    seed_stock(sandbox, erp_code, 100)
    data = {"plant": "1000", "as_of": "2026-03-02T06:00:00+01:00", "lines": [
        {"material": "RM-210", "lot": "L1", "location": "0001", "quantity": {"value": 97, "uom": "PC"}},
        {"material": "RM-220", "location": "0001", "quantity": {"value": 0, "uom": "PC"}}]}

    receipt = deliver(s4, "inventory.snapshot", data)

    assert re.fullmatch(r"\d{10}", receipt.target_reference)
    [entry] = sandbox.ledger(erp_code)
    assert entry["request"]["SnapshotDateTime"] == "/Date(1772427600000)/"
    lines = entry["response"]["d"]["to_Item"]["results"]
    assert [(line["Batch"], line["DifferenceQuantity"]) for line in lines] == [("L1", "-3.000"), ("", "0.000")]
    assert stock(sandbox, erp_code) == {("0001", "01"): "100.000"}


# Outbound: rejections -----------------------------------------------------------------------------


def test_an_issue_to_an_order_not_released_is_rejected_in_s4s_words(s4, sandbox, erp_code):
    order = seed_order(sandbox, erp_code, status="CRTD")
    seed_stock(sandbox, erp_code, 100)

    with pytest.raises(ConnectorError) as rejected:
        deliver(s4, "material.issued", issued(order))

    error = rejected.value
    assert error.permanent and error.http_status == 400
    assert str(error) == f"ERP-S4 rejected material.issued: Order {order} is not released (ORDER_NOT_RELEASED)"
    assert json.loads(error.response_excerpt)["error"]["message"]["value"] == f"Order {order} is not released"
    assert sandbox.ledger(erp_code) == []


def test_an_issue_beyond_stock_is_rejected_as_a_deficit(s4, sandbox, erp_code):
    order = seed_order(sandbox, erp_code)
    seed_stock(sandbox, erp_code, 90, batch="BATCH1")

    with pytest.raises(ConnectorError) as rejected:
        deliver(s4, "material.issued", issued(order, 100, lot="BATCH1"))

    assert rejected.value.permanent
    assert "Deficit of SL Unrestricted-use 10 PC : RM-210 1000 0001 BATCH1" in str(rejected.value)
    assert stock(sandbox, erp_code, batch="BATCH1") == {("0001", "01"): "90.000"}


def test_an_unmapped_unit_is_rejected(s4, sandbox, erp_code):
    order = seed_order(sandbox, erp_code)
    seed_stock(sandbox, erp_code, 100)

    with pytest.raises(ConnectorError) as rejected:
        deliver(s4, "material.issued", issued(order, quantity=1) | {"quantity": {"value": 1, "uom": "EA"}})

    assert "Unit EA is not defined for material RM-210" in str(rejected.value)


def test_an_unavailable_erp_is_a_transient_failure(s4, sandbox, erp_code):
    sandbox.set_fault(erp_code, "http_503")

    with pytest.raises(ConnectorError) as failed:
        deliver(s4, "material.issued", issued("1000000001"))

    assert not failed.value.permanent and failed.value.http_status == 503


@pytest.mark.parametrize("event_type", ["production_order.released", "production_order.changed",
                                        "production_order.cancelled", "production_order.closed",
                                        "material.staged", "shipment.confirmed"])
def test_events_the_erp_owns_or_does_not_take_are_unsupported(s4, event_type):
    with pytest.raises(ConnectorError) as refused:
        deliver(s4, event_type, {"order_number": "1000000001", "plant": "1000"})

    assert refused.value.permanent and refused.value.error_class == "unsupported_event"


def test_sap_message_reads_odata_errors_and_cut_off_excerpts():
    body = {"error": {"code": "DEFICIT", "message": {"lang": "en", "value": "Deficit \"x\""}, "innererror": {}}}

    assert sap_message(json.dumps(body)) == 'Deficit "x" (DEFICIT)'
    assert sap_message(json.dumps(body)[:90]) == 'Deficit "x"', "the code is lost with the cut, the message is not"
    assert sap_message("<html>502</html>") == ""


# Exactly once -------------------------------------------------------------------------------------


def test_a_repeated_delivery_finds_the_first_posting_and_posts_nothing(s4, sandbox, erp_code):
    order = seed_order(sandbox, erp_code)
    seed_stock(sandbox, erp_code, 100)
    key = str(uuid.uuid4())
    first = deliver(s4, "material.issued", issued(order), key=key)

    again = deliver(s4, "material.issued", issued(order), key=key)

    assert again.target_reference == first.target_reference
    assert again.response_excerpt.startswith(f"already posted: MaterialDocumentHeaderText {posting_reference(key)}")
    [entry] = sandbox.ledger(erp_code)
    assert entry["replays"] == 0, "the second delivery found the document and did not post"
    assert stock(sandbox, erp_code) == {("0001", "01"): "90.000"}


def test_a_retry_after_a_timeout_finds_the_posting_the_erp_applied(s4, sandbox, erp_code):
    """GIVEN an ERP that applies a goods issue only after the connector gave up waiting (slow: 2 s > 1 s)
    WHEN the delivery is retried with the same key
    THEN the connector finds the document by its reference and does not post a second time."""
    order = seed_order(sandbox, erp_code)
    seed_stock(sandbox, erp_code, 100)
    s4.timeout_s = 1
    key = str(uuid.uuid4())
    sandbox.set_fault(erp_code, "slow")

    with pytest.raises(ConnectorError) as timed_out:
        deliver(s4, "material.issued", issued(order), key=key)
    assert not timed_out.value.permanent and timed_out.value.error_class == "timeout"

    deadline = time.monotonic() + 10
    while not sandbox.ledger(erp_code) and time.monotonic() < deadline:
        time.sleep(0.1)  # the ERP is still posting what the connector stopped waiting for
    [applied] = sandbox.ledger(erp_code)
    sandbox.clear_fault(erp_code)

    retry = deliver(s4, "material.issued", issued(order), key=key)

    assert retry.target_reference == applied["document_number"]
    assert retry.http_status == 200 and retry.response_excerpt.startswith("already posted")
    [entry] = sandbox.ledger(erp_code)
    assert entry["replays"] == 0, "the retry never reached the posting endpoint"
    documents = sandbox.http.get(f"{sandbox.system_url(erp_code)}/{DOCUMENTS}", params={
        "$filter": f"MaterialDocumentHeaderText eq '{posting_reference(key)}'"}).json()["d"]["results"]
    assert len(documents) == 1
    assert stock(sandbox, erp_code) == {("0001", "01"): "90.000"}


def test_posting_references_fit_s4s_header_text():
    key = "3fa85f64-5717-4562-b3fc-2c963f66afa6"

    assert posting_reference(key) == "CT3FA85F6457174562B3FC2C9"
    assert len(posting_reference("not-a-uuid")) == 25
    assert posting_reference("not-a-uuid") != posting_reference("not-a-uuid-2")


# Inbound: production orders -----------------------------------------------------------------------


def assert_valid(event: dict) -> None:
    assert contracts.errors(contracts.ENVELOPE, "1", event) == []
    assert contracts.errors(event["type"], "1", event["data"]) == []


def s4_order(number: str = "1000000123", **changes) -> dict:
    order = {
        "ManufacturingOrder": number, "ManufacturingOrderType": "YN01", "Material": "FG-100",
        "ProductionPlant": "1000", "MfgOrderPlannedTotalQty": "120.000", "ProductionUnit": "PC",
        "MfgOrderPlannedStartDate": "/Date(1772409600000)/", "MfgOrderPlannedStartTime": "PT06H00M00S",
        "MfgOrderPlannedEndDate": "/Date(1772409600000)/", "MfgOrderPlannedEndTime": "PT14H30M00S",
        "OrderIsCreated": True, "OrderIsReleased": True, "OrderIsTechnicallyCompleted": False,
        "OrderIsClosed": False, "OrderIsMarkedForDeletion": False, "MfgOrderConfirmedYieldQty": "0.000",
        "ManufacturingOrderImportance": "2", "LastChangeDateTime": "20260301120000",
        "to_ProductionOrderComponent": {"results": [
            {"Material": "RM-210", "RequiredQuantity": "120.000", "BaseUnit": "PC", "YY1_BatchManaged": True},
            {"Material": "RM-300", "RequiredQuantity": "42.5", "BaseUnit": "KG", "Batch": ""}]},
        "to_ProductionOrderOperation": {"results": [
            {"ManufacturingOrderOperation": "0010", "WorkCenter": "WC-1000-01"}]},
    }
    return order | changes


def test_a_released_order_becomes_production_order_released(s4):
    [event] = connector_for(s4).parse_inbound({"d": s4_order()})

    assert_valid(event)
    assert event["type"] == "production_order.released"
    assert event["id"] == "ERP-S4-1000000123-REL-20260301120000"
    assert (event["source"], event["plant"], event["businesskey"]) == ("ERP-S4", "1000", "1000000123")
    assert event["time"] == "2026-03-01T12:00:00+00:00"
    assert event["data"] == {
        "order_number": "1000000123", "plant": "1000", "material": "FG-100",
        "quantity": {"value": 120, "uom": "PC"},
        # Plant 1000 is in Europe/Berlin: S/4's date and time are plant-local.
        "scheduled_start": "2026-03-02T06:00:00+01:00", "scheduled_end": "2026-03-02T14:30:00+01:00",
        "components": [{"material": "RM-210", "quantity": 120, "uom": "PC", "lot_controlled": True},
                       {"material": "RM-300", "quantity": 42.5, "uom": "KG", "lot_controlled": False}],
        "routing": [{"operation": "0010", "work_center": "WC-1000-01"}],
    }


def test_the_same_document_gives_the_same_event_id(s4):
    first = connector_for(s4).parse_inbound(s4_order())
    again = connector_for(s4).parse_inbound([s4_order()])
    later = connector_for(s4).parse_inbound(s4_order(LastChangeDateTime="20260301130000"))

    assert first[0]["id"] == again[0]["id"] != later[0]["id"]


def test_scheduled_dates_win_and_iso_dates_keep_their_offset(s4):
    order = s4_order(MfgOrderScheduledStartDate="2026-03-03T07:15:00-05:00",
                     MfgOrderPlannedStartDate="/Date(1772409600000)/", MfgOrderPlannedStartTime=None,
                     MfgOrderPlannedEndDate=None, LastChangeDateTime=None)

    [event] = connector_for(s4).parse_inbound(order)

    assert event["data"]["scheduled_start"] == "2026-03-03T07:15:00-05:00"
    assert "scheduled_end" not in event["data"]
    assert re.fullmatch(r"ERP-S4-1000000123-REL-[0-9a-f]{16}", event["id"]), "no change time: a digest"
    assert "time" not in event


@pytest.mark.parametrize(("changes", "event_type", "status", "reason"), [
    ({"OrderIsMarkedForDeletion": True}, "production_order.cancelled", "DLFL", "marked for deletion in the ERP"),
    ({"OrderIsClosed": "X", "OrderIsTechnicallyCompleted": "X"}, "production_order.closed", "CLSD",
     "closed in the ERP"),
    ({"OrderIsTechnicallyCompleted": True, "MfgOrderConfirmedYieldQty": "118.000"}, "production_order.closed",
     "TECO", "technically completed in the ERP"),
    ({"OrderIsTechnicallyCompleted": True}, "production_order.cancelled", "TECO",
     "technically completed in the ERP before any yield was confirmed"),
])
def test_status_changes_become_their_canonical_events(s4, changes, event_type, status, reason):
    [event] = connector_for(s4).parse_inbound(s4_order(**changes))

    assert_valid(event)
    assert event["type"] == event_type
    assert event["id"] == f"ERP-S4-1000000123-{status}-20260301120000"
    assert event["data"] == {"order_number": "1000000123", "plant": "1000", "reason": reason}


def test_a_released_order_sent_again_after_a_change_is_production_order_changed(s4, plant_1000):
    """GIVEN the tower has the ERP's release of an order
    WHEN the ERP sends the order again with a new quantity and start
    THEN it is production_order.changed with the order's values now; the original again is a duplicate."""
    [released] = inbound_ingest(system=s4, raw=json.dumps(s4_order()).encode(), content_type="application/json")
    assert released.transaction.event_type == "production_order.released"

    newer = s4_order(MfgOrderPlannedTotalQty="150", MfgOrderPlannedStartTime="PT08H00M00S",
                     LastChangeDateTime="20260301150000")
    [changed] = connector_for(s4).parse_inbound(newer)
    [resent] = inbound_ingest(system=s4, raw=json.dumps(s4_order()).encode(), content_type="application/json")

    assert_valid(changed)
    assert changed["type"] == "production_order.changed"
    assert changed["data"] == {"order_number": "1000000123", "plant": "1000", "quantity": {"value": 150, "uom": "PC"},
                               "scheduled_start": "2026-03-02T08:00:00+01:00",
                               "scheduled_end": "2026-03-02T14:30:00+01:00", "priority": 2}
    assert resent.duplicate and resent.transaction.pk == released.transaction.pk


def test_two_versions_in_one_document_are_a_release_and_a_change(s4):
    events = connector_for(s4).parse_inbound({"d": {"results": [
        s4_order(), s4_order(MfgOrderPlannedTotalQty="100", LastChangeDateTime="20260301130000")]}})

    assert [e["type"] for e in events] == ["production_order.released", "production_order.changed"]


def test_an_order_only_created_is_refused_naming_the_status_fields(s4):
    from controltower.api import Problem

    with pytest.raises(Problem) as refused:
        connector_for(s4).parse_inbound([s4_order(), s4_order("1000000124", OrderIsReleased=False)])

    problem = refused.value
    assert problem.status_code == 422
    [error] = problem.errors
    assert error["pointer"] == "/1/OrderIsReleased"
    assert "OrderIsReleased, OrderIsTechnicallyCompleted, OrderIsClosed" in error["detail"]


def test_a_release_missing_fields_is_refused_with_a_pointer_for_each(s4):
    from controltower.api import Problem

    order = s4_order(Material="", MfgOrderPlannedTotalQty="0", MfgOrderPlannedStartDate="next week")
    order["to_ProductionOrderComponent"]["results"][0].pop("BaseUnit")
    with pytest.raises(Problem) as refused:
        connector_for(s4).parse_inbound({"d": order})

    assert [e["pointer"] for e in refused.value.errors] == [
        "/d/Material", "/d/MfgOrderPlannedTotalQty", "/d/MfgOrderPlannedStartDate",
        "/d/to_ProductionOrderComponent/results/0/BaseUnit"]


@pytest.mark.parametrize("document", [{"value": []}, [], ["1000000123"], "text", {"d": {"results": []}}])
def test_a_document_without_orders_is_unrecognised(s4, document):
    from controltower.api import Problem

    with pytest.raises(Problem) as refused:
        connector_for(s4).parse_inbound(document)

    assert refused.value.status_code == 422 and refused.value.slug == "unrecognised-document"


def test_an_order_read_from_the_simulated_erp_is_a_valid_release(s4, sandbox, erp_code):
    order = seed_order(sandbox, erp_code, scheduled_start="2026-03-02T06:00:00+01:00")
    document = sandbox.http.get(f"{sandbox.system_url(erp_code)}/{ORDERS}",
                                params={"$filter": f"ManufacturingOrder eq '{order}'"}).json()

    [event] = connector_for(s4).parse_inbound(document)

    assert_valid(event)
    assert event["type"] == "production_order.released"
    data = event["data"]
    assert (data["order_number"], data["quantity"], data["scheduled_start"]) == (
        order, {"value": 50, "uom": "PC"}, "2026-03-02T05:00:00+00:00")
    assert data["components"] == [{"material": "RM-210", "quantity": 50, "uom": "PC", "lot_controlled": True}]
    assert data["routing"] == [{"operation": "0010", "work_center": "WC-1000-01"}]
