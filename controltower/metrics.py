"""Prometheus metrics (`GET /metrics`): the work waiting in the pipeline, read from the rows, and
the counters kept in Redis.

Gauges come from PostgreSQL at scrape time and count only open work (statuses a person or a
worker still has to act on), so a scrape stays cheap however much history is kept. Counters of
what leaves no row, such as refused API keys, come from `controltower.counters`.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Min
from django.utils import timezone

from controltower.counters import API_AUTH_FAILURES, counter_values
from exceptions_queue.models import ExceptionCase
from exceptions_queue.models import Status as ExceptionStatus
from integrations.choices import WAITING_DELIVERY_STATUSES, CircuitState, DeliveryStatus, TransactionStatus
from integrations.models import Delivery, QuarantinedMessage, System, Transaction
from integrations.models.transactions import QuarantineStatus
from integrations.services.service_levels import deliveries_past_service_level

OPEN_TRANSACTION_STATUSES = (TransactionStatus.RECEIVED, TransactionStatus.ROUTED, TransactionStatus.PARKED,
                             TransactionStatus.UNROUTED, TransactionStatus.FAILED, TransactionStatus.DEAD)


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # gauge or counter
    help: str
    samples: list[tuple[dict[str, str], float]]

    def exposition(self) -> str:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        for labels, value in self.samples:
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            sample = f"{self.name}{{{label_text}}}" if label_text else self.name
            lines.append(f"{sample} {_number(value)}")
        return "\n".join(lines)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _counted(rows: Iterable[dict], labels: dict[str, str]) -> list[tuple[dict[str, str], float]]:
    return [({label: row[field] or "" for label, field in labels.items()}, row["n"]) for row in rows]


def metrics_collect() -> list[Metric]:
    now = timezone.now()
    transactions = (Transaction.objects.filter(status__in=OPEN_TRANSACTION_STATUSES)
                    .values("plant__code", "status").annotate(n=Count("id")).order_by("plant__code", "status"))
    deliveries = (Delivery.objects.filter(status__in=(*WAITING_DELIVERY_STATUSES, DeliveryStatus.DEAD))
                  .values("target__code", "status").annotate(n=Count("id")).order_by("target__code", "status"))
    oldest = (Delivery.objects.filter(status__in=WAITING_DELIVERY_STATUSES).values("target__code")
              .annotate(first=Min("created_at")).order_by("target__code"))
    exceptions = (ExceptionCase.objects.filter(status=ExceptionStatus.OPEN).values("category")
                  .annotate(n=Count("id")).order_by("category"))
    systems = list(System.objects.filter(is_active=True).order_by("code").values_list("code", "circuit_state",
                                                                                       "paused"))
    quarantined = QuarantinedMessage.objects.filter(status=QuarantineStatus.OPEN).count()
    return [
        Metric("controltower_transactions_open", "gauge",
               "Transactions not yet delivered or ignored, by plant and status.",
               _counted(transactions, {"plant": "plant__code", "status": "status"})),
        Metric("controltower_deliveries_waiting", "gauge",
               "Deliveries still to be made (pending, retrying, held, parked) or dead, by target system and status.",
               _counted(deliveries, {"target": "target__code", "status": "status"})),
        Metric("controltower_delivery_oldest_waiting_seconds", "gauge",
               "Age of the oldest delivery still to be made, by target system: the sync lag.",
               [({"target": row["target__code"]}, round((now - row["first"]).total_seconds(), 3)) for row in oldest]),
        Metric("controltower_deliveries_past_sla", "gauge",
               "Deliveries still waiting after their service level's time from receipt ran out, by plant and target.",
               [({"plant": plant, "target": target}, n)
                for (plant, target), n in sorted(deliveries_past_service_level(now).items())]),
        Metric("controltower_exceptions_open", "gauge", "Open exceptions by category.",
               _counted(exceptions, {"category": "category"})),
        Metric("controltower_system_circuit_open", "gauge", "1 when the system's circuit breaker is open or half-open.",
               [({"system": code}, float(state != CircuitState.CLOSED)) for code, state, _ in systems]),
        Metric("controltower_system_paused", "gauge", "1 when deliveries to the system are paused by hand.",
               [({"system": code}, float(paused)) for code, _, paused in systems]),
        Metric("controltower_quarantine_open", "gauge", "Refused messages kept for a person to fix or discard.",
               [({}, quarantined)]),
        Metric("controltower_api_auth_failures_total", "counter",
               "API calls refused for missing or unknown credentials, by reason.",
               [({"reason": reason}, n) for reason, n in sorted((counter_values(API_AUTH_FAILURES) or {}).items())]),
    ]


def metrics_exposition() -> str:
    """Every metric in Prometheus's text format (version 0.0.4)."""
    return "\n".join(metric.exposition() for metric in metrics_collect()) + "\n"
