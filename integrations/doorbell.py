"""Ringing the workers. Redis is only the doorbell: rows in PostgreSQL are the record.

A ring that cannot reach the broker is logged and dropped; the sweeper finds the waiting rows
and rings again. After a failed ring we stay quiet for a few seconds, so that API calls made
while Redis is down do not each wait for a connection timeout.
"""

import logging
import time

from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)
QUIET_AFTER_FAILURE_S = 5.0
_quiet_until = 0.0


def _ring(task_name: str, countdown: float | None = None, **kwargs) -> bool:
    global _quiet_until
    if time.monotonic() < _quiet_until:
        return False
    from integrations import tasks

    try:
        getattr(tasks, task_name).apply_async(kwargs=kwargs, countdown=countdown, retry=False)
        return True
    except (OperationalError, OSError) as e:
        _quiet_until = time.monotonic() + QUIET_AFTER_FAILURE_S
        logger.warning("broker unreachable, %s not rung (the sweeper will): %s", task_name, e)
        return False


def ring_router() -> bool:
    return _ring("route_received")


def ring_deliveries(latency_class: str, *, countdown: float | None = None) -> bool:
    """Wake a delivery worker now, or after `countdown` seconds (when a retry falls due)."""
    return _ring("deliver_due", countdown=countdown, latency_class=latency_class)


def ring_sweeper() -> bool:
    return _ring("sweep")


def ring_replay(job_id: int, *, countdown: float | None = None) -> bool:
    return _ring("replay_run", countdown=countdown, job_id=job_id)
