"""Sequencing: some deliveries must wait for others about the same order to the same target.

By default (DESIGN §4): to the ERP, a completion waits until the order's material issues are
delivered, so that the ERP never backflushes before the issue is posted; to any system, an
order change, cancellation or closing waits for the order's release. A waiting delivery is *parked*; it is released when
its prerequisites are delivered, or raised as a sequence conflict when it waits too long.
"""

import datetime as dt

from django.conf import settings
from django.db import transaction as db_transaction
from django.db.models import Q
from django.utils import timezone

from controltower.roles import Role
from exceptions_queue.models import Category, ExceptionCase, Status
from exceptions_queue.services import exception_raise
from integrations.choices import DeliveryStatus, SystemKind
from integrations.doorbell import ring_deliveries
from integrations.models import Delivery
from integrations.services.transactions import transaction_refresh_status

# (event type, target kind or None for any) → event types that must be delivered to that target first
PREREQUISITES: dict[tuple[str, str | None], tuple[str, ...]] = {
    ("production.completed", SystemKind.ERP): ("material.issued",),
    ("production_order.changed", None): ("production_order.released",),
    ("production_order.cancelled", None): ("production_order.released",),
    ("production_order.closed", None): ("production_order.released",),
}


def prerequisites_for(event_type: str, target_kind: str) -> tuple[str, ...]:
    return PREREQUISITES.get((event_type, target_kind)) or PREREQUISITES.get((event_type, None)) or ()


def waiting_for(delivery: Delivery) -> str:
    """What this delivery still waits for ("" when it may go)."""
    tx = delivery.transaction
    needed = prerequisites_for(tx.event_type, delivery.target.kind)
    if not needed or not tx.business_key:
        return ""
    earlier = Delivery.objects.filter(
        target=delivery.target, transaction__plant=tx.plant, transaction__business_key=tx.business_key,
        transaction__event_type__in=needed,
    ).exclude(pk=delivery.pk)
    statuses = set(earlier.values_list("status", flat=True))
    # Rejected or dead is not delivered: the ERP must not backflush an issue it refused. Only what a
    # person cancelled is let go; a sequence conflict tells them when nothing comes.
    if DeliveryStatus.DELIVERED not in statuses or statuses - {DeliveryStatus.DELIVERED, DeliveryStatus.CANCELLED}:
        return f"waits for {' and '.join(needed)} of {tx.business_key} to reach {delivery.target.code}"
    return ""


def deliveries_park(deliveries: list[Delivery]) -> bool:
    """Park the new deliveries whose prerequisites are not delivered yet. True if any was parked."""
    parked = []
    for delivery in deliveries:
        reason = waiting_for(delivery)
        if reason:
            delivery.status, delivery.held_reason = DeliveryStatus.PARKED, reason
            parked.append(delivery)
    Delivery.objects.bulk_update(parked, ["status", "held_reason"])
    return bool(parked)


PREREQUISITE_TYPES = frozenset(t for needed in PREREQUISITES.values() for t in needed)


def parked_release_after(delivered: list[Delivery]) -> int:
    """Release what waited for these delivered deliveries: one query for a worker's whole batch.

    Only deliveries of a prerequisite type can release anything; the sweeper's `parked_release()`
    catches what a worker that died in between left parked.
    """
    orders = Q()
    for d in delivered:
        if d.transaction.event_type in PREREQUISITE_TYPES and d.transaction.business_key:
            orders |= Q(target_id=d.target_id, transaction__plant_id=d.transaction.plant_id,
                        transaction__business_key=d.transaction.business_key)
    return parked_release(orders) if orders else 0


def parked_release(orders: Q | None = None) -> int:
    """Release parked deliveries whose prerequisites are now delivered (all, or those matching `orders`)."""
    candidates = Delivery.objects.filter(status=DeliveryStatus.PARKED)
    if orders is not None:
        candidates = candidates.filter(orders)
    released = []
    with db_transaction.atomic():
        for delivery in (candidates.select_for_update(skip_locked=True, of=("self",))
                         .select_related("target", "transaction").order_by("created_at", "id")):
            if not waiting_for(delivery):
                delivery.status, delivery.held_reason = DeliveryStatus.PENDING, ""
                delivery.next_attempt_at = delivery.created_at  # in order, before newer work
                released.append(delivery)
        Delivery.objects.bulk_update(released, ["status", "held_reason", "next_attempt_at"])
        for delivery in released:
            transaction_refresh_status(delivery.transaction_id, f"released to {delivery.target.code}: "
                                                                "prerequisites delivered")
        for latency_class in {d.latency_class for d in released}:
            db_transaction.on_commit(lambda lc=latency_class: ring_deliveries(lc))
    return len(released)


def sequence_conflicts_raise(now: dt.datetime | None = None) -> int:
    """Raise a sequence conflict for each delivery parked longer than the configured wait."""
    limit = (now or timezone.now()) - dt.timedelta(seconds=settings.SEQUENCE_WAIT_S)
    already = ExceptionCase.objects.filter(category=Category.SEQUENCE_CONFLICT, status=Status.OPEN)
    overdue = (Delivery.objects.filter(status=DeliveryStatus.PARKED, created_at__lt=limit)
               .exclude(pk__in=already.values("delivery_id")).select_related("target", "transaction__plant"))
    for delivery in overdue:
        tx = delivery.transaction
        exception_raise(
            cause_key=f"sequence:{delivery.pk}", category=Category.SEQUENCE_CONFLICT, role=Role.PLANNER,
            plant=tx.plant, transaction=tx, delivery=delivery,
            title=f"{tx.event_type} of {tx.business_key} is stuck before {delivery.target.code}",
            detail=f"It {delivery.held_reason}, for more than {settings.SEQUENCE_WAIT_S // 60} min. "
                   "Find the missing message (or release this one if it is not coming).",
        )
    return len(overdue)
