"""The generic webhook: canonical CloudEvents out, signed so the receiver can trust them."""

import hashlib
import hmac
import time
import uuid

import pytest

from integrations.connectors import connector_for
from integrations.connectors.base import ConnectorError, OutboundEvent
from integrations.models import System


def event() -> OutboundEvent:
    return OutboundEvent(event_type="shipment.confirmed", data={"shipment_number": "80001234", "plant": "1000"},
                         idempotency_key=str(uuid.uuid4()), transaction_id="t", correlation_id="c", plant="1000",
                         business_key="80001234", source="WMS-EAST")


def test_the_cloudevent_is_signed_with_the_shared_secret(receiver, monkeypatch):
    monkeypatch.setenv("TMS_WEBHOOK_SECRET", "correct horse battery staple")
    tms = System(code="TMS-1", kind="TMS", adapter="webhook", base_url=receiver.url,
                 credentials_ref="TMS_WEBHOOK_SECRET", timeout_s=5)
    sent = event()
    connector_for(tms).deliver(sent)
    [request] = receiver.received
    assert request["body"]["id"] == sent.idempotency_key and request["body"]["type"] == "shipment.confirmed"
    stamp, digest = (part.split("=", 1)[1] for part in request["signature"].split(","))
    expected = hmac.new(b"correct horse battery staple", f"{stamp}.".encode() + request["raw"],
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(digest, expected) and abs(int(stamp) - time.time()) < 60
    wrong = hmac.new(b"another secret", f"{stamp}.".encode() + request["raw"], hashlib.sha256).hexdigest()
    assert digest != wrong


@pytest.mark.parametrize("credentials_ref", ["", "NO_SUCH_VARIABLE_SET"])
def test_without_a_secret_nothing_is_sent_unsigned(receiver, credentials_ref):
    tms = System(code="TMS-1", kind="TMS", adapter="webhook", base_url=receiver.url,
                 credentials_ref=credentials_ref, timeout_s=5)
    with pytest.raises(ConnectorError) as refused:
        connector_for(tms).deliver(event())
    assert refused.value.permanent and refused.value.error_class == "configuration"
    assert receiver.received == []
