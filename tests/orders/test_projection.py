"""The order projection: what a planner sees of one order across ERP, WMS and MES."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from orders.models import ProductionOrder
from orders.projection import order_apply_delivery, order_apply_transaction, orders_apply
from tests.orders.conftest import at, completed, delivery, issued, released, staged


def apply_all(*transactions) -> ProductionOrder:
    order = None
    for tx in transactions:
        order = order_apply_transaction(tx)
    order.refresh_from_db()
    return order


def codes(order: ProductionOrder) -> list[str]:
    return [m["code"] for m in order.mismatches]


def test_each_system_reports_its_own_quantities_side_by_side(record):
    release = record("production_order.released", released(), minute=0)
    order = apply_all(
        release,
        record("material.staged", staged(100), source="WMS-EAST", minute=5),
        record("material.issued", issued(60), source="WMS-EAST", minute=10),
        record("material.issued", issued(40), source="WMS-EAST", minute=12),
        record("production.completed", completed(30, 1), source="MES-P1000", minute=60),
        record("production.completed", completed(18, 1), source="MES-P1000", minute=90),
    )

    assert (order.material, order.planned_quantity, order.uom) == ("FG-100", Decimal(50), "EA")
    assert order.correlation_id == release.correlation_id
    assert order.systems["ERP-S4"] == {"status": "released", "event_type": "production_order.released",
                                       "at": at(0).isoformat(), "transaction_id": str(release.pk),
                                       "material": "FG-100", "quantity": 50, "uom": "EA"}
    wms = order.systems["WMS-EAST"]
    assert (wms["status"], wms["at"]) == ("issued", at(12).isoformat())
    assert wms["staged"] == [{"material": "RM-210", "quantity": 100, "uom": "EA"}]
    assert wms["issued"] == [{"material": "RM-210", "quantity": 100, "uom": "EA"}]
    mes = order.systems["MES-P1000"]
    assert (mes["status"], mes["quantity_good"], mes["quantity_scrap"], mes["uom"]) == ("completed", 48, 2, "EA")
    assert order.issued == [{"material": "RM-210", "quantity": 100, "uom": "EA"}]
    assert order.staged == [{"material": "RM-210", "quantity": 100, "uom": "EA"}]
    assert (order.quantity_good, order.quantity_scrap) == (48, 2)
    assert order.last_event_at == at(90)
    assert order.mismatches == [], "48 good + 2 scrap of 50 with 100 of 100 RM-210 issued is a clean order"


def test_more_good_than_planned_is_a_mismatch(record):
    order = apply_all(
        record("production_order.released", released(quantity=50)),
        record("production.completed", completed(60), source="MES-P1000", minute=30),
    )
    assert order.mismatches == [{"code": "completed_exceeds_planned",
                                 "detail": "MES-P1000 reports 60 EA good of 50 EA planned"}]


def test_a_quantity_change_moves_the_plan_the_completion_is_measured_against(record):
    order = apply_all(
        record("production_order.released", released(quantity=50)),
        record("production_order.changed", {"order_number": "1000000101", "plant": "1000",
                                            "quantity": {"value": 40, "uom": "EA"}, "priority": 5}, minute=10),
        record("production.completed", completed(45), source="MES-P1000", minute=30),
    )
    assert order.planned_quantity == 40
    assert order.systems["ERP-S4"]["status"] == "changed"
    assert (order.systems["ERP-S4"]["quantity"], order.systems["ERP-S4"]["priority"]) == (40, 5)
    assert codes(order) == ["completed_exceeds_planned"]


def test_completion_in_another_unit_is_flagged_instead_of_compared(record):
    order = apply_all(
        record("production_order.released", released()),
        record("production.completed", completed(20, uom="KG"), source="MES-P1000", minute=30),
    )
    assert codes(order) == ["completion_uom_differs"]


def test_a_completion_that_arrives_before_the_release_is_completed_by_the_release(record):
    """GIVEN the MES completion reaches the tower before the ERP release (sent earlier, arrived later)
    WHEN each is applied as it arrives
    THEN the order exists after the completion, flagged as not released, and is whole after the release."""
    completion = record("production.completed", completed(48, 2), source="MES-P1000", minute=60)
    order = apply_all(completion)
    assert order.planned_quantity is None and order.material == ""
    assert (order.quantity_good, order.systems["MES-P1000"]["quantity_good"]) == (48, 48)
    assert codes(order) == ["not_released"]
    assert "MES-P1000 already reported production.completed" in order.mismatches[0]["detail"]

    release = record("production_order.released", released(), minute=65, sent_minute=0)
    order = apply_all(release)
    assert (order.material, order.planned_quantity, order.uom) == ("FG-100", 50, "EA")
    assert order.systems["ERP-S4"]["status"] == "released"
    assert order.systems["MES-P1000"]["status"] == "completed"
    assert order.quantity_good == 48
    assert order.mismatches == []
    assert order.correlation_id == release.correlation_id
    assert ProductionOrder.objects.count() == 1


def test_applying_the_same_transaction_twice_counts_it_once(record):
    release = record("production_order.released", released())
    issue = record("material.issued", issued(40), source="WMS-EAST", minute=10)
    completion = record("production.completed", completed(20), source="MES-P1000", minute=20)
    order = apply_all(release, issue, completion, issue, completion, release)

    assert order.issued == [{"material": "RM-210", "quantity": 40, "uom": "EA"}]
    assert order.systems["WMS-EAST"]["issued"] == [{"material": "RM-210", "quantity": 40, "uom": "EA"}]
    assert order.quantity_good == 20 and order.systems["MES-P1000"]["quantity_good"] == 20
    assert order.transactions.count() == 3


def test_an_older_message_arriving_late_does_not_overwrite_a_newer_status(record):
    """The ERP closed the order after releasing it, but the release copy arrived last."""
    closed = record("production_order.closed", {"order_number": "1000000101", "plant": "1000",
                                                "reason": "technically complete"}, minute=120, sent_minute=110)
    release = record("production_order.released", released(), minute=130, sent_minute=0)
    order = apply_all(closed, release)
    assert order.systems["ERP-S4"]["status"] == "closed"
    assert order.systems["ERP-S4"]["reason"] == "technically complete"
    assert order.planned_quantity == 50, "the release still sets the plan"


def test_issuing_more_of_a_component_than_the_order_needs_is_a_mismatch(record):
    order = apply_all(
        record("production_order.released", released()),
        record("material.issued", issued(80), source="WMS-EAST", minute=10),
        record("material.issued", issued(30), source="WMS-EAST", minute=11),
    )
    assert order.mismatches == [{"code": "issued_exceeds_required",
                                 "detail": "110 EA of RM-210 issued; the order needs 100 EA"}]


def test_a_shortage_stays_a_finding_until_the_material_is_staged(record):
    release = record("production_order.released", released())
    shortage = record("material.shortage", {"order_number": "1000000101", "plant": "1000", "material": "RM-210",
                                            "quantity_short": {"value": 20, "uom": "EA"}},
                      source="WMS-EAST", minute=5)
    order = apply_all(release, shortage)
    assert order.mismatches == [{"code": "material_shortage",
                                 "detail": "WMS-EAST reports 20 EA of RM-210 short"}]
    assert order.systems["WMS-EAST"]["shortage"] == {"material": "RM-210", "quantity": 20, "uom": "EA"}

    order = apply_all(record("material.staged", staged(100), source="WMS-EAST", minute=30))
    assert order.mismatches == []


def test_a_completion_on_a_cancelled_order_is_a_mismatch(record):
    order = apply_all(
        record("production_order.released", released()),
        record("production_order.cancelled", {"order_number": "1000000101", "plant": "1000",
                                              "reason": "customer withdrew"}, minute=10),
        record("production.completed", completed(10), source="MES-P1000", minute=20),
    )
    assert order.systems["ERP-S4"]["status"] == "cancelled"
    assert order.mismatches == [{"code": "completed_on_cancelled_order",
                                 "detail": "ERP-S4 cancelled the order, but MES-P1000 reports 10 good"}]


def test_operation_confirmations_and_order_receipts_show_under_their_system(record):
    order = apply_all(
        record("production_order.released", released()),
        record("operation.completed", {"order_number": "1000000101", "plant": "1000", "operation": "0010",
                                       "work_center": "WC-1000-01", "yield": {"value": 25, "uom": "EA"},
                                       "scrap": {"value": 0, "uom": "EA"}}, source="MES-P1000", minute=30),
        record("goods.received", {"order_number": "1000000101", "plant": "1000", "material": "FG-100",
                                  "quantity": {"value": 25, "uom": "EA"}, "lot": "FG-L-0001",
                                  "location": "FG-01"}, source="WMS-EAST", minute=40),
    )
    mes = order.systems["MES-P1000"]
    assert (mes["status"], mes["operation"], mes["yield_quantity"], mes["scrap_quantity"]) == (
        "operation_completed", "0010", 25, 0)
    assert "quantity_good" not in mes, "an operation confirmation is not an order completion"
    assert order.systems["WMS-EAST"]["status"] == "goods_received"
    assert order.systems["WMS-EAST"]["received"] == [{"material": "FG-100", "quantity": 25, "uom": "EA"}]
    assert order.quantity_good == 0


def test_events_that_are_not_about_an_order_leave_orders_alone(record):
    hold = record("quality.hold_placed", {"plant": "1000", "material": "FG-100", "lot": "FG-L-0001",
                                          "reason": "visual defect", "disposition": "pending"}, source="MES-P1000")
    receipt = record("goods.received", {"plant": "1000", "material": "RM-210", "quantity": {"value": 5, "uom": "EA"},
                                        "lot": "L-9", "location": "A-01"}, source="WMS-EAST")
    adjusted = record("inventory.adjusted", {"plant": "1000", "material": "RM-210", "lot": "L-9", "location": "A-01",
                                             "delta": {"value": -2, "uom": "EA"}, "reason_code": "DAMAGE"},
                      source="WMS-EAST")
    assert [order_apply_transaction(tx) for tx in (hold, receipt, adjusted)] == [None, None, None]
    assert not ProductionOrder.objects.exists()


def test_a_delivered_release_is_acknowledged_under_the_target_with_its_reference(record, wms_east):
    release = record("production_order.released", released())
    order_apply_transaction(release)
    d = delivery(release, wms_east, "delivered", reference="WT-000123", minute=1)
    order_apply_delivery(d)
    order_apply_delivery(d)

    order = ProductionOrder.objects.get()
    assert order.systems["WMS-EAST"] == {"status": "acknowledged", "event_type": "production_order.released",
                                         "reference": "WT-000123", "at": at(1).isoformat(),
                                         "transaction_id": str(release.pk)}
    assert order.systems["ERP-S4"]["status"] == "released", "the sender's own report is untouched"
    assert order.last_event_at == at(1)
    assert order.mismatches == []


def test_a_later_report_from_the_target_keeps_its_document_number(record, wms_east):
    release = record("production_order.released", released())
    order_apply_delivery(delivery(release, wms_east, "delivered", reference="WT-000123", minute=1))
    order = apply_all(record("material.staged", staged(100), source="WMS-EAST", minute=20))
    wms = order.systems["WMS-EAST"]
    assert (wms["status"], wms["reference"]) == ("staged", "WT-000123")


def test_rejected_and_dead_deliveries_are_recorded_and_flagged(record, erp, mes):
    release = record("production_order.released", released())
    completion = record("production.completed", completed(48), source="MES-P1000", minute=60)
    order_apply_transaction(release)
    order_apply_transaction(completion)
    order_apply_delivery(delivery(release, mes, "rejected"))
    assert codes(ProductionOrder.objects.get()) == ["delivery_rejected"]
    order_apply_delivery(delivery(completion, erp, "dead", attempts=10))

    order = ProductionOrder.objects.get()
    assert (order.systems["MES-P1000"]["status"], order.systems["MES-P1000"]["event_type"]) == (
        "completed", "production.completed"), "MES reported after our release was refused"
    assert order.systems["ERP-S4"]["status"] == "dead"
    assert order.systems["ERP-S4"]["event_type"] == "production.completed"
    assert order.mismatches == [
        {"code": "delivery_rejected", "detail": "MES-P1000 rejected production_order.released"},
        {"code": "delivery_dead", "detail": "ERP-S4 never received (dead) production.completed"},
    ]


def test_a_delivery_of_an_event_without_an_order_changes_nothing(record, mes):
    hold = record("quality.hold_placed", {"plant": "1000", "material": "FG-100", "lot": "FG-L-0001",
                                          "reason": "visual defect"}, source="MES-P1000")
    order_apply_delivery(delivery(hold, mes, "delivered", minute=1))
    assert not ProductionOrder.objects.exists()


def test_orders_of_the_same_number_in_two_plants_are_two_orders(record):
    a = order_apply_transaction(record("production_order.released", released("4711", "1000")))
    b = order_apply_transaction(record("production_order.released", released("4711", "2000", quantity=7)))
    assert a.pk != b.pk
    assert sorted(ProductionOrder.objects.values_list("plant__code", "planned_quantity")) == [
        ("1000", 50), ("2000", 7)]


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_applying_to_one_order_lose_no_update(record):
    """GIVEN 8 issue postings of one order, each applied by its own worker connection at once
    WHEN they all rebuild the order concurrently
    THEN the row lock serialises them and the last rebuild counts all 8 (no lost update)."""
    postings = [record("material.issued", issued(5), source="WMS-EAST", minute=n) for n in range(8)]
    order_apply_transaction(record("production_order.released", released()))
    barrier, errors = threading.Barrier(len(postings)), []

    def work(tx):
        try:
            barrier.wait()
            order_apply_transaction(tx)
        except Exception as e:
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(tx,)) for tx in postings]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    order = ProductionOrder.objects.get()
    assert order.issued == [{"material": "RM-210", "quantity": 40, "uom": "EA"}]
    assert order.transactions.count() == 9


def test_a_batch_rebuilds_every_order_it_touches_once_and_ignores_the_rest(record, django_assert_max_num_queries):
    """GIVEN a worker's batch: two orders' releases, an issue for the first, and a quality hold
    WHEN the batch is applied at once, twice
    THEN each order shows its own messages, the hold touches no order, and the cost does not grow
    with the batch (a fixed number of queries)."""
    first, second = released("4711"), released("4712", quantity=7)
    batch = [record("production_order.released", first), record("production_order.released", second),
             record("material.issued", {**issued(60), "order_number": "4711"}, source="WMS-EAST", minute=5),
             record("quality.hold_placed", {"plant": "1000", "material": "FG-100", "lot": "L-1",
                                            "reason": "visual defect", "disposition": "pending"}, source="MES-P1000")]
    with django_assert_max_num_queries(12):
        orders_apply(batch)
    orders_apply(batch)

    orders = {o.order_number: o for o in ProductionOrder.objects.all()}
    assert sorted(orders) == ["4711", "4712"]
    assert orders["4711"].issued == [{"material": "RM-210", "quantity": 60, "uom": "EA"}]
    assert (orders["4712"].planned_quantity, orders["4712"].issued) == (7, [])
    assert orders["4711"].transactions.count() == 2
