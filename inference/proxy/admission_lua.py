"""The admission scripts run inside Redis: one round trip admits (or refuses) a request
across every scope at once, so concurrent requests on several workers cannot overshoot.

Per scope (a key, its organization) the scripts keep, under the contract's prefix:
  B = budget hash {spent, reserved, blocked} for the current period (nano-USD integers)
  R = requests per second bucket (hash second → count), a 60 s sliding window
  T = tokens per second bucket (hash second → tokens), a 60 s sliding window
  P = requests in flight
and per organization Z (reservation id → expiry, ms) and D (reservation id → what it holds), so
an expired reservation (a crashed proxy, a lost callback) gives back its budget and its slots.
Per candidate deployment of the model (routing.py) S, its calls in flight: a sorted set
reservation id → expiry (ms), so a slot frees itself when its lease runs out, whoever held it.

Every key of one script shares one hash slot on a Redis Cluster (contract.RedisKeys): B, R, T, P,
Z, D and W carry the organization's tag, the S of a model's deployments the model's. On one
server ADMIT takes the deployment slot too (one round trip, D records it as a 'z' entry); on a
cluster SLOT takes it first (the model's slot), then ADMIT reserves with no candidate (the
organization's slot), and a refusal gives the deployment slot back (ZREM).
The organization's prepaid wallet W (billing/wallet.py) is a hash {credit, spent, reserved,
mult_ppm}: present only for an organization on the prepaid plan, it must cover the reservation
(at the organization's price multiplier) beside the budgets, in the same script; it is held like
a budget with no slot, marked 'w' so that settle charges it the wallet's own (multiplied) cost.
"""

# Each script starts with a shebang (Redis 7): a cluster node then refuses, with an error, any key
# a script touches outside the hash slot of the keys it declared, D's entries included (a script
# without one may touch any key its node holds). The cluster tests run every script under it.
_SHEBANG = "#!lua\n"

# Shared by the scripts: give back a held slot (a scope's P counter, or a deployment's S set,
# marked 'z'), give back reservations whose time is up (bounded per call), count a window.
_PURGE = """
local function release(s, id)
  if s[2] == '' then return end  -- a wallet holds no slot (and '' is a key of another hash slot)
  if s[7] == 'z' then redis.call('ZREM', s[2], id)
  elseif tonumber(redis.call('GET', s[2]) or '0') > 0 then redis.call('DECR', s[2]) end
end
local function purge(zkey, dkey, now_ms, limit)
  local ids = redis.call('ZRANGEBYSCORE', zkey, '-inf', now_ms, 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    local raw = redis.call('HGET', dkey, id)
    if raw then
      for _, s in ipairs(cjson.decode(raw)) do
        -- 0 - x, not -x: -0 (a zero cost) reaches Redis 7.0 as "-0", which HINCRBY refuses.
        if s[1] ~= '' then redis.call('HINCRBY', s[1], 'reserved', 0 - s[4]) end
        release(s, id)
      end
    end
    redis.call('ZREM', zkey, id)
    redis.call('HDEL', dkey, id)
  end
  return #ids
end
local function window(key, now_s)
  local total, oldest = 0, nil
  local buckets = redis.call('HGETALL', key)
  for i = 1, #buckets, 2 do
    local sec = tonumber(buckets[i])
    if sec <= now_s - 60 then
      redis.call('HDEL', key, buckets[i])
    else
      total = total + tonumber(buckets[i + 1])
      if oldest == nil or sec < oldest then oldest = sec end
    end
  end
  return total, oldest
end
"""

# Choosing a deployment: KEYS[k+1..k+m] the candidates' S; ARGV[a+1..a+m] their max concurrency
# (-1 = unlimited), ARGV[a+m+1] the routing policy: 'first' takes the first candidate with a free
# slot (round robin, the caller rotates them), anything else the least busy; then per candidate
# its backend's own load (running + waiting from its metrics, a large number when its model is
# not loaded; absent: 0), which counts instead of the in-flight count when larger. Returns the
# chosen candidate (1-based; 0: every one is full), and the tightest full limit with its count.
_CHOOSE = """
local function choose(k, m, a, now_ms)
  local first_free = ARGV[a + m + 1] == 'first'
  local chosen, chosen_load, full_limit, full_load = 0, nil, -1, 0
  for j = 1, m do
    local S = KEYS[k + j]
    redis.call('ZREMRANGEBYSCORE', S, '-inf', now_ms)  -- leases run out on their own
    local limit = tonumber(ARGV[a + j])
    local inflight = redis.call('ZCARD', S)
    -- Busy: the larger of our in-flight count and the backend's own queue (backend_load.py).
    local load = math.max(inflight, tonumber(ARGV[a + m + 1 + j] or '0'))
    if limit < 0 or inflight < limit then
      if chosen_load == nil or (load < chosen_load and not first_free) then chosen, chosen_load = j, load end
    elseif full_limit < 0 or limit < full_limit then
      full_limit, full_load = limit, inflight
    end
  end
  return chosen, full_limit, full_load
end
local function take(S, id, now_ms, ttl_ms)
  redis.call('ZADD', S, now_ms + ttl_ms, id)
  redis.call('PEXPIRE', S, ttl_ms + 60000)
end
"""

# KEYS: Z, D, then per scope B, R, T, P, then per candidate deployment its S (none on a cluster,
#       see SLOT), then W (the organization's wallet; absent from Redis: no prepaid wallet to check).
# ARGV: now_ms, reservation id, ttl_ms, cost (nano), tokens (both below 10^14, see
#       admission.MAX_RESERVATION: exact through Lua's %.14g number formatting), the number of
#       scopes, then per scope budget, rpm, tpm, parallel (-1 = unlimited), B's ttl in seconds
#       (-1 = none), then the candidates' ARGV (see _CHOOSE).
# Returns {1, rpm_limit, rpm_left, rpm_reset_s, tpm_limit, tpm_left, tpm_reset_s, deployment}
# (the tightest scope for each; -1 if unlimited; the chosen candidate, 1-based, 0 if none given:
# the least busy one with a free slot) or {0, scope index (1-based), kind, limit, current,
# reset_s}; every candidate saturated: {0, 0, 'saturated', limit, in flight, 1}; a prepaid wallet
# that cannot cover the reservation: {0, 0, 'balance', available, needed, -1} (nano-USD). Admitted,
# the reply's 9th item is the wallet's multiplier in millionths (0: no wallet).
ADMIT = (
    _SHEBANG
    + _PURGE
    + _CHOOSE
    + """
local now_ms = tonumber(ARGV[1])
local now_s = math.floor(now_ms / 1000)
local id, ttl_ms = ARGV[2], tonumber(ARGV[3])
local cost, tokens = tonumber(ARGV[4]), tonumber(ARGV[5])
purge(KEYS[1], KEYS[2], now_ms, 100)
local n = tonumber(ARGV[6])
local m = #KEYS - 3 - 4 * n
local W = KEYS[#KEYS]
local best = {-1, -1, 0, -1, -1, 0}
local state = {}
for i = 1, n do
  local B, R, T, P = KEYS[3 + (i-1)*4], KEYS[4 + (i-1)*4], KEYS[5 + (i-1)*4], KEYS[6 + (i-1)*4]
  local a = 6 + (i-1)*5
  local budget, rpm, tpm, par = tonumber(ARGV[a+1]), tonumber(ARGV[a+2]), tonumber(ARGV[a+3]), tonumber(ARGV[a+4])
  if budget >= 0 then
    local b = redis.call('HMGET', B, 'spent', 'reserved', 'blocked')
    local used = tonumber(b[1] or '0') + tonumber(b[2] or '0')
    -- 'blocked' (set by check_budgets when PostgreSQL counts the period as spent) holds while
    -- the budget is not raised above the one it was blocked at.
    if used + cost > budget or (b[3] and tonumber(b[3]) >= budget) then return {0, i, 'budget', budget, used, -1} end
  end
  local reqs, roldest = window(R, now_s)
  if rpm >= 0 and reqs >= rpm then return {0, i, 'rpm', rpm, reqs, (roldest or now_s) + 60 - now_s} end
  local toks, toldest = window(T, now_s)
  -- This request's own worst case must fit beside what the minute already holds.
  if tpm >= 0 and toks + tokens > tpm then return {0, i, 'tpm', tpm, toks, (toldest or now_s) + 60 - now_s} end
  local inflight = tonumber(redis.call('GET', P) or '0')
  if par >= 0 and inflight >= par then return {0, i, 'parallel', par, inflight, 1} end
  state[i] = {B, R, T, P, rpm, reqs, roldest, tpm, toks, toldest, tonumber(ARGV[a+5])}
end
-- The least busy candidate deployment with a free slot (the first among equals), or under
-- round robin the first with a free slot.
local chosen, full_limit, full_load = choose(2 + 4*n, m, 6 + 5*n, now_ms)
if m > 0 and chosen == 0 then return {0, 0, 'saturated', full_limit, full_load, 1} end
-- The prepaid wallet: what is left (credit - spent - reserved) must cover the reservation at the
-- organization's multiplier (rounded up, plus one: never under the exact product).
local w = redis.call('HMGET', W, 'credit', 'spent', 'reserved', 'mult_ppm')
local wmult, wcost = 0, 0
if w[1] then
  wmult = tonumber(w[4] or '1000000')
  wcost = math.ceil(cost / 1000000 * wmult) + (cost > 0 and 1 or 0)
  local available = tonumber(w[1]) - tonumber(w[2] or '0') - tonumber(w[3] or '0')
  if wcost > available then return {0, 0, 'balance', available, wcost, -1} end
end
local held = {}
for i = 1, n do
  local s = state[i]
  redis.call('HINCRBY', s[1], 'reserved', cost)
  if s[11] > 0 then redis.call('EXPIRE', s[1], s[11]) end
  redis.call('HINCRBY', s[2], now_s, 1)
  redis.call('EXPIRE', s[2], 120)
  redis.call('HINCRBY', s[3], now_s, tokens)
  redis.call('EXPIRE', s[3], 120)
  redis.call('INCR', s[4])
  redis.call('EXPIRE', s[4], math.ceil(ttl_ms / 1000) + 60)
  held[i] = {s[1], s[4], s[3], cost, now_s, tokens}
  if s[5] >= 0 and (best[1] < 0 or s[5] - s[6] - 1 < best[2]) then
    best[1], best[2], best[3] = s[5], s[5] - s[6] - 1, (s[7] or now_s) + 60 - now_s
  end
  if s[8] >= 0 and (best[4] < 0 or s[8] - s[9] - tokens < best[5]) then
    best[4], best[5], best[6] = s[8], math.max(0, s[8] - s[9] - tokens), (s[10] or now_s) + 60 - now_s
  end
end
if chosen > 0 then
  local S = KEYS[2 + 4*n + chosen]
  take(S, id, now_ms, ttl_ms)
  held[#held + 1] = {'', S, '', 0, now_s, 0, 'z'}
end
if wmult > 0 then
  redis.call('HINCRBY', W, 'reserved', string.format('%d', wcost))
  held[#held + 1] = {W, '', '', wcost, now_s, 0, 'w'}
end
redis.call('ZADD', KEYS[1], now_ms + ttl_ms, id)
redis.call('HSET', KEYS[2], id, cjson.encode(held))
return {1, best[1], best[2], best[3], best[4], best[5], best[6], chosen, wmult}
"""
)

# KEYS: Z, D, the settled marker for this id, then the B key of every scope and the wallet W if
# the call reserved on one (used when the reservation already expired). ARGV: reservation id,
# actual cost (nano), actual tokens, now_ms, the wallet's actual cost (nano, at the
# organization's multiplier; 0 without a wallet), and 'w' when the last key is the wallet.
# Idempotent: a second settle of the same id does nothing.
SETTLE = (
    _SHEBANG
    + _PURGE
    + """
if redis.call('SET', KEYS[3], '1', 'NX', 'EX', 86400) == false then return 0 end
local id, tokens = ARGV[1], tonumber(ARGV[3])
local raw = redis.call('HGET', KEYS[2], id)
if raw then
  for _, s in ipairs(cjson.decode(raw)) do
    if s[1] ~= '' then
      redis.call('HINCRBY', s[1], 'reserved', 0 - s[4])  -- 0 - x: never -0 (see purge)
      -- the integer as sent (no %.14g rounding); a wallet's at its multiplier
      redis.call('HINCRBY', s[1], 'spent', s[7] == 'w' and (ARGV[5] or '0') or ARGV[2])
    end
    release(s, id)
    if s[3] ~= '' and redis.call('HEXISTS', s[3], s[5]) == 1 then
      redis.call('HINCRBY', s[3], s[5], tokens - s[6])
    end
  end
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  return 1
end
-- Expired before its settle: the spend is charged all the same (the wallet, last, at its own cost).
local last = #KEYS
if ARGV[6] == 'w' then redis.call('HINCRBY', KEYS[#KEYS], 'spent', ARGV[5]); last = #KEYS - 1 end
for i = 4, last do redis.call('HINCRBY', KEYS[i], 'spent', ARGV[2]) end
return 2
"""
)

# KEYS: the candidates' S (one model's: one hash slot). ARGV: now_ms, reservation id, ttl_ms, then
# the candidates' ARGV (see _CHOOSE). On a cluster, takes the deployment slot before ADMIT (which
# then gets no candidate). Returns {1, chosen (1-based)} or {0, 0, 'saturated', limit, in flight, 1}.
SLOT = (
    _SHEBANG
    + _CHOOSE
    + """
local now_ms, id, ttl_ms = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local chosen, full_limit, full_load = choose(0, #KEYS, 3, now_ms)
if chosen == 0 then return {0, 0, 'saturated', full_limit, full_load, 1} end
take(KEYS[chosen], id, now_ms, ttl_ms)
return {1, chosen}
"""
)

# KEYS: Z, D (one organization's). ARGV: now_ms. Gives back every expired reservation (run by beat
# for each organization that has some).
PURGE = (
    _SHEBANG
    + _PURGE
    + """
local total, n = 0, 1
while n > 0 do n = purge(KEYS[1], KEYS[2], tonumber(ARGV[1]), 500); total = total + n end
return total
"""
)
