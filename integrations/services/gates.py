"""Gates in front of a target system: manual pause, maintenance windows, circuit breaker.

A closed gate holds a delivery without spending an attempt; the sweeper opens gates again
(`held_release`) and drains what they held, oldest first.
"""

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction as db_transaction
from django.db.models import F, Q
from django.utils import timezone

from controltower.roles import Role
from exceptions_queue.models import Category, Severity
from exceptions_queue.services import exception_raise, exceptions_resolve
from integrations.choices import CircuitState, DeliveryStatus
from integrations.doorbell import ring_deliveries
from integrations.models import Delivery, MaintenanceWindow, System


@dataclass
class Gates:
    """Gate decisions for one claim or sweep: windows are read once per system."""

    now: dt.datetime
    _windows: dict[int, list[MaintenanceWindow]] = field(default_factory=dict)
    _probes: set[int] = field(default_factory=set)

    def windows(self, system: System) -> list[MaintenanceWindow]:
        if system.pk not in self._windows:
            self._windows[system.pk] = list(
                # A plant's window holds every delivery for that plant's transactions, to any system.
                MaintenanceWindow.objects.filter(is_active=True)
                .filter(Q(system=system) | Q(system__isnull=True))
                .select_related("plant")
            )
        return self._windows[system.pk]

    def hold_reason(self, delivery: Delivery) -> str:
        """Why this delivery must wait now, or "" when it may go."""
        system = delivery.target
        if system.paused:
            return f"{system.code} paused" + (f": {system.paused_reason}" if system.paused_reason else "")
        plant_id = delivery.transaction.plant_id
        for window in self.windows(system):
            if window.plant_id not in (None, plant_id):
                continue
            occurrence = window.occurrence_at(self.now)
            if occurrence:
                return f"maintenance window {window.name!r} until {occurrence[1].isoformat()}"
        if system.circuit_state == CircuitState.OPEN:
            return f"circuit open since {system.circuit_opened_at.isoformat()}"
        if system.circuit_state == CircuitState.HALF_OPEN:
            # One probe at a time finds out whether the system is back.
            if system.pk in self._probes or Delivery.objects.filter(
                target=system, lease_expires_at__gt=self.now
            ).exclude(pk=delivery.pk).exists():
                return "circuit half-open: waiting for the probe"
            self._probes.add(system.pk)
        return ""


def circuit_record_success(system: System) -> None:
    changed = System.objects.filter(pk=system.pk).exclude(circuit_state=CircuitState.CLOSED,
                                                          circuit_failures=0).update(
        circuit_state=CircuitState.CLOSED, circuit_failures=0, circuit_opened_at=None
    )
    if changed:  # it answers again: the outage's exception is over (the next outage opens its own)
        exceptions_resolve(cause_key=f"circuit:{system.code}", resolution=f"{system.code} answers again: circuit closed")


def circuit_record_failure(system: System, now: dt.datetime) -> bool:
    """Count one transient failure; open the circuit at the threshold. True when it opened now."""
    System.objects.filter(pk=system.pk).update(circuit_failures=F("circuit_failures") + 1)
    opened = System.objects.filter(
        Q(circuit_state=CircuitState.HALF_OPEN)
        | Q(circuit_state=CircuitState.CLOSED, circuit_failures__gte=F("circuit_threshold")),
        pk=system.pk,
    ).update(circuit_state=CircuitState.OPEN, circuit_opened_at=now)
    if opened:
        exception_raise(
            cause_key=f"circuit:{system.code}", category=Category.CONNECTIVITY, role=Role.INTEGRATION_ADMIN,
            severity=Severity.HIGH, title=f"{system.code} is unreachable: circuit open",
            detail=f"Deliveries to {system.code} are held without spending attempts until it answers again.",
        )
    return bool(opened)


def held_release(now: dt.datetime | None = None) -> int:
    """Release held deliveries whose gate is open again, oldest first; return how many.

    An open circuit whose cool-down has passed turns half-open, and its oldest held delivery
    becomes the probe.
    """
    now = now or timezone.now()
    for system in System.objects.filter(circuit_state=CircuitState.OPEN):
        if system.circuit_opened_at <= now - dt.timedelta(seconds=system.circuit_cooldown_s):
            System.objects.filter(pk=system.pk, circuit_state=CircuitState.OPEN).update(
                circuit_state=CircuitState.HALF_OPEN)
    gates, released, classes = Gates(now), [], set()
    with db_transaction.atomic():
        held = (Delivery.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("target", "transaction").filter(status=DeliveryStatus.HELD)
                .order_by("created_at", "id"))
        for delivery in held:
            if gates.hold_reason(delivery):
                continue
            # Due at its creation time: released deliveries go before newer ones, in order.
            delivery.status, delivery.held_reason = DeliveryStatus.PENDING, ""
            delivery.next_attempt_at = delivery.created_at
            released.append(delivery)
            classes.add(delivery.latency_class)
        Delivery.objects.bulk_update(released, ["status", "held_reason", "next_attempt_at"])
        for latency_class in classes:
            db_transaction.on_commit(lambda lc=latency_class: ring_deliveries(lc))
    return len(released)
