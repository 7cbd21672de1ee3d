"""The embedded runtime starts a real PostgreSQL and Redis and stops them when its owner exits."""

import os
import socket
import subprocess
import sys
import textwrap


def accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_embedded_services_start_answer_and_stop_with_their_owner(tmp_path):
    script = textwrap.dedent("""
        import json, psycopg, redis
        from controltower.runtime import ensure_embedded_services
        services = ensure_embedded_services()
        with psycopg.connect(services.database_url) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        assert redis.Redis.from_url(services.redis_url).ping()
        print(json.dumps({"db": services.database_url, "redis": services.redis_url,
                          "owned": services.owned, "version": version}))
    """)
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CT_EMBEDDED"}}
    env["CT_VAR_DIR"] = str(tmp_path / "var")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    import json

    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert info["owned"] is True and info["version"].startswith("18")
    pg_port = int(info["db"].split(":")[2].split("/")[0])
    redis_port = int(info["redis"].split(":")[2].split("/")[0])
    assert info["db"].startswith("postgresql://postgres@127.0.0.1:")
    # The owner has exited: both servers must be gone, not left running.
    assert not accepts(pg_port) and not accepts(redis_port)
    assert (tmp_path / "var" / "pg" / "PG_VERSION").exists()
