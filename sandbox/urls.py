"""The sandbox's routes: /sandbox/healthz, control endpoints per system, each system's native API."""

from django.urls import include, path

from sandbox import erp_views, qms_views, views, wms_views

ODATA = "sandbox/<str:system>/sap/opu/odata/sap"

urlpatterns = [
    path("sandbox/healthz", views.healthz),
    path("sandbox/<str:system>/faults", views.faults),
    path("sandbox/<str:system>/ledger", views.ledger),
    path("sandbox/<str:system>/outbound", views.outbound),
    path("sandbox/<str:system>/api/staging-requests", wms_views.staging_requests),
    path("sandbox/<str:system>/production-orders", views.production_orders),
    path("sandbox/<str:system>/api/lot-blocks", wms_views.lot_blocks),
    path("sandbox/<str:system>/api/lot-blocks/release", wms_views.lot_block_release),
    path("sandbox/<str:system>/api/putaway-tasks", wms_views.putaway_tasks),
    path("sandbox/<str:system>/simulate/report", wms_views.simulate_report),
    path("sandbox/<str:system>/epcis/events", qms_views.epcis_events),
    path("sandbox/<str:system>/simulate/hold", qms_views.simulate_hold),
    path("sandbox/<str:system>/simulate/release", qms_views.simulate_release),
    path("sandbox/<str:system>/holds", qms_views.holds),
    path(f"{ODATA}/API_MATERIAL_DOCUMENT_SRV/A_MaterialDocumentHeader", erp_views.material_documents),
    path(f"{ODATA}/API_PROD_ORDER_CONFIRMATION_2_SRV/ProdnOrdConf2", erp_views.confirmations),
    path(f"{ODATA}/API_MATERIAL_STOCK_SRV/A_MatlStkInAcctMod", erp_views.stock),
    path(f"{ODATA}/API_PRODUCTION_ORDER_2_SRV/A_ProductionOrder_2", erp_views.production_orders),
    path(f"{ODATA}/ZCT_STOCK_SNAPSHOT_SRV/StockSnapshot", erp_views.stock_snapshots),
    path("sandbox/<str:system>/simulate/stock", erp_views.simulate_stock),
    path("sandbox/<str:system>/simulate/production-orders", erp_views.simulate_production_orders),
    path("sandbox/<str:system>/", include("sandbox.mes_views")),  # the MES: B2MML schedules, simulated performance
]

# Everything the sandbox answers is JSON, errors included.
handler404 = "sandbox.views.not_found"
handler500 = "sandbox.views.server_error"
