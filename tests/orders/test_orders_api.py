"""Order 360 and the correlation thread in the API: plant-scoped, problem+json, constant queries."""

import pytest

from orders.projection import order_apply_transaction
from tests.orders.conftest import at, completed, delivery, issued, released


@pytest.fixture
def orders(record, wms_east, erp):
    """Order 1000000101 of plant 1000 (released, staged and issued, completed beyond plan)
    and order 2000000202 of plant 2000 (released only)."""
    release = record("production_order.released", released(), minute=0)
    delivery(release, wms_east, "delivered", reference="WT-000123", minute=1)
    issue = record("material.issued", issued(100), source="WMS-EAST", minute=10)
    completion = record("production.completed", completed(60), source="MES-P1000", minute=5, sent_minute=4)
    delivery(completion, erp, "retrying", attempts=3)
    for tx in (release, issue, completion):
        order_apply_transaction(tx)
    other = record("production_order.released", released("2000000202", "2000"), minute=2)
    order_apply_transaction(other)
    return {"1000": (release, completion, issue), "2000": other}


def test_a_planner_sees_her_order_across_systems_with_its_timeline(client, alice, orders):
    release, completion, issue = orders["1000"]
    client.force_login(alice)
    response = client.get("/api/v1/orders/1000/1000000101")

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("plant", "order_number", "material", "planned_quantity", "uom")} == {
        "plant": "1000", "order_number": "1000000101", "material": "FG-100", "planned_quantity": 50, "uom": "EA"}
    assert body["correlation_id"] == release.correlation_id
    assert body["systems"]["ERP-S4"]["quantity"] == 50
    assert body["systems"]["WMS-EAST"]["issued"] == [{"material": "RM-210", "quantity": 100, "uom": "EA"}]
    assert body["systems"]["WMS-EAST"]["reference"] == "WT-000123"
    assert body["systems"]["MES-P1000"]["quantity_good"] == 60
    assert body["totals"] == {"staged": [], "issued": [{"material": "RM-210", "quantity": 100.0, "uom": "EA"}],
                              "quantity_good": 60.0, "quantity_scrap": 0.0}
    assert body["mismatches"] == [{"code": "completed_exceeds_planned",
                                   "detail": "MES-P1000 reports 60 EA good of 50 EA planned"}]
    assert [(t["event_type"], t["source"]) for t in body["timeline"]] == [
        ("production_order.released", "ERP-S4"),
        ("production.completed", "MES-P1000"),
        ("material.issued", "WMS-EAST"),
    ], "the timeline is in the order the tower received the messages"
    first = body["timeline"][0]
    assert first["id"] == str(release.pk) and first["status"] == "received"
    assert first["received_at"].replace("Z", "+00:00") == at(0).isoformat()
    assert [(d["target"], d["status"], d["target_reference"]) for d in first["deliveries"]] == [
        ("WMS-EAST", "delivered", "WT-000123")]
    assert [(d["target"], d["status"], d["attempts"]) for d in body["timeline"][1]["deliveries"]] == [
        ("ERP-S4", "retrying", 3)]


def test_another_plants_order_is_not_found_as_problem_json(client, alice, orders):
    client.force_login(alice)
    for url in ("/api/v1/orders/2000/2000000202", "/api/v1/orders/1000/2000000202",
                "/api/v1/orders/1000/9999999999"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["title"] == "Not found"


def test_a_supervisor_of_plant_2000_sees_only_plant_2000(client, bob, orders):
    client.force_login(bob)
    assert client.get("/api/v1/orders/2000/2000000202").status_code == 200
    assert client.get("/api/v1/orders/1000/1000000101").status_code == 404


def test_an_integration_admin_sees_every_plants_orders(client, carol, orders):
    client.force_login(carol)
    assert client.get("/api/v1/orders/1000/1000000101").json()["planned_quantity"] == 50
    other = client.get("/api/v1/orders/2000/2000000202").json()
    assert (other["plant"], other["mismatches"], len(other["timeline"])) == ("2000", [], 1)


def test_anonymous_callers_are_refused_with_problem_json(client, orders):
    release = orders["1000"][0]
    for url in ("/api/v1/orders/1000/1000000101", f"/api/v1/correlations/{release.correlation_id}"):
        response = client.get(url)
        assert response.status_code in (401, 403)
        assert response["Content-Type"] == "application/problem+json"


def test_the_correlation_thread_is_every_system_in_time_order(client, alice, orders):
    release, completion, issue = orders["1000"]
    client.force_login(alice)
    response = client.get(f"/api/v1/correlations/{release.correlation_id}")

    assert response.status_code == 200
    body = response.json()
    assert body["correlation_id"] == release.correlation_id
    assert [t["id"] for t in body["transactions"]] == [str(release.pk), str(completion.pk), str(issue.pk)]
    assert {t["plant"] for t in body["transactions"]} == {"1000"}
    assert body["transactions"][0]["deliveries"][0] | {"id": None} == {
        "id": None, "target": "WMS-EAST", "status": "delivered", "target_reference": "WT-000123", "attempts": 1,
        "delivered_at": at(1).isoformat().replace("+00:00", "Z")}


def test_the_correlation_thread_shows_only_the_plants_you_may_see(client, alice, bob, carol, record):
    """GIVEN one correlation ID that a sender propagated across plants 1000 and 2000
    THEN each person sees only their plant's part, and someone with no part gets 404."""
    mine = record("production_order.released", released("1000000555", "1000"), minute=3, correlation_id="intercompany-9")
    theirs = record("production_order.released", released("2000000555", "2000"), minute=1,
                    correlation_id="intercompany-9")
    record("production_order.released", released("1000000556", "1000"), minute=2, correlation_id="c-other")

    client.force_login(alice)
    assert [t["id"] for t in client.get("/api/v1/correlations/intercompany-9").json()["transactions"]] == [
        str(mine.pk)]
    client.force_login(carol)
    assert [t["id"] for t in client.get("/api/v1/correlations/intercompany-9").json()["transactions"]] == [
        str(theirs.pk), str(mine.pk)]
    client.force_login(bob)
    response = client.get("/api/v1/correlations/c-other")
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"
    assert client.get("/api/v1/correlations/no-such-thread").status_code == 404


def test_order_and_thread_take_a_constant_number_of_queries(client, carol, record, erp, wms_east, mes,
                                                            django_assert_max_num_queries):
    """40 messages with two deliveries each answer in as many queries as one would."""
    for n in range(40):
        tx = record("material.issued", issued(1), source="WMS-EAST", minute=n, correlation_id="busy")
        delivery(tx, erp, "delivered", reference=f"MD-{n}", minute=n + 0.5)
        delivery(tx, mes, "pending")
        order_apply_transaction(tx)
    client.force_login(carol)
    with django_assert_max_num_queries(8):
        body = client.get("/api/v1/orders/1000/1000000101").json()
    assert len(body["timeline"]) == 40 and body["totals"]["issued"][0]["quantity"] == 40
    with django_assert_max_num_queries(8):
        thread = client.get("/api/v1/correlations/busy").json()["transactions"]
    assert len(thread) == 40 and all(len(t["deliveries"]) == 2 for t in thread)
