from django.urls import path

from exceptions_queue import api

urlpatterns = [
    path("exceptions", api.ExceptionListApi.as_view(), name="api-exceptions"),
    path("exceptions/<int:pk>/<str:action>", api.ExceptionActionApi.as_view(), name="api-exception-action"),
]
