"""Order 360 and correlation threads in the v1 API (people only; other plants answer 404)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.api.authentication import IsPerson
from integrations.models import Delivery, Transaction
from orders.models import ProductionOrder
from orders.selectors import correlation_thread_for_user, order_for_user

NOT_FOUND = OpenApiResponse(description="application/problem+json: nothing you may see")


class DeliveryBriefSerializer(serializers.ModelSerializer):
    target = serializers.CharField(source="target.code")
    attempts = serializers.IntegerField(source="attempt_count")

    class Meta:
        model = Delivery
        fields = ["id", "target", "status", "target_reference", "attempts", "delivered_at"]


class TimelineTransactionSerializer(serializers.ModelSerializer):
    source = serializers.CharField(source="source.code")
    deliveries = DeliveryBriefSerializer(many=True, read_only=True)

    class Meta:
        model = Transaction
        fields = ["id", "event_type", "source", "status", "business_key", "correlation_id", "source_time",
                  "received_at", "deliveries"]


class ThreadTransactionSerializer(TimelineTransactionSerializer):
    plant = serializers.CharField(source="plant.code", default=None)

    class Meta(TimelineTransactionSerializer.Meta):
        fields = [*TimelineTransactionSerializer.Meta.fields, "plant"]


class MaterialQuantitySerializer(serializers.Serializer):
    material = serializers.CharField()
    quantity = serializers.FloatField()
    uom = serializers.CharField()


class OrderTotalsSerializer(serializers.Serializer):
    staged = MaterialQuantitySerializer(many=True)
    issued = MaterialQuantitySerializer(many=True)
    quantity_good = serializers.FloatField()
    quantity_scrap = serializers.FloatField()


class MismatchSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()


class OrderSerializer(serializers.ModelSerializer):
    plant = serializers.CharField(source="plant.code")
    planned_quantity = serializers.FloatField(allow_null=True)
    systems = serializers.DictField(child=serializers.DictField(),
                                    help_text="per system code: what it last reported or acknowledged")
    totals = OrderTotalsSerializer(source="*", read_only=True)
    mismatches = MismatchSerializer(many=True)
    timeline = TimelineTransactionSerializer(many=True, read_only=True)

    class Meta:
        model = ProductionOrder
        fields = ["plant", "order_number", "material", "planned_quantity", "uom", "correlation_id", "systems",
                  "totals", "mismatches", "last_event_at", "updated_at", "timeline"]


class CorrelationThreadSerializer(serializers.Serializer):
    correlation_id = serializers.CharField()
    transactions = ThreadTransactionSerializer(many=True)


class OrderDetailApi(APIView):
    """One production order across systems: each system's status and quantities, totals,
    mismatches, and the timeline of its transactions with their deliveries."""

    permission_classes = [IsPerson]

    @extend_schema(responses={200: OrderSerializer, 404: NOT_FOUND})
    def get(self, request, plant: str, order_number: str):
        return Response(OrderSerializer(order_for_user(request.user, plant, order_number)).data)


class CorrelationThreadApi(APIView):
    """Every transaction of one correlation ID that you may see, oldest first, with deliveries."""

    permission_classes = [IsPerson]

    @extend_schema(responses={200: CorrelationThreadSerializer, 404: NOT_FOUND})
    def get(self, request, correlation_id: str):
        thread = correlation_thread_for_user(request.user, correlation_id)
        return Response(CorrelationThreadSerializer({"correlation_id": correlation_id, "transactions": thread}).data)
