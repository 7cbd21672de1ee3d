"""A person's API token: created on their page (shown once), used by a script as that person, revoked."""

import re
from io import StringIO

import pytest
from django.core.management import call_command

from controltower.models import AuditEntry, PersonalToken
from integrations.models import Transaction
from tests.fixtures.events import released_event


def create_on_page(client, name="reconciliation script") -> str:
    page = client.post("/account/api-tokens/", {"name": name}).content.decode()
    return re.search(r'data-testid="new-token">([^<]+)<', page)[1]


@pytest.fixture
def transactions(erp, plant_1000, plant_2000):
    for order, plant in (("1000000101", plant_1000), ("2000000202", plant_2000)):
        event = released_event(order, plant.code)
        Transaction.objects.create(correlation_id=order, source=erp, source_message_id=event["id"],
                                   event_type=event["type"], plant=plant, business_key=order, raw_payload=event,
                                   canonical_payload=event["data"])


def test_a_token_acts_as_its_person_with_their_plants(client, alice, transactions):
    client.force_login(alice)
    raw = create_on_page(client)
    client.logout()

    response = client.get("/api/v1/transactions", HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert response.status_code == 200
    assert [r["business_key"] for r in response.json()["results"]] == ["1000000101"], "alice sees plant 1000 only"
    assert PersonalToken.objects.get().last_used_at is not None
    assert AuditEntry.objects.filter(action="personal_token.issue", actor_label="alice").exists()


def test_the_page_shows_a_new_token_once_and_only_its_public_part_after(client, alice):
    client.force_login(alice)
    raw = create_on_page(client)
    later = client.get("/account/api-tokens/").content.decode()
    assert raw not in later and f"ctp_{PersonalToken.objects.get().prefix}_…" in later
    assert "no-cache" in client.post("/account/api-tokens/", {"name": "another"})["Cache-Control"]


def test_a_revoked_token_is_refused_and_counted(client, alice, transactions):
    client.force_login(alice)
    raw = create_on_page(client)
    token = PersonalToken.objects.get()
    client.post("/account/api-tokens/", {"revoke": str(token.pk)})
    client.logout()

    response = client.get("/api/v1/transactions", HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert response.status_code == 401 and response["Content-Type"] == "application/problem+json"
    assert "personal token" in response.json()["detail"]
    assert AuditEntry.objects.filter(action="personal_token.revoke").exists()


def test_nobody_revokes_another_persons_token(client, alice, bob):
    client.force_login(alice)
    create_on_page(client)
    client.force_login(bob)
    client.post("/account/api-tokens/", {"revoke": str(PersonalToken.objects.get().pk)})
    client.post("/account/api-tokens/", {"revoke": "not-a-number"})
    assert PersonalToken.objects.get().revoked_at is None


def test_a_persons_token_cannot_post_events_as_a_system(client, alice, plant_1000):
    client.force_login(alice)
    raw = create_on_page(client)
    response = client.post("/api/v1/events", data=released_event(), content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 403


def test_a_token_needs_a_name(client, alice):
    client.force_login(alice)
    response = client.post("/account/api-tokens/", {"name": "  "})
    assert response.status_code == 400 and not PersonalToken.objects.exists()


def test_an_admin_issues_a_token_from_the_command_line(client, carol, transactions):
    out = StringIO()
    call_command("token_issue", "carol", "--name", "ops dashboard", stdout=out, stderr=StringIO())
    raw = out.getvalue().strip().splitlines()[-1]
    listed = client.get("/api/v1/transactions", HTTP_AUTHORIZATION=f"Bearer {raw}").json()["results"]
    assert len(listed) == 2, "an integration admin sees every plant"
