"""Which Celery queue each pipeline task goes to (CELERY_TASK_ROUTES points here).

Queues isolate workloads (DESIGN §2): routing work, deliveries per latency class, and
maintenance (sweepers, replays), so a backlog in one cannot starve another.
"""

from integrations.choices import LatencyClass

INGEST_QUEUE = "ingest"
MAINTENANCE_QUEUE = "maintenance"
# Every queue a worker must consume to run the whole pipeline (the demo's and compose's workers).
ALL_QUEUES = "ingest,deliver.immediate,deliver.near_real_time,deliver.batch,maintenance"


def route_task(name, args, kwargs, options, task=None, **kw):
    if name == "integrations.tasks.route_received":
        return {"queue": INGEST_QUEUE}
    if name == "integrations.tasks.deliver_due":
        return {"queue": LatencyClass(kwargs.get("latency_class", LatencyClass.IMMEDIATE)).queue}
    return {"queue": MAINTENANCE_QUEUE}
