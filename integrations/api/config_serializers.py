"""Shapes of the configuration API. Systems and plants are named by code, as people know them.

These check shape and references only; the services apply the models' own rules and audit.
"""

import datetime as dt

from django.utils import timezone
from rest_framework import serializers

from controltower.models import Plant
from integrations import contracts
from integrations.choices import LatencyClass
from integrations.models import (
    MaintenanceWindow,
    RoutingRule,
    RoutingRuleVersion,
    ServiceLevel,
    System,
    ValueMapping,
)


class CodeListField(serializers.ListField):
    """Related objects by code, e.g. `["WMS-EAST"]`; an unknown code is reported at its index (`/targets/0`).

    (DRF's `many=True` related field stops at the first bad item and points at the whole list.)
    """

    def __init__(self, queryset, **kwargs):
        super().__init__(child=serializers.SlugRelatedField(slug_field="code", queryset=queryset), **kwargs)

    def to_representation(self, data):
        return [item.code for item in data.all()]


def plant_field(**kwargs) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="code", queryset=Plant.objects.all(), allow_null=True,
                                        required=False, help_text="plant code; null: every plant", **kwargs)


def system_field(**kwargs) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="code", queryset=System.objects.all(), help_text="system code",
                                        **kwargs)


def validate_event_type(value: str) -> str:
    if value and value not in contracts.event_types():
        raise serializers.ValidationError(f"unknown event type; known: {', '.join(contracts.event_types())}")
    return value


class SystemSerializer(serializers.ModelSerializer):
    plants = CodeListField(Plant.objects.all(), required=False, help_text="codes of the plants it serves")

    class Meta:
        model = System
        fields = ["code", "name", "kind", "adapter", "base_url", "credentials_ref", "plants", "is_active",
                  "timeout_s", "retry_base_s", "retry_cap_s", "max_attempts", "rate_limit_per_s",
                  "circuit_threshold", "circuit_cooldown_s", "paused", "paused_reason", "circuit_state",
                  "circuit_failures", "circuit_opened_at"]
        read_only_fields = ["circuit_state", "circuit_failures", "circuit_opened_at"]

    def validate_code(self, value: str) -> str:
        if self.instance is not None and value != self.instance.code:
            raise serializers.ValidationError("a system's code cannot change: senders name it as their "
                                              "CloudEvent source and API keys belong to it")
        return value


class RoutingRuleSerializer(serializers.ModelSerializer):
    plant = plant_field()
    targets = CodeListField(System.objects.all(), allow_empty=True,
                            help_text="codes of the target systems; none: keep the event on record only")
    source = serializers.SlugRelatedField(slug_field="code", queryset=System.objects.all(), allow_null=True,
                                          required=False, help_text="only events from this system; null: any")
    event_type = serializers.CharField(max_length=80, validators=[validate_event_type])

    class Meta:
        model = RoutingRule
        fields = ["id", "name", "event_type", "plant", "source", "conditions", "targets", "latency_class",
                  "priority", "is_active", "version"]
        read_only_fields = ["version"]

    def validate_conditions(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError('an object of canonical field → value, e.g. {"material": "FG-100"}')
        return value

    def validate(self, attrs):
        # A condition on a field the event type does not have would silently never match.
        event_type = attrs.get("event_type") or getattr(self.instance, "event_type", "")
        conditions = attrs.get("conditions") or {}
        known = set()
        for version in contracts.versions(event_type) if event_type in contracts.event_types() else []:
            known.update((contracts.schema(event_type, version) or {}).get("properties", {}))
        unknown = {f: f"{event_type} data has no field {f!r}" for f in conditions if known and f not in known}
        if unknown:
            raise serializers.ValidationError({"conditions": unknown})
        return attrs


class RoutingRuleVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None)

    class Meta:
        model = RoutingRuleVersion
        fields = ["version", "snapshot", "created_at", "created_by"]


class ValueMappingSerializer(serializers.ModelSerializer):
    system = system_field()

    class Meta:
        model = ValueMapping
        fields = ["id", "system", "domain", "external_value", "canonical_value", "outbound", "created_at"]


class ServiceLevelSerializer(serializers.ModelSerializer):
    plant = plant_field()
    event_type = serializers.CharField(max_length=80, required=False, allow_blank=True,
                                       validators=[validate_event_type], help_text="empty: every type")

    class Meta:
        model = ServiceLevel
        fields = ["id", "event_type", "latency_class", "plant", "max_seconds"]


class PlantTimeField(serializers.DateTimeField):
    """A date-time; one without a UTC offset is left for the serializer to read in plant time."""

    def enforce_timezone(self, value):
        return value if timezone.is_naive(value) else super().enforce_timezone(value)


class MaintenanceWindowSerializer(serializers.ModelSerializer):
    system = system_field(allow_null=True, required=False)
    plant = plant_field()
    starts_at = PlantTimeField(required=False, allow_null=True,
                               help_text="one-off: start; without a UTC offset, in the plant's time (UTC when the "
                                         "window has no plant)")
    ends_at = PlantTimeField(required=False, allow_null=True, help_text="one-off: end; read like starts_at")

    class Meta:
        model = MaintenanceWindow
        fields = ["id", "name", "system", "plant", "kind", "starts_at", "ends_at", "weekday", "start_time",
                  "duration_minutes", "is_active"]

    def validate(self, attrs):
        plant = attrs["plant"] if "plant" in attrs else getattr(self.instance, "plant", None)
        zone = plant.tz if plant else dt.UTC
        for name in ("starts_at", "ends_at"):
            if attrs.get(name) and timezone.is_naive(attrs[name]):
                attrs[name] = timezone.make_aware(attrs[name], zone)
        return attrs


class RuleRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.IntegerField()


class RouteSerializer(serializers.Serializer):
    system = serializers.CharField(source="target.code")
    latency_class = serializers.ChoiceField(source="rule.latency_class", choices=LatencyClass.choices)
    rule = RuleRefSerializer()


class RoutingTestResultSerializer(serializers.Serializer):
    targets = RouteSerializer(many=True)
    unrouted = serializers.BooleanField()
