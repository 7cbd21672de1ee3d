"""URLs of the configuration API, under /api/v1/ (no trailing slashes, like the rest of v1)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from integrations.api import config_views

router = SimpleRouter(trailing_slash=False)
router.register("systems", config_views.SystemViewSet, basename="api-system")
router.register("routing-rules", config_views.RoutingRuleViewSet, basename="api-routing-rule")
router.register("value-mappings", config_views.ValueMappingViewSet, basename="api-value-mapping")
router.register("slas", config_views.ServiceLevelViewSet, basename="api-sla")
router.register("maintenance-windows", config_views.MaintenanceWindowViewSet, basename="api-maintenance-window")

urlpatterns = [
    path("routing-rules/test", config_views.RoutingRuleTestApi.as_view(), name="api-routing-rules-test"),
    path("routing-rules/<int:pk>/versions", config_views.RoutingRuleVersionListApi.as_view(),
         name="api-routing-rule-versions"),
    *router.urls,
]
