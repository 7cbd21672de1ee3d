"""The roles people hold. Each is a Django group of the same name."""

from django.db import models


class Role(models.TextChoices):
    PLANNER = "planner", "Planner"
    WAREHOUSE_SUPERVISOR = "warehouse_supervisor", "Warehouse supervisor"
    FINANCE = "finance", "Finance"
    INTEGRATION_ADMIN = "integration_admin", "Integration admin"
    VIEWER = "viewer", "Viewer"
