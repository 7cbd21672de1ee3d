"""`controltower demo` runs the whole product from one command and stops all of it on SIGTERM."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

pytestmark = pytest.mark.pipeline


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_demo_serves_healthz_within_60_s_and_stops_everything_on_sigterm(tmp_path):
    web, sandbox = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CT_EMBEDDED",
                                                             "DJANGO_SETTINGS_MODULE", "SECRET_KEY"}}
    env.update(CT_VAR_DIR=str(tmp_path / "var"), PORT=str(web), SANDBOX_PORT=str(sandbox), CT_TRAFFIC_RATE="0")
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "controltower.cli", "demo"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(process.stdout), daemon=True).start()
    try:
        while time.monotonic() - started < 60:
            assert process.poll() is None, "".join(output)
            try:
                if httpx.get(f"http://127.0.0.1:{web}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("no /healthz within 60 s:\n" + "".join(output))
        # The banner follows once the sandbox is linked: a login and the systems' keys.
        deadline = time.monotonic() + 30
        while "Press Ctrl-C to stop." not in "".join(output) and time.monotonic() < deadline:
            time.sleep(0.2)
        banner = "".join(output)
        assert f"Control Tower is running at http://127.0.0.1:{web}/" in banner
        assert "Password for all of them: " in banner and "ERP-S4       ct_" in banner
        assert httpx.get(f"http://127.0.0.1:{sandbox}/sandbox/healthz", timeout=2).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{web}/readyz", timeout=5).json()["status"] == "ok"
        pg_port = int((tmp_path / "var" / "pg" / "postmaster.pid").read_text().splitlines()[3])
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        code = process.wait(40)
    assert code == 0, "".join(output)
    for port in (web, sandbox, pg_port):
        assert not accepts(port), f"port {port} still open after stop"
