"""Settings of the sandbox project: one app, its own database, no sessions or users.

The database is SANDBOX_DATABASE_URL; else the server of DATABASE_URL with the database
``controltower_sandbox``; else the embedded PostgreSQL that the main project also uses.
"""

import os
from urllib.parse import urlsplit, urlunsplit

import dj_database_url

from controltower.env import env_bool, env_secret, env_str

SANDBOX_DATABASE_NAME = "controltower_sandbox"


def _database_url() -> str:
    explicit = env_str("SANDBOX_DATABASE_URL")
    if explicit:
        return explicit
    if not os.environ.get("DATABASE_URL"):
        from controltower.runtime import ensure_embedded_services

        ensure_embedded_services()  # exports DATABASE_URL and creates controltower_sandbox
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{SANDBOX_DATABASE_NAME}"))


# Core ---------------------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)
# Loopback only: the sandbox is a test double, never exposed.
ALLOWED_HOSTS = ["*"]
# It holds no sessions and signs nothing, so a fixed key is harmless.
SECRET_KEY = env_secret("SECRET_KEY") or "sandbox-not-secret"

INSTALLED_APPS = ["sandbox"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "sandbox.urls"
ASGI_APPLICATION = "sandbox.asgi.application"

USE_TZ = True
TIME_ZONE = "UTC"

# Database -----------------------------------------------------------------------------------------

DATABASES = {"default": dj_database_url.parse(_database_url())}
# A pool, as in the tower: each request under ASGI would otherwise open a new connection.
DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": 1, "max_size": 10, "timeout": 10}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Simulated systems --------------------------------------------------------------------------------

# Where the simulated systems push their events when an outbound link names no tower URL.
SANDBOX_TOWER_URL = env_str("SANDBOX_TOWER_URL", "http://127.0.0.1:8000")
