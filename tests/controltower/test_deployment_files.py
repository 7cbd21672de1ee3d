"""docker-compose.yml cannot run on these machines; keep it true to the settings by reading it."""

import re
from pathlib import Path

import yaml

from integrations.queues import ALL_QUEUES

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_SOURCE = (ROOT / "controltower" / "settings.py").read_text()
ENV_READ_BY_SETTINGS = set(re.findall(r'env_(?:str|bool|int|list|secret)\("([A-Z_]+)"', SETTINGS_SOURCE))


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_services_of_a_deployment():
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "beat"}
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"


def test_every_app_variable_is_one_the_settings_read():
    services = compose()["services"]
    for name in ("web", "worker", "beat"):
        env = services[name]["environment"]
        assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"} <= set(env), name
        unknown = set(env) - ENV_READ_BY_SETTINGS
        assert not unknown, f"{name} sets {unknown}, which settings.py never reads"


def test_the_database_url_points_at_the_compose_postgres():
    services = compose()["services"]
    url = services["web"]["environment"]["DATABASE_URL"]
    pg = services["postgres"]["environment"]
    assert url.startswith(f"postgresql://{pg['POSTGRES_USER']}:") and url.endswith(f"@postgres:5432/{pg['POSTGRES_DB']}")
    assert services["web"]["environment"]["REDIS_URL"].startswith("redis://redis:6379/")


def test_the_worker_consumes_every_pipeline_queue():
    command = compose()["services"]["worker"]["command"]
    assert command[command.index("-Q") + 1] == ALL_QUEUES
    assert compose()["services"]["beat"]["command"][:4] == ["celery", "-A", "controltower", "beat"]


def test_the_image_carries_every_app_of_the_project(settings):
    dockerfile = (ROOT / "Dockerfile").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    local_apps = [app for app in settings.INSTALLED_APPS if (ROOT / app).is_dir()]
    assert {"controltower", "integrations", "exceptions_queue", "orders"} <= set(local_apps)
    for app in [*local_apps, "sandbox", "templates", "static"]:
        assert f"COPY {app} ./{app}" in dockerfile, f"the image lacks {app}/"
    for app in [*local_apps, "sandbox"]:
        assert f'"{app}*"' in pyproject, f"the package lacks {app}"
