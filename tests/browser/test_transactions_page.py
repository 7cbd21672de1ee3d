"""A person signs in, opens the transactions page and sees the order delivered (screenshots saved)."""

import httpx
import pytest

from tests.fixtures.pipeline import ARTIFACTS, delivered, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.pipeline, pytest.mark.django_db(transaction=True)]


def sign_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_planner_sees_the_released_order_delivered(page, tower, sandbox, alice, carol):
    response = httpx.post(f"{sandbox.system_url('ERP-S4')}/production-orders",
                          json={"plant": "1000", "material": "FG-100", "quantity": 40, "uom": "EA"}, timeout=30)
    order_number = response.json()["order_number"]
    tx_id = response.json()["tower"]["body"]["transaction_id"]
    wait_until(lambda: delivered(tx_id), what="delivery")

    sign_in(page, tower.url, "alice", "pw-alice")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Transactions").click()
    row = page.locator("#transaction-table tbody tr", has_text=order_number)
    assert row.locator('[data-status="delivered"]').count() == 2, "the transaction and its WMS delivery"
    assert "WMS-EAST" in row.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "transactions.png", full_page=True)

    row.get_by_role("link", name=order_number).click()
    page.wait_for_url(f"**/transactions/{tx_id}/")
    assert page.get_by_role("heading", name="WMS-EAST").is_visible()
    assert "document WT-" in page.locator(".delivery").inner_text()
    page.screenshot(path=ARTIFACTS / "transaction.png", full_page=True)


def test_a_wrong_password_is_refused_with_a_message(page, live_server, alice):
    sign_in(page, live_server.url, "alice", "not-her-password")
    assert page.get_by_role("alert").inner_text().startswith("✕ Your username and password did not match")
    assert page.url.endswith("/login/")


def test_a_person_makes_an_api_token_and_a_script_uses_it(page, live_server, alice):
    sign_in(page, live_server.url, "alice", "pw-alice")
    page.get_by_role("link", name="alice · API tokens").click()
    page.get_by_label("Name").fill("shift report script")
    page.get_by_role("button", name="Create token").click()
    raw = page.get_by_test_id("new-token").inner_text()
    assert raw.startswith("ctp_")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "api-tokens.png", full_page=True)

    response = httpx.get(f"{live_server.url}/api/v1/transactions", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200

    page.get_by_role("button", name="Revoke").click()
    assert "revoked" in page.locator("table.grid").inner_text()
    assert httpx.get(f"{live_server.url}/api/v1/transactions",
                     headers={"Authorization": f"Bearer {raw}"}).status_code == 401
