"""The sweeper: find work whose wake-up was lost and ring for it again.

Redis may drop a wake-up (Redis down, a worker killed after taking the message). The rows in
PostgreSQL still say what is waiting, so a periodic sweep is enough to resume everything.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from integrations.choices import TransactionStatus
from integrations.doorbell import ring_deliveries, ring_replay, ring_router
from integrations.models import Delivery, ReplayJob, Transaction
from integrations.services.delivery import leases_expire
from integrations.services.gates import held_release
from integrations.services.sequencing import parked_release, sequence_conflicts_raise

# Rows younger than this still have their own wake-up on its way.
GRACE = timedelta(seconds=2)


@dataclass(frozen=True)
class SweepReport:
    leases_expired: int
    held_released: int
    parked_released: int
    sequence_conflicts: int
    router_rung: bool
    replays_rung: int
    delivery_classes_rung: tuple[str, ...]


def pipeline_sweep() -> SweepReport:
    now = timezone.now()
    expired = leases_expire()
    released = held_release(now)
    parked = parked_release()
    conflicts = sequence_conflicts_raise(now)
    waiting = Transaction.objects.filter(status=TransactionStatus.RECEIVED, received_at__lt=now - GRACE).exists()
    router_rung = ring_router() if waiting else False
    classes = tuple(
        Delivery.objects.due(now - GRACE).order_by().values_list("latency_class", flat=True).distinct()
    )
    for latency_class in classes:
        ring_deliveries(latency_class)
    # A replay job whose ring was lost stays pending; one still running holds its row, and the
    # run rung here leaves at once.
    replays = list(ReplayJob.objects.filter(status__in=[ReplayJob.Status.PENDING, ReplayJob.Status.RUNNING],
                                            created_at__lt=now - GRACE).values_list("pk", flat=True))
    for job_id in replays:
        ring_replay(job_id)
    return SweepReport(leases_expired=expired, held_released=released, parked_released=parked,
                       sequence_conflicts=conflicts, router_rung=router_rung, replays_rung=len(replays),
                       delivery_classes_rung=classes)
