"""A token bucket per target system, kept in Redis so that every worker shares it.

Fails open: when Redis cannot be reached the delivery goes ahead (the target's own limits and
our retries still apply), because holding all traffic for a missing doorbell would be worse.
"""

import logging

import redis

from controltower.redis_client import redis_client

logger = logging.getLogger(__name__)

# Refill by elapsed time on Redis's own clock (workers' clocks may differ), take one token,
# or say how long until one is there. Returns the wait in seconds as a string (Lua has no floats out).
TAKE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], 3600)
return tostring(wait)
"""
_take = None


def take(system_code: str, rate_per_s: float) -> float:
    """Take a token for one call to `system_code`; return 0, or the seconds to wait for one."""
    global _take
    try:
        if _take is None:
            _take = redis_client().register_script(TAKE)
        return float(_take(keys=[f"ct:rate:{system_code}"], args=[rate_per_s, max(1.0, rate_per_s)]))
    except redis.RedisError as e:
        logger.warning("rate limiter unreachable, letting %s through: %s", system_code, e)
        return 0.0
