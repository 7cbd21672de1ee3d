"""Shapes of the API's answers. Input is validated by the contracts; these only describe output."""

from rest_framework import serializers

from integrations.models import Attempt, Delivery, QuarantinedMessage, Transaction


class IngestResultSerializer(serializers.Serializer):
    transaction_id = serializers.UUIDField()
    correlation_id = serializers.CharField()
    status = serializers.CharField()
    duplicate = serializers.BooleanField()
    content_differs = serializers.BooleanField(
        default=False, help_text="a duplicate whose content is not the first copy's: not applied, kept in quarantine")


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = ["number", "worker", "started_at", "finished_at", "duration_ms", "outcome", "http_status",
                  "error_class", "response_excerpt"]


class DeliverySerializer(serializers.ModelSerializer):
    target = serializers.CharField(source="target.code")
    attempts = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = ["id", "target", "idempotency_key", "latency_class", "status", "attempt_count", "next_attempt_at",
                  "target_reference", "delivered_at", "last_error", "attempts"]


class TransactionSerializer(serializers.ModelSerializer):
    source = serializers.CharField(source="source.code")
    plant = serializers.CharField(source="plant.code", default=None)

    class Meta:
        model = Transaction
        fields = ["id", "correlation_id", "source", "source_message_id", "event_type", "schema_version", "plant",
                  "business_key", "status", "source_time", "received_at", "status_changed_at"]


class TransactionDetailSerializer(TransactionSerializer):
    deliveries = DeliverySerializer(many=True, read_only=True)

    class Meta(TransactionSerializer.Meta):
        fields = [*TransactionSerializer.Meta.fields, "routing_rule_version", "raw_payload", "canonical_payload",
                  "history", "deliveries"]


class QuarantinedMessageSerializer(serializers.ModelSerializer):
    source = serializers.CharField(source="source.code", default=None)

    class Meta:
        model = QuarantinedMessage
        fields = ["id", "received_at", "source", "endpoint", "content_type", "http_status", "reason", "errors",
                  "body_size", "raw_body", "status"]
