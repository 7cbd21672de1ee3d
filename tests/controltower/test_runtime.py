"""The embedded runtime: a real PostgreSQL and Redis, shared by processes, stopped with the last one."""

import json
import os
import socket
import subprocess
import sys
import textwrap

USER = textwrap.dedent("""
    import json, sys, psycopg, redis
    from controltower.runtime import ensure_embedded_services
    services = ensure_embedded_services()
    with psycopg.connect(services.database_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    assert redis.Redis.from_url(services.redis_url).ping()
    print(json.dumps({"db": services.database_url, "redis": services.redis_url,
                      "started": services.started, "version": version}), flush=True)
    sys.stdin.readline()  # hold the servers until told to exit
""")


def accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def port_of(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


def start_user(var_dir) -> tuple[subprocess.Popen, dict]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CT_EMBEDDED"}}
    env["CT_VAR_DIR"] = str(var_dir)
    process = subprocess.Popen([sys.executable, "-c", USER], env=env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert line, process.stderr.read()
    return process, json.loads(line)


def stop_user(process: subprocess.Popen) -> None:
    process.stdin.write("\n")
    process.stdin.flush()
    assert process.wait(60) == 0, process.stderr.read()


def test_servers_are_shared_and_stopped_when_their_last_user_exits(tmp_path):
    first, first_info = start_user(tmp_path / "var")
    second, second_info = start_user(tmp_path / "var")
    assert first_info["started"] is True and second_info["started"] is False
    assert first_info["version"].startswith("18")
    assert (first_info["db"], first_info["redis"]) == (second_info["db"], second_info["redis"])
    pg, rd = port_of(first_info["db"]), port_of(first_info["redis"])

    stop_user(first)  # the one that started them leaves first: the other still needs them
    assert accepts(pg) and accepts(rd)

    stop_user(second)
    assert not accepts(pg) and not accepts(rd), "the last user stops both servers"
    assert json.loads((tmp_path / "var" / "runtime.json").read_text()) == {}


def test_a_killed_user_does_not_keep_the_servers_forever(tmp_path):
    killed, info = start_user(tmp_path / "var")
    killed.kill()  # no atexit: its pid stays recorded
    killed.wait()
    survivor, again = start_user(tmp_path / "var")
    assert again["db"] == info["db"] and again["started"] is False, "reused, not started twice"
    stop_user(survivor)
    assert not accepts(port_of(info["db"])) and not accepts(port_of(info["redis"]))
