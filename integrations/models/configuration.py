"""What integration admins configure beside systems and rules: mappings, windows, SLAs, rule history."""

import datetime as dt
import zoneinfo

from django.core.exceptions import ValidationError
from django.db import models

from integrations.choices import CANONICAL_UOMS, LatencyClass, MappingDomain


class ValueMapping(models.Model):
    """One system's value for a canonical value in a domain: ERP `PC` ↔ canonical `EA`."""

    system = models.ForeignKey("integrations.System", on_delete=models.CASCADE, related_name="value_mappings")
    domain = models.CharField(max_length=16, choices=MappingDomain.choices)
    external_value = models.CharField(max_length=100, help_text="as the system writes it")
    canonical_value = models.CharField(max_length=100)
    outbound = models.BooleanField(
        default=False, help_text="the value sent to the system for this canonical value: one per system, domain and "
                                 "canonical value; the first mapping of a value is it, later ones are inbound aliases")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["system__code", "domain", "external_value"]
        constraints = [
            models.UniqueConstraint(fields=["system", "domain", "external_value"], name="mapping_unique_external"),
            models.UniqueConstraint(fields=["system", "domain", "canonical_value"], condition=models.Q(outbound=True),
                                    name="mapping_one_outbound_value"),
        ]

    def __str__(self) -> str:
        return f"{self.system.code} {self.domain}: {self.external_value} ↔ {self.canonical_value}"

    def save(self, *args, **kwargs):
        """Adding an inbound alias (ST as well as PC for EA) must never change what is sent out."""
        siblings = ValueMapping.objects.filter(system_id=self.system_id, domain=self.domain,
                                               canonical_value=self.canonical_value, outbound=True).exclude(pk=self.pk)
        if self.outbound:
            siblings.update(outbound=False)  # chosen explicitly: it takes over
        elif not siblings.exists():
            self.outbound = True
        super().save(*args, **kwargs)

    def validate_constraints(self, exclude=None):
        # save() hands the outbound role over to a mapping chosen explicitly: not an error here.
        super().validate_constraints(exclude={*(exclude or ()), "outbound"})

    def clean(self):
        if self.domain == MappingDomain.UOM and self.canonical_value not in CANONICAL_UOMS:
            raise ValidationError({"canonical_value": f"{self.canonical_value!r} is not a canonical unit "
                                                      f"({', '.join(sorted(CANONICAL_UOMS))})"})


class MaintenanceWindow(models.Model):
    """A planned time when deliveries to a system (or to a plant's systems) are held, not attempted.

    One-off windows name their start and end; weekly ones a weekday, a start time and a duration
    in the time zone of their plant (or UTC), e.g. "MES-P1000 every Sunday 02:00-04:00 plant time".
    """

    class Kind(models.TextChoices):
        ONE_OFF = "one_off", "One-off"
        WEEKLY = "weekly", "Weekly"

    name = models.CharField(max_length=100)
    system = models.ForeignKey("integrations.System", null=True, blank=True, on_delete=models.CASCADE,
                               related_name="maintenance_windows")
    plant = models.ForeignKey("controltower.Plant", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="maintenance_windows")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.ONE_OFF)
    starts_at = models.DateTimeField(null=True, blank=True, help_text="one-off: start")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="one-off: end")
    weekday = models.PositiveSmallIntegerField(null=True, blank=True, help_text="weekly: 0 Monday … 6 Sunday")
    start_time = models.TimeField(null=True, blank=True, help_text="weekly: local start time")
    duration_minutes = models.PositiveIntegerField(null=True, blank=True, help_text="weekly: length")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(system__isnull=False) | models.Q(plant__isnull=False),
                                   name="window_names_a_system_or_plant"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        if self.system_id is None and self.plant_id is None:
            raise ValidationError("A maintenance window applies to a system, a plant, or both.")
        if self.kind == self.Kind.ONE_OFF:
            if not (self.starts_at and self.ends_at and self.starts_at < self.ends_at):
                raise ValidationError("A one-off window needs a start before its end.")
        elif self.weekday is None or self.start_time is None or not self.duration_minutes:
            raise ValidationError("A weekly window needs a weekday, a start time and a duration.")
        elif self.weekday > 6:
            raise ValidationError({"weekday": f"{self.weekday} is no weekday: 0 (Monday) to 6 (Sunday)"})
        elif self.duration_minutes > 7 * 24 * 60:
            raise ValidationError({"duration_minutes": "a weekly window lasts at most a week (10080 minutes)"})

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return self.plant.tz if self.plant_id else zoneinfo.ZoneInfo("UTC")

    def occurrence_at(self, moment: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
        """The (start, end) of this window that contains `moment`, or None."""
        if not self.is_active:
            return None
        if self.kind == self.Kind.ONE_OFF:
            return (self.starts_at, self.ends_at) if self.starts_at <= moment < self.ends_at else None
        local = moment.astimezone(self.tz)
        length = dt.timedelta(minutes=self.duration_minutes)
        # A weekly window may have started on an earlier day and still be running (e.g. Sun 23:00 + 4 h).
        for days_back in range(0, 8):
            day = local.date() - dt.timedelta(days=days_back)
            if day.weekday() != self.weekday:
                continue
            start = dt.datetime.combine(day, self.start_time, tzinfo=self.tz)
            if start <= local < start + length:
                return start, start + length
        return None


class ServiceLevel(models.Model):
    """How fast an event type must reach its targets, per latency class (and optionally plant)."""

    event_type = models.CharField(max_length=80, blank=True, help_text="empty: every type")
    latency_class = models.CharField(max_length=16, choices=LatencyClass.choices)
    plant = models.ForeignKey("controltower.Plant", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="service_levels")
    max_seconds = models.PositiveIntegerField(help_text="from receipt to delivered")

    class Meta:
        ordering = ["event_type", "latency_class"]
        verbose_name = "SLA"

    def __str__(self) -> str:
        return f"{self.event_type or 'any event'} {self.latency_class} ≤ {self.max_seconds} s"


class RoutingRuleVersion(models.Model):
    """A rule as it was: an edit keeps the old version; each transaction names the version that routed it."""

    rule = models.ForeignKey("integrations.RoutingRule", on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    snapshot = models.JSONField(help_text="the rule's fields and target codes at this version")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey("controltower.User", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["rule", "-version"]
        constraints = [models.UniqueConstraint(fields=["rule", "version"], name="rule_version_unique")]

    def __str__(self) -> str:
        return f"{self.rule} v{self.version}"
