"""One filterset per list, shared by its page and its API (query parameters cannot drift)."""

import django_filters

from integrations.choices import TransactionStatus
from integrations.models import Transaction


class TransactionFilterSet(django_filters.FilterSet):
    plant = django_filters.CharFilter(field_name="plant__code")
    status = django_filters.MultipleChoiceFilter(choices=TransactionStatus.choices)
    type = django_filters.CharFilter(field_name="event_type")
    source = django_filters.CharFilter(field_name="source__code")
    target = django_filters.CharFilter(field_name="deliveries__target__code", distinct=True)
    correlation_id = django_filters.CharFilter()
    business_key = django_filters.CharFilter()
    received_after = django_filters.IsoDateTimeFilter(field_name="received_at", lookup_expr="gte")
    received_before = django_filters.IsoDateTimeFilter(field_name="received_at", lookup_expr="lt")

    class Meta:
        model = Transaction
        fields = []
