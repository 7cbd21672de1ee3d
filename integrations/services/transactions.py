"""A transaction's status and history, derived from its deliveries."""

from django.db import transaction as db_transaction

from integrations.choices import DeliveryStatus, TransactionStatus
from integrations.models import Transaction


def transaction_note(transaction_id, note: str) -> None:
    """Add a line to a transaction's history without changing its status."""
    with db_transaction.atomic():
        tx = Transaction.objects.select_for_update().get(pk=transaction_id)
        tx.set_status(tx.status, note)
        tx.save(update_fields=["status_changed_at", "history"])


def transaction_refresh_status(transaction_id, note: str) -> None:
    """Derive the transaction's status from its deliveries and record the step in its history."""
    tx = Transaction.objects.select_for_update().get(pk=transaction_id)
    statuses = set(tx.deliveries.values_list("status", flat=True))
    if statuses and statuses <= {DeliveryStatus.DELIVERED, DeliveryStatus.CANCELLED}:
        # Done: what a person cancelled will not come, and nothing else is waiting.
        new = TransactionStatus.DELIVERED if DeliveryStatus.DELIVERED in statuses else TransactionStatus.CANCELLED
    elif DeliveryStatus.DEAD in statuses:
        new = TransactionStatus.DEAD
    elif DeliveryStatus.REJECTED in statuses:
        new = TransactionStatus.FAILED
    elif DeliveryStatus.PARKED in statuses:
        new = TransactionStatus.PARKED
    else:
        new = TransactionStatus.ROUTED
    tx.set_status(new, note)
    tx.save(update_fields=["status", "status_changed_at", "history"])
