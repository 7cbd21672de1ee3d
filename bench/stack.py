"""The stack under test: a private embedded PostgreSQL and Redis, migrated and seeded, and the
product's processes (web, worker, beat, sandbox) started as `controltower demo` starts them.

Everything lives in a fresh temporary CT_VAR_DIR, so a bench never touches the project's var/
or a running demo; the directory is removed when the bench exits, after the services stop.
"""

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from controltower.runtime import free_port

REPO = Path(__file__).resolve().parent.parent
# The product's processes; each is sampled with its whole process tree.
PRODUCT_PROCESSES = ("web", "worker", "beat", "sandbox")


def private_runtime() -> Path:
    """Point the embedded runtime at a fresh temp dir and start it (call before anything imports settings)."""
    var_dir = Path(tempfile.mkdtemp(prefix="ct-bench-"))
    # Registered before django.setup() registers the services' release, so it runs after it.
    atexit.register(shutil.rmtree, var_dir, ignore_errors=True)
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SANDBOX_DATABASE_URL"):
        os.environ.pop(name, None)
    os.environ.update(CT_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="controltower.settings")
    import django

    django.setup()  # starts PostgreSQL and Redis, registers this process as their user
    return var_dir


def postgres_server_url() -> str:
    """The embedded PostgreSQL server, without a database name: postgresql://postgres@127.0.0.1:PORT."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    return f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}"



@dataclass
class Stack:
    var_dir: Path
    web_workers: int
    web_url: str = ""
    sandbox_url: str = ""
    api_key: str = ""
    env: dict = field(default_factory=dict)
    children: dict[str, subprocess.Popen] = field(default_factory=dict)

    def prepare(self) -> None:
        """Migrate both databases and seed the demo plants, systems, rules and keys."""
        import django
        from django.conf import settings
        from django.core.management import call_command

        from controltower.demo import demo_seed

        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "SECRET_KEY": settings.SECRET_KEY, "CT_EMBEDDED": "1",
                    "LOG_LEVEL": "WARNING"}
        self.web_url = f"http://127.0.0.1:{free_port()}"
        self.sandbox_url = f"http://127.0.0.1:{free_port()}"
        call_command("migrate", verbosity=0)
        subprocess.run([sys.executable, "-m", "django", "migrate", "--settings", "sandbox.settings", "-v0"],
                       env=self.env, check=True)
        self.api_key = demo_seed(sandbox_url=self.sandbox_url).api_keys["ERP-S4"]
        django.db.connections.close_all()  # no connection of ours may be shared with a child

    def start(self) -> None:
        from integrations.queues import ALL_QUEUES

        python = sys.executable
        web = [python, "-m", "uvicorn", "controltower.asgi:application", "--host", "127.0.0.1",
               "--port", self.web_url.rsplit(":", 1)[1], "--log-level", "warning"]
        if self.web_workers > 1:
            web += ["--workers", str(self.web_workers)]
        sandbox_env = {**self.env, "DJANGO_SETTINGS_MODULE": "sandbox.settings"}
        self._start("web", web, self.env)
        self._start("worker", [python, "-m", "celery", "-A", "controltower", "worker", "-Q", ALL_QUEUES, "-c", "2",
                               "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning",
                               "-n", f"bench-{os.getpid()}@%h"], self.env)
        self._start("beat", [python, "-m", "celery", "-A", "controltower", "beat", "-l", "warning",
                             "-s", str(self.var_dir / "celerybeat-schedule")], self.env)
        self._start("sandbox", [python, "-m", "uvicorn", "sandbox.asgi:application", "--host", "127.0.0.1",
                                "--port", self.sandbox_url.rsplit(":", 1)[1], "--log-level", "warning"],
                    sandbox_env)
        self.wait_for_http(f"{self.web_url}/healthz")
        self.wait_for_http(f"{self.sandbox_url}/sandbox/healthz")

    def _start(self, name: str, command: list[str], env: dict) -> None:
        log = (self.var_dir / f"{name}.log").open("w")
        # A session of its own: a terminal's Ctrl-C reaches only the bench, which stops children in order.
        self.children[name] = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True, cwd=REPO)

    def wait_for_http(self, url: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if httpx.get(url, timeout=1).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s")

    def check_alive(self) -> None:
        for name, process in self.children.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode}:\n{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 30) -> str:
        return "\n".join((self.var_dir / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout_s: float = 10) -> None:
        for process in reversed(self.children.values()):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for process in self.children.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.children.clear()

    def processes(self) -> dict[str, list[psutil.Process]]:
        """Every process of the running stack by group: product trees, PostgreSQL, Redis."""
        groups = {name: _tree(self.children[name].pid) for name in PRODUCT_PROCESSES if name in self.children}
        groups["postgres"] = _tree(postmaster_pid(self.var_dir))
        groups["redis"] = _tree(redis_pid(self.var_dir))
        return groups


def postmaster_pid(var_dir: Path) -> int:
    return int((var_dir / "pg" / "postmaster.pid").read_text().split("\n", 1)[0])


def redis_pid(var_dir: Path) -> int:
    return json.loads((var_dir / "runtime.json").read_text())["redis_pid"]


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []
