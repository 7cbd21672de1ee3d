"""Writes on exceptions."""

from django.db import IntegrityError
from django.db import transaction as db_transaction
from django.db.models import F
from django.utils import timezone

from exceptions_queue.models import ExceptionCase, Status


def exception_raise(*, cause_key: str, category: str, role: str, title: str, detail: str = "",
                    plant=None, transaction=None, delivery=None, severity: str = "medium") -> ExceptionCase:
    """Open an exception for this cause, or count one more occurrence of the open one."""
    now = timezone.now()
    updated = ExceptionCase.objects.filter(cause_key=cause_key, status=Status.OPEN).update(
        occurrences=F("occurrences") + 1, updated_at=now, detail=detail
    )
    if not updated:
        try:
            with db_transaction.atomic():
                return ExceptionCase.objects.create(
                    cause_key=cause_key, category=category, role=role, title=title, detail=detail,
                    plant=plant, transaction=transaction, delivery=delivery, severity=severity,
                    created_at=now, updated_at=now,
                )
        except IntegrityError:  # another worker opened it a moment ago: fold into it
            ExceptionCase.objects.filter(cause_key=cause_key, status=Status.OPEN).update(
                occurrences=F("occurrences") + 1, updated_at=now
            )
    return ExceptionCase.objects.get(cause_key=cause_key, status=Status.OPEN)


def exceptions_resolve(*, resolution: str, cause_key: str | None = None, delivery_id=None) -> int:
    """Close the open exceptions of a cause, or of a delivery, whose problem went away by itself."""
    open_ = ExceptionCase.objects.filter(status=Status.OPEN)
    open_ = open_.filter(cause_key=cause_key) if cause_key is not None else open_.filter(delivery_id=delivery_id)
    now = timezone.now()
    return open_.update(status=Status.RESOLVED, resolved_at=now, updated_at=now, resolution=resolution)
