"""Where the Redis backend keeps things, and the Lua scripts it runs (one atomic step each).

Atomic so that ids and the order of pub/sub messages agree across processes (two workers
publishing at once), and so that exactly one process announces a member that expired.
Times come from the server's clock (``TIME``), never from the processes' clocks.
"""

import coredis.exceptions

__all__ = [
    "JOIN",
    "LEAVE",
    "MEMBERS",
    "NAMESPACE",
    "OUTAGE",
    "PUBLISH",
    "REFRESH",
    "describe",
    "key",
]

#: Every key and pub/sub channel of the backend starts with this and a colon.
NAMESPACE = "trio_apistar"

#: What a lost or unreachable server looks like to coredis' callers.
OUTAGE = (coredis.exceptions.ConnectionError, TimeoutError, OSError)


def key(kind: str, channel: str) -> str:
    """The Redis key (or pub/sub channel) of ``kind`` for ``channel``.

    Kinds: ``m``/``p`` pub/sub channels of messages/presence changes, ``h`` the history
    stream, ``n`` the id counter without history, ``z``/``i`` members' expiry and info.
    """
    return f"{NAMESPACE}:{kind}:{channel}"


def describe(exc: BaseException) -> str:
    """The innermost reason of an error (coredis wraps them, task groups group them)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


# KEYS: history stream (or sequence) key. ARGV: pub/sub channel, payload, history length.
# The id goes in front of the payload so that every subscriber sees the same id.
PUBLISH = """
local id
if tonumber(ARGV[3]) > 0 then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'd', ARGV[2])
else
  id = tostring(redis.call('INCR', KEYS[1]))
end
redis.call('PUBLISH', ARGV[1], id .. ' ' .. ARGV[2])
return id
"""

# Shared by the presence scripts: the server's time in ms, and announcing a change.
_PRESENCE = """
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function announce(channel, kind, member, info)
  redis.call('PUBLISH', channel,
    '0 j{"kind":"' .. kind .. '","member":"' .. member .. '","info":' .. info .. '}')
end
local function reap(zset, hash, channel, at)
  local gone = redis.call('ZRANGEBYSCORE', zset, '-inf', at)
  for _, member in ipairs(gone) do
    redis.call('ZREM', zset, member)
    local info = redis.call('HGET', hash, member) or 'null'
    redis.call('HDEL', hash, member)
    announce(channel, 'leave', member, info)
  end
end
local function keep(zset, hash, ttl)
  redis.call('PEXPIRE', zset, 3 * ttl)
  redis.call('PEXPIRE', hash, 3 * ttl)
end
"""

# KEYS: members zset (member -> expiry ms), info hash. ARGV: presence channel, ttl ms,
# member, info.
JOIN = (
    _PRESENCE
    + """
local at = now()
reap(KEYS[1], KEYS[2], ARGV[1], at)
redis.call('ZADD', KEYS[1], at + tonumber(ARGV[2]), ARGV[3])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
keep(KEYS[1], KEYS[2], tonumber(ARGV[2]))
announce(ARGV[1], 'join', ARGV[3], ARGV[4])
"""
)

# KEYS: zset, hash. ARGV: presence channel, member.
LEAVE = (
    _PRESENCE
    + """
if redis.call('ZREM', KEYS[1], ARGV[2]) == 1 then
  local info = redis.call('HGET', KEYS[2], ARGV[2]) or 'null'
  redis.call('HDEL', KEYS[2], ARGV[2])
  announce(ARGV[1], 'leave', ARGV[2], info)
end
"""
)

# KEYS: zset, hash. ARGV: presence channel, ttl ms, then member, info pairs of this process.
# Pushes this process's members' expiry forward (announcing again one that had expired, e.g.
# after an outage) and announces the members whose process stopped refreshing them.
REFRESH = (
    _PRESENCE
    + """
local at = now()
local ttl = tonumber(ARGV[2])
for i = 3, #ARGV, 2 do
  local member, info = ARGV[i], ARGV[i + 1]
  local known = redis.call('ZSCORE', KEYS[1], member)
  redis.call('ZADD', KEYS[1], at + ttl, member)
  if not known then
    redis.call('HSET', KEYS[2], member, info)
    announce(ARGV[1], 'join', member, info)
  end
end
reap(KEYS[1], KEYS[2], ARGV[1], at)
if #ARGV > 2 then keep(KEYS[1], KEYS[2], ttl) end
"""
)

# KEYS: zset, hash. ARGV: presence channel. Returns [member, info, ...] of live members.
MEMBERS = (
    _PRESENCE
    + """
reap(KEYS[1], KEYS[2], ARGV[1], now())
return redis.call('HGETALL', KEYS[2])
"""
)
