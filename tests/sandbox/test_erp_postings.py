"""The simulated S/4HANA's postings over HTTP: material documents, confirmations, stock, snapshots.

Every test works on an ERP of its own (fresh code), seeded through the simulation controls, and
checks what a real S/4 would: the answer in OData shape, the stock, the ledger, the numbers.
"""

import re
import uuid

import pytest

from tests.fixtures.sandbox import fresh_system

ODATA = "sap/opu/odata/sap"
DOCUMENTS = f"{ODATA}/API_MATERIAL_DOCUMENT_SRV/A_MaterialDocumentHeader"
CONFIRMATIONS = f"{ODATA}/API_PROD_ORDER_CONFIRMATION_2_SRV/ProdnOrdConf2"
STOCK = f"{ODATA}/API_MATERIAL_STOCK_SRV/A_MatlStkInAcctMod"
ORDERS = f"{ODATA}/API_PRODUCTION_ORDER_2_SRV/A_ProductionOrder_2"
SNAPSHOTS = f"{ODATA}/ZCT_STOCK_SNAPSHOT_SRV/StockSnapshot"


@pytest.fixture
def erp():
    return fresh_system("ERP")


def url(sandbox, erp: str, path: str) -> str:
    return f"{sandbox.system_url(erp)}/{path}"


def seed_order(sandbox, erp: str, status: str = "REL", **body) -> str:
    order = {"plant": "1000", "material": "FG-100", "quantity": 50, "uom": "PC", "status": status,
             "components": [{"material": "RM-210", "quantity": 50, "uom": "PC", "lot_controlled": True}], **body}
    response = sandbox.http.post(f"/sandbox/{erp}/simulate/production-orders", json=order)
    assert response.status_code == 201, response.text
    return response.json()["order_number"]


def seed_stock(sandbox, erp: str, material: str = "RM-210", quantity: float = 100, *, batch: str = "B1",
               location: str = "0001", unit: str = "PC", stock_type: str = "unrestricted") -> dict:
    response = sandbox.http.post(f"/sandbox/{erp}/simulate/stock", json={
        "plant": "1000", "storage_location": location, "material": material, "batch": batch,
        "quantity": quantity, "unit": unit, "stock_type": stock_type})
    assert response.status_code == 201, response.text
    return response.json()


def stock(sandbox, erp: str, material: str = "RM-210", batch: str = "B1") -> dict[tuple[str, str], str]:
    """{(storage location, stock type): quantity} of one batch."""
    response = sandbox.http.get(url(sandbox, erp, STOCK),
                                params={"$filter": f"Plant eq '1000' and Material eq '{material}' and Batch eq '{batch}'"})
    assert response.status_code == 200, response.text
    return {(row["StorageLocation"], row["InventoryStockType"]): row["MatlWrhsStkQtyInMatlBaseUnit"]
            for row in response.json()["d"]["results"]}


def item(order: str | None = None, movement: str = "261", **fields) -> dict:
    base = {"Material": "RM-210", "Plant": "1000", "StorageLocation": "0001", "Batch": "B1",
            "GoodsMovementType": movement, "QuantityInEntryUnit": "10", "EntryUnit": "PC"}
    if order:
        base |= {"ManufacturingOrder": order, "GoodsMovementRefDocType": "F"}
    return base | fields


def document(code: str, *items: dict, **header) -> dict:
    return {"GoodsMovementCode": code, "PostingDate": "/Date(1772409600000)/",  # 2026-03-02
            "DocumentDate": "/Date(1772409600000)/", "MaterialDocumentHeaderText": "CT-TEST",
            "to_MaterialDocumentItem": {"results": list(items)}, **header}


def post(sandbox, erp: str, path: str, body: dict, key: str | None = "fresh"):
    headers = {"Idempotency-Key": str(uuid.uuid4()) if key == "fresh" else key} if key else {}
    return sandbox.http.post(url(sandbox, erp, path), json=body, headers=headers)


def sap_error(response) -> str:
    error = response.json()["error"]
    assert set(error) == {"code", "message", "innererror"}
    assert error["message"]["lang"] == "en"
    return error["message"]["value"]


# Goods issues -------------------------------------------------------------------------------------


def test_goods_issue_to_a_released_order_posts_a_material_document(sandbox, erp):
    order = seed_order(sandbox, erp)
    seed_stock(sandbox, erp, quantity=100)

    response = post(sandbox, erp, DOCUMENTS, document("03", item(order, QuantityInEntryUnit="12.5")), key="k-1")

    assert response.status_code == 201, response.text
    d = response.json()["d"]
    assert re.fullmatch(r"49\d{8}", d["MaterialDocument"]) and d["MaterialDocumentYear"] == "2026"
    assert d["PostingDate"] == "/Date(1772409600000)/" and d["GoodsMovementCode"] == "03"
    [line] = d["to_MaterialDocumentItem"]["results"]
    assert line["MaterialDocumentItem"] == "1"
    assert (line["GoodsMovementType"], line["QuantityInEntryUnit"], line["EntryUnit"]) == ("261", "12.500", "PC")
    assert (line["ManufacturingOrder"], line["Batch"], line["StorageLocation"]) == (order, "B1", "0001")
    assert response.headers["Location"] == (f"A_MaterialDocumentHeader(MaterialDocumentYear='2026',"
                                            f"MaterialDocument='{d['MaterialDocument']}')")
    assert stock(sandbox, erp) == {("0001", "01"): "87.500"}
    [entry] = sandbox.ledger(erp)
    assert (entry["idempotency_key"], entry["operation"]) == ("k-1", "material_document.create")
    assert entry["document_number"] == f"{d['MaterialDocument']}/2026"
    assert entry["response"] == {"d": d}


def test_material_documents_are_found_by_header_text(sandbox, erp):
    order = seed_order(sandbox, erp)
    seed_stock(sandbox, erp)
    posted = post(sandbox, erp, DOCUMENTS, document("03", item(order), MaterialDocumentHeaderText="CTABC'1")).json()
    post(sandbox, erp, DOCUMENTS, document("03", item(order), MaterialDocumentHeaderText="CTOTHER"))

    found = sandbox.http.get(url(sandbox, erp, DOCUMENTS),
                             params={"$filter": "MaterialDocumentHeaderText eq 'CTABC''1'", "$format": "json"})

    assert found.status_code == 200
    assert found.json()["d"]["results"] == [posted["d"]]


def test_material_documents_are_numbered_per_posting_year(sandbox, erp):
    order = seed_order(sandbox, erp)
    seed_stock(sandbox, erp)

    first, second = (post(sandbox, erp, DOCUMENTS, document("03", item(order))).json()["d"] for _ in range(2))
    older = post(sandbox, erp, DOCUMENTS, document("03", item(order), PostingDate="2025-12-31")).json()["d"]

    assert int(second["MaterialDocument"]) == int(first["MaterialDocument"]) + 1
    assert older["MaterialDocumentYear"] == "2025" and older["MaterialDocument"].startswith("49")


@pytest.mark.parametrize("status", ["CRTD", None])
def test_no_goods_issue_to_an_order_that_is_not_released(sandbox, erp, status):
    order = seed_order(sandbox, erp, status=status) if status else "1999999999"
    seed_stock(sandbox, erp)

    response = post(sandbox, erp, DOCUMENTS, document("03", item(order)))

    assert response.status_code == 400
    expected = f"Order {order} is not released" if status else f"Order {order} does not exist"
    assert sap_error(response) == expected
    assert sandbox.ledger(erp) == []
    assert stock(sandbox, erp) == {("0001", "01"): "100.000"}


def test_an_issue_beyond_unrestricted_stock_is_a_deficit(sandbox, erp):
    order = seed_order(sandbox, erp)
    seed_stock(sandbox, erp, quantity=90, batch="BATCH1")
    seed_stock(sandbox, erp, quantity=50, batch="BATCH1", stock_type="blocked")  # blocked stock does not count

    response = post(sandbox, erp, DOCUMENTS, document("03", item(order, Batch="BATCH1", QuantityInEntryUnit="100")))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "DEFICIT"
    assert sap_error(response) == "Deficit of SL Unrestricted-use 10 PC : RM-210 1000 0001 BATCH1"
    assert sandbox.ledger(erp) == []


def test_an_issue_of_a_batch_the_erp_never_had_is_a_deficit_of_all_of_it(sandbox, erp):
    order = seed_order(sandbox, erp)

    response = post(sandbox, erp, DOCUMENTS, document("03", item(order, Batch="NEW", QuantityInEntryUnit="7")))

    assert sap_error(response) == "Deficit of SL Unrestricted-use 7 PC : RM-210 1000 0001 NEW"
    assert stock(sandbox, erp, batch="NEW") == {}


def test_a_unit_the_erp_does_not_know_is_refused(sandbox, erp):
    order = seed_order(sandbox, erp)
    seed_stock(sandbox, erp)

    each = post(sandbox, erp, DOCUMENTS, document("03", item(order, EntryUnit="EA")))
    kilos = post(sandbox, erp, DOCUMENTS, document("03", item(order, EntryUnit="KG")))

    assert sap_error(each) == "Unit EA is not defined for material RM-210"
    assert sap_error(kilos) == "Unit KG is not defined for material RM-210"


def test_a_document_is_all_or_nothing(sandbox, erp):
    order = seed_order(sandbox, erp)
    seed_stock(sandbox, erp, quantity=100)
    seed_stock(sandbox, erp, material="RM-300", quantity=1, batch="B9", unit="KG")

    response = post(sandbox, erp, DOCUMENTS, document(
        "03", item(order), item(order, Material="RM-300", Batch="B9", QuantityInEntryUnit="2.5", EntryUnit="KG")))

    assert sap_error(response) == "Deficit of SL Unrestricted-use 1.5 KG : RM-300 1000 0001 B9"
    assert stock(sandbox, erp) == {("0001", "01"): "100.000"}


def test_goods_issue_to_an_order_of_another_plant_is_refused(sandbox, erp):
    order = seed_order(sandbox, erp, plant="2000")
    seed_stock(sandbox, erp)

    response = post(sandbox, erp, DOCUMENTS, document("03", item(order)))

    assert sap_error(response) == f"Order {order} belongs to plant 2000, not 1000"


# Receipts and transfer postings -------------------------------------------------------------------


def test_receipt_from_an_order_goes_to_the_orders_storage_location(sandbox, erp):
    order = seed_order(sandbox, erp)
    receipt = item(order, "101", Material="FG-100", Batch="FG-L1", QuantityInEntryUnit="48")
    del receipt["StorageLocation"]

    response = post(sandbox, erp, DOCUMENTS, document("02", receipt))

    assert response.status_code == 201, response.text
    assert response.json()["d"]["to_MaterialDocumentItem"]["results"][0]["StorageLocation"] == "0001"
    assert stock(sandbox, erp, material="FG-100", batch="FG-L1") == {("0001", "01"): "48.000"}


def test_receipt_from_an_order_must_be_of_the_orders_material(sandbox, erp):
    order = seed_order(sandbox, erp)

    response = post(sandbox, erp, DOCUMENTS, document("02", item(order, "101", Material="RM-210")))

    assert sap_error(response) == f"Material RM-210 is not the material of order {order} (FG-100)"


def test_receipt_without_an_order_creates_stock(sandbox, erp):
    response = post(sandbox, erp, DOCUMENTS, document("05", item(None, "501", Batch="L-77", QuantityInEntryUnit="30")))

    assert response.status_code == 201, response.text
    assert stock(sandbox, erp, batch="L-77") == {("0001", "01"): "30.000"}


def test_344_blocks_and_343_releases_stock(sandbox, erp):
    seed_stock(sandbox, erp, quantity=40)

    block = post(sandbox, erp, DOCUMENTS, document("04", item(None, "344", QuantityInEntryUnit="40")))
    assert block.status_code == 201, block.text
    assert stock(sandbox, erp) == {("0001", "07"): "40.000"}

    too_much = post(sandbox, erp, DOCUMENTS, document("04", item(None, "343", QuantityInEntryUnit="41")))
    assert sap_error(too_much) == "Deficit of SL Blocked stock 1 PC : RM-210 1000 0001 B1"

    release = post(sandbox, erp, DOCUMENTS, document("04", item(None, "343", QuantityInEntryUnit="15")))
    assert release.status_code == 201
    assert stock(sandbox, erp) == {("0001", "01"): "15.000", ("0001", "07"): "25.000"}


def test_a_movement_type_must_fit_the_goods_movement_code(sandbox, erp):
    response = post(sandbox, erp, DOCUMENTS, document("04", item(None, "261")))

    assert response.status_code == 400
    details = response.json()["error"]["innererror"]["errordetails"]
    targets = {d["target"] for d in details}
    assert "to_MaterialDocumentItem/results/0/GoodsMovementType" in targets
    assert "to_MaterialDocumentItem/results/0/ManufacturingOrder" in targets


def test_invalid_document_names_each_field(sandbox, erp):
    response = post(sandbox, erp, DOCUMENTS, {
        "GoodsMovementCode": "03", "PostingDate": "yesterday", "MaterialDocumentHeaderText": "x" * 26,
        "to_MaterialDocumentItem": {"results": [{"Material": "RM-210", "Plant": "10000", "GoodsMovementType": "261",
                                                 "QuantityInEntryUnit": "-1", "EntryUnit": "PC",
                                                 "ManufacturingOrder": "1", "Batch": "B" * 11}]}})

    assert response.status_code == 400
    targets = {d["target"] for d in response.json()["error"]["innererror"]["errordetails"]}
    where = "to_MaterialDocumentItem/results/0/"
    assert targets == {"PostingDate", "MaterialDocumentHeaderText", f"{where}Plant", f"{where}StorageLocation",
                       f"{where}QuantityInEntryUnit", f"{where}Batch"}
    assert sandbox.ledger(erp) == []


# Idempotency --------------------------------------------------------------------------------------


def test_same_idempotency_key_replays_the_first_answer_and_moves_stock_once(sandbox, erp):
    order = seed_order(sandbox, erp)
    seed_stock(sandbox, erp, quantity=100)
    body = document("03", item(order))

    first = post(sandbox, erp, DOCUMENTS, body, key="same")
    again = post(sandbox, erp, DOCUMENTS, body, key="same")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    [entry] = sandbox.ledger(erp)
    assert entry["replays"] == 1
    assert stock(sandbox, erp) == {("0001", "01"): "90.000"}


def test_without_an_idempotency_key_every_post_posts_as_in_s4(sandbox, erp):
    order = seed_order(sandbox, erp)
    seed_stock(sandbox, erp, quantity=100)

    numbers = {post(sandbox, erp, DOCUMENTS, document("03", item(order)), key=None).json()["d"]["MaterialDocument"]
               for _ in range(2)}

    assert len(numbers) == 2
    assert len(sandbox.ledger(erp)) == 2
    assert stock(sandbox, erp) == {("0001", "01"): "80.000"}


def test_a_refused_posting_can_be_sent_again_with_the_same_key(sandbox, erp):
    order = seed_order(sandbox, erp)
    body = document("03", item(order))
    assert post(sandbox, erp, DOCUMENTS, body, key="retry-me").status_code == 400

    seed_stock(sandbox, erp, quantity=10)

    assert post(sandbox, erp, DOCUMENTS, body, key="retry-me").status_code == 201
    assert stock(sandbox, erp) == {}  # all 10 issued


# Confirmations ------------------------------------------------------------------------------------


def confirmation(order: str, **fields) -> dict:
    return {"OrderID": order, "OrderOperation": "0010", "Sequence": "0", "ConfirmationYieldQuantity": "20",
            "ConfirmationScrapQuantity": "1", "ConfirmationUnit": "PC", "FinalConfirmationType": "",
            "WorkCenter": "WC-1000-01", "PostingDate": "/Date(1772409600000)/", "ConfirmationText": "CT-C1"} | fields


def test_confirmations_count_per_operation_until_the_final_one(sandbox, erp):
    order = seed_order(sandbox, erp)

    partial = post(sandbox, erp, CONFIRMATIONS, confirmation(order))
    final = post(sandbox, erp, CONFIRMATIONS, confirmation(order, ConfirmationYieldQuantity="28",
                                                           FinalConfirmationType="1", ConfirmationText="CT-C2"))
    late = post(sandbox, erp, CONFIRMATIONS, confirmation(order))

    first, second = partial.json()["d"], final.json()["d"]
    assert re.fullmatch(r"\d{10}", first["ConfirmationGroup"]) and first["ConfirmationCount"] == "00000001"
    assert (second["ConfirmationGroup"], second["ConfirmationCount"]) == (first["ConfirmationGroup"], "00000002")
    assert second["IsFinalConfirmation"] is True
    assert (second["OpTotalConfirmedYieldQty"], second["OpTotalConfirmedScrapQty"]) == ("48.000", "2.000")
    assert sap_error(late) == f"Operation 0010 of order {order} is already finally confirmed"
    assert [e["document_number"] for e in sandbox.ledger(erp)] == [
        f"{first['ConfirmationGroup']}/00000001", f"{first['ConfirmationGroup']}/00000002"]
    found = sandbox.http.get(url(sandbox, erp, CONFIRMATIONS), params={"$filter": "ConfirmationText eq 'CT-C2'"})
    assert found.json()["d"]["results"] == [second]


def test_confirmation_rules(sandbox, erp):
    order = seed_order(sandbox, erp)
    created = seed_order(sandbox, erp, status="CRTD")

    assert sap_error(post(sandbox, erp, CONFIRMATIONS, confirmation(created))) == f"Order {created} is not released"
    assert sap_error(post(sandbox, erp, CONFIRMATIONS, confirmation(order, OrderOperation="0020"))) == (
        f"Operation 0020 does not exist in order {order}")
    assert sap_error(post(sandbox, erp, CONFIRMATIONS, confirmation(order, ConfirmationUnit="EA"))) == (
        "Unit EA is not defined for material FG-100")
    assert sandbox.ledger(erp) == []


# Stock, snapshots, orders -------------------------------------------------------------------------


def test_stock_is_queried_in_s4_shape(sandbox, erp):
    seed_stock(sandbox, erp, quantity=12, location="0001")
    seed_stock(sandbox, erp, quantity=3, location="0002", stock_type="blocked")
    seed_stock(sandbox, erp, quantity=5, batch="B2")

    response = sandbox.http.get(url(sandbox, erp, STOCK), params={
        "$filter": "Plant eq '1000' and Material eq 'RM-210' and Batch eq 'B1'"})

    rows = response.json()["d"]["results"]
    assert [(r["StorageLocation"], r["InventoryStockType"], r["MatlWrhsStkQtyInMatlBaseUnit"], r["MaterialBaseUnit"])
            for r in rows] == [("0001", "01", "12.000", "PC"), ("0002", "07", "3.000", "PC")]
    only_blocked = sandbox.http.get(url(sandbox, erp, STOCK), params={
        "$filter": "Material eq 'RM-210' and InventoryStockType eq '07'"}).json()["d"]["results"]
    assert [r["StorageLocation"] for r in only_blocked] == ["0002"]


def test_unsupported_filters_are_refused(sandbox, erp):
    for expression in ("Plant ne '1000'", "Colour eq 'red'", "Plant eq '1000' or Batch eq 'B1'"):
        response = sandbox.http.get(url(sandbox, erp, STOCK), params={"$filter": expression})
        assert response.status_code == 400, expression
        assert response.json()["error"]["code"] == "INVALID_FILTER"


def test_a_snapshot_is_kept_beside_the_erps_stock(sandbox, erp):
    seed_stock(sandbox, erp, quantity=100)
    seed_stock(sandbox, erp, quantity=5, stock_type="blocked")
    body = {"Plant": "1000", "SnapshotDateTime": "2026-03-02T05:00:00Z", "SnapshotReference": "CT-S1",
            "to_Item": {"results": [
                {"Material": "RM-210", "StorageLocation": "0001", "Batch": "B1", "Quantity": "103", "Unit": "PC"},
                {"Material": "RM-999", "StorageLocation": "0001", "Quantity": "0", "Unit": "PC"}]}}

    response = post(sandbox, erp, SNAPSHOTS, body)

    assert response.status_code == 201, response.text
    d = response.json()["d"]
    assert d["SnapshotDateTime"] == "/Date(1772427600000)/"
    first, second = d["to_Item"]["results"]
    assert (first["ErpQuantity"], first["DifferenceQuantity"]) == ("105.000", "-2.000")
    assert (second["ErpQuantity"], second["DifferenceQuantity"]) == ("0.000", "0.000")
    found = sandbox.http.get(url(sandbox, erp, SNAPSHOTS), params={"$filter": "SnapshotReference eq 'CT-S1'"})
    assert found.json()["d"]["results"] == [d]
    assert stock(sandbox, erp) == {("0001", "01"): "100.000", ("0001", "07"): "5.000"}, "a snapshot posts nothing"


def test_production_orders_are_read_as_a_production_order_2(sandbox, erp):
    order = seed_order(sandbox, erp, scheduled_start="2026-03-02T06:00:00+01:00")
    seed_order(sandbox, erp)

    response = sandbox.http.get(url(sandbox, erp, ORDERS), params={"$filter": f"ManufacturingOrder eq '{order}'"})

    [d] = response.json()["d"]["results"]
    assert (d["ManufacturingOrder"], d["ProductionPlant"], d["Material"]) == (order, "1000", "FG-100")
    assert (d["MfgOrderPlannedTotalQty"], d["ProductionUnit"], d["OrderIsReleased"]) == ("50.000", "PC", True)
    assert d["MfgOrderPlannedStartDate"] == "/Date(1772427600000)/"
    assert re.fullmatch(r"\d{14}", d["LastChangeDateTime"])
    assert d["to_ProductionOrderComponent"]["results"][0]["YY1_BatchManaged"] is True
    assert d["to_ProductionOrderOperation"]["results"] == [
        {"ManufacturingOrder": order, "ManufacturingOrderOperation": "0010", "WorkCenter": "WC-1000-01"}]


# Controls and faults ------------------------------------------------------------------------------


def test_seeding_refuses_bad_stock(sandbox, erp):
    seed_stock(sandbox, erp, quantity=1, unit="PC")

    response = sandbox.http.post(f"/sandbox/{erp}/simulate/stock", json={
        "plant": "1000", "storage_location": "00001", "material": "RM-210", "quantity": -1, "unit": "EA"})
    other_unit = sandbox.http.post(f"/sandbox/{erp}/simulate/stock", json={
        "plant": "1000", "storage_location": "0002", "material": "RM-210", "quantity": 1, "unit": "KG"})

    assert response.status_code == 400 and len(response.json()["errors"]) == 3
    assert other_unit.status_code == 400 and "kept in PC" in other_unit.json()["errors"][0]


def test_seeding_an_order_needs_a_known_status(sandbox, erp):
    response = sandbox.http.post(f"/sandbox/{erp}/simulate/production-orders",
                                 json={"plant": "1000", "material": "FG-100", "quantity": 1, "status": "TECO"})

    assert response.status_code == 400


def test_posts_take_the_erps_faults(sandbox, erp):
    sandbox.set_fault(erp, "http_503")

    assert post(sandbox, erp, DOCUMENTS, document("05", item(None, "501"))).status_code == 503
    assert sandbox.http.get(url(sandbox, erp, STOCK), params={"$filter": "Plant eq '1000'"}).status_code == 503
    assert sandbox.ledger(erp) == []


def test_slow_holds_up_postings_but_not_queries(sandbox, erp):
    sandbox.set_fault(erp, "slow")

    query = sandbox.http.get(url(sandbox, erp, DOCUMENTS), params={"$filter": "MaterialDocumentHeaderText eq 'x'"})

    assert query.status_code == 200
    assert query.elapsed.total_seconds() < 1.5


def test_a_quantity_larger_than_the_field_is_refused_not_a_server_error(sandbox, erp):
    order = seed_order(sandbox, erp)
    seed_stock(sandbox, erp)

    response = post(sandbox, erp, DOCUMENTS, document("03", item(order, QuantityInEntryUnit="1000000000000000")))

    assert response.status_code == 400, response.text
    assert "larger than the field holds" in response.text
