"""A Celery app of our own for the no-op reference: the tower's worker settings, a task that only INCRs.

The INCR on a Redis counter lets the driver see completion without a result backend: one Redis
round trip per task, as in research §4. The broker is given in BENCH_NOOP_BROKER.
"""

import os

import redis
from celery import Celery

BROKER_URL = os.environ["BENCH_NOOP_BROKER"]
QUEUE = "bench.noop"
COUNTER = "bench:noop:done"

app = Celery("bench_noop", broker=BROKER_URL)
# As controltower/settings.py configures the tower's worker.
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_ignore_result=True,
    worker_prefetch_multiplier=4,
    broker_connection_retry_on_startup=True,
    task_default_queue=QUEUE,
)
_redis: redis.Redis | None = None


@app.task(name="bench.noop")
def noop() -> None:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(BROKER_URL)
    _redis.incr(COUNTER)
