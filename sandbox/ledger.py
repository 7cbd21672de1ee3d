"""Exactly once per idempotency key: the rule every simulated system applies to its postings."""

from collections.abc import Callable

from django.db import IntegrityError
from django.db import transaction as db_transaction

from sandbox.answer import Answer
from sandbox.models import LedgerEntry


class Refused(Exception):
    """A posting the system refuses; nothing is recorded, so the sender may correct and resend."""

    def __init__(self, answer: Answer):
        self.answer = answer


def replay(system: str, idempotency_key: str) -> Answer | None:
    entry = LedgerEntry.objects.filter(system=system, idempotency_key=idempotency_key).first()
    if entry is None:
        return None
    entry.count_replay()
    return Answer(200, entry.response, {"Idempotent-Replayed": "true"})


def apply_once(*, system: str, idempotency_key: str, operation: str, request: object,
               apply: Callable[[], tuple[str, Answer]]) -> Answer:
    """Apply a posting once: a key seen before gets its stored answer again, nothing more.

    `apply` makes the effect and returns (document number, answer), or raises Refused.
    """
    replayed = replay(system, idempotency_key)
    if replayed:
        return replayed
    try:
        with db_transaction.atomic():
            document_number, answer = apply()
            LedgerEntry.objects.create(system=system, idempotency_key=idempotency_key, operation=operation,
                                       document_number=document_number, request=request, response=answer.body,
                                       http_status=answer.status)
    except Refused as refused:
        return refused.answer
    except IntegrityError:  # the same key committed first on another connection
        return replay(system, idempotency_key)
    return answer
