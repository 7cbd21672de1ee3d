"""One Redis client per process for the small things kept in Redis (rate buckets, counters).

Short timeouts: each user of it fails open when Redis is away, and must not hang a request.
redis-py's pool notices a fork and opens new connections in the child.
"""

import redis
from django.conf import settings

_client: redis.Redis | None = None


def redis_client() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=1, socket_connect_timeout=1)
    return _client
