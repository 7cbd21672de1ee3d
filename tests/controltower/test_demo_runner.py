"""`controltower demo` runs the whole product from one command and stops all of it on SIGTERM."""

import httpx
import pytest

from tests.fixtures.stack import DemoStack, accepts

pytestmark = pytest.mark.pipeline


def test_demo_serves_healthz_within_60_s_and_stops_everything_on_sigterm(tmp_path):
    stack = DemoStack(tmp_path / "var")
    try:
        healthy_after = stack.start()
        assert healthy_after < 60
        assert f"Control Tower is running at {stack.url}/" in stack.log
        assert stack.api_key("ERP-S4").startswith("ct_") and stack.password
        assert httpx.get(f"{stack.sandbox_url}/sandbox/healthz", timeout=2).status_code == 200
        assert httpx.get(f"{stack.url}/readyz", timeout=5).json()["status"] == "ok"
        pg_port, redis_port = stack.runtime["pg_port"], stack.runtime["redis_port"]
    finally:
        code = stack.stop()
    assert code == 0, stack.log
    for port in (stack.port, stack.sandbox_port, pg_port, redis_port):
        assert not accepts(port), f"port {port} still open after stop"
