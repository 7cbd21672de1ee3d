"""The sandbox's routes: /sandbox/healthz, control endpoints per system, each system's native API."""

from django.urls import path

from sandbox import views, wms_views

urlpatterns = [
    path("sandbox/healthz", views.healthz),
    path("sandbox/<str:system>/faults", views.faults),
    path("sandbox/<str:system>/ledger", views.ledger),
    path("sandbox/<str:system>/outbound", views.outbound),
    path("sandbox/<str:system>/api/staging-requests", views.staging_requests),
    path("sandbox/<str:system>/production-orders", views.production_orders),
    path("sandbox/<str:system>/api/lot-blocks", wms_views.lot_blocks),
    path("sandbox/<str:system>/api/lot-blocks/release", wms_views.lot_block_release),
    path("sandbox/<str:system>/api/putaway-tasks", wms_views.putaway_tasks),
    path("sandbox/<str:system>/simulate/report", wms_views.simulate_report),
]

# Everything the sandbox answers is JSON, errors included.
handler404 = "sandbox.views.not_found"
handler500 = "sandbox.views.server_error"
