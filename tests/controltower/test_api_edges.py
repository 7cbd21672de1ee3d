"""The API's edges: crafted cursors, NUL characters, unknown URLs, odd headers and bodies. Never a 500."""

import base64
import json

import pytest

from tests.fixtures.events import released_event


def assert_problem(response, status: int):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


def cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("url", ["/api/v1/transactions", "/api/v1/exceptions", "/api/v1/quarantine",
                                 "/api/v1/systems", "/api/v1/routing-rules"])
@pytest.mark.parametrize("position", ["p=foo", "p=0000-01-01", "r=1&p=foo", "p=a\x00b", "o=-5&p=1"])
def test_a_crafted_cursor_is_404_like_a_garbled_one(client, carol, url, position):
    client.force_login(carol)
    body = assert_problem(client.get(url, {"cursor": cursor(position)}), 404)
    assert body["detail"] == "Invalid cursor"


@pytest.mark.parametrize("url", ["/api/v1/correlations/%00", "/api/v1/orders/%00/1", "/api/v1/orders/1000/%00",
                                 "/api/v1/systems/%00", "/api/v1/transactions?business_key=%00"])
def test_a_nul_character_in_the_url_is_400(client, carol, url):
    client.force_login(carol)
    assert assert_problem(client.get(url), 400)["title"] == "Invalid URL"


def test_a_nul_character_in_a_page_url_is_400(client, carol):
    client.force_login(carol)
    assert client.get("/transactions/?q=%00").status_code == 400


@pytest.mark.parametrize("url", ["/api/v1/", "/api/v1/nonexistent", "/api/v1/transactions/abc",
                                 "/api/v1/contracts/material.issued", "/api/v1/orders/1000"])
def test_an_unknown_api_url_is_a_problem_not_a_page(client, carol, url):
    client.force_login(carol)
    assert "No API resource" in assert_problem(client.get(url), 404)["detail"]


def test_an_unknown_page_is_still_a_page(client, carol):
    client.force_login(carol)
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_the_bearer_scheme_is_case_insensitive(client, erp_key, plant_1000):
    response = client.post("/api/v1/events", data=json.dumps(released_event()),
                           content_type="application/cloudevents+json", HTTP_AUTHORIZATION=f"bearer {erp_key}")
    assert response.status_code == 202


def test_malformed_json_to_a_person_facing_action_points_at_the_body(client, carol):
    client.force_login(carol)
    body = assert_problem(client.post("/api/v1/replays", data="{", content_type="application/json"), 400)
    assert body["title"] == "Unparsable body" and body["errors"][0]["pointer"] == "/"


@pytest.mark.parametrize("url", ["/api/v1/quarantine/999999/resubmit", "/api/v1/quarantine/999999/discard"])
def test_a_missing_quarantined_message_is_404_before_the_reason_is_asked_for(client, carol, url):
    client.force_login(carol)
    assert assert_problem(client.post(url, data="{}", content_type="application/json"), 404)["title"] == "Not found"


def test_an_unknown_exception_action_is_404_whatever_the_exception(client, carol):
    client.force_login(carol)
    body = assert_problem(client.post("/api/v1/exceptions/999999/bogus", data="{}", content_type="application/json"),
                          404)
    assert "No action 'bogus'" in body["detail"]
