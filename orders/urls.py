from django.urls import path

from orders import api

urlpatterns = [
    path("orders/<str:plant>/<str:order_number>", api.OrderDetailApi.as_view(), name="api-order"),
    path("correlations/<path:correlation_id>", api.CorrelationThreadApi.as_view(), name="api-correlation"),
]
