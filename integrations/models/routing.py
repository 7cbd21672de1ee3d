"""Plant-aware routing rules: which systems must act on which events."""

from django.db import models

from integrations.choices import LatencyClass


class RoutingRuleQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)

    def for_event(self, event_type: str, plant_id: int | None, source_id: int | None = None):
        """Active rules for this event type, for this plant (or all) and this sender (or any), best first."""
        plant_match = models.Q(plant__isnull=True)
        if plant_id is not None:
            plant_match |= models.Q(plant_id=plant_id)
        source_match = models.Q(source__isnull=True)
        if source_id is not None:
            source_match |= models.Q(source_id=source_id)
        return self.active().filter(plant_match, source_match, event_type=event_type).order_by(
            models.F("plant").asc(nulls_last=True), "-priority", "id"
        )


class RoutingRule(models.Model):
    """For an event type (and plant, and optional conditions on the canonical data): the targets."""

    name = models.CharField(max_length=100)
    event_type = models.CharField(max_length=80, db_index=True)
    plant = models.ForeignKey("controltower.Plant", null=True, blank=True, on_delete=models.PROTECT,
                              related_name="routing_rules", help_text="empty: every plant")
    source = models.ForeignKey("integrations.System", null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+", help_text="only events sent by this system; empty: by any")
    conditions = models.JSONField(default=dict, blank=True,
                                  help_text='canonical field → required value, e.g. {"material": "FG-100"}')
    targets = models.ManyToManyField("integrations.System", related_name="routing_rules", blank=True,
                                     help_text="none: keep the event on record only (ignored)")
    latency_class = models.CharField(max_length=16, choices=LatencyClass.choices,
                                     default=LatencyClass.IMMEDIATE)
    priority = models.IntegerField(default=0)
    is_active = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1)

    objects = RoutingRuleQuerySet.as_manager()

    class Meta:
        ordering = ["event_type", "plant__code", "-priority"]

    def __str__(self) -> str:
        return self.name

    def matches(self, data: dict) -> bool:
        """True when every condition equals the value at that canonical field."""
        return all(data.get(field) == value for field, value in self.conditions.items())
