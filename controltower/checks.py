"""System checks that stop a misconfigured deployment at start-up, saying what to fix."""

import datetime
from urllib.parse import urlparse

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.database, deploy=False)
def check_database(app_configs, **kwargs):
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        return [Error(f"DATABASE_URL must name a PostgreSQL database, not {engine}",
                      hint="e.g. postgresql://user:password@host:5432/controltower", id="controltower.E001")]
    return []


@register()
def check_broker(app_configs, **kwargs):
    scheme = urlparse(settings.CELERY_BROKER_URL).scheme
    if scheme not in {"redis", "rediss", "amqp", "amqps"}:
        return [Error(f"the Celery broker URL has scheme {scheme!r}; use redis:// or amqp://",
                      hint="set REDIS_URL (or CELERY_BROKER_URL)", id="controltower.E002")]
    return []


@register()
def check_hosts_and_limits(app_configs, **kwargs):
    problems = []
    if not settings.DEBUG and not settings.ALLOWED_HOSTS:
        problems.append(Error("ALLOWED_HOSTS is empty while DEBUG is off", id="controltower.E003"))
    if settings.PORT == settings.SANDBOX_PORT:
        problems.append(Error(f"PORT and SANDBOX_PORT are both {settings.PORT}", id="controltower.E004"))
    try:
        datetime.time.fromisoformat(settings.END_OF_DAY_TIME)
    except ValueError:
        problems.append(Error(f"CT_END_OF_DAY_TIME={settings.END_OF_DAY_TIME!r} is not a time such as 23:30",
                              id="controltower.E005"))
    if settings.MAX_MESSAGE_BYTES > 64 * 1024 * 1024:
        problems.append(Warning("CT_MAX_MESSAGE_BYTES is above 64 MiB; messages are held in memory",
                                id="controltower.W001"))
    return problems
