"""Counters kept in Redis, for what leaves no row (a refused API key is counted, not stored).

They start again from zero if Redis loses them, which Prometheus's rate() reads as a counter
reset. Counting never fails the caller: without Redis the count is lost, and a warning logged.
"""

import logging

import redis

from controltower.redis_client import redis_client

logger = logging.getLogger(__name__)

API_AUTH_FAILURES = "ct:counter:api_auth_failures"


def counter_increment(counter: str, label: str) -> None:
    try:
        redis_client().hincrby(counter, label, 1)
    except redis.RedisError as e:
        logger.warning("could not count %s/%s: %s", counter, label, e)


def counter_values(counter: str) -> dict[str, int] | None:
    """Every label's count, or None when Redis cannot be read."""
    try:
        return {label.decode(): int(n) for label, n in redis_client().hgetall(counter).items()}
    except redis.RedisError as e:
        logger.warning("could not read %s: %s", counter, e)
        return None
