"""Celery tasks: thin wake-ups. Each claims its rows from PostgreSQL and calls one service."""

import dataclasses

from celery import shared_task

from integrations.doorbell import ring_router
from integrations.services.delivery import deliveries_deliver_due
from integrations.services.replay import replay_job_run
from integrations.services.routing import transactions_route_received
from integrations.services.sweep import pipeline_sweep

ROUTE_BATCH_SIZE = 100


@shared_task(name="integrations.tasks.route_received")
def route_received() -> int:
    # One batch, then ring again if there may be more: a long ingest burst must not keep every
    # worker process routing while deliveries wait.
    routed = transactions_route_received(batch_size=ROUTE_BATCH_SIZE)
    if routed == ROUTE_BATCH_SIZE:
        ring_router()
    return routed


@shared_task(name="integrations.tasks.deliver_due")
def deliver_due(latency_class: str = "immediate") -> int:
    return deliveries_deliver_due(latency_class=latency_class)


@shared_task(name="integrations.tasks.sweep")
def sweep() -> dict:
    return dataclasses.asdict(pipeline_sweep())


@shared_task(name="integrations.tasks.replay_run")
def replay_run(job_id: int) -> int:
    return replay_job_run(job_id=job_id)
