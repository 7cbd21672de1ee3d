"""What the tower's database says about a phase's events: when they were all delivered, and how fast.

A phase's transactions are those received since the phase started whose source message id
starts with ERP-S4-<phase>- (bench.events). Latency of one transaction is its last
delivery's `delivered_at` minus its `received_at`: receipt to delivered into a sandbox ledger.
"""

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db.models import Max, Min

from bench.load import percentile

# Transaction statuses that no longer change by themselves; anything else is still in the pipeline.
FINAL = ("delivered", "failed", "dead", "unrouted", "ignored")


def _phase(phase: str, since: float):
    from integrations.models import Transaction

    return Transaction.objects.filter(received_at__gte=datetime.fromtimestamp(since - 1, tz=UTC),
                                      source_message_id__startswith=f"ERP-S4-{phase}-")


def wait_until_final(phase: str, since: float, *, timeout_s: float, check_alive: Callable[[], None]) -> bool:
    """Poll every 0.5 s until every transaction of the phase is delivered (or otherwise final); False on timeout."""
    deadline = time.monotonic() + timeout_s
    while _phase(phase, since).exclude(status__in=FINAL).exists():
        check_alive()
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


@dataclass
class Delivered:
    transactions: int = 0
    delivered: int = 0
    first_received: float = 0.0  # epoch seconds
    last_delivered: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)  # ascending, delivered ones only
    delivered_at: list[float] = field(default_factory=list)  # epoch seconds, delivered ones only
    stages_ms: dict[str, list[float]] = field(default_factory=dict)  # where the latency goes

    def rate(self) -> float:
        """End to end: delivered events per second from the first receipt to the last delivery."""
        span = self.last_delivered - self.first_received
        return self.delivered / span if span > 0 else 0.0

    def delivered_by(self, moment: float) -> int:
        return sum(1 for at in self.delivered_at if at <= moment)

    def latency(self) -> dict:
        ms = self.latencies_ms
        return {f"p{p}_ms": round(percentile(ms, p), 1) if ms else None for p in (50, 95, 99)} | {
            "max_ms": round(ms[-1], 1) if ms else None}

    def stage_medians(self) -> dict[str, float | None]:
        return {stage: round(statistics.median(ms), 1) if ms else None for stage, ms in self.stages_ms.items()}


def delivered(phase: str, since: float) -> Delivered:
    """The phase's delivery outcome, read once the phase has drained (or timed out).

    Stages of a delivered transaction: receipt → routed (history), routed → first attempt
    claimed by a worker, claimed → delivered.
    """
    rows = (_phase(phase, since)
            .annotate(claimed=Min("deliveries__attempts__started_at"), done=Max("deliveries__delivered_at"))
            .values_list("received_at", "history", "claimed", "done", "status"))
    outcome = Delivered(stages_ms={"receipt to routed": [], "routed to claimed": [], "claimed to delivered": []})
    received_all = []
    for received, history, claimed, done, status in rows:
        outcome.transactions += 1
        received_all.append(received.timestamp())
        if status != "delivered":
            continue
        outcome.delivered += 1
        outcome.delivered_at.append(done.timestamp())
        outcome.latencies_ms.append((done - received).total_seconds() * 1000)
        routed = next((datetime.fromisoformat(h["at"]) for h in history if h.get("status") == "routed"), None)
        if routed and claimed:
            outcome.stages_ms["receipt to routed"].append((routed - received).total_seconds() * 1000)
            outcome.stages_ms["routed to claimed"].append((claimed - routed).total_seconds() * 1000)
            outcome.stages_ms["claimed to delivered"].append((done - claimed).total_seconds() * 1000)
    outcome.latencies_ms.sort()
    outcome.first_received = min(received_all, default=0.0)
    outcome.last_delivered = max(outcome.delivered_at, default=0.0)
    return outcome


def ledger_entries(server_url: str) -> int:
    """Postings applied by all the sandbox's systems, counted in the sandbox's own database."""
    import psycopg

    with psycopg.connect(f"{server_url}/controltower_sandbox") as conn:
        return conn.execute("SELECT count(*) FROM sandbox_ledgerentry").fetchone()[0]
