"""`controltower demo`: run the whole product from one command.

Starts (or reuses) the embedded PostgreSQL and Redis, migrates, seeds the demo, then runs the
web server, a Celery worker, Celery beat, the sandbox and its traffic generator as child
processes with prefixed logs. Ctrl-C or SIGTERM stops the children, then the embedded services.
"""

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import httpx

from integrations.queues import ALL_QUEUES


@dataclass
class Child:
    name: str
    process: subprocess.Popen


def _pipe_logs(child: Child) -> None:
    for line in child.process.stdout:
        sys.stdout.write(f"{child.name:<8}| {line}")
        sys.stdout.flush()


def start_child(name: str, command: list[str], env: dict) -> Child:
    # A new session per child: the terminal's Ctrl-C reaches only us, and we stop children in order.
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               bufsize=1, start_new_session=True)
    child = Child(name, process)
    threading.Thread(target=_pipe_logs, args=(child,), daemon=True).start()
    return child


def stop_children(children: list[Child], timeout_s: float = 10) -> None:
    for child in reversed(children):
        if child.process.poll() is None:
            os.killpg(child.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for child in children:
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()


def wait_for_http(url: str, timeout_s: float, children: list[Child]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for child in children:
            if child.process.poll() is not None:
                raise SystemExit(f"{child.name} exited with code {child.process.returncode} during start-up")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout_s:.0f} s")


def demo(args) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controltower.settings")
    import django

    django.setup()  # starts or reuses the embedded PostgreSQL and Redis; we own them if we started them
    from django.conf import settings
    from django.core.management import call_command

    from controltower.demo import demo_seed

    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SECRET_KEY": settings.SECRET_KEY, "CT_EMBEDDED": "1"}
    web_url = f"http://127.0.0.1:{settings.PORT}"
    sandbox_url = f"http://127.0.0.1:{settings.SANDBOX_PORT}"
    print(f"Migrating the tower and the sandbox databases ({settings.DATABASES['default']['NAME']})…", flush=True)
    call_command("migrate", verbosity=0)
    subprocess.run([sys.executable, "-m", "django", "migrate", "--settings", "sandbox.settings", "-v0"],
                   env=env, check=True)
    seed = demo_seed(sandbox_url=sandbox_url)
    # Nothing of ours may hold a database connection across the fork of child processes.
    django.db.connections.close_all()

    python = sys.executable
    children = [
        start_child("web", [python, "-m", "uvicorn", "controltower.asgi:application", "--host", args.host,
                            "--port", str(settings.PORT), "--log-level", "warning"], env),
        start_child("worker", [python, "-m", "celery", "-A", "controltower", "worker", "-Q", ALL_QUEUES,
                               "-c", str(args.concurrency), "--without-gossip", "--without-mingle",
                               "-l", "warning"], env),
        start_child("beat", [python, "-m", "celery", "-A", "controltower", "beat", "-l", "warning",
                             "-s", str(settings.BASE_DIR / "var" / "celerybeat-schedule")], env),
        start_child("sandbox", [python, "-m", "uvicorn", "sandbox.asgi:application", "--host", "127.0.0.1",
                                "--port", str(settings.SANDBOX_PORT), "--log-level", "warning"],
                    {**env, "DJANGO_SETTINGS_MODULE": "sandbox.settings", "SANDBOX_TOWER_URL": web_url}),
    ]
    stopping = threading.Event()

    def on_signal(signum, frame):
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        wait_for_http(f"{web_url}/healthz", 60, children)
        wait_for_http(f"{sandbox_url}/sandbox/healthz", 60, children)
        for code, key in seed.api_keys.items():  # each simulated system pushes with its own key
            httpx.put(f"{sandbox_url}/sandbox/{code}/outbound", json={"tower_url": web_url, "api_key": key},
                      timeout=5).raise_for_status()
        if args.traffic_rate > 0:
            children.append(start_child(
                "traffic", [python, "-m", "django", "sandbox_traffic", "--settings", "sandbox.settings",
                            "--rate", str(args.traffic_rate), "--plants", "1000,2000,3000"],
                {**env, "DJANGO_SETTINGS_MODULE": "sandbox.settings"}))
        print_banner(web_url, sandbox_url, seed)
        while not stopping.is_set():
            for child in children:
                if child.process.poll() is not None:
                    print(f"{child.name} exited with code {child.process.returncode}; stopping.", flush=True)
                    return 1
            stopping.wait(0.5)
        return 0
    finally:
        print("Stopping…", flush=True)
        stop_children(children)


def print_banner(web_url: str, sandbox_url: str, seed) -> None:
    lines = [
        "",
        f"Control Tower is running at {web_url}/",
        "  Sign in as admin (integration admin) or planner1000, supervisor2000, finance, viewer",
        f"  Password for all of them: {seed.password}",
        f"  API docs: {web_url}/api/docs/    Sandbox: {sandbox_url}/sandbox/healthz",
        "  API keys of the demo systems (shown once):",
        *[f"    {code:<12} {key}" for code, key in seed.api_keys.items()],
        "Press Ctrl-C to stop.",
        "",
    ]
    print("\n".join(lines), flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="controltower", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("demo", help="migrate, seed, and run web, worker, beat, sandbox and traffic")
    run.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    run.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
    run.add_argument("--traffic-rate", type=float, default=float(os.environ.get("CT_TRAFFIC_RATE", "0.2")),
                     help="orders released per second by the traffic generator (0: none)")
    args = parser.parse_args(argv)
    return demo(args)


if __name__ == "__main__":
    sys.exit(main())
