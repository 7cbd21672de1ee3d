"""One order's whole life across the simulated plant, through the tower, in each system's own format.

The tower is configured exactly as the demo configures it (controltower.demo), the simulated ERP,
WMS, MES and QMS push with their own keys, and a real Celery worker delivers. At the end the
three systems' ledgers must agree on the quantities: that is what a plant buys the tower for.
"""

import uuid
from decimal import Decimal
from xml.etree import ElementTree

import pytest
from django.contrib.auth.models import Group

from controltower.demo import demo_seed
from controltower.roles import Role
from integrations.models import Delivery, Transaction
from tests.fixtures.pipeline import wait_until

pytestmark = [pytest.mark.pipeline, pytest.mark.django_db(transaction=True)]
ODATA = "sap/opu/odata/sap"
B2MML = {"b2mml": "http://www.mesa.org/xml/B2MML"}


@pytest.fixture
def plant(transactional_db, live_server, sandbox, celery_worker):
    for role in Role:
        Group.objects.get_or_create(name=role)
    seed = demo_seed(sandbox_url=sandbox.url)
    for code, key in seed.api_keys.items():
        sandbox.link(code, live_server.url, key)
    return sandbox


def release(plant, components, quantity=40) -> str:
    response = plant.http.post("/sandbox/ERP-S4/production-orders", json={
        "plant": "1000", "material": "FG-100", "quantity": quantity, "uom": "PC", "components": components})
    assert response.status_code == 201 and response.json()["tower"]["status_code"] == 202, response.text
    return response.json()["order_number"]


def settled(order_number: str) -> bool:
    """Every transaction of the order is done: delivered, or recorded with no one to tell."""
    statuses = set(Transaction.objects.filter(canonical_payload__order_number=order_number)
                   .values_list("status", flat=True))
    return bool(statuses) and statuses <= {"delivered", "ignored"}


def delivered_to(order_number: str, system: str, event_type: str) -> bool:
    return Delivery.objects.filter(transaction__canonical_payload__order_number=order_number,
                                   transaction__event_type=event_type, target__code=system,
                                   status="delivered").exists()


def erp_stock(plant, material: str, batch: str) -> dict[str, Decimal]:
    query = f"Plant eq '1000' and Material eq '{material}' and Batch eq '{batch}'"
    rows = plant.http.get(f"/sandbox/ERP-S4/{ODATA}/API_MATERIAL_STOCK_SRV/A_MatlStkInAcctMod",
                          params={"$filter": query}).json()["d"]["results"]
    return {row["InventoryStockType"]: Decimal(row["MatlWrhsStkQtyInMatlBaseUnit"]) for row in rows}


def pick(plant, order_number: str, sku: str, qty, unit: str, lot: str):
    return plant.http.post("/sandbox/WMS-EAST/simulate/report", json={
        "message_type": "PICK_CONFIRMED", "message_id": f"WMS-EAST-{uuid.uuid4()}", "reference": order_number,
        "site": "1000", "sku": sku, "qty": qty, "unit": unit, "lot": lot, "bin": "A-01-02"})


def test_an_order_lives_through_erp_wms_and_mes_and_their_ledgers_agree(plant):
    lot_a, lot_b = f"LA{uuid.uuid4().hex[:6]}", f"LB{uuid.uuid4().hex[:6]}"
    order = release(plant, [{"material": "RM-210", "quantity": 40, "uom": "PC", "lot_controlled": True},
                            {"material": "RM-300", "quantity": 14, "uom": "KG", "lot_controlled": True}])
    wait_until(lambda: delivered_to(order, "MES-P1000", "production_order.released")
               and delivered_to(order, "WMS-EAST", "production_order.released"), what="the release at MES and WMS")

    # The lots the warehouse picks are in the ERP's stock (received earlier).
    for material, batch, quantity, unit in (("RM-210", lot_a, 40, "PC"), ("RM-300", lot_b, 14, "KG")):
        assert plant.http.post("/sandbox/ERP-S4/simulate/stock", json={
            "plant": "1000", "storage_location": "0001", "material": material, "batch": batch,
            "quantity": quantity, "unit": unit}).status_code == 201
    assert pick(plant, order, "RM-210", 40, "EA", lot_a).status_code == 201
    assert pick(plant, order, "RM-300", 14, "KG", lot_b).status_code == 201
    performance = plant.http.post("/sandbox/MES-P1000/simulate/performance",
                                  json={"order_number": order, "yield": 38, "scrap": 2, "lot": f"F{order[-8:]}"})
    assert performance.status_code in (200, 201), performance.text

    wait_until(lambda: settled(order) and delivered_to(order, "ERP-S4", "production.completed")
               and delivered_to(order, "WMS-EAST", "production.completed"), timeout_s=60,
               what="every message of the order delivered")

    # What each system's ledger says, in its own words.
    wms = [e for e in plant.ledger("WMS-EAST") if order in str(e["request"])]
    staged = {line["sku"]: (line["qty"], line["unit"]) for e in wms if e["operation"] == "staging_request.create"
              for line in e["request"]["lines"]}
    [putaway] = [e["request"] for e in wms if e["operation"] == "putaway.create"]
    erp = [e for e in plant.ledger("ERP-S4") if order in str(e["request"])]
    items = [item for e in erp for item in e["request"].get("to_MaterialDocumentItem", {}).get("results", [])]
    issued = {i["Material"]: (Decimal(i["QuantityInEntryUnit"]), i["EntryUnit"], i["Batch"]) for i in items
              if i["GoodsMovementType"] == "261"}
    [received] = [i for i in items if i["GoodsMovementType"] == "101"]
    [confirmation] = [e["request"] for e in erp if "ConfirmationYieldQuantity" in e["request"]]
    [schedule] = [e for e in plant.ledger("MES-P1000") if order in str(e["request"])]

    # Components: what the WMS was asked to stage is what the ERP issued to the order, unit for unit.
    assert staged == {"RM-210": (40, "EA"), "RM-300": (14, "KG")}
    assert issued == {"RM-210": (Decimal(40), "PC", lot_a), "RM-300": (Decimal(14), "KG", lot_b)}
    # Output: what the MES reported good is what the ERP received and what the WMS puts away.
    assert (putaway["sku"], putaway["qty"], putaway["unit"]) == ("FG-100", 38, "EA")
    assert (received["Material"], Decimal(received["QuantityInEntryUnit"]), received["EntryUnit"]) == (
        "FG-100", Decimal(38), "PC")
    assert (Decimal(confirmation["ConfirmationYieldQuantity"]), Decimal(confirmation["ConfirmationScrapQuantity"])
            ) == (Decimal(38), Decimal(2))
    # The MES was scheduled for the order's full quantity, in its own unit.
    produced = ElementTree.fromstring(schedule["request"]["xml"]).find(
        ".//b2mml:MaterialRequirement[b2mml:MaterialUse='Produced']/b2mml:Quantity", B2MML)
    assert (produced.findtext("b2mml:QuantityString", namespaces=B2MML),
            produced.findtext("b2mml:UnitOfMeasure", namespaces=B2MML)) == ("40", "ea")
    assert erp_stock(plant, "RM-210", lot_a) == {}, "the issued lot is used up in the ERP"


def test_a_quality_hold_blocks_the_pick_in_the_wms_and_the_stock_in_the_erp(plant):
    lot = f"LH{uuid.uuid4().hex[:6]}"
    order = release(plant, [{"material": "RM-210", "quantity": 25, "uom": "PC", "lot_controlled": True}])
    wait_until(lambda: delivered_to(order, "WMS-EAST", "production_order.released"), what="the release at the WMS")
    assert plant.http.post("/sandbox/ERP-S4/simulate/stock", json={
        "plant": "1000", "storage_location": "0001", "material": "RM-210", "batch": lot, "quantity": 25,
        "unit": "PC"}).status_code == 201

    hold = plant.http.post("/sandbox/QMS-CENTRAL/simulate/hold",
                           json={"plant": "1000", "material": "RM-210", "lot": lot, "reason": "pH out of range"})
    assert hold.status_code == 201 and hold.json()["tower"]["status_code"] == 200, hold.text
    [result] = hold.json()["tower"]["body"]["results"]
    hold_tx = result["transaction_id"]
    wait_until(lambda: Transaction.objects.filter(pk=hold_tx, status="delivered").exists(),
               what="the hold at the ERP and the WMS")

    refused = pick(plant, order, "RM-210", 25, "EA", lot)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "LOT_BLOCKED"
    assert erp_stock(plant, "RM-210", lot) == {"07": Decimal(25)}, "the ERP moved the lot to blocked stock (344)"

    release_ = plant.http.post("/sandbox/QMS-CENTRAL/simulate/release",
                               json={"plant": "1000", "material": "RM-210", "lot": lot, "reason": "retest passed"})
    release_tx = release_.json()["tower"]["body"]["results"][0]["transaction_id"]
    wait_until(lambda: Transaction.objects.filter(pk=release_tx, status="delivered").exists(),
               what="the release at the ERP and the WMS")
    assert erp_stock(plant, "RM-210", lot) == {"01": Decimal(25)}, "back to unrestricted stock (343)"
    assert pick(plant, order, "RM-210", 25, "EA", lot).status_code == 201
