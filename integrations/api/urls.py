from django.urls import include, path

from integrations.api import views

urlpatterns = [
    path("events", views.EventIngestApi.as_view(), name="api-events"),
    path("events/batch", views.EventBatchIngestApi.as_view(), name="api-events-batch"),
    path("inbound/<str:system>", views.InboundNativeApi.as_view(), name="api-inbound"),
    path("transactions", views.TransactionListApi.as_view(), name="api-transactions"),
    path("transactions/<uuid:pk>", views.TransactionDetailApi.as_view(), name="api-transaction"),
    path("contracts/<str:event_type>/<str:version>", views.ContractApi.as_view(), name="api-contract"),
    path("quarantine", views.QuarantineListApi.as_view(), name="api-quarantine"),
    path("quarantine/<int:pk>/resubmit", views.QuarantineResubmitApi.as_view(), name="api-quarantine-resubmit"),
    path("quarantine/<int:pk>/discard", views.QuarantineDiscardApi.as_view(), name="api-quarantine-discard"),
    path("", include("integrations.api.config_urls")),
    path("", include("integrations.api.replay_urls")),
]
