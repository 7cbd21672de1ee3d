"""Bad configuration stops the process at start-up with a message naming the variable."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from controltower import checks
from controltower.env import env_bool, env_int, env_list, env_secret


def import_settings(**env) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter with exactly these deployment variables."""
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "CT_EMBEDDED"}}
    return subprocess.run([sys.executable, "-c", "import controltower.settings as s; print(s.DEBUG, s.ALLOWED_HOSTS)"],
                          env={**base, **env}, capture_output=True, text=True, timeout=60)


DEPLOYED = {"DATABASE_URL": "postgresql://u:p@db.example:5432/ct", "REDIS_URL": "redis://cache.example:6379/0"}


def test_a_deployment_without_secret_key_refuses_to_start():
    result = import_settings(**DEPLOYED)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_debug_is_off_unless_asked_for():
    result = import_settings(**DEPLOYED, SECRET_KEY="k" * 50)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "False"


def test_a_bad_boolean_names_the_variable():
    result = import_settings(**DEPLOYED, SECRET_KEY="k" * 50, DEBUG="maybe")
    assert result.returncode != 0 and "DEBUG='maybe' is not a boolean" in result.stderr


def test_env_readers(monkeypatch, tmp_path):
    monkeypatch.setenv("CT_T_INT", "12")
    monkeypatch.setenv("CT_T_BAD_INT", "twelve")
    monkeypatch.setenv("CT_T_LIST", "a.example, b.example,,")
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n")
    monkeypatch.setenv("CT_T_SECRET_FILE", str(secret_file))
    assert env_int("CT_T_INT", 1) == 12 and env_int("CT_T_MISSING", 7) == 7
    with pytest.raises(ImproperlyConfigured, match="CT_T_BAD_INT"):
        env_int("CT_T_BAD_INT", 1)
    with pytest.raises(ImproperlyConfigured, match="at least 20"):
        env_int("CT_T_INT", 1, minimum=20)
    assert env_list("CT_T_LIST", []) == ["a.example", "b.example"]
    assert env_secret("CT_T_SECRET") == "from-a-file"
    assert env_bool("CT_T_MISSING", True) is True


def test_system_checks_catch_a_wrong_database_and_broker(settings, monkeypatch):
    monkeypatch.setitem(settings.DATABASES["default"], "ENGINE", "django.db.backends.sqlite3")
    settings.CELERY_BROKER_URL = "memory://"
    settings.SANDBOX_PORT = settings.PORT
    ids = {e.id for e in checks.check_database(None) + checks.check_broker(None) + checks.check_hosts_and_limits(None)}
    assert ids == {"controltower.E001", "controltower.E002", "controltower.E004"}
