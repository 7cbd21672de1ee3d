"""The exceptions API: each role's queue, and the actions that fix what is in it."""

import django_filters
from django.db.models import Case, IntegerField, Value, When
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from controltower.api import CheckedCursorPagination, Problem
from exceptions_queue.actions import exception_act
from exceptions_queue.models import ExceptionCase
from integrations.api.authentication import IsPerson


class ExceptionSerializer(serializers.ModelSerializer):
    plant = serializers.CharField(source="plant.code", default=None)
    owner = serializers.CharField(source="owner.username", default=None)
    transaction_id = serializers.UUIDField(source="transaction.pk", default=None)
    delivery_id = serializers.IntegerField(source="delivery.pk", default=None)

    class Meta:
        model = ExceptionCase
        fields = ["id", "category", "severity", "role", "plant", "status", "owner", "title", "detail", "occurrences",
                  "transaction_id", "delivery_id", "created_at", "updated_at", "resolved_at", "resolution"]


class ExceptionFilterSet(django_filters.FilterSet):
    plant = django_filters.CharFilter(field_name="plant__code")

    class Meta:
        model = ExceptionCase
        fields = ["role", "status", "category", "severity"]


class QueuePagination(CheckedCursorPagination):
    ordering = ("severity_rank", "created_at", "id")  # most severe first, then oldest
    page_size = 50


class ExceptionListApi(generics.ListAPIView):
    """Exceptions of your plants, most severe and oldest first; filter by role, status, category, plant."""

    permission_classes = [IsPerson]
    serializer_class = ExceptionSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = ExceptionFilterSet
    pagination_class = QueuePagination

    def get_queryset(self):
        rank = Case(When(severity="high", then=Value(0)), When(severity="medium", then=Value(1)), default=Value(2),
                    output_field=IntegerField())
        return (ExceptionCase.objects.for_user(self.request.user).select_related("plant", "owner")
                .annotate(severity_rank=rank))


class ExceptionActionApi(APIView):
    """Act on one exception: assign {owner?}, retry, resubmit {payload}, map_value {canonical_value},
    cancel {reason}, resolve {reason}. Every action is audited."""

    permission_classes = [IsPerson]

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: ExceptionSerializer})
    def post(self, request, pk: int, action: str):
        data = request.data if isinstance(request.data, dict) else {}
        try:
            exception = exception_act(exception_id=pk, action=action, actor=request.user, data=data)
        except ExceptionCase.DoesNotExist:
            raise Problem(404, "Not found", "No such exception in your plants.") from None
        return Response(ExceptionSerializer(exception).data)
