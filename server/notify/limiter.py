"""A sliding-window rate limiter in Redis, shared by every bot process.

One Lua script counts the sends of the last ``window`` seconds and reserves a slot only when
fewer than ``limit`` happened, so N processes together stay under WeCom's limits.
"""

from __future__ import annotations

import secrets
import time

from redis.asyncio import Redis

# KEYS[1] window key; ARGV: now, window seconds, limit, unique member.
# Returns "0" when a slot was reserved, else the seconds until the oldest send leaves the window.
_RESERVE = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, math.ceil(window * 1000) + 1000)
  return '0'
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + window - now)
"""
WAIT_MARGIN_SECONDS = 0.05  # come back just after the slot frees


class RateLimiter:
    """At most ``limit`` reservations per ``window`` seconds per key, across processes."""

    def __init__(self, redis: Redis, *, prefix: str, limit: int, window: float = 60.0) -> None:
        self._redis = redis
        self._prefix = prefix
        self.limit = limit
        self.window = window
        self._script = redis.register_script(_RESERVE)

    async def reserve(self, key: str, *, now: float | None = None) -> float:
        """Reserve one send now: 0.0 when granted, else the seconds to wait before asking again."""
        at = time.time() if now is None else now
        member = f"{at:.6f}:{secrets.token_hex(4)}"
        answer = await self._script(
            keys=[f"{self._prefix}:{key}"], args=[at, self.window, self.limit, member]
        )
        wait = float(answer.decode() if isinstance(answer, bytes) else answer)
        return 0.0 if wait <= 0 else wait + WAIT_MARGIN_SECONDS
