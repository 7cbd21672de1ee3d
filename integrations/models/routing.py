"""Plant-aware routing rules: which systems must act on which events."""

from django.db import models

from integrations.choices import LatencyClass


class RoutingRuleQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)

    def for_event(self, event_type: str, plant_id: int | None):
        """Active rules for this event type, for this plant or for all plants, best first."""
        plant_match = models.Q(plant__isnull=True)
        if plant_id is not None:
            plant_match |= models.Q(plant_id=plant_id)
        return self.active().filter(plant_match, event_type=event_type).order_by(
            models.F("plant").asc(nulls_last=True), "-priority", "id"
        )


class RoutingRule(models.Model):
    """For an event type (and plant, and optional conditions on the canonical data): the targets."""

    name = models.CharField(max_length=100)
    event_type = models.CharField(max_length=80, db_index=True)
    plant = models.ForeignKey("controltower.Plant", null=True, blank=True, on_delete=models.PROTECT,
                              related_name="routing_rules", help_text="empty: every plant")
    conditions = models.JSONField(default=dict, blank=True,
                                  help_text='canonical field → required value, e.g. {"material": "FG-100"}')
    targets = models.ManyToManyField("integrations.System", related_name="routing_rules")
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
