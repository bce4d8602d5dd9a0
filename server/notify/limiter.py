"""A sliding-window rate limiter in Redis, shared by every bot process.

One Lua script counts the sends of the last ``seconds`` of each window and reserves a slot only
when every window has room, so N processes together stay under WeCom's limits. A limiter with
several windows (WeCom's 30 a minute and 1000 an hour per member) takes its slot in all of them
or in none: a send the minute refuses must not use up a place of the hour.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from redis.asyncio import Redis

# KEYS: one sorted set per window; ARGV: now, a unique member, then seconds and limit per key.
# A send leaves a window exactly ``seconds`` after it was reserved. Returns "0" when a slot was
# reserved in every window, else the seconds until every full window has a free slot.
_RESERVE = """
local now = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  local seconds = tonumber(ARGV[1 + 2 * i])
  local limit = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - seconds)
  local count = redis.call('ZCARD', key)
  if count >= limit then
    -- the send whose leaving brings the window under its limit (the oldest, unless the limit
    -- was lowered while the window was fuller)
    local freeing = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    wait = math.max(wait, tonumber(freeing[2]) + seconds - now)
  end
end
if wait > 0 then
  return tostring(wait)
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[1], ARGV[2])
  redis.call('PEXPIRE', key, math.ceil(tonumber(ARGV[1 + 2 * i]) * 1000) + 1000)
end
return '0'
"""
WAIT_MARGIN_SECONDS = 0.05  # come back just after the slot frees


@dataclass(frozen=True)
class Window:
    """At most ``limit`` reservations in any ``seconds``, counted under ``prefix:<key>``."""

    prefix: str
    limit: int
    seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.limit < 1 or self.seconds <= 0:
            raise ValueError(f"a rate window needs a limit ≥ 1 and seconds > 0: {self}")


class RateLimiter:
    """Reservations per key within every one of its windows, across processes."""

    def __init__(self, redis: Redis, *windows: Window) -> None:
        if not windows:
            raise ValueError("a rate limiter needs at least one window")
        self.windows = windows
        self._script = redis.register_script(_RESERVE)

    async def reserve(self, key: str, *, now: float | None = None) -> float:
        """Reserve one send now: 0.0 when granted, else the seconds to wait before asking again."""
        at = time.time() if now is None else now
        member = f"{at:.6f}:{secrets.token_hex(4)}"
        args: list[str | float] = [at, member]
        for window in self.windows:
            args += [window.seconds, window.limit]
        answer = await self._script(
            keys=[f"{window.prefix}:{key}" for window in self.windows], args=args
        )
        wait = float(answer.decode() if isinstance(answer, bytes) else answer)
        return 0.0 if wait <= 0 else wait + WAIT_MARGIN_SECONDS
