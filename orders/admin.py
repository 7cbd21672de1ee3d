from django.contrib import admin

from orders.models import ProductionOrder


@admin.register(ProductionOrder)
class ProductionOrderAdmin(admin.ModelAdmin):
    """Read-only: every field is derived from transactions by `orders.projection`."""

    list_display = ["order_number", "plant", "material", "planned_quantity", "uom", "quantity_good",
                    "last_event_at"]
    list_filter = ["plant"]
    list_select_related = ["plant"]
    search_fields = ["order_number", "material", "correlation_id"]
    ordering = ["plant", "order_number"]
    exclude = ["transactions"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
