"""Delivery: send due deliveries to their targets, at least once, with the same idempotency key.

Each delivery goes through three short steps, so that a worker killed at any point loses nothing:
1. claim (one DB transaction): lock due rows with SKIP LOCKED, take a lease, open an Attempt row;
2. call the target over HTTP with no transaction open;
3. record the outcome (one DB transaction): only if we still hold the lease.
A worker that dies after 1 leaves a lease that expires; the delivery is then due again and is
sent again with the same idempotency key, which the target uses to apply it once.
"""

import logging
import os
import random
import socket
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction as db_transaction
from django.db.models import F
from django.utils import timezone

from controltower.live import notify_transactions_changed
from controltower.roles import Role
from exceptions_queue.models import Category, Severity
from exceptions_queue.services import exception_raise, exceptions_resolve
from integrations import ratelimit
from integrations.choices import AttemptOutcome, CircuitState, DeliveryStatus
from integrations.connectors import connector_for
from integrations.connectors.base import ConnectorError, OutboundEvent, Receipt
from integrations.doorbell import ring_deliveries
from integrations.models import Attempt, Delivery, System
from integrations.services.gates import Gates, circuit_record_failure, circuit_record_success
from integrations.services.mapping import data_localize
from integrations.services.sequencing import parked_release_after
from integrations.services.transactions import transaction_note, transaction_refresh_status
from orders.projection import orders_refresh

logger = logging.getLogger(__name__)


ANSWERED = (DeliveryStatus.DELIVERED, DeliveryStatus.REJECTED, DeliveryStatus.DEAD)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def retry_delay_s(attempt_number: int, *, base_s: float, cap_s: float) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^(n-1))]."""
    return random.uniform(0, min(cap_s, base_s * 2 ** (attempt_number - 1)))


@dataclass
class Claimed:
    delivery: Delivery
    attempt: Attempt


@dataclass
class ClaimBatch:
    claimed: list[Claimed]
    examined: int  # due rows looked at: claimed, held or deferred


def deliveries_claim(*, latency_class: str, batch_size: int, worker: str) -> ClaimBatch:
    """Lease up to `batch_size` due deliveries of one latency class, oldest due first.

    Deliveries behind a closed gate (pause, maintenance window, open circuit) are held, and those
    over their system's rate limit are deferred; neither spends an attempt.
    """
    now = timezone.now()
    lease_until = now + timedelta(seconds=settings.DELIVERY_LEASE_S)
    gates = Gates(now)
    with db_transaction.atomic():
        due = list(
            Delivery.objects.due(now)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("target", "transaction", "transaction__plant", "transaction__source")
            .filter(latency_class=latency_class)
            .order_by("next_attempt_at", "id")[:batch_size]
        )
        # A lease that ran out before the sweeper saw it: the dead worker's attempt ends here, as lost.
        expired_leases = [d.pk for d in due if d.lease_owner]
        claimed, held, deferred = [], [], []
        for d in due:
            reason = gates.hold_reason(d)
            if reason:
                d.status, d.held_reason = DeliveryStatus.HELD, reason
                held.append(d)
                continue
            wait_s = ratelimit.take(d.target.code, d.target.rate_limit_per_s) if d.target.rate_limit_per_s else 0
            if wait_s:
                d.next_attempt_at = now + timedelta(seconds=wait_s)
                deferred.append(d)
                db_transaction.on_commit(lambda w=wait_s: ring_deliveries(latency_class, countdown=w))
                continue
            d.lease_owner, d.lease_expires_at = worker, lease_until
            d.attempt_count += 1
            claimed.append(d)
        attempts_lose(expired_leases, now)
        Delivery.objects.bulk_update(held, ["status", "held_reason"])
        Delivery.objects.bulk_update(deferred, ["next_attempt_at"])
        Delivery.objects.bulk_update(claimed, ["lease_owner", "lease_expires_at", "attempt_count"])
        attempts = Attempt.objects.bulk_create(
            [Attempt(delivery=d, number=d.attempt_count, worker=worker, started_at=now) for d in claimed]
        )
    for d in held:
        transaction_note(d.transaction_id, f"held for {d.target.code}: {d.held_reason}")
    return ClaimBatch([Claimed(d, a) for d, a in zip(claimed, attempts, strict=True)], examined=len(due))


def outbound_event(delivery: Delivery) -> OutboundEvent:
    tx = delivery.transaction
    return OutboundEvent(
        event_type=tx.event_type, data=data_localize(tx.canonical_payload, delivery.target),
        idempotency_key=str(delivery.idempotency_key),
        transaction_id=str(tx.pk), correlation_id=tx.correlation_id,
        plant=tx.plant.code if tx.plant else "", business_key=tx.business_key, source=tx.source.code,
    )


def delivery_send(claimed: Claimed) -> Receipt | ConnectorError:
    """Make the outside call. Never raises for the target's failures: they are outcomes."""
    try:
        return connector_for(claimed.delivery.target).deliver(outbound_event(claimed.delivery))
    except ConnectorError as e:
        return e
    except Exception as e:
        # A connector bug or an adapter missing from the registry: retrying cannot fix it, a person must.
        logger.exception("delivery %s could not be sent", claimed.delivery.pk)
        return ConnectorError(f"{e.__class__.__name__}: {e}", permanent=True, error_class="connector_error")


def delivery_record_outcome(claimed: Claimed, outcome: Receipt | ConnectorError, *, worker: str) -> str:
    """Record how one attempt ended and move the delivery on. Returns the delivery's new status."""
    now = timezone.now()
    with db_transaction.atomic():
        d = Delivery.objects.select_for_update(of=("self",)).select_related("target", "transaction__plant").filter(
            pk=claimed.delivery.pk
        ).first()
        if d is None:  # deleted while we were sending (retention purge, or a test resetting tables)
            logger.warning("delivery %s vanished before its outcome was recorded", claimed.delivery.pk)
            return DeliveryStatus.CANCELLED
        attempt = claimed.attempt
        attempt.finished_at = now
        # A half-open circuit lets one delivery through to ask whether the target is back: if it is
        # not, that was the circuit's question, not one of the delivery's attempts.
        probe = d.target.circuit_state == CircuitState.HALF_OPEN
        if isinstance(outcome, Receipt):
            attempt.outcome, attempt.http_status = AttemptOutcome.DELIVERED, outcome.http_status
            attempt.response_excerpt = outcome.response_excerpt
        else:
            attempt.outcome = (AttemptOutcome.REJECTED if outcome.permanent else
                               AttemptOutcome.PROBE_FAILED if probe else AttemptOutcome.TRANSIENT_ERROR)
            attempt.http_status, attempt.error_class = outcome.http_status, outcome.error_class
            attempt.response_excerpt = outcome.response_excerpt or str(outcome)
        attempt.save(update_fields=["finished_at", "outcome", "http_status", "error_class", "response_excerpt"])

        if d.lease_owner != worker or d.is_terminal():
            # Our lease ran out and another worker took the delivery over; its result stands.
            return d.status
        d.lease_owner, d.lease_expires_at = "", None
        circuit_opened = False
        if isinstance(outcome, Receipt) or (outcome.permanent and outcome.http_status):
            circuit_record_success(d.target)  # it answered for itself: up, whatever it thought of the content
        elif not outcome.permanent:
            circuit_opened = circuit_record_failure(d.target, now)  # timeout, refused connection, 5xx, 429
        if isinstance(outcome, Receipt):
            if d.attempt_count > 1 or d.last_error:  # it failed before: whatever that raised is over
                exceptions_resolve(delivery_id=d.pk, resolution=f"delivered to {d.target.code} on attempt "
                                                                f"{d.attempt_count}")
            d.status, d.delivered_at, d.target_reference = DeliveryStatus.DELIVERED, now, outcome.target_reference
            d.last_error = ""
            note = f"delivered to {d.target.code}" + (f" as {outcome.target_reference}" if outcome.target_reference else "")
        elif outcome.permanent:
            d.status, d.last_error = DeliveryStatus.REJECTED, str(outcome)
            note = f"rejected by {d.target.code}"
            exception_raise(
                cause_key=f"rejected:{d.pk}", category=Category.BUSINESS_REJECTION, role=Role.PLANNER,
                plant=d.transaction.plant, transaction=d.transaction, delivery=d, severity=Severity.HIGH,
                title=f"{d.target.code} rejected {d.transaction.event_type} {d.transaction.business_key}",
                detail=str(outcome),
            )
        elif circuit_opened:
            # Held like the rest of the target's deliveries, in its place (oldest first), not sent to
            # the back behind a long backoff.
            d.status, d.last_error = DeliveryStatus.HELD, str(outcome)
            d.held_reason = f"circuit open: {d.target.code} did not answer"
            note = f"attempt to {d.target.code} failed and its circuit opened; held until it answers"
        elif d.attempts_spent() >= d.target.max_attempts:
            d.status, d.last_error = DeliveryStatus.DEAD, str(outcome)
            note = f"dead after {d.attempt_count} attempts to {d.target.code}"
            exception_raise(
                cause_key=f"dead:{d.pk}", category=Category.DELIVERY_DEAD, role=Role.INTEGRATION_ADMIN,
                plant=d.transaction.plant, transaction=d.transaction, delivery=d, severity=Severity.HIGH,
                title=f"{d.transaction.event_type} {d.transaction.business_key} never reached {d.target.code}",
                detail=str(outcome),
            )
        else:
            delay = retry_delay_s(d.attempt_count, base_s=d.target.retry_base_s, cap_s=d.target.retry_cap_s)
            d.status, d.last_error = DeliveryStatus.RETRYING, str(outcome)
            d.next_attempt_at = now + timedelta(seconds=delay)
            note = f"attempt {d.attempt_count} to {d.target.code} failed; retry in {delay:.1f} s"
            latency_class = d.latency_class
            db_transaction.on_commit(lambda: ring_deliveries(latency_class, countdown=delay))
        if d.status != DeliveryStatus.HELD:
            d.held_reason = ""
        d.save(update_fields=["status", "delivered_at", "target_reference", "last_error", "next_attempt_at",
                              "lease_owner", "lease_expires_at", "held_reason"])
        transaction_refresh_status(d.transaction_id, note)
    return d.status


def deliveries_deliver_due(*, latency_class: str, batch_size: int | None = None, max_batches: int = 20) -> int:
    """Deliver due deliveries of one latency class in batches until none is due. Returns the count."""
    worker = worker_name()
    batch_size = batch_size or settings.DELIVERY_BATCH_SIZE
    done = 0
    for _ in range(max_batches):
        batch = deliveries_claim(latency_class=latency_class, batch_size=batch_size, worker=worker)
        failing: set[int] = set()  # systems that failed in this batch: is their circuit open now?
        plants = {c.delivery.transaction.plant.code for c in batch.claimed if c.delivery.transaction.plant}
        answered: dict[Delivery, str] = {}  # ended deliveries and how: their orders show the answer
        for claimed in batch.claimed:
            target = claimed.delivery.target
            if target.pk in failing and System.objects.filter(pk=target.pk, circuit_state=CircuitState.OPEN).exists():
                delivery_unclaim(claimed, f"circuit of {target.code} opened")
                continue
            status = delivery_record_outcome(claimed, delivery_send(claimed), worker=worker)
            if status in (DeliveryStatus.RETRYING, DeliveryStatus.HELD):
                failing.add(target.pk)
            elif status in ANSWERED:
                answered[claimed.delivery] = status
        # Once per batch, not once per delivery: what waited for these, and their orders' view.
        parked_release_after([d for d, status in answered.items() if status == DeliveryStatus.DELIVERED])
        orders_refresh([d.transaction for d in answered])
        done += len(batch.claimed)
        notify_transactions_changed(plants)  # one notice per plant and batch, not per delivery
        if batch.examined < batch_size:
            break
    return done


def delivery_unclaim(claimed: Claimed, reason: str) -> None:
    """Hand back a claimed delivery unsent: held, its attempt not spent."""
    with db_transaction.atomic():
        Attempt.objects.filter(pk=claimed.attempt.pk).delete()
        Delivery.objects.filter(pk=claimed.delivery.pk).update(
            status=DeliveryStatus.HELD, held_reason=reason, lease_owner="", lease_expires_at=None,
            attempt_count=F("attempt_count") - 1,
        )


def leases_expire() -> int:
    """Close the attempts of workers that died mid-delivery; their deliveries are due again."""
    now = timezone.now()
    with db_transaction.atomic():
        stale = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(lease_expires_at__lt=now)
            .values_list("pk", flat=True)
        )
        attempts_lose(stale, now)
        Delivery.objects.filter(pk__in=stale).update(lease_owner="", lease_expires_at=None)
    return len(stale)


def attempts_lose(delivery_ids: list, now) -> None:
    """Close the in-flight attempts of these deliveries, whose worker died holding them."""
    if delivery_ids:
        Attempt.objects.filter(delivery_id__in=delivery_ids, outcome=AttemptOutcome.IN_FLIGHT).update(
            outcome=AttemptOutcome.LOST, finished_at=now, error_class="lease_expired",
            response_excerpt="the worker holding this delivery stopped before recording an outcome",
        )
