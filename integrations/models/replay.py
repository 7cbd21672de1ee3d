"""Replays: sending transactions again, one or many, as a job with progress and per-item results."""

from django.db import models
from django.utils import timezone


class ReplayJob(models.Model):
    """A person's request to send transactions again; items are worked on the maintenance queue."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey("controltower.User", null=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField()
    filters = models.JSONField(default=dict, help_text="the transaction filter that selected the items")
    targets = models.JSONField(default=list, help_text="system codes; empty: every target of each transaction")
    since = models.DateTimeField(null=True, blank=True, help_text="'replay missing': everything since then")
    dry_run = models.BooleanField(default=False)
    new_posting = models.BooleanField(default=False, help_text="send with new idempotency keys")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"replay {self.pk} ({self.status}, {self.done}/{self.total})"


class ReplayItem(models.Model):
    """What a replay did, or would do (dry run), for one delivery."""

    job = models.ForeignKey(ReplayJob, on_delete=models.CASCADE, related_name="items")
    transaction = models.ForeignKey("integrations.Transaction", on_delete=models.CASCADE, related_name="+")
    target = models.ForeignKey("integrations.System", on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(help_text="order of sending: keeps each order's sequence")
    action = models.CharField(max_length=32, help_text="resend, new_posting, skipped_in_flight, would_resend…")
    detail = models.TextField(blank=True)
    done = models.BooleanField(default=False)

    class Meta:
        ordering = ["job", "position"]

    def __str__(self) -> str:
        return f"{self.action} {self.transaction_id} → {self.target_id}"
