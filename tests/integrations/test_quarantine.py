"""A refused message is corrected and resubmitted (or discarded) by an integration admin."""

import json

import pytest

from controltower.models import AuditEntry
from integrations.models import QuarantinedMessage, Transaction
from tests.fixtures.events import released_event


@pytest.fixture
def refused(client, erp_key, plant_1000):
    """A release the ERP sent without its material: refused with 422 and kept."""
    event = released_event("1000000555")
    del event["data"]["material"]
    response = client.post("/api/v1/events", data=json.dumps(event), content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {erp_key}")
    assert response.status_code == 422
    client.logout()
    return QuarantinedMessage.objects.get(), event


def resubmit(client, message, body):
    return client.post(f"/api/v1/quarantine/{message.pk}/resubmit", data=json.dumps(body),
                       content_type="application/json")


def test_a_corrected_message_is_ingested_as_its_sender_and_audited(client, carol, refused):
    message, event = refused
    client.force_login(carol)
    event["data"]["material"] = "FG-100"
    response = resubmit(client, message, {"event": event, "reason": "ERP sent the release without material"})
    assert response.status_code == 202, response.content
    tx = Transaction.objects.get(pk=response.json()["transaction_id"])
    assert (tx.source.code, tx.business_key, tx.canonical_payload["material"]) == ("ERP-S4", "1000000555", "FG-100")
    message.refresh_from_db()
    assert (message.status, message.resubmitted_as) == ("resubmitted", tx)
    entry = AuditEntry.objects.get(action="quarantine.resubmit")
    assert entry.actor == carol and entry.reason == "ERP sent the release without material"
    assert resubmit(client, message, {"event": event, "reason": "again"}).status_code == 409


def test_a_correction_that_is_still_wrong_is_refused_and_the_message_stays(client, carol, refused):
    message, event = refused
    client.force_login(carol)
    response = resubmit(client, message, {"event": event, "reason": "try as is"})
    assert response.status_code == 422
    assert "/data/material" in [e["pointer"] for e in response.json()["errors"]]
    message.refresh_from_db()
    assert message.status == "open" and Transaction.objects.count() == 0


def test_resubmitting_needs_a_reason_and_an_integration_admin(client, alice, carol, refused):
    message, event = refused
    client.force_login(alice)
    assert resubmit(client, message, {"event": event, "reason": "x"}).status_code == 403
    client.force_login(carol)
    response = resubmit(client, message, {"event": event})
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/reason"


def test_discarding_keeps_the_message_with_a_reason(client, carol, refused):
    message, _ = refused
    client.force_login(carol)
    response = client.post(f"/api/v1/quarantine/{message.pk}/discard", data={"reason": "test message from ERP QA"},
                           content_type="application/json")
    assert response.status_code == 200 and response.json()["status"] == "discarded"
    assert QuarantinedMessage.objects.filter(pk=message.pk).exists(), "discarded, not deleted"
    assert AuditEntry.objects.get(action="quarantine.discard").reason == "test message from ERP QA"
