"""The raw references, measured in the same run on the same embedded PostgreSQL and Redis (research §4).

PostgreSQL: a scratch database with the research's `bench_msg` table (unique index on (source,
message_id), btree indexes on kind and received_at), the payload a ~1 KB event passed as Jsonb
so client-side JSON encoding is included; one connection over TCP 127.0.0.1; the table truncated
and checkpointed before each run. Celery: our own no-op app (bench/noop_app.py) on the tower's
worker settings, 1 worker, prefork -c 2, timed from the first enqueue to the last task done.
"""

import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis
from psycopg.types.json import Jsonb

from bench.events import released_event
from bench.stack import REPO

SCRATCH_DB = "bench_scratch"
DDL = (
    "CREATE TABLE bench_msg (id bigserial PRIMARY KEY, source varchar(64), message_id varchar(128),"
    " kind varchar(32), received_at timestamptz DEFAULT now(), payload jsonb)",
    "CREATE UNIQUE INDEX ON bench_msg (source, message_id)",
    "CREATE INDEX ON bench_msg (kind)",
    "CREATE INDEX ON bench_msg (received_at)",
)
INSERT = "INSERT INTO bench_msg (source, message_id, kind, payload) VALUES (%s, %s, %s, %s)"
BATCH_ROWS = 1000


@dataclass
class Reference:
    rate: float  # median of the runs, per second
    runs: list[float]
    note: str


def _row() -> tuple:
    event = released_event("ref")
    return event["source"], event["id"], event["type"], Jsonb(event)


@contextmanager
def scratch_database(server_url: str):
    """A connection to a fresh scratch database with the bench_msg table; the database is dropped after."""
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB}")
        admin.execute(f"CREATE DATABASE {SCRATCH_DB}")
        try:
            with psycopg.connect(f"{server_url}/{SCRATCH_DB}") as conn:
                for statement in DDL:
                    conn.execute(statement)
                conn.commit()
                yield conn
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)")


def _measure(conn: psycopg.Connection, write: Callable[[], int], *, runs: int, seconds: float) -> list[float]:
    rates = []
    for _ in range(runs):
        conn.execute("TRUNCATE bench_msg")
        conn.commit()
        conn.execute("CHECKPOINT")
        conn.commit()
        rows, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            rows += write()
        rates.append(rows / (time.perf_counter() - start))
    return rates


def postgres_references(server_url: str, *, runs: int, seconds: float) -> dict[str, Reference]:
    """(a) one-row commits/s and (c) rows/s batched 1,000 a transaction, on one connection."""
    with scratch_database(server_url) as conn:

        def one_row() -> int:
            conn.execute(INSERT, _row())  # psycopg opens the transaction: BEGIN, INSERT, COMMIT
            conn.commit()
            return 1

        def batch() -> int:
            with conn.cursor() as cursor:
                cursor.executemany(INSERT, [_row() for _ in range(BATCH_ROWS)])  # pipelined by psycopg 3
            conn.commit()
            return BATCH_ROWS

        one = _measure(conn, one_row, runs=runs, seconds=seconds)
        batched = _measure(conn, batch, runs=runs, seconds=seconds)
        payload_bytes = conn.execute("SELECT avg(pg_column_size(payload))::int FROM bench_msg").fetchone()[0]
        conn.commit()
    detail = f"{runs} runs of {seconds:g} s, payload pg_column_size {payload_bytes} B"
    return {
        "pg_one_row_commit": Reference(statistics.median(one), one, f"1 connection, BEGIN/INSERT/COMMIT; {detail}"),
        "pg_batched": Reference(statistics.median(batched), batched,
                                f"1 connection, {BATCH_ROWS} rows a transaction, executemany; {detail}"),
    }


def celery_noop_reference(redis_url: str, *, tasks: int, log_path: Path) -> Reference:
    """No-op tasks/s: `tasks` enqueued from this process to one worker, until the last is done."""
    broker = redis_url.rsplit("/", 1)[0] + "/1"  # a Redis database of its own, next to the tower's
    os.environ["BENCH_NOOP_BROKER"] = broker
    from bench import noop_app

    counter = redis.Redis.from_url(broker)
    counter.flushdb()
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bench.noop_app", "worker", "-Q", noop_app.QUEUE, "-c", "2",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning"],
        env={**os.environ}, stdout=log_path.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        cwd=REPO,
    )
    try:
        _run_noop(noop_app, counter, 8, worker, log_path)  # the worker is up and consuming
        counter.set(noop_app.COUNTER, 0)
        start = time.perf_counter()
        _run_noop(noop_app, counter, tasks, worker, log_path)
        elapsed = time.perf_counter() - start
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(15)
        counter.flushdb()
    rate = tasks / elapsed
    return Reference(rate, [rate], f"{tasks} tasks, enqueue to all done, prefork -c 2, prefetch 4, acks_late")


def _run_noop(noop_app, counter: redis.Redis, count: int, worker: subprocess.Popen, log_path: Path) -> None:
    for _ in range(count):
        noop_app.noop.delay()
    deadline = time.monotonic() + 60
    while int(counter.get(noop_app.COUNTER) or 0) < count:
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the no-op Celery worker did not finish:\n{log_path.read_text()[-2000:]}")
        time.sleep(0.005)
