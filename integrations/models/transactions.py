"""Transactions (inbound messages), their deliveries to targets, attempts, and quarantine."""

import uuid

from django.db import models
from django.utils import timezone

from integrations.choices import (
    DUE_DELIVERY_STATUSES,
    TERMINAL_DELIVERY_STATUSES,
    AttemptOutcome,
    DeliveryStatus,
    LatencyClass,
    TransactionStatus,
)


class PlantScopedQuerySet(models.QuerySet):
    """Rows a person may see: those of their plants (integration admins see all)."""

    plant_field = "plant"

    def for_user(self, user):
        if user is None or not user.is_authenticated:
            return self.none()
        if user.sees_all_plants:
            return self
        return self.filter(**{f"{self.plant_field}__in": user.plants.all()})


class Transaction(models.Model):
    """One inbound message, stored before anything else happens to it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    correlation_id = models.CharField(max_length=100, db_index=True)
    source = models.ForeignKey("integrations.System", on_delete=models.PROTECT, related_name="sent_transactions")
    source_message_id = models.CharField(max_length=200)
    event_type = models.CharField(max_length=80)
    schema_version = models.CharField(max_length=10, default="1")
    plant = models.ForeignKey("controltower.Plant", null=True, blank=True, on_delete=models.PROTECT,
                              related_name="transactions")
    business_key = models.CharField(max_length=100, blank=True, db_index=True,
                                    help_text="order, lot or shipment number")
    raw_payload = models.JSONField(help_text="the message as the source sent it")
    canonical_payload = models.JSONField(help_text="the canonical event data")
    source_time = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=TransactionStatus.choices, default=TransactionStatus.RECEIVED)
    status_changed_at = models.DateTimeField(default=timezone.now)
    routing_rule = models.ForeignKey("integrations.RoutingRule", null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    routing_rule_version = models.PositiveIntegerField(null=True, blank=True)
    history = models.JSONField(default=list, help_text="[{at, status, note}] oldest first")
    waiting_for = models.CharField(max_length=200, blank=True, db_index=True,
                                   help_text="what a parked transaction waits for, e.g. mapping:ERP-S4:uom:PC")

    objects = PlantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["source", "source_message_id"], name="transaction_unique_source_message"),
        ]
        indexes = [
            models.Index(fields=["plant", "-received_at"], name="transaction_plant_received"),
            models.Index(fields=["status", "-received_at"], name="transaction_status_received"),
            models.Index(fields=["event_type", "-received_at"], name="transaction_type_received"),
            models.Index(fields=["-received_at"], name="transaction_received"),
            # The router claims received rows oldest first; keep that scan tiny.
            models.Index(fields=["received_at"], name="transaction_to_route",
                         condition=models.Q(status="received")),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.business_key} ({self.status})"

    def set_status(self, status: str, note: str = "") -> None:
        """Move to `status` and record it in the history (caller saves)."""
        now = timezone.now()
        self.status = status
        self.status_changed_at = now
        self.history = [*self.history, {"at": now.isoformat(), "status": status, "note": note}]


class DeliveryQuerySet(PlantScopedQuerySet):
    plant_field = "transaction__plant"

    def due(self, now=None):
        """Deliveries whose next attempt is due and that no live worker holds."""
        now = now or timezone.now()
        return self.filter(status__in=DUE_DELIVERY_STATUSES, next_attempt_at__lte=now).filter(
            models.Q(lease_expires_at__isnull=True) | models.Q(lease_expires_at__lt=now)
        )


class Delivery(models.Model):
    """One transaction to one target system, with the idempotency key the target sees."""

    transaction = models.ForeignKey(Transaction, on_delete=models.CASCADE, related_name="deliveries")
    target = models.ForeignKey("integrations.System", on_delete=models.PROTECT, related_name="deliveries")
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    latency_class = models.CharField(max_length=16, choices=LatencyClass.choices, default=LatencyClass.IMMEDIATE)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    target_reference = models.CharField(max_length=100, blank=True, help_text="the target's document number")
    held_reason = models.CharField(max_length=200, blank=True, help_text="why it is held or parked")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["transaction", "target"], name="delivery_unique_transaction_target"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="delivery_due",
                         condition=models.Q(status__in=["pending", "retrying"])),
            models.Index(fields=["target", "created_at"], name="delivery_waiting",
                         condition=models.Q(status__in=["held", "parked"])),
            models.Index(fields=["target", "status"], name="delivery_target_status"),
        ]

    def __str__(self) -> str:
        return f"{self.transaction_id} → {self.target.code} ({self.status})"

    def attempts_spent(self) -> int:
        """Attempts counted against the target's max_attempts: failed circuit probes are not."""
        return self.attempt_count - self.attempts.filter(outcome=AttemptOutcome.PROBE_FAILED).count()

    def is_terminal(self) -> bool:
        return self.status in TERMINAL_DELIVERY_STATUSES


class Attempt(models.Model):
    """One try of one delivery, recorded before the call and completed after it."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    worker = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices, default=AttemptOutcome.IN_FLIGHT)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_class = models.CharField(max_length=100, blank=True)
    response_excerpt = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="attempt_unique_number")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.outcome}"

    @property
    def duration_ms(self) -> int | None:
        if self.finished_at is None:
            return None
        return int((self.finished_at - self.started_at).total_seconds() * 1000)


class QuarantineStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESUBMITTED = "resubmitted", "Resubmitted"
    DISCARDED = "discarded", "Discarded"


class QuarantinedMessage(models.Model):
    """An inbound message the tower refused, kept with its raw body for a person to fix."""

    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    source = models.ForeignKey("integrations.System", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="quarantined_messages")
    endpoint = models.CharField(max_length=200)
    content_type = models.CharField(max_length=200, blank=True)
    raw_body = models.TextField(blank=True, help_text="kept whole up to the size limit, else its start")
    body_size = models.PositiveIntegerField()
    http_status = models.PositiveSmallIntegerField()
    reason = models.CharField(max_length=300)
    errors = models.JSONField(default=list, help_text="[{pointer, detail}]")
    status = models.CharField(max_length=16, choices=QuarantineStatus.choices, default=QuarantineStatus.OPEN)
    resubmitted_as = models.ForeignKey(Transaction, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+")

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.http_status} {self.reason}"
