"""The bench's output: one table of figures against references and goals, notes that say where the
time and memory go, the machine and versions; the same as JSON in bench/results/latest.json."""

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

import psutil

from bench.monitor import OTHERS
from bench.stack import REPO

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
LOAD_GENERATOR = "bench (load generator)"


@dataclass
class Figure:
    key: str
    name: str
    value: float | None  # None: not measured (the notes say why)
    unit: str
    reference: float | None = None
    reference_name: str = ""
    min_ratio: float | None = None  # goal: value >= min_ratio * reference
    below: float | None = None  # goal: value < below (<= when inclusive)
    inclusive: bool = False

    @property
    def ratio(self) -> float | None:
        return self.value / self.reference if self.value is not None and self.reference else None

    @property
    def goal(self) -> str:
        if self.min_ratio is not None:
            return f">= {self.min_ratio:.0%}"
        if self.below is not None:
            return f"{'<=' if self.inclusive else '<'} {self.below:,.0f} {self.unit}"
        return ""

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        if self.min_ratio is not None:
            return self.ratio is not None and self.ratio >= self.min_ratio
        if self.below is not None:
            return self.value <= self.below if self.inclusive else self.value < self.below
        return None

    def row(self) -> list[str]:
        value = "n/a" if self.value is None else f"{_number(self.value)} {self.unit}"
        reference = f"{_number(self.reference)} ({self.reference_name})" if self.reference else ""
        ratio = f"{self.ratio:.0%}" if self.ratio is not None else ""
        return [self.name, value, reference, ratio, self.goal, {True: "yes", False: "NO", None: ""}[self.met]]


def _number(value: float) -> str:
    return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"


def table(figures: list[Figure]) -> str:
    rows = [["figure", "measured", "reference", "ratio", "goal", "met?"], *(f.row() for f in figures)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _listing(values: dict, unit: str = "") -> str:
    return ", ".join(f"{key} {value}{unit}" for key, value in values.items())


def _stack_cpu(per_event: dict[str, float]) -> str:
    """'T ms (a x, b y, c z)': the stack's CPU per event, without the load generator and other processes."""
    stack = {group: ms for group, ms in per_event.items() if group not in (OTHERS, LOAD_GENERATOR)}
    top = dict(sorted(stack.items(), key=lambda item: -item[1])[:3])
    return f"{sum(stack.values()):.1f} ms ({_listing(top, ' ms')})"


def notes(figures: list[Figure], details: dict) -> str:
    env, s, cpu = details["environment"], details["settings"], details["cpu_ms_per_event"]
    ingest, e2e, lat = details["single_event_ingest"], details["end_to_end"], details["latency"]
    batch, mem, work = details["batch_ingest"], details["memory"], details["work_per_delivered_event"]
    lines = [
        f"machine: {env['nproc']} CPUs, {env['memory_gib']} GiB RAM; versions: {_listing(env['versions'])}",
        f"stack: uvicorn --workers {s['web_workers']}, celery worker prefork -c 2, beat, sandbox, PostgreSQL, "
        f"Redis; the load comes from this process (not counted in memory); phases of {s['seconds']:g} s",
        f"single-event ingest: {ingest['accepted']:,} accepted, {ingest['errors']} errors; response p50 "
        f"{ingest['response_p50_ms']} ms, p99 {ingest['response_p99_ms']} ms"
        + (f"; first error: {ingest['first_error']}" if ingest["errors"] else ""),
        f"end-to-end: {e2e['delivered']:,} of {e2e['transactions']:,} delivered"
        f"{'' if e2e['drained'] else ' (NOT all within the drain timeout)'}; {e2e['delivered_per_s_during_load']:,}"
        f" ev/s while ingest ran, the last {e2e['drain_s_after_load']} s after it stopped; then "
        f"{e2e['wakeups_queued_when_delivered']:,} Celery wake-ups were still queued (gone "
        f"{e2e['wakeups_gone_after_s']} s later); the sandbox ledgers hold {e2e['sandbox_ledger_entries_total']:,} "
        "entries in all",
        f"latency: {lat['delivered']:,} of {lat['transactions']:,} delivered, max {lat['max_ms']} ms; median "
        + _listing(lat["stage_medians_ms"], " ms"),
        "batch ingest: endpoint not available" if not batch["available"] else
        f"batch ingest: {batch['accepted']:,} accepted, {batch['errors']} errors, response p50 "
        f"{batch['response_p50_ms']:,} ms a request" + (f"; first error: {batch['first_error']}"
                                                          if batch["errors"] else ""),
        f"memory: PSS peak {mem['peak_pss_mib']} MiB over {mem['processes_at_peak']} processes; RSS sum peak "
        f"{mem['peak_rss_sum_mib']} MiB (counts shared pages once per process), USS sum peak "
        f"{mem['peak_uss_sum_mib']} MiB; {mem['samples']} samples",
        "CPU ms per accepted event while single-event ingest ran: " + _listing(cpu["ingest_phase"]),
        "CPU ms per delivered event, from ingest start until all delivered and no wake-up left: "
        + _listing(cpu["ingest_until_delivered"]),
        *[f"work per delivered event in the {db} database: {_listing(counts)}" for db, counts in work["postgres"].items()],
        "Celery tasks per delivered event: " + _listing(work["celery_tasks"]),
    ]
    why = {
        "single_ingest": f"single-event ingest: the stack spends {_stack_cpu(cpu['ingest_phase'])} of CPU per "
                         f"accepted event; GET /healthz alone peaks at {details['web_floor_healthz']['events_per_s']:,}"
                         " req/s on this web server",
        "batch_ingest": f"batch ingest: the stack spends {_stack_cpu(cpu.get('batch_phase', {}))} of CPU per accepted "
                        "event, while the worker also routes the batches already stored",
        "end_to_end": f"end-to-end: the stack spends {_stack_cpu(cpu['ingest_until_delivered'])} of CPU per "
                      f"delivered event; per event the tower's database sees "
                      f"{work['postgres'].get('controltower', {}).get('xact_commit')} commits and "
                      f"{work['postgres'].get('controltower', {}).get('sessions')} new connections, the worker runs "
                      f"{sum(work['celery_tasks'].values()):.2f} Celery tasks",
        "latency_p99": "latency: median " + _listing(lat["stage_medians_ms"], " ms")
                       + f"; under single-event load the median was {_listing(e2e['stage_medians_ms'], ' ms')}",
        "memory": "memory: PSS at the peak by process group: " + _listing(mem["pss_mib_by_group_at_peak"], " MiB"),
    }
    missed = [why[f.key] for f in figures if f.met is False and f.key in why]
    if missed:
        lines += ["", "where the goals are missed:", *(f"  {line}" for line in missed)]
    others = details["others_cpu_share"]
    if max(others.values()) > 0.05:
        lines += ["", f"WARNING: other processes used {others['references']:.0%} of this machine's CPU during the "
                      f"references and {others['tower_phases']:.0%} during the tower's phases; the figures are low "
                      "and noisy: run again on a quiet machine"]
    return "\n".join(lines)


def write_json(figures: list[Figure], details: dict) -> Path:
    RESULTS.parent.mkdir(exist_ok=True)
    data = {"figures": [asdict(f) | {"ratio": f.ratio, "goal": f.goal, "met": f.met} for f in figures], **details}
    RESULTS.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return RESULTS


def environment(server_url: str, redis_url: str) -> dict:
    """The machine and the versions measured."""
    import psycopg
    import redis

    with psycopg.connect(f"{server_url}/postgres") as conn:
        postgres = conn.execute("SHOW server_version").fetchone()[0]
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "loadavg_at_start": os.getloadavg(),
        "platform": platform.platform(),
        "versions": {
            "Control Tower": _code_version(), "PostgreSQL": postgres,
            "Redis": redis.Redis.from_url(redis_url).info("server")["redis_version"],
            "Python": platform.python_version(), "Django": version("django"), "Celery": version("celery"),
            "uvicorn": version("uvicorn"), "psycopg": version("psycopg"),
        },
    }


def _code_version() -> str:
    """The commit measured, marked when tracked files differ from it (read-only git)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + (" + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else "")
