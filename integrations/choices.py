"""Kinds and statuses of the pipeline, each with how it looks everywhere it is shown.

Tones follow ISA-101: "normal" states are grey; colour only marks what needs a look
(amber: in flight or at risk, red: failed, magenta: stale or unknown).
"""

from django.db import models


class SystemKind(models.TextChoices):
    ERP = "ERP", "ERP"
    WMS = "WMS", "WMS"
    MES = "MES", "MES"
    QMS = "QMS", "QMS"
    APS = "APS", "APS"
    TMS = "TMS", "TMS"


class LatencyClass(models.TextChoices):
    IMMEDIATE = "immediate", "Immediate"
    NEAR_REAL_TIME = "near_real_time", "Near real time"
    MICRO_BATCH = "micro_batch", "Micro-batch"
    END_OF_DAY = "end_of_day", "End of day"

    @property
    def queue(self) -> str:
        return {
            "immediate": "deliver.immediate",
            "near_real_time": "deliver.near_real_time",
        }.get(self.value, "deliver.batch")


class TransactionStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    ROUTED = "routed", "Routed"
    DELIVERED = "delivered", "Delivered"
    PARKED = "parked", "Parked"
    FAILED = "failed", "Failed"
    DEAD = "dead", "Dead"
    UNROUTED = "unrouted", "Unrouted"
    IGNORED = "ignored", "Ignored"
    CANCELLED = "cancelled", "Cancelled"  # every delivery was cancelled by a person


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    PARKED = "parked", "Parked"  # waits for a prerequisite delivery (sequencing)
    HELD = "held", "Held"  # circuit open, maintenance window or pause: no attempt is spent
    DELIVERED = "delivered", "Delivered"
    REJECTED = "rejected", "Rejected"
    DEAD = "dead", "Dead"
    CANCELLED = "cancelled", "Cancelled"


DUE_DELIVERY_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
# Not made yet: due, or waiting for a gate (held) or a prerequisite (parked).
WAITING_DELIVERY_STATUSES = (*DUE_DELIVERY_STATUSES, DeliveryStatus.HELD, DeliveryStatus.PARKED)
TERMINAL_DELIVERY_STATUSES = (
    DeliveryStatus.DELIVERED,
    DeliveryStatus.REJECTED,
    DeliveryStatus.DEAD,
    DeliveryStatus.CANCELLED,
)


class CircuitState(models.TextChoices):
    CLOSED = "closed", "Closed"
    OPEN = "open", "Open"
    HALF_OPEN = "half_open", "Half-open"


# Canonical units (UN/ECE Rec 20 common codes, as plants write them).
CANONICAL_UOMS = frozenset({"EA", "KG", "G", "T", "L", "ML", "M", "CM", "MM", "M2", "M3", "PAL", "BOX", "SET",
                            "H", "MIN"})


class MappingDomain(models.TextChoices):
    UOM = "uom", "Unit of measure"
    MATERIAL = "material", "Material"
    LOCATION = "location", "Location"
    PLANT = "plant", "Plant"
    STATUS = "status", "Status"
    MOVEMENT_TYPE = "movement_type", "Movement type"


class AttemptOutcome(models.TextChoices):
    IN_FLIGHT = "in_flight", "In flight"
    DELIVERED = "delivered", "Delivered"
    TRANSIENT_ERROR = "transient_error", "Transient error"
    PROBE_FAILED = "probe_failed", "Circuit probe failed"  # not counted against the delivery's attempts
    REJECTED = "rejected", "Rejected"
    LOST = "lost", "Lost (worker died)"


# How each status looks: (tone, icon). The icon keeps meaning when colour is not seen.
STATUS_PRESENTATION = {
    "received": ("neutral", "○"),
    "routed": ("neutral", "→"),
    "pending": ("neutral", "○"),
    "delivered": ("ok", "✓"),
    "parked": ("amber", "‖"),
    "held": ("amber", "‖"),
    "open": ("red", "✕"),
    "half_open": ("amber", "◐"),
    "closed": ("neutral", "●"),
    "retrying": ("amber", "↻"),
    "in_flight": ("amber", "↻"),
    "transient_error": ("amber", "↻"),
    "probe_failed": ("amber", "↻"),
    "failed": ("red", "✕"),
    "rejected": ("red", "✕"),
    "dead": ("red", "✕"),
    "lost": ("red", "✕"),
    "unrouted": ("red", "?"),
    "ignored": ("neutral", "–"),
    "cancelled": ("neutral", "–"),
}
