"""The configuration API (integration admins only): systems, routing rules and their tester,
value mappings, SLAs and maintenance windows. Every write goes through a service that validates
with the model's rules and audits; invalid input answers 422 problem+json with pointers.
"""

import django_filters
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, mixins, status, viewsets
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from controltower.api import BodyLeftUnread, CheckedCursorPagination, Problem, pointers
from integrations.api.config_serializers import (
    MaintenanceWindowSerializer,
    RoutingRuleSerializer,
    RoutingRuleVersionSerializer,
    RoutingTestResultSerializer,
    ServiceLevelSerializer,
    SystemSerializer,
    ValueMappingSerializer,
)
from integrations.api.views import PROBLEM, IsIntegrationAdmin, cloudevent_from
from integrations.choices import MappingDomain
from integrations.models import (
    MaintenanceWindow,
    RoutingRule,
    RoutingRuleVersion,
    ServiceLevel,
    System,
    ValueMapping,
)
from integrations.services import configuration


class ConfigPagination(CheckedCursorPagination):
    """Configuration lists are short and have no time field: a cursor over the id, oldest first."""

    ordering = ("id",)
    page_size_query_param = "page_size"
    max_page_size = 500


class NewestVersionFirst(ConfigPagination):
    ordering = ("-version",)


class RoutingRuleFilterSet(django_filters.FilterSet):
    event_type = django_filters.CharFilter()
    plant = django_filters.CharFilter(field_name="plant__code", help_text="plant code")
    is_active = django_filters.BooleanFilter()

    class Meta:
        model = RoutingRule
        fields = []


class ValueMappingFilterSet(django_filters.FilterSet):
    system = django_filters.CharFilter(field_name="system__code", help_text="system code")
    domain = django_filters.ChoiceFilter(choices=MappingDomain.choices)

    class Meta:
        model = ValueMapping
        fields = []


READ_ERRORS = {401: PROBLEM, 403: PROBLEM}
WRITE_ERRORS = {400: PROBLEM, 422: PROBLEM, **READ_ERRORS}


def config_schema(serializer_class, *, destroy=None):
    """Describe a ConfigViewSet's answers: the object on create/PATCH, problem+json on errors."""
    return extend_schema_view(
        list=extend_schema(responses={200: serializer_class(many=True), **READ_ERRORS}),
        retrieve=extend_schema(responses={200: serializer_class, 404: PROBLEM, **READ_ERRORS}),
        create=extend_schema(responses={201: serializer_class, **WRITE_ERRORS}),
        partial_update=extend_schema(responses={200: serializer_class, 404: PROBLEM, **WRITE_ERRORS}),
        destroy=destroy or extend_schema(responses={204: None, 404: PROBLEM, **READ_ERRORS}),
    )


class ConfigViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """List, create, read, PATCH and delete one kind of configuration through its services.

    No PUT: edits are partial, so a client cannot blank a field it did not mention.
    """

    permission_classes = [IsIntegrationAdmin]
    parser_classes = [JSONParser]
    pagination_class = ConfigPagination
    filter_backends = [DjangoFilterBackend]

    def save(self, obj, data: dict):
        """Write through the service for this kind; returns the saved object."""
        raise NotImplementedError

    def remove(self, obj) -> Response:
        raise NotImplementedError

    def validated(self, serializer) -> dict:
        # Invalid configuration is understood but refused: 422, as the model rules answer too.
        if not serializer.is_valid():
            raise Problem(422, "Invalid configuration", "Some fields are not valid.", pointers(serializer.errors),
                          slug="invalid-configuration")
        return dict(serializer.validated_data)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        obj = self.save(serializer.Meta.model(), self.validated(serializer))
        return Response(self.get_serializer(obj).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        obj = self.get_object()
        obj = self.save(obj, self.validated(self.get_serializer(obj, data=request.data, partial=True)))
        return Response(self.get_serializer(obj).data)

    def destroy(self, request, *args, **kwargs):
        return self.remove(self.get_object())


@config_schema(SystemSerializer, destroy=extend_schema(responses={204: None, 404: PROBLEM, 409: PROBLEM,
                                                                  **READ_ERRORS}))
class SystemViewSet(ConfigViewSet):
    """External systems, by code. A system with transactions cannot be deleted (409): deactivate it."""

    serializer_class = SystemSerializer
    queryset = System.objects.prefetch_related("plants")
    lookup_field = "code"
    lookup_value_regex = r"[^/]+"

    def save(self, obj, data):
        plants = data.pop("plants", None)
        return configuration.system_save(system=obj, fields=data, plants=plants, actor=self.request.user)

    def remove(self, obj):
        configuration.system_delete(system=obj, actor=self.request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@config_schema(RoutingRuleSerializer, destroy=extend_schema(
    responses={200: RoutingRuleSerializer, 404: PROBLEM, **READ_ERRORS},
    description="Deactivates the rule (a new version with `is_active: false`); rules are never deleted.",
))
class RoutingRuleViewSet(ConfigViewSet):
    """Plant-aware routing rules, filtered by `event_type`, `plant` (code) and `is_active`. Edits are versioned."""

    serializer_class = RoutingRuleSerializer
    queryset = RoutingRule.objects.select_related("plant").prefetch_related("targets")
    filterset_class = RoutingRuleFilterSet

    def save(self, obj, data):
        targets = data.pop("targets", None)
        return configuration.routing_rule_save(rule=obj, fields=data, targets=targets, actor=self.request.user)

    def remove(self, obj):
        rule = configuration.routing_rule_deactivate(rule=obj, actor=self.request.user)
        return Response(self.get_serializer(rule).data)


@config_schema(ValueMappingSerializer)
class ValueMappingViewSet(ConfigViewSet):
    """(system, domain, external value) ↔ canonical value, filtered by `system` (code) and `domain`."""

    serializer_class = ValueMappingSerializer
    queryset = ValueMapping.objects.select_related("system")
    filterset_class = ValueMappingFilterSet

    def save(self, obj, data):
        return configuration.value_mapping_save(mapping=obj, fields=data, actor=self.request.user)

    def remove(self, obj):
        configuration.value_mapping_delete(mapping=obj, actor=self.request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@config_schema(ServiceLevelSerializer)
class ServiceLevelViewSet(ConfigViewSet):
    """SLAs: the longest time from receipt to delivery, per event type and latency class (and plant)."""

    serializer_class = ServiceLevelSerializer
    queryset = ServiceLevel.objects.select_related("plant")

    def save(self, obj, data):
        return configuration.service_level_save(service_level=obj, fields=data, actor=self.request.user)

    def remove(self, obj):
        configuration.service_level_delete(service_level=obj, actor=self.request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@config_schema(MaintenanceWindowSerializer)
class MaintenanceWindowViewSet(ConfigViewSet):
    """Planned windows when deliveries to a system or a plant are held: one-off or weekly."""

    serializer_class = MaintenanceWindowSerializer
    queryset = MaintenanceWindow.objects.select_related("system", "plant")

    def save(self, obj, data):
        return configuration.maintenance_window_save(window=obj, fields=data, actor=self.request.user)

    def remove(self, obj):
        configuration.maintenance_window_delete(window=obj, actor=self.request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoutingRuleVersionListApi(generics.ListAPIView):
    """Every version of one routing rule, newest first, each with its snapshot (fields and target codes)."""

    permission_classes = [IsIntegrationAdmin]
    serializer_class = RoutingRuleVersionSerializer
    pagination_class = NewestVersionFirst

    def get_queryset(self):
        rule = generics.get_object_or_404(RoutingRule, pk=self.kwargs["pk"])
        return RoutingRuleVersion.objects.filter(rule=rule).select_related("created_by")


class RoutingRuleTestApi(APIView):
    """Which targets would a CloudEvent get? Validated exactly as ingest does; nothing is stored."""

    permission_classes = [IsIntegrationAdmin]
    parser_classes = [BodyLeftUnread]  # the raw body is read here, so refusals match ingest's exactly

    @extend_schema(
        request={"application/cloudevents+json": OpenApiTypes.OBJECT, "application/json": OpenApiTypes.OBJECT},
        responses={200: RoutingTestResultSerializer, 400: PROBLEM, 401: PROBLEM, 403: PROBLEM, 422: PROBLEM},
        description="The body is a CloudEvent as its source system would send it (structured mode, or binary "
                    "mode with `ce-` headers). `source` must be a configured system; no API key is needed.",
    )
    def post(self, request):
        raw = request._request.body
        routes = configuration.routing_rules_test(event=cloudevent_from(request, raw))
        body = {"targets": routes, "unrouted": not routes}
        return Response(RoutingTestResultSerializer(body).data)
