"""Production orders as the tower sees them across systems (the data behind Order 360)."""

from django.db import models
from django.utils import timezone

from integrations.models.transactions import PlantScopedQuerySet


class ProductionOrder(models.Model):
    """The cross-system view of one order, rebuilt from its transactions and their deliveries.

    Every field below `correlation_id` is derived by `orders.projection`; nothing else writes them.
    `systems` maps a system code to what that system last reported or acknowledged, with the
    quantities it reported in total; `issued` and `staged` are lists of
    `{material, quantity, uom}`; `mismatches` is a list of `{code, detail}`.
    """

    plant = models.ForeignKey("controltower.Plant", on_delete=models.PROTECT, related_name="production_orders")
    order_number = models.CharField(max_length=40)
    material = models.CharField(max_length=40, blank=True, help_text="from the release; blank until it arrives")
    planned_quantity = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    uom = models.CharField(max_length=8, blank=True)
    correlation_id = models.CharField(max_length=100, blank=True, db_index=True)
    systems = models.JSONField(default=dict, blank=True,
                               help_text="per system code: status, event type, time and quantities it reported")
    issued = models.JSONField(default=list, blank=True, help_text="[{material, quantity, uom}] summed")
    staged = models.JSONField(default=list, blank=True, help_text="[{material, quantity, uom}] summed")
    quantity_good = models.DecimalField(max_digits=18, decimal_places=6, default=0)
    quantity_scrap = models.DecimalField(max_digits=18, decimal_places=6, default=0)
    mismatches = models.JSONField(default=list, blank=True, help_text="[{code, detail}]")
    last_event_at = models.DateTimeField(null=True, blank=True)
    # The transactions applied to this order: the source of every derived field, the order's
    # timeline, and what makes applying the same transaction twice a no-op.
    transactions = models.ManyToManyField("integrations.Transaction", blank=True, related_name="production_orders")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = PlantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["plant", "order_number"]
        constraints = [
            models.UniqueConstraint(fields=["plant", "order_number"], name="production_order_unique_number"),
        ]
        indexes = [models.Index(fields=["plant", "-last_event_at"], name="production_order_plant_recent")]

    def __str__(self) -> str:
        return f"{self.plant.code}/{self.order_number}" if self.plant_id else self.order_number
