"""Quarantine: refused messages, corrected and resubmitted (or discarded) by a person."""

import json

from django.db import transaction as db_transaction

from controltower.api import Problem
from controltower.models import audit_record
from integrations.models import QuarantinedMessage
from integrations.models.transactions import QuarantineStatus
from integrations.services.ingest import IngestResult, transaction_ingest


def _open_message(message_id: int) -> QuarantinedMessage:
    message = QuarantinedMessage.objects.select_for_update(of=("self",)).select_related("source").get(pk=message_id)
    if message.status != QuarantineStatus.OPEN:
        raise Problem(409, "Already handled", f"This message was {message.status} already.", slug="conflict")
    if message.source is None:
        raise Problem(422, "No source", "Only a message from a known system can be resubmitted.",
                      [{"pointer": "/", "detail": "the sender was not identified"}], slug="invalid-request")
    return message


def quarantine_resubmit(*, message_id: int, event: dict | None, reason: str, actor) -> IngestResult:
    """Ingest the corrected event (or the kept body as it is) as its original sender sent it.

    It is validated exactly like a new message; if it is still refused, the problem is raised
    and the message stays in quarantine.
    """
    with db_transaction.atomic():
        message = _open_message(message_id)
        if event is None:
            try:
                event = json.loads(message.raw_body)
            except ValueError:
                raise Problem(422, "Correction needed", "The kept body is not JSON; send a corrected event.",
                              [{"pointer": "/event", "detail": "required for this message"}],
                              slug="invalid-request") from None
        result = transaction_ingest(source=message.source, event=event)
        message.status, message.resubmitted_as = QuarantineStatus.RESUBMITTED, result.transaction
        message.save(update_fields=["status", "resubmitted_as"])
        audit_record(actor=actor, action="quarantine.resubmit", obj=message, reason=reason,
                     before={"raw_body": message.raw_body[:2000]},
                     after={"transaction_id": str(result.transaction.pk), "duplicate": result.duplicate})
    return result


def quarantine_discard(*, message_id: int, reason: str, actor) -> QuarantinedMessage:
    with db_transaction.atomic():
        message = QuarantinedMessage.objects.select_for_update().get(pk=message_id)
        if message.status != QuarantineStatus.OPEN:
            raise Problem(409, "Already handled", f"This message was {message.status} already.", slug="conflict")
        message.status = QuarantineStatus.DISCARDED
        message.save(update_fields=["status"])
        audit_record(actor=actor, action="quarantine.discard", obj=message, reason=reason)
    return message
