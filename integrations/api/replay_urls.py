from django.urls import path

from integrations.api import replay_views

urlpatterns = [
    path("transactions/<uuid:pk>/replay", replay_views.TransactionReplayApi.as_view(),
         name="api-transaction-replay"),
    path("replays", replay_views.ReplayJobCreateApi.as_view(), name="api-replays"),
    path("replays/<int:pk>", replay_views.ReplayJobDetailApi.as_view(), name="api-replay"),
]
