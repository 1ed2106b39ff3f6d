#!lua name=stockmesh
--
-- stockmesh Redis function library, loaded with FUNCTION LOAD REPLACE at every
-- connect. It is the only code that writes the unified stock layer.
--
-- Layout (every key of one SKU carries the hash tag {sku}, DESIGN §3):
--   sm:{sku}:f  hash  "<location>|<source>|<kind>" -> "<position>|<quantity>|<commit ms>"
--               kind is o (on_hand), c (committed), u (unavailable). Every source's
--               figure is kept, authoritative or not, for lookups and mismatch rules.
--   sm:{sku}:l  hash  "<location>" -> "<on_hand>|<committed>|<unavailable>|<available>"
--               the location's figures from its authoritative source; available is
--               max(0, on_hand - committed - unavailable - safety_stock).
--   sm:{sku}:c  hash  "<channel>"   -> "<sum>|<available>|<version>"
--                     "<channel>#d" -> last version delivered to the channel
--                     "#v"          -> the SKU's version; grows by one per change
--
-- Positions are fixed-width strings that sort in the source's commit order, so a
-- plain string comparison decides whether a fact is new.

local LIBRARY_VERSION = 1

-- Splits "a|b|c" into {"a", "b", "c"}; empty fields are kept.
local function split(s)
    local out, start = {}, 1
    while true do
        local bar = string.find(s, '|', start, true)
        if not bar then
            out[#out + 1] = string.sub(s, start)
            return out
        end
        out[#out + 1] = string.sub(s, start, bar - 1)
        start = bar + 1
    end
end

local function whole(n)
    return string.format('%d', n)
end

-- apply(keys = {f, l, c},
--       args = {location, source, position, commit_ms, authoritative (1|0), safety_stock,
--               on_hand, committed, unavailable ('' when the row lacks that kind),
--               channel_1, buffer_1, channel_2, buffer_2, ...})
-- Returns {applied (0|1), version or 0, channel_1, available_1, ...} listing only the
-- channels whose availability changed.
local function apply(keys, args)
    local fkey, lkey, ckey = keys[1], keys[2], keys[3]
    local loc, src, pos, ts = args[1], args[2], args[3], args[4]
    local auth = args[5] == '1'
    local safety = tonumber(args[6]) or 0
    local kinds = {'o', 'c', 'u'}

    local fresh = false
    for i = 1, 3 do
        local q = args[6 + i]
        if q ~= '' then
            local field = loc .. '|' .. src .. '|' .. kinds[i]
            local old = redis.call('HGET', fkey, field)
            if not old or split(old)[1] < pos then
                redis.call('HSET', fkey, field, pos .. '|' .. q .. '|' .. ts)
                fresh = true
            else
                args[6 + i] = '' -- older or duplicate: this kind keeps its stored value
            end
        end
    end
    if not fresh then return {0, 0} end
    if not auth then return {1, 0} end

    local oh, cm, un, before = 0, 0, 0, 0
    local l = redis.call('HGET', lkey, loc)
    if l then
        local p = split(l)
        oh, cm, un, before = tonumber(p[1]), tonumber(p[2]), tonumber(p[3]), tonumber(p[4])
    end
    if args[7] ~= '' then oh = tonumber(args[7]) end
    if args[8] ~= '' then cm = tonumber(args[8]) end
    if args[9] ~= '' then un = tonumber(args[9]) end
    local after = oh - cm - un - safety
    if after < 0 then after = 0 end -- clamp per location before summing
    redis.call('HSET', lkey, loc, whole(oh) .. '|' .. whole(cm) .. '|' .. whole(un) .. '|' .. whole(after))

    local delta = after - before
    if delta == 0 then return {1, 0} end

    local out = {1, 0}
    local version = nil
    for i = 10, #args, 2 do
        local ch, buffer = args[i], tonumber(args[i + 1]) or 0
        local sum, avail, ver = 0, 0, '0'
        local c = redis.call('HGET', ckey, ch)
        if c then
            local p = split(c)
            sum, avail, ver = tonumber(p[1]), tonumber(p[2]), p[3]
        end
        sum = sum + delta
        local now = sum - buffer
        if now < 0 then now = 0 end
        if now ~= avail then
            if not version then version = redis.call('HINCRBY', ckey, '#v', 1) end
            ver = whole(version)
            out[#out + 1] = ch
            out[#out + 1] = now
        end
        redis.call('HSET', ckey, ch, whole(sum) .. '|' .. whole(now) .. '|' .. ver)
    end
    if version then out[2] = version end
    return out
end

-- delivered(keys = {c}, args = {channel, version}): records a delivery unless a newer
-- one was recorded already. Returns 1 when recorded.
local function delivered(keys, args)
    local field = args[1] .. '#d'
    local v = tonumber(args[2])
    local cur = tonumber(redis.call('HGET', keys[1], field) or '0')
    if v <= cur then return 0 end
    redis.call('HSET', keys[1], field, args[2])
    return 1
end

-- pending(keys = {c}): every channel whose current version was not delivered yet,
-- as {channel_1, available_1, version_1, ...}.
local function pending(keys, args)
    local all = redis.call('HGETALL', keys[1])
    local map = {}
    for i = 1, #all, 2 do map[all[i]] = all[i + 1] end
    local out = {}
    for field, value in pairs(map) do
        if string.sub(field, 1, 1) ~= '#' and not string.find(field, '#', 1, true) then
            local p = split(value)
            local d = tonumber(map[field .. '#d'] or '0')
            if tonumber(p[3]) > d then
                out[#out + 1] = field
                out[#out + 1] = tonumber(p[2])
                out[#out + 1] = tonumber(p[3])
            end
        end
    end
    return out
end

local function version()
    return LIBRARY_VERSION
end

redis.register_function('stockmesh_apply', apply)
redis.register_function('stockmesh_delivered', delivered)
redis.register_function{function_name = 'stockmesh_pending', callback = pending, flags = {'no-writes'}}
redis.register_function{function_name = 'stockmesh_version', callback = version, flags = {'no-writes'}}
