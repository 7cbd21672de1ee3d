from django.urls import path

from integrations.api import views

urlpatterns = [
    path("events", views.EventIngestApi.as_view(), name="api-events"),
    path("events/batch", views.EventBatchIngestApi.as_view(), name="api-events-batch"),
    path("transactions", views.TransactionListApi.as_view(), name="api-transactions"),
    path("transactions/<uuid:pk>", views.TransactionDetailApi.as_view(), name="api-transaction"),
    path("contracts/<str:event_type>/<str:version>", views.ContractApi.as_view(), name="api-contract"),
    path("quarantine", views.QuarantineListApi.as_view(), name="api-quarantine"),
]
