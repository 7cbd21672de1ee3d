"""A person sees only the transactions of their plants, in pages and in the API."""

import pytest

from integrations.models import Transaction
from tests.fixtures.events import released_event


@pytest.fixture
def orders(erp, plant_1000, plant_2000):
    def make(order_number, plant):
        event = released_event(order_number, plant.code)
        return Transaction.objects.create(
            correlation_id=order_number, source=erp, source_message_id=event["id"], event_type=event["type"],
            plant=plant, business_key=order_number, raw_payload=event, canonical_payload=event["data"],
        )

    return {"1000": make("1000000101", plant_1000), "2000": make("2000000202", plant_2000)}


def listed_keys(client) -> set[str]:
    return {row["business_key"] for row in client.get("/api/v1/transactions").json()["results"]}


def test_a_planner_of_plant_1000_sees_only_plant_1000_in_the_api(client, alice, orders):
    client.force_login(alice)
    assert listed_keys(client) == {"1000000101"}
    assert client.get(f"/api/v1/transactions/{orders['1000'].pk}").status_code == 200
    response = client.get(f"/api/v1/transactions/{orders['2000'].pk}")
    assert response.status_code == 404, "another plant's transaction must not even be confirmed to exist"
    assert client.get("/api/v1/transactions?plant=2000").json()["results"] == []


def test_a_planner_of_plant_1000_sees_only_plant_1000_in_the_pages(client, alice, orders):
    client.force_login(alice)
    page = client.get("/transactions/").content.decode()
    assert "1000000101" in page and "2000000202" not in page
    assert client.get(f"/transactions/{orders['2000'].pk}/").status_code == 404
    home = client.get("/").content.decode()
    assert "Hamburg assembly" in home and "Columbus machining" not in home


def test_a_supervisor_of_plant_2000_sees_only_plant_2000(client, bob, orders):
    client.force_login(bob)
    assert listed_keys(client) == {"2000000202"}
    assert client.get(f"/transactions/{orders['1000'].pk}/").status_code == 404


def test_an_integration_admin_sees_every_plant(client, carol, orders):
    client.force_login(carol)
    assert listed_keys(client) == {"1000000101", "2000000202"}
    home = client.get("/").content.decode()
    assert home.index("Hamburg assembly") < home.index("Columbus machining"), "tiles in plant order"
    assert listed_keys_filtered(client, "plant=2000") == {"2000000202"}


def listed_keys_filtered(client, query: str) -> set[str]:
    return {row["business_key"] for row in client.get(f"/api/v1/transactions?{query}").json()["results"]}


def test_anonymous_visitors_are_sent_to_sign_in_and_refused_by_the_api(client, orders):
    response = client.get("/transactions/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    api = client.get("/api/v1/transactions")
    assert api.status_code in (401, 403) and api["Content-Type"] == "application/problem+json"


def test_list_filters_live_in_the_url_and_the_table_is_a_partial(client, carol, orders):
    client.force_login(carol)
    page = client.get("/transactions/?plant=1000").content.decode()
    assert "1000000101" in page and "2000000202" not in page and "<html" in page
    partial = client.get("/transactions/?plant=2000", HTTP_HX_REQUEST="true").content.decode()
    assert "2000000202" in partial and "<html" not in partial and 'id="transaction-table"' in partial


def test_the_list_page_makes_a_constant_number_of_queries(client, carol, orders, erp, plant_1000,
                                                          django_assert_max_num_queries):
    client.force_login(carol)
    for n in range(30):
        event = released_event(f"1000009{n:03d}")
        Transaction.objects.create(correlation_id="c", source=erp, source_message_id=event["id"],
                                   event_type=event["type"], plant=plant_1000, business_key=f"1000009{n:03d}",
                                   raw_payload=event, canonical_payload=event["data"])
    with django_assert_max_num_queries(10):
        assert client.get("/transactions/").status_code == 200
