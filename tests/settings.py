"""Test settings: the real settings, differing only where tests must.

Each pytest-xdist worker gets its own Redis database, so one worker's Celery wake-ups never
reach another worker's Celery process (each works on its own test database).
"""

import os
from urllib.parse import urlsplit, urlunsplit

from controltower.settings import *  # noqa: F403
from controltower.settings import REDIS_URL

_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
REDIS_TEST_DB = 1 + int(_worker[2:]) if _worker[2:].isdigit() else 15
_parts = urlsplit(REDIS_URL)
CELERY_BROKER_URL = urlunsplit(_parts._replace(path=f"/{REDIS_TEST_DB}"))

CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Concurrent test runs on one embedded server (a developer's and a teammate's) must not share a
# test database; pytest-xdist adds its own _gwN suffix to this name.
DATABASES["default"]["TEST"] = {"NAME": f"test_controltower_{os.getpid()}"}  # noqa: F405
