"""Service levels: how long an event may take from receipt to delivered, and which messages are late."""

import datetime as dt
from collections import Counter

from integrations.choices import WAITING_DELIVERY_STATUSES
from integrations.models import Delivery, ServiceLevel


class ServiceLevels:
    """Every SLA, read once. The most specific one applies: type and plant, then type, then plant, then any."""

    def __init__(self):
        self.by_key = {(sl.event_type, sl.latency_class, sl.plant_id): sl.max_seconds
                       for sl in ServiceLevel.objects.all()}

    def max_seconds(self, event_type: str, latency_class: str, plant_id: int | None) -> int | None:
        for key in ((event_type, latency_class, plant_id), (event_type, latency_class, None),
                    ("", latency_class, plant_id), ("", latency_class, None)):
            if key in self.by_key:
                return self.by_key[key]
        return None


def deliveries_past_service_level(now: dt.datetime) -> Counter:
    """Deliveries still waiting although their SLA has run out, counted by (plant code, target code)."""
    levels = ServiceLevels()
    late: Counter = Counter()
    if not levels.by_key:
        return late
    waiting = (Delivery.objects.filter(status__in=WAITING_DELIVERY_STATUSES)
               .values_list("transaction__event_type", "latency_class", "transaction__plant_id",
                            "transaction__plant__code", "transaction__received_at", "target__code"))
    for event_type, latency_class, plant_id, plant_code, received_at, target in waiting.iterator(chunk_size=2000):
        limit = levels.max_seconds(event_type, latency_class, plant_id)
        if limit is not None and (now - received_at).total_seconds() > limit:
            late[(plant_code or "", target)] += 1
    return late
