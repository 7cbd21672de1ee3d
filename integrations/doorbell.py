"""Ringing the workers. Redis is only the doorbell: rows in PostgreSQL are the record.

A ring that cannot reach the broker is logged and dropped; the sweeper finds the waiting rows
and rings again. After a failed ring we stay quiet for a few seconds, so that API calls made
while Redis is down do not each wait for a connection timeout.
"""

import logging
import os
import threading
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


ROUTER_RING_WINDOW_S = 0.02
_router_lock = threading.Lock()
_router_wanted = False
_router_ringer: threading.Thread | None = None


def ring_router() -> bool:
    """Wake the router, at most once per window: one wake-up routes a whole batch of received rows.

    Ingest commits one row per request; a publish per row would flood the queue with wake-ups that
    find nothing to do. So the first ring of a window goes out at once and later ones only ask for
    one more ring at the end of the window (sent by a small thread), so no row waits for the sweeper.
    """
    global _router_wanted, _router_ringer
    with _router_lock:
        if _router_ringer is not None:  # a window is open: its thread sends one more ring
            _router_wanted = True
            return True
        _router_ringer = threading.Thread(target=_router_trailing_rings, daemon=True, name="router-doorbell")
        _router_ringer.start()
    return _ring("route_received")


def _router_trailing_rings() -> None:
    global _router_wanted, _router_ringer
    while True:
        time.sleep(ROUTER_RING_WINDOW_S)
        with _router_lock:
            if not _router_wanted:
                _router_ringer = None  # under the lock: the next ring opens a new window itself
                return
            _router_wanted = False
        _ring("route_received")


def _after_fork_in_child() -> None:
    # A forked worker process has no ringing thread, whatever its parent had.
    global _router_wanted, _router_ringer, _router_lock
    _router_lock, _router_wanted, _router_ringer = threading.Lock(), False, None


os.register_at_fork(after_in_child=_after_fork_in_child)


def ring_deliveries(latency_class: str, *, countdown: float | None = None) -> bool:
    """Wake a delivery worker now, or after `countdown` seconds (when a retry falls due)."""
    return _ring("deliver_due", countdown=countdown, latency_class=latency_class)


def ring_sweeper() -> bool:
    return _ring("sweep")


def ring_replay(job_id: int, *, countdown: float | None = None) -> bool:
    return _ring("replay_run", countdown=countdown, job_id=job_id)
