"""Exceptions: something a person must act on, queued to the role that owns the fix."""

from django.db import models
from django.utils import timezone

from controltower.roles import Role
from integrations.models.transactions import PlantScopedQuerySet


class Category(models.TextChoices):
    DELIVERY_DEAD = "delivery_dead", "Delivery failed after every retry"
    BUSINESS_REJECTION = "business_rejection", "Rejected by the target"
    UNROUTED = "unrouted", "No routing rule"
    MAPPING = "mapping", "Missing value mapping"
    SEQUENCE_CONFLICT = "sequence_conflict", "Sequence conflict"
    CONNECTIVITY = "connectivity", "System unreachable"
    PROCESSING_ERROR = "processing_error", "Could not be processed"


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class Status(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"
    CANCELLED = "cancelled", "Cancelled"


class ExceptionCase(models.Model):
    """One exception per cause and object: repeats of the same cause fold into `occurrences`."""

    category = models.CharField(max_length=32, choices=Category.choices)
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.MEDIUM)
    role = models.CharField(max_length=32, choices=Role.choices, help_text="the queue that owns the fix")
    plant = models.ForeignKey("controltower.Plant", null=True, blank=True, on_delete=models.PROTECT,
                              related_name="exceptions")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    owner = models.ForeignKey("controltower.User", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="owned_exceptions")
    cause_key = models.CharField(max_length=200, help_text="same cause and object → same key")
    title = models.CharField(max_length=200)
    detail = models.TextField(blank=True)
    occurrences = models.PositiveIntegerField(default=1)
    transaction = models.ForeignKey("integrations.Transaction", null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="exceptions")
    delivery = models.ForeignKey("integrations.Delivery", null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="exceptions")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)

    objects = PlantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["cause_key"], condition=models.Q(status="open"),
                                    name="exception_one_open_per_cause"),
        ]
        indexes = [models.Index(fields=["role", "status", "-updated_at"], name="exception_queue")]

    def __str__(self) -> str:
        return self.title
