"""Routing: decide which systems must act on each received transaction, and create deliveries."""

import logging
from dataclasses import dataclass

from django.db import DataError
from django.db import transaction as db_transaction
from django.utils import timezone

from controltower.roles import Role
from exceptions_queue.models import Category
from exceptions_queue.services import exception_raise
from integrations.choices import DeliveryStatus, LatencyClass, TransactionStatus
from integrations.doorbell import ring_deliveries
from integrations.models import Delivery, RoutingRule, System, Transaction
from integrations.services.mapping import MappingMissing, data_canonicalize, transaction_wait_for_mapping
from integrations.services.schedule import first_attempt_at
from integrations.services.sequencing import deliveries_park
from orders.projection import orders_refresh

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    target: System
    rule: RoutingRule


def matching_rules(event_type: str, plant_id: int | None, data: dict, source_id: int | None = None
                   ) -> list[RoutingRule]:
    """The active rules for this event, best first, whose conditions the data meets."""
    rules = RoutingRule.objects.for_event(event_type, plant_id, source_id).prefetch_related("targets")
    return [rule for rule in rules if rule.matches(data)]


def routes_for(event_type: str, plant_id: int | None, data: dict, source_id: int | None = None) -> list[Route]:
    """Every target of every matching rule; a target reached by several rules takes the best rule."""
    routes: dict[int, Route] = {}
    for rule in matching_rules(event_type, plant_id, data, source_id):
        for target in rule.targets.all():
            if target.is_active:
                routes.setdefault(target.pk, Route(target, rule))
    return list(routes.values())


def transaction_route(tx: Transaction) -> list[Delivery]:
    """Map one received transaction to canonical values and create its deliveries (caller holds its lock)."""
    try:
        tx.canonical_payload = data_canonicalize(tx.canonical_payload, tx.source)
    except MappingMissing as missing:
        transaction_wait_for_mapping(tx, missing)
        return []
    routes = routes_for(tx.event_type, tx.plant_id, tx.canonical_payload, tx.source_id)
    if not routes and matching_rules(tx.event_type, tx.plant_id, tx.canonical_payload, tx.source_id):
        # A rule without targets says "keep it on record; no system needs to act on it".
        tx.set_status(TransactionStatus.IGNORED, "recorded: the matching rule names no target")
        tx.save(update_fields=["status", "status_changed_at", "history", "canonical_payload"])
        return []
    if not routes:
        tx.set_status(TransactionStatus.UNROUTED, "no routing rule matches")
        tx.save(update_fields=["status", "status_changed_at", "history"])
        exception_raise(
            cause_key=f"unrouted:{tx.event_type}:{tx.plant_id}", category=Category.UNROUTED,
            role=Role.INTEGRATION_ADMIN, plant=tx.plant, transaction=tx,
            title=f"No routing rule for {tx.event_type} in plant {tx.plant.code if tx.plant else '(none)'}",
            detail="Add a routing rule, then replay the waiting transactions.",
        )
        return []
    now = timezone.now()
    deliveries = Delivery.objects.bulk_create([
        Delivery(transaction=tx, target=r.target, latency_class=r.rule.latency_class, created_at=now,
                 next_attempt_at=first_attempt_at(r.rule.latency_class, tx.plant, now))
        for r in routes
    ])
    best = routes[0].rule
    tx.routing_rule, tx.routing_rule_version = best, best.version
    tx.set_status(TransactionStatus.ROUTED, "to " + ", ".join(r.target.code for r in routes))
    if deliveries_park(deliveries):
        waits = "; ".join(d.held_reason for d in deliveries if d.status == DeliveryStatus.PARKED)
        tx.set_status(TransactionStatus.PARKED, waits)
    tx.save(update_fields=["status", "status_changed_at", "history", "routing_rule", "routing_rule_version",
                           "canonical_payload"])
    return deliveries


def transaction_fail(tx: Transaction, reason: str) -> None:
    """Park a transaction that could not be processed, with an exception for the integration admin."""
    tx.set_status(TransactionStatus.FAILED, reason)
    tx.save(update_fields=["status", "status_changed_at", "history"])
    exception_raise(
        cause_key=f"processing:{tx.pk}", category=Category.PROCESSING_ERROR, role=Role.INTEGRATION_ADMIN,
        plant=tx.plant, transaction=tx, title=f"{tx.event_type} {tx.business_key} could not be processed",
        detail=reason,
    )


def _claim_received(batch_size: int) -> list[Transaction]:
    """Lock and load up to `batch_size` received transactions, oldest first (caller holds a transaction).

    A row the database driver cannot read back (a value stored before ingest refused such values)
    must not stop routing for every plant: when the batch cannot be loaded, rows are loaded one by
    one, and an unreadable one is failed without being read, with an exception for the admin.
    """
    received = (Transaction.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status=TransactionStatus.RECEIVED).order_by("received_at"))
    try:
        with db_transaction.atomic():
            return list(received.select_related("plant", "source")[:batch_size])
    except DataError:
        logger.exception("a batch of received transactions could not be read; reading them one by one")
    readable = []
    for pk in list(received.values_list("pk", flat=True)[:batch_size]):
        try:
            with db_transaction.atomic():
                readable.append(Transaction.objects.select_related("plant", "source").get(pk=pk))
        except DataError as e:
            Transaction.objects.filter(pk=pk).update(status=TransactionStatus.FAILED, status_changed_at=timezone.now())
            exception_raise(
                cause_key=f"processing:{pk}", category=Category.PROCESSING_ERROR, role=Role.INTEGRATION_ADMIN,
                transaction=Transaction(pk=pk), title=f"Transaction {pk} cannot be read back",
                detail=f"A stored value is out of range for the database driver ({e}); it was not routed.",
            )
    return readable


def transactions_route_received(*, batch_size: int = 100) -> int:
    """Claim up to `batch_size` received transactions, oldest first, and route them.

    SKIP LOCKED lets several workers route side by side without waiting on each other.
    Returns how many were routed.
    """
    with db_transaction.atomic():
        batch = _claim_received(batch_size)
        latency_classes, canonical = set(), []
        for tx in batch:
            try:
                with db_transaction.atomic():  # a savepoint: one bad message must not stall the batch
                    # Scheduled classes are not rung now: the sweeper rings them when they fall due.
                    latency_classes.update(d.latency_class for d in transaction_route(tx) if d.latency_class
                                           in (LatencyClass.IMMEDIATE, LatencyClass.NEAR_REAL_TIME))
            except Exception as e:
                logger.exception("routing transaction %s failed", tx.pk)
                transaction_fail(tx, f"routing failed: {e.__class__.__name__}: {e}")
            else:
                if not tx.waiting_for:
                    canonical.append(tx)
        orders_refresh(canonical)
        for latency_class in latency_classes:
            db_transaction.on_commit(lambda lc=latency_class: ring_deliveries(lc))
    return len(batch)
