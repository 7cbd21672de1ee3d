"""Work counters read around a phase: PostgreSQL's per-database statistics, Celery's task totals and
the wake-ups still waiting in the broker.

Divided by the events of the phase they say how much work one event costs: new database
connections (sessions), transactions, rows written, Celery tasks run. PostgreSQL flushes a
backend's statistics about once a second, so a phase's last second may be partly missing.
"""

import time

import psycopg
import redis

DATABASES = ("controltower", "controltower_sandbox")
PG_COUNTERS = ("sessions", "xact_commit", "xact_rollback", "tup_inserted", "tup_updated", "tup_returned")


def pg_counters(server_url: str) -> dict[str, dict[str, int]]:
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        rows = conn.execute(f"SELECT datname, {', '.join(PG_COUNTERS)} FROM pg_stat_database "
                            "WHERE datname = ANY(%s)", [list(DATABASES)]).fetchall()
    return {name: dict(zip(PG_COUNTERS, values, strict=True)) for name, *values in rows}


def celery_task_totals() -> dict[str, int]:
    """Tasks the worker has run since it started, by task name."""
    from controltower.celery import app

    totals: dict[str, int] = {}
    for stats in (app.control.inspect(timeout=5, limit=1).stats() or {}).values():
        for name, count in stats.get("total", {}).items():
            totals[name] = totals.get(name, 0) + count
    return totals


def per_event(before: dict, after: dict, events: int) -> dict:
    """(after - before) / events, for flat or one-level nested dicts of counts.

    Dotted keys keep their last part: integrations.tasks.route_received becomes route_received.
    """
    result = {}
    for key, value in after.items():
        if isinstance(value, dict):
            result[key] = per_event(before.get(key, {}), value, events)
        else:
            result[key.rsplit(".", 1)[-1]] = round((value - before.get(key, 0)) / max(events, 1), 2)
    return result


def queued_wakeups(redis_url: str) -> int:
    """Tasks waiting in the pipeline's queues plus those a worker has taken but not yet acknowledged."""
    from integrations.queues import ALL_QUEUES

    broker = redis.Redis.from_url(redis_url)
    return sum(broker.llen(queue) for queue in ALL_QUEUES.split(",")) + broker.hlen("unacked")


def wait_until_no_wakeups(redis_url: str, timeout_s: float) -> None:
    """Wait until the pipeline's queues are empty, at most `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while queued_wakeups(redis_url) and time.monotonic() < deadline:
        time.sleep(0.2)
