from django.urls import path

from integrations import views

urlpatterns = [
    path("transactions/", views.transaction_list, name="transactions"),
    path("transactions/<uuid:pk>/", views.transaction_detail, name="transaction"),
]
