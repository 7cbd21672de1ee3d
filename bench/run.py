"""`python -m bench.run`: Control Tower's figures next to the raw references of this machine (issue 4).

Starts a private stack on the embedded services, measures the raw references, then the tower's
single-event ingest, end-to-end delivery, latency at half the sustained rate, batch ingest and
the stack's peak memory; prints one table with notes and writes bench/results/latest.json.
Nothing is asserted. See bench/README.md.
"""

import argparse
import asyncio
import signal
import sys
import time

from bench.stack import Stack, postgres_server_url, private_runtime

MIB = 1024**2


def say(message: str) -> None:
    print(f"· {message}", flush=True)


def parse_args(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="length of each load phase (default 10)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent ingest clients (default 8)")
    parser.add_argument("--web-workers", type=int, default=2, help="uvicorn worker processes (default 2)")
    parser.add_argument("--drain-timeout", type=float, default=120,
                        help="longest wait for a phase's events to be delivered, in seconds (default 120)")
    parser.add_argument("--quick", action="store_true", help="3-s phases and short references: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.drain_timeout = min(args.seconds, 3), min(args.drain_timeout, 60)
    return args


def _stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background (`&`)
    say("starting a private embedded PostgreSQL and Redis")
    stack = Stack(private_runtime(), web_workers=args.web_workers)
    try:
        figures, details = measure(stack, args)
    except KeyboardInterrupt:
        print("interrupted; stopping", flush=True)
        return 130
    finally:
        stack.stop()  # then, at exit, PostgreSQL and Redis, then the temp dir
    from bench.report import notes, table, write_json

    print(f"\n{table(figures)}\n\n{notes(figures, details)}")
    path = write_json(figures, details)
    print(f"\nwritten to {path.relative_to(path.parents[2])}")
    return 0


def measure(stack: Stack, args) -> tuple[list, dict]:
    from django.conf import settings

    from bench import counters
    from bench.load import ingest_batches, ingest_clients, ingest_paced, web_floor
    from bench.monitor import MemorySampler, cpu_by_group, cpu_snapshot, others_share
    from bench.outcomes import delivered, ledger_entries, wait_until_final
    from bench.references import celery_noop_reference, postgres_references
    from bench.report import Figure, environment

    say("migrating and seeding")
    stack.prepare()
    server_url, redis_url = postgres_server_url(), settings.REDIS_URL
    details = {"environment": environment(server_url, redis_url),
               "settings": {"seconds": args.seconds, "clients": args.clients, "web_workers": args.web_workers,
                            "quick": args.quick}}

    def cpu_per_event(before, after, events: int) -> dict[str, float]:
        used = sorted(cpu_by_group(before, after).items(), key=lambda item: -item[1])
        return {group: round(seconds * 1000 / max(events, 1), 2) for group, seconds in used}

    def drain(phase: str, since: float) -> bool:
        return wait_until_final(phase, since, timeout_s=args.drain_timeout, check_alive=stack.check_alive)

    say("raw references: PostgreSQL one-row commits and 1,000-row batches, Celery no-op tasks")
    cpu_refs = cpu_snapshot(stack.processes)
    refs = postgres_references(server_url, runs=1 if args.quick else 3, seconds=1 if args.quick else 1.5)
    refs["celery_noop"] = celery_noop_reference(redis_url, tasks=1000 if args.quick else 5000,
                                                log_path=stack.var_dir / "noop-worker.log")
    details["references"] = {name: vars(ref) for name, ref in refs.items()}
    details["others_cpu_share"] = {"references": round(others_share(cpu_refs, cpu_snapshot(stack.processes)), 3)}

    say(f"starting web (uvicorn, {args.web_workers} worker process(es)), worker, beat and sandbox")
    stack.start()
    say("warming up")
    warm_start = time.time()
    asyncio.run(ingest_clients(stack.web_url, stack.api_key, clients=2, seconds=1, phase="warm"))
    wait_until_final("warm", warm_start, timeout_s=60, check_alive=stack.check_alive)
    say(f"web floor: GET /healthz from {args.clients} clients for {min(args.seconds, 3):g} s")
    floor = asyncio.run(web_floor(stack.web_url, clients=args.clients, seconds=min(args.seconds, 3)))

    with MemorySampler(stack.processes) as memory:
        say(f"sustained single-event ingest: {args.clients} clients for {args.seconds:g} s")
        pg_start, tasks_start = counters.pg_counters(server_url), counters.celery_task_totals()
        start, cpu_start = time.time(), cpu_snapshot(stack.processes)
        ingest = asyncio.run(ingest_clients(stack.web_url, stack.api_key, clients=args.clients,
                                            seconds=args.seconds, phase="ingest"))
        load_end, cpu_load_end = time.time(), cpu_snapshot(stack.processes)
        say(f"  {ingest.rate:,.0f} events/s accepted; waiting until they are all delivered")
        drained = drain("ingest", start)
        # Wake-ups rung per event may outlive the work they announce: their cost counts, and the
        # latency phase starts without them.
        drained_at, leftover = time.monotonic(), counters.queued_wakeups(redis_url)
        counters.wait_until_no_wakeups(redis_url, args.drain_timeout)
        leftover_s, cpu_drain_end = time.monotonic() - drained_at, cpu_snapshot(stack.processes)
        e2e = delivered("ingest", start)
        time.sleep(1)  # PostgreSQL flushes its backends' statistics about once a second
        work = {"postgres": counters.per_event(pg_start, counters.pg_counters(server_url), e2e.delivered),
                "celery_tasks": counters.per_event(tasks_start, counters.celery_task_totals(), e2e.delivered)}

        # Above the delivery rate, latency would only measure a growing backlog: take the lower rate.
        half = max(0.5, min(ingest.rate, e2e.rate()) / 2)
        say(f"latency: one event every {1000 / half:,.0f} ms ({half:,.1f} events/s) for {args.seconds:g} s")
        paced_start = time.time()
        paced = asyncio.run(ingest_paced(stack.web_url, stack.api_key, rate=half, seconds=args.seconds,
                                         phase="lat"))
        paced_drained = drain("lat", paced_start)
        latency = delivered("lat", paced_start)

        # One batch in flight per web process: more would only queue in the server.
        say(f"batch ingest: {args.web_workers} client(s) posting 1,000 events a request for {args.seconds:g} s")
        cpu_batch_start = cpu_snapshot(stack.processes)
        batch = asyncio.run(ingest_batches(stack.web_url, stack.api_key, clients=args.web_workers,
                                           seconds=args.seconds, phase="batch"))
        cpu_end = cpu_snapshot(stack.processes)
        memory.sample()
    if batch.unavailable:
        say("batch ingest: endpoint not available")

    details.update({
        "web_floor_healthz": floor.summary(),
        "single_event_ingest": ingest.summary(),
        "end_to_end": {"transactions": e2e.transactions, "delivered": e2e.delivered, "drained": drained,
                       "events_per_s": round(e2e.rate(), 1),
                       "delivered_per_s_during_load": round(e2e.delivered_by(load_end) / (load_end - start), 1),
                       "drain_s_after_load": round(max(0.0, e2e.last_delivered - load_end), 1),
                       "stage_medians_ms": e2e.stage_medians(), "wakeups_queued_when_delivered": leftover,
                       "wakeups_gone_after_s": round(leftover_s if leftover else 0.0, 1),
                       "sandbox_ledger_entries_total": ledger_entries(server_url)},
        "latency": {"offered_events_per_s": round(half, 2), "sent": paced.summary(), "drained": paced_drained,
                    "transactions": latency.transactions, "delivered": latency.delivered, **latency.latency(),
                    "stage_medians_ms": latency.stage_medians()},
        "batch_ingest": {"available": not batch.unavailable, **batch.summary()},
        "memory": {"measure": "PSS summed over the stack's processes (bench process excluded)",
                   "peak_pss_mib": round(memory.peak.pss / MIB), "peak_rss_sum_mib": round(memory.peak.rss / MIB),
                   "peak_uss_sum_mib": round(memory.peak.uss / MIB), "processes_at_peak": memory.peak.processes,
                   "samples": memory.peak.samples,
                   "pss_mib_by_group_at_peak": {g: round(b / MIB) for g, b in memory.peak.pss_by_group.items()}},
        "cpu_ms_per_event": {"ingest_phase": cpu_per_event(cpu_start, cpu_load_end, ingest.accepted),
                             "ingest_until_delivered": cpu_per_event(cpu_start, cpu_drain_end, e2e.delivered),
                             "batch_phase": cpu_per_event(cpu_batch_start, cpu_end, batch.accepted)},
        "work_per_delivered_event": work,
    })
    details["others_cpu_share"]["tower_phases"] = round(others_share(cpu_start, cpu_end), 3)

    pg_one, pg_batch, noop = refs["pg_one_row_commit"], refs["pg_batched"], refs["celery_noop"]
    figures = [
        Figure("pg_one_row", "raw: PostgreSQL one-row commits", pg_one.rate, "rows/s"),
        Figure("pg_batched", "raw: PostgreSQL 1,000 rows a transaction", pg_batch.rate, "rows/s"),
        Figure("celery_noop", "raw: Celery no-op tasks", noop.rate, "tasks/s"),
        Figure("web_floor", f"web floor: GET /healthz ({args.clients} clients)", floor.rate, "req/s"),
        Figure("single_ingest", f"single-event ingest ({args.clients} clients)", ingest.rate, "ev/s",
               pg_one.rate, "one-row", min_ratio=0.40),
        Figure("batch_ingest", f"batch ingest (1,000 a request, {args.web_workers} clients)", None if batch.unavailable else batch.rate, "ev/s",
               pg_batch.rate, "batched", min_ratio=0.50),
        Figure("end_to_end", "end-to-end delivery", e2e.rate() if e2e.delivered else None, "ev/s", noop.rate,
               "no-op", min_ratio=1.00),
        *[Figure(f"latency_{p}", f"latency {p} at {half:,.1f} ev/s, immediate", latency.latency()[f"{p}_ms"], "ms",
                 below=250 if p == "p99" else None) for p in ("p50", "p95", "p99")],
        Figure("memory", "peak memory of the stack (PSS)", memory.peak.pss / MIB, "MiB", below=1024,
               inclusive=True),
    ]
    return figures, details


if __name__ == "__main__":
    sys.exit(main())
