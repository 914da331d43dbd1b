"""The Lua scripts of the Redis online store (`redis_store.py`), one atomic step each.

Key layout: see `redis_store`. Every script that adds an event goes through one Lua function,
`add_event`, so the idempotence rule (the id index first) is written once.
"""

from __future__ import annotations

# Add one event (idempotent by id): its id index, its card's and client's hashes, the counters,
# the journal. Returns 1 when the event was new, 0 for a resend.
_ADD_EVENT_FUNCTION = """
local function add_event(ev, card, client, journal, meta, id, packed, journal_flag, journal_max)
  if redis.call('HSETNX', ev, id, packed) == 0 then return 0 end
  if redis.call('HSET', card, id, packed) == 1 and redis.call('HLEN', card) == 1 then
    redis.call('HINCRBY', meta, 'cards', 1)
  end
  if redis.call('HSET', client, id, packed) == 1 and redis.call('HLEN', client) == 1 then
    redis.call('HINCRBY', meta, 'clients', 1)
  end
  redis.call('HINCRBY', meta, 'events', 1)
  if journal_flag == '1' then
    redis.call('RPUSH', journal, packed)
    redis.call('LTRIM', journal, -tonumber(journal_max), -1)
  end
  return 1
end
"""
# KEYS: ev, card, client, journal, meta; ARGV: id, packed event, journal flag, journal max
ADD_EVENT = (
    _ADD_EVENT_FUNCTION
    + "return add_event(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], "
    "ARGV[1], ARGV[2], ARGV[3], ARGV[4])"
)
# One scoring request in one round trip: read what the event's features need (its card's and
# client's events, the merchant / MCC / global label tiles), then add it, atomically.
# KEYS: as ADD_EVENT, then tile merchant, tile mcc, tile global; ARGV: as ADD_EVENT.
READ_AND_ADD = (
    _ADD_EVENT_FUNCTION
    + """
local state = {redis.call('HVALS', KEYS[2]), redis.call('HVALS', KEYS[3]),
               redis.call('HGETALL', KEYS[6]), redis.call('HGETALL', KEYS[7]),
               redis.call('HGETALL', KEYS[8])}
state[6] = add_event(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2], ARGV[3],
                     ARGV[4])
return state
"""
)
# A chunk of a batch in one script: read each distinct card / client hash and tile of the chunk
# once, then add its events in order. Python rebuilds what each event read (the hashes as read
# plus the chunk's earlier new events: labels do not change inside the script), which is what
# `READ_AND_ADD` per event in the same order returns.
# KEYS: ev, journal, meta, the chunk's event hashes, its tile hashes. ARGV: journal flag,
# journal max, number of event hashes, number of tile hashes, then per event: id, packed
# event, index (in KEYS) of its card hash, of its client hash. Returns the hashes' values,
# the tiles' fields and values, and 1/0 per event (new / resend).
READ_AND_ADD_MANY = (
    _ADD_EVENT_FUNCTION
    + """
local hashes, tiles = tonumber(ARGV[3]), tonumber(ARGV[4])
local state = {{}, {}, {}}
for i = 1, hashes do state[1][i] = redis.call('HVALS', KEYS[3 + i]) end
for i = 1, tiles do state[2][i] = redis.call('HGETALL', KEYS[3 + hashes + i]) end
for at = 5, #ARGV, 4 do
  state[3][#state[3] + 1] = add_event(KEYS[1], KEYS[tonumber(ARGV[at + 2])],
    KEYS[tonumber(ARGV[at + 3])], KEYS[2], KEYS[3], ARGV[at], ARGV[at + 1], ARGV[1], ARGV[2])
end
return state
"""
)

# KEYS: labels, tile merchant, tile mcc, tile global; ARGV: id, label, day, merchant, mcc, fold
ADD_LABEL = """
local value = ARGV[2] .. ':' .. ARGV[3] .. ':' .. ARGV[4] .. ':' .. ARGV[5]
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old == value then return 0 end
local fold = tonumber(ARGV[6])
local function bump(label, day, sign)
  local d = math.max(tonumber(day), fold)
  for i = 2, 4 do
    redis.call('HINCRBY', KEYS[i], d .. ':f', sign * tonumber(label))
    redis.call('HINCRBY', KEYS[i], d .. ':l', sign)
  end
end
if old then
  local label, day = string.match(old, '^(%-?%d+):(%-?%d+):')
  bump(label, day, -1)
end
bump(ARGV[2], ARGV[3], 1)
redis.call('HSET', KEYS[1], ARGV[1], value)
return 1
"""
