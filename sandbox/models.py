"""What the simulated systems remember: their postings, faults, outbound links and ERP orders."""

import random

from django.db import connection, models
from django.db.models import F, Q
from django.utils import timezone


class LedgerEntry(models.Model):
    """One posting a simulated system applied, keyed by the caller's idempotency key.

    The ledger is how tests prove exactly-once effects: one entry per key, however often the
    key arrives, with repeated calls counted in ``replays``.
    """

    system = models.CharField(max_length=40)
    idempotency_key = models.CharField(max_length=200)
    operation = models.CharField(max_length=80)  # e.g. "staging_request.create"
    document_number = models.CharField(max_length=40)
    request = models.JSONField()
    response = models.JSONField()
    http_status = models.PositiveSmallIntegerField()
    applied_at = models.DateTimeField(default=timezone.now)
    replays = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]  # oldest first; ids are monotonic where timestamps may tie
        constraints = [
            models.UniqueConstraint(fields=["system", "idempotency_key"], name="sandbox_ledger_once_per_key"),
        ]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.system} {self.document_number} ({self.idempotency_key})"

    def count_replay(self) -> None:
        """Record one more call with this entry's key (an UPDATE, so concurrent replays all count)."""
        LedgerEntry.objects.filter(pk=self.pk).update(replays=F("replays") + 1)

    def as_dict(self) -> dict:
        return {
            "idempotency_key": self.idempotency_key,
            "operation": self.operation,
            "document_number": self.document_number,
            "request": self.request,
            "response": self.response,
            "http_status": self.http_status,
            "applied_at": self.applied_at.isoformat(),
            "replays": self.replays,
        }


class Fault(models.Model):
    """A failure injected into one simulated system's business endpoints until a given time."""

    class Mode(models.TextChoices):
        HTTP_503 = "http_503", "HTTP 503"
        TIMEOUT = "timeout", "Timeout"
        REJECT = "reject", "Reject"
        SLOW = "slow", "Slow"
        DOWN = "down", "Down"

    system = models.CharField(max_length=40, unique=True)
    mode = models.CharField(max_length=16, choices=Mode.choices)
    rate = models.FloatField(default=1.0)  # share of requests affected, 0..1
    until = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(rate__gte=0, rate__lte=1), name="sandbox_fault_rate_0_1"),
        ]

    def __str__(self) -> str:
        return f"{self.system}: {self.mode} at {self.rate:.0%} until {self.until:%H:%M:%S}"

    def is_active(self) -> bool:
        return timezone.now() < self.until

    def strikes(self) -> bool:
        """Whether this fault hits the request being handled now."""
        # random() < 0 is never true and random() < 1 always is, so rates 0 and 1 are exact.
        return self.is_active() and random.random() < self.rate

    def as_dict(self) -> dict:
        return {"system": self.system, "mode": self.mode, "rate": self.rate, "until": self.until.isoformat()}


class OutboundLink(models.Model):
    """Where and with which API key a simulated system pushes its events to the Control Tower."""

    system = models.CharField(max_length=40, unique=True)
    tower_url = models.URLField(max_length=500)
    api_key = models.CharField(max_length=200)

    def __str__(self) -> str:
        return f"{self.system} → {self.tower_url}"


class ProductionOrder(models.Model):
    """A production order of a simulated ERP, the record the ERP keeps of what it released."""

    class Status(models.TextChoices):
        # SAP system status abbreviations, as planners read them.
        CREATED = "CRTD", "Created"
        RELEASED = "REL", "Released"

    system = models.CharField(max_length=40)
    order_number = models.CharField(max_length=40, unique=True)
    plant = models.CharField(max_length=16)
    material = models.CharField(max_length=40)
    quantity = models.DecimalField(max_digits=13, decimal_places=3)
    uom = models.CharField(max_length=8)
    status = models.CharField(max_length=4, choices=Status.choices, default=Status.CREATED)
    scheduled_start = models.DateTimeField()
    components = models.JSONField(default=list)  # [{material, quantity, uom, lot_controlled}]
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.order_number} {self.material} @ {self.plant}"


class NumberRange(models.Model):
    """The last document number handed out in one series (SAP's name for it: a number range)."""

    series = models.CharField(max_length=16, unique=True)  # a system kind: "WMS", "ERP"
    last_number = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.series}: {self.last_number}"

    @classmethod
    def take_next(cls, series: str) -> int:
        """Take the next number of ``series``, creating the range on first use.

        One upsert both creates and increments, and it keeps the row locked until the caller's
        transaction ends: concurrent requests queue here, and a rolled-back request gives its
        number back, so numbers are never reused and never skipped.
        """
        table = cls._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (series, last_number) VALUES (%s, 1) "
                f"ON CONFLICT (series) DO UPDATE SET last_number = {table}.last_number + 1 "
                "RETURNING last_number",
                [series],
            )
            return cursor.fetchone()[0]


class Record(models.Model):
    """A simulated system's business object that has no model of its own: an ERP stock quant, a
    warehouse lot, an MES schedule, a QMS hold… `kind` names what it is, `key` identifies it."""

    system = models.CharField(max_length=40)
    kind = models.CharField(max_length=40)
    key = models.CharField(max_length=200)
    data = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["system", "kind", "key"]
        constraints = [models.UniqueConstraint(fields=["system", "kind", "key"], name="record_unique_key")]

    def __str__(self) -> str:
        return f"{self.system} {self.kind} {self.key}"
