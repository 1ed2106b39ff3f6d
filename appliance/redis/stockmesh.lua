#!lua name=stockmesh
--
-- stockmesh Redis function library, loaded with FUNCTION LOAD REPLACE at every
-- connect. It is the only code that writes the unified stock layer.
--
-- Layout (every key of one SKU carries the hash tag {sku}, DESIGN §3):
--   sm:{sku}    hash  "<location>|<source>" -> "<time ms>|<pos o>|<on_hand>|<pos c>|
--                                               <committed>|<pos u>|<unavailable>"
--                     one source's figures at one location (time: when the row says it
--                     was counted, else its commit, the newest); a kind the source does not
--                     give has an empty position and quantity, and a position equal to
--                     the previous kind's is written "=". When the source gives all three
--                     kinds at one position (most tables do) the value is the shorter
--                     "<time ms>|<pos>|<on_hand>|<committed>|<unavailable>". Every source's
--                     figures are kept, authoritative or not, for lookups and the mismatch
--                     rules.
--                     "<location>" -> "<on_hand>|<committed>|<unavailable>|<available>"
--                                     ["|<flags>" when it breaks a rule]
--                     the location's figures from the source authoritative for each
--                     kind; available = max(0, on_hand - committed - unavailable -
--                     safety_stock); flags are the rules it breaks (see FLAG_*).
--   sm:{sku}:c  hash  "<channel>"   -> "<sum>|<available>|<version>"
--                     "<channel>#d" -> last version delivered to the channel
--                     "#v"          -> the SKU's version; grows by one per change
--                     "<channel>@<location>" -> "<available>|<version>" a pickup
--                     channel's figure at one store, max(0, the store's available -
--                     buffer), kept only until it is delivered: a delivered figure is
--                     the store's row, so the steady state costs nothing per store.
--
-- Positions are the compact form of event.h (the digit count, then the digits without
-- leading zeros, of each part; upper-case hexadecimal), which sorts in the source's
-- commit order, so a string comparison decides whether a fact is new (digits and A-F
-- collate alike in every locale Redis may run under).

local LIBRARY_VERSION = 3
local LAYOUT_VERSION = 3 -- of the keys described above; LIBRARY_VERSION may move alone

local FLAG_MISMATCH = 1      -- an observing source disagrees beyond the tolerance
local FLAG_NEGATIVE = 2      -- on_hand below zero
local FLAG_OVERCOMMITTED = 4 -- committed above on_hand

local KINDS = 3

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

-- A pickup channel's field names its store: "<channel>@<location>".
local function is_pickup(field)
    return string.find(field, '@', 1, true) ~= nil
end

local function whole(n)
    return string.format('%d', n)
end

-- A source's figures at a location: {ms, pos = {p1, p2, p3}, qty = {q1, q2, q3}}, with
-- '' for kinds it does not give.
local function decode_fact(v)
    local f = {ms = '0', pos = {'', '', ''}, qty = {'', '', ''}}
    if not v then return f end
    local p = split(v)
    f.ms = p[1]
    if #p == 5 then
        f.pos = {p[2], p[2], p[2]}
        f.qty = {p[3], p[4], p[5]}
        return f
    end
    local last = ''
    for k = 1, KINDS do
        local pos = p[2 * k] or ''
        if pos == '=' then pos = last elseif pos ~= '' then last = pos end
        f.pos[k] = pos
        f.qty[k] = p[2 * k + 1] or ''
    end
    return f
end

local function encode_fact(f)
    local p1 = f.pos[1]
    if p1 ~= '' and f.pos[2] == p1 and f.pos[3] == p1 and f.qty[1] ~= '' and f.qty[2] ~= '' and
        f.qty[3] ~= '' then
        return f.ms .. '|' .. p1 .. '|' .. f.qty[1] .. '|' .. f.qty[2] .. '|' .. f.qty[3]
    end
    local out, last = {f.ms}, nil
    for k = 1, KINDS do
        local pos = f.pos[k]
        if pos ~= '' and pos == last then
            out[#out + 1] = '='
        else
            out[#out + 1] = pos
            if pos ~= '' then last = pos end
        end
        out[#out + 1] = f.qty[k]
    end
    return table.concat(out, '|')
end

-- The location row: {on_hand, committed, unavailable, available, flags}.
local function decode_row(v)
    if not v then return {0, 0, 0, 0, 0} end
    local p = split(v)
    return {tonumber(p[1]) or 0, tonumber(p[2]) or 0, tonumber(p[3]) or 0, tonumber(p[4]) or 0,
            tonumber(p[5]) or 0}
end

local function encode_row(r)
    local v = whole(r[1]) .. '|' .. whole(r[2]) .. '|' .. whole(r[3]) .. '|' .. whole(r[4])
    if r[5] ~= 0 then v = v .. '|' .. whole(r[5]) end
    return v
end

local KIND_NAMES = {'on_hand', 'committed', 'unavailable'}

-- The rules a location breaks, from its row and every source's figures there.
-- auth[k] names the source authoritative for kind k ('' = none: no mismatch rule);
-- sources lists every configured source. Returns flags and, for a mismatch, a
-- description "<source>|<kind>|<observed>|<authoritative>" of the first one found.
local function judge(skey, loc, row, auth, sources, tol_abs, tol_pct)
    local flags, detail = 0, ''
    if row[1] < 0 then flags = flags + FLAG_NEGATIVE end
    if row[2] > 0 and row[2] > row[1] then flags = flags + FLAG_OVERCOMMITTED end
    local facts = {}
    for k = 1, KINDS do
        local a = auth[k]
        if a ~= '' then
            if not facts[a] then facts[a] = decode_fact(redis.call('HGET', skey, loc .. '|' .. a)) end
            local want = tonumber(facts[a].qty[k])
            if want then
                for _, s in ipairs(sources) do
                    if s ~= a then
                        if not facts[s] then
                            facts[s] = decode_fact(redis.call('HGET', skey, loc .. '|' .. s))
                        end
                        local seen = tonumber(facts[s].qty[k])
                        if seen then
                            local allowed = math.max(tol_abs, tol_pct * math.abs(want) / 100)
                            if math.abs(seen - want) > allowed and detail == '' then
                                detail = s .. '|' .. KIND_NAMES[k] .. '|' .. whole(seen) .. '|' ..
                                             whole(want)
                            end
                        end
                    end
                end
            end
        end
    end
    if detail ~= '' then flags = flags + FLAG_MISMATCH end
    return flags, detail
end

-- Reads the common rule arguments starting at args[i]: auth_o, auth_c, auth_u, tolerance,
-- tolerance_percent, nsources, source_1 … Returns auth, sources, tol_abs, tol_pct, next i.
local function rule_args(args, i)
    local auth = {args[i], args[i + 1], args[i + 2]}
    local tol_abs, tol_pct = tonumber(args[i + 3]) or 0, tonumber(args[i + 4]) or 0
    local n = tonumber(args[i + 5]) or 0
    local sources = {}
    for j = 1, n do sources[j] = args[i + 5 + j] end
    return auth, sources, tol_abs, tol_pct, i + 6 + n
end

-- Moves a location's available figure from before to after in its channels (args from
-- first: channel, buffer pairs; a pickup channel named "<channel>@<location>"); returns
-- the version (or nil) and appends changed channels to out as channel, available pairs.
local function add_to_channels(ckey, args, first, before, after, out)
    local version = nil
    for i = first, #args, 2 do
        local ch, buffer = args[i], tonumber(args[i + 1]) or 0
        if is_pickup(ch) then
            -- the store's own figure: nothing to read, stored only until delivered
            local was, now = before - buffer, after - buffer
            if was < 0 then was = 0 end
            if now < 0 then now = 0 end
            if now ~= was then
                if not version then version = redis.call('HINCRBY', ckey, '#v', 1) end
                redis.call('HSET', ckey, ch, whole(now) .. '|' .. whole(version))
                out[#out + 1] = ch
                out[#out + 1] = now
            end
        else
            local sum, avail, ver = 0, 0, '0'
            local c = redis.call('HGET', ckey, ch)
            if c then
                local p = split(c)
                sum, avail, ver = tonumber(p[1]), tonumber(p[2]), p[3]
            end
            sum = sum + after - before
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
    end
    return version
end

-- apply(keys = {sm:{sku}, sm:{sku}:c},
--       args = {location, source, position, commit_ms, safety_stock,
--               on_hand, committed, unavailable ('' when the row lacks that kind),
--               auth_o, auth_c, auth_u, tolerance, tolerance_percent,
--               nsources, source_1, …, source_n,
--               channel_1, buffer_1, channel_2, buffer_2, …})
-- Returns {applied (0|1), version or 0, flags before, flags after, mismatch detail,
--          channel_1, available_1, …} listing only the channels whose availability
-- changed. A duplicate or older fact changes nothing and reports the current flags.
local function apply(keys, args)
    local skey, ckey = keys[1], keys[2]
    local loc, src, pos, ms = args[1], args[2], args[3], args[4]
    local safety = tonumber(args[5]) or 0
    local auth, sources, tol_abs, tol_pct, first_channel = rule_args(args, 9)

    local field = loc .. '|' .. src
    local fact = decode_fact(redis.call('HGET', skey, field))
    local fresh = {}
    local any = false
    for k = 1, KINDS do
        local q = args[5 + k]
        if q ~= '' and (fact.pos[k] == '' or fact.pos[k] < pos) then
            fact.pos[k] = pos
            fact.qty[k] = q
            fresh[k] = true
            any = true
        end
    end
    local row = decode_row(redis.call('HGET', skey, loc))
    local before_flags = row[5]
    if not any then return {0, 0, before_flags, before_flags, ''} end
    if (tonumber(ms) or 0) > (tonumber(fact.ms) or 0) then fact.ms = ms end
    redis.call('HSET', skey, field, encode_fact(fact))

    local before = row[4]
    for k = 1, KINDS do
        if fresh[k] and (auth[k] == '' or auth[k] == src) then row[k] = tonumber(fact.qty[k]) end
    end
    local after = row[1] - row[2] - row[3] - safety
    if after < 0 then after = 0 end -- clamp per location before summing
    row[4] = after
    local detail
    row[5], detail = judge(skey, loc, row, auth, sources, tol_abs, tol_pct)
    redis.call('HSET', skey, loc, encode_row(row))

    local out = {1, 0, before_flags, row[5], detail}
    if after ~= before then
        local version = add_to_channels(ckey, args, first_channel, before, after, out)
        if version then out[2] = version end
    end
    return out
end

-- judge(keys = {sm:{sku}}, args = {location, auth_o, auth_c, auth_u, tolerance,
--       tolerance_percent, nsources, source_1, …}): the rules the location breaks now,
-- as {flags, mismatch detail, on_hand, committed, unavailable}. Read-only: the sweep
-- that raises alerts asks again before raising.
local function judge_now(keys, args)
    local auth, sources, tol_abs, tol_pct = rule_args(args, 2)
    local row = decode_row(redis.call('HGET', keys[1], args[1]))
    local flags, detail = judge(keys[1], args[1], row, auth, sources, tol_abs, tol_pct)
    return {flags, detail, row[1], row[2], row[3]}
end

-- rebuild(keys = {sm:{sku}, sm:{sku}:c},
--         args = {resend_pickup, nstale, source_1, below_1, …,
--                 nlocations, then per location: code, safety_stock, auth_o, auth_c,
--                 auth_u, nchannels, channel_1, …,
--                 tolerance, tolerance_percent, nsources, source_1, …,
--                 nchannels, channel_1, buffer_1, …})
-- Recomputes every location row and channel sum from the stored figures under the
-- configuration given (after a change of safety stock, authority or channel
-- membership, or after a replay). A source's figures whose newest position is below
-- below_i were not seen again by a complete re-read of that source: the row is gone
-- there, so they are dropped. Returns {version or 0, dropped, channel_1, available_1,
-- …} for the channels whose availability changed. A pickup store's figure is not kept
-- once delivered, so what it was is worked out from the store's previous row under
-- today's buffer: when a pickup channel's buffer changed, the caller passes
-- resend_pickup '1' and every pickup store's figure goes out again.
local function rebuild(keys, args)
    local skey, ckey = keys[1], keys[2]
    local resend = args[1] == '1'
    local i = 2
    local stale = {}
    local nstale = tonumber(args[i]); i = i + 1
    for _ = 1, nstale do
        stale[args[i]] = args[i + 1]
        i = i + 2
    end
    local locations = {}
    local nloc = tonumber(args[i]); i = i + 1
    for _ = 1, nloc do
        local l = {code = args[i], safety = tonumber(args[i + 1]) or 0,
                   auth = {args[i + 2], args[i + 3], args[i + 4]}, channels = {}}
        local nch = tonumber(args[i + 5])
        i = i + 6
        for c = 1, nch do l.channels[c] = args[i + c - 1] end
        i = i + nch
        locations[l.code] = l
    end
    local tol_abs, tol_pct = tonumber(args[i]) or 0, tonumber(args[i + 1]) or 0
    local nsrc = tonumber(args[i + 2]); i = i + 3
    local sources = {}
    for s = 1, nsrc do sources[s] = args[i + s - 1] end
    i = i + nsrc
    local buffers = {}
    local nch = tonumber(args[i]); i = i + 1
    for _ = 1, nch do
        buffers[args[i]] = tonumber(args[i + 1]) or 0
        i = i + 2
    end

    -- drop what a complete re-read did not see again, and collect each location's
    -- figures per kind from its authoritative source
    local all = redis.call('HGETALL', skey)
    local rows, old_rows = {}, {}
    local dropped = 0
    for j = 1, #all, 2 do
        local f, v = all[j], all[j + 1]
        local bar = string.find(f, '|', 1, true)
        if not bar then
            old_rows[f] = v
        else
            local loc, src = string.sub(f, 1, bar - 1), string.sub(f, bar + 1)
            local fact = decode_fact(v)
            local newest = ''
            for k = 1, KINDS do if fact.pos[k] > newest then newest = fact.pos[k] end end
            if stale[src] and newest < stale[src] then
                redis.call('HDEL', skey, f)
                dropped = dropped + 1
            else
                local l = locations[loc]
                if l then
                    local r = rows[loc] or {0, 0, 0, 0, 0, pos = {'', '', ''}}
                    for k = 1, KINDS do
                        local a = l.auth[k]
                        if fact.qty[k] ~= '' and (a == src or (a == '' and fact.pos[k] > r.pos[k])) then
                            r[k] = tonumber(fact.qty[k])
                            r.pos[k] = fact.pos[k]
                        end
                    end
                    rows[loc] = r
                end
            end
        end
    end
    local sums, pickup, was_available = {}, {}, {}
    for code, v in pairs(old_rows) do
        was_available[code] = decode_row(v)[4]
        if not rows[code] then
            redis.call('HDEL', skey, code)
            -- its stores' pickup figures go to 0
            local l = locations[code]
            if l then
                for _, ch in ipairs(l.channels) do
                    if is_pickup(ch) then pickup[ch] = {code, 0} end
                end
            end
        end
    end
    for code, r in pairs(rows) do
        local l = locations[code]
        local avail = r[1] - r[2] - r[3] - l.safety
        if avail < 0 then avail = 0 end
        r[4] = avail
        local row = {r[1], r[2], r[3], avail, 0}
        row[5] = judge(skey, code, row, l.auth, sources, tol_abs, tol_pct)
        redis.call('HSET', skey, code, encode_row(row))
        for _, ch in ipairs(l.channels) do
            if is_pickup(ch) then
                pickup[ch] = {code, avail}
            else
                sums[ch] = (sums[ch] or 0) + avail
            end
        end
    end

    local out = {0, dropped}
    local version = nil
    local function next_version()
        if not version then version = redis.call('HINCRBY', ckey, '#v', 1) end
        return version
    end
    local current = redis.call('HGETALL', ckey)
    local known = {}
    for j = 1, #current, 2 do
        local f = current[j]
        if not string.find(f, '#', 1, true) then known[f] = current[j + 1] end
    end
    local absent = {}
    for ch, _ in pairs(buffers) do
        if not known[ch] and not is_pickup(ch) then
            known[ch] = '0|0|0'
            absent[ch] = true
        end
    end
    for ch, v in pairs(known) do
      if not buffers[ch] then
        redis.call('HDEL', ckey, ch, ch .. '#d') -- no longer configured
      elseif is_pickup(ch) then
        -- pickup: written below
      elseif absent[ch] and (sums[ch] or 0) == 0 then
        -- nothing of this SKU at the channel's locations: stays absent, as apply leaves
        -- it
      else
        local p = split(v)
        local sum = sums[ch] or 0
        local now = sum - (buffers[ch] or 0)
        if now < 0 then now = 0 end
        local ver = p[3]
        if now ~= tonumber(p[2]) then
            ver = whole(next_version())
            out[#out + 1] = ch
            out[#out + 1] = now
        end
        redis.call('HSET', ckey, ch, whole(sum) .. '|' .. whole(now) .. '|' .. ver)
      end
    end
    for ch, at in pairs(pickup) do
        local buffer = buffers[ch]
        if buffer then
            local now = at[2] - buffer
            if now < 0 then now = 0 end
            local was
            if known[ch] then
                was = tonumber(split(known[ch])[1]) -- still waiting for delivery
            else
                was = (was_available[at[1]] or 0) - buffer
                if was < 0 then was = 0 end
            end
            if resend or now ~= was then
                redis.call('HSET', ckey, ch, whole(now) .. '|' .. whole(next_version()))
                out[#out + 1] = ch
                out[#out + 1] = now
            end
        end
    end
    if version then out[1] = version end
    return out
end

-- delivered(keys = {c}, args = {field, version}): records a delivery unless a newer
-- one was recorded already; a pickup store's figure ("<channel>@<location>") is
-- dropped instead, unless it changed again since. Returns 1 when recorded.
local function delivered(keys, args)
    local v = tonumber(args[2])
    if is_pickup(args[1]) then
        local cur = redis.call('HGET', keys[1], args[1])
        if not cur or tonumber(split(cur)[2]) > v then return 0 end
        redis.call('HDEL', keys[1], args[1])
        return 1
    end
    local field = args[1] .. '#d'
    local cur = tonumber(redis.call('HGET', keys[1], field) or '0')
    if v <= cur then return 0 end
    redis.call('HSET', keys[1], field, args[2])
    return 1
end

-- pending(keys = {c}): every channel whose current version was not delivered yet,
-- as {channel_1, available_1, version_1, ...}; a pickup channel once per store whose
-- figure waits ("<channel>@<location>").
local function pending(keys, args)
    local all = redis.call('HGETALL', keys[1])
    local map = {}
    for i = 1, #all, 2 do map[all[i]] = all[i + 1] end
    local out = {}
    for field, value in pairs(map) do
        if not string.find(field, '#', 1, true) then
            local p = split(value)
            if is_pickup(field) then
                out[#out + 1] = field
                out[#out + 1] = tonumber(p[1])
                out[#out + 1] = tonumber(p[2])
            elseif tonumber(p[3]) > tonumber(map[field .. '#d'] or '0') then
                out[#out + 1] = field
                out[#out + 1] = tonumber(p[2])
                out[#out + 1] = tonumber(p[3])
            end
        end
    end
    return out
end

-- crosswalk(keys = {sm:{xw:<name>}, sm:{xw:<name>}:pending}, args = {code, sku}):
-- records (sku given) or forgets (sku '') what an item code translates to. Returns the
-- facts deferred while the code was unknown, oldest first; the caller applies them and
-- then removes them with crosswalk_done.
local function crosswalk(keys, args)
    if args[2] == '' then
        redis.call('HDEL', keys[1], args[1])
        return {}
    end
    redis.call('HSET', keys[1], args[1], args[2])
    -- no longer waiting: the expiry sweep must not send these to the DLQ while the
    -- caller applies them (a crash before crosswalk_done leaves the list, and the
    -- re-delivered crosswalk row returns it again)
    redis.call('ZREM', keys[2], args[1])
    return redis.call('LRANGE', keys[2] .. ':' .. args[1], 0, -1)
end

-- crosswalk_done(keys = {pending}, args = {code, n}): drops the n oldest deferred facts
-- of a code, once the caller has applied them.
local function crosswalk_done(keys, args)
    local list = keys[1] .. ':' .. args[1]
    redis.call('LTRIM', list, tonumber(args[2]), -1)
    return 1
end

-- translate(keys = {crosswalk, pending}, args = {code, now_ms, deferred fact}): the SKU
-- of an item code; when the code is unknown, keeps the fact to apply once the
-- crosswalk learns it, and returns false. Atomic with crosswalk(), so a fact is
-- either translated or found by the crosswalk change that makes it translatable.
local function translate(keys, args)
    local sku = redis.call('HGET', keys[1], args[1])
    if sku then return sku end
    redis.call('ZADD', keys[2], 'NX', args[2], args[1])
    redis.call('RPUSH', keys[2] .. ':' .. args[1], args[3])
    return false
end

-- expired_codes(keys = {pending}, args = {older_than_ms, limit}): item codes unknown
-- since before older_than_ms, with their deferred facts, removed:
-- {code_1, {fact, …}, code_2, …}. The caller sends them to the DLQ.
local function expired_codes(keys, args)
    local codes = redis.call('ZRANGEBYSCORE', keys[1], '-inf', args[1], 'LIMIT', 0, tonumber(args[2]))
    local out = {}
    for _, code in ipairs(codes) do
        local list = keys[1] .. ':' .. code
        out[#out + 1] = code
        out[#out + 1] = redis.call('LRANGE', list, 0, -1)
        redis.call('DEL', list)
        redis.call('ZREM', keys[1], code)
    end
    return out
end

local function version()
    return LIBRARY_VERSION
end

-- layout(): checks that the stock this Redis holds is in this library's layout,
-- recorded in stockmesh:layout, and returns the layout version; an error naming the
-- problem when it is another. A Redis without the record gets ours, unless it already
-- holds SKU keys: those were written by a stockmesh from before the record (layout 2),
-- which this library would misread. The keys are looked at (up to 100000) only while
-- the record is missing.
local function layout()
    local have = tonumber(redis.call('GET', 'stockmesh:layout'))
    if not have then
        local cursor = '0'
        for _ = 1, 100 do
            local r = redis.call('SCAN', cursor, 'MATCH', 'sm:{*', 'COUNT', 1000)
            if #r[2] > 0 then
                have = 2
                break
            end
            cursor = r[1]
            if cursor == '0' then break end
        end
        if not have then
            redis.call('SET', 'stockmesh:layout', LAYOUT_VERSION)
            return LAYOUT_VERSION
        end
    end
    if have ~= LAYOUT_VERSION then
        return redis.error_reply(string.format(
            'LAYOUT this Redis holds stock in layout %d, this stockmesh reads and writes ' ..
                'layout %d: empty it (FLUSHALL) and let the sources be read again (stockmesh ' ..
                'replay), or go back to the stockmesh that wrote it', have, LAYOUT_VERSION))
    end
    return have
end

redis.register_function('stockmesh_apply', apply)
redis.register_function('stockmesh_layout', layout)
redis.register_function('stockmesh_rebuild', rebuild)
redis.register_function('stockmesh_delivered', delivered)
redis.register_function('stockmesh_crosswalk', crosswalk)
redis.register_function('stockmesh_crosswalk_done', crosswalk_done)
redis.register_function('stockmesh_translate', translate)
redis.register_function('stockmesh_expired_codes', expired_codes)
redis.register_function{function_name = 'stockmesh_judge', callback = judge_now, flags = {'no-writes'}}
redis.register_function{function_name = 'stockmesh_pending', callback = pending, flags = {'no-writes'}}
redis.register_function{function_name = 'stockmesh_version', callback = version, flags = {'no-writes'}}
