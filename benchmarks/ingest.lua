-- wrk script for benchmarks/ingest.py: POST /api/information-tracking/record.
--
--   wrk -t2 -c64 -d20s --latency -s benchmarks/ingest.lua \
--       'http://127.0.0.1:8000/api/information-tracking/record?isSupplySide=true' \
--       -- TOKEN RUN_ID CUSTOMERS
--
-- TOKEN      bearer token from POST /api/auth/login
-- RUN_ID     prefix of every requestId (unique per run, so a run's rows can be counted)
-- CUSTOMERS  how many numbers each range holds (ingest.py seeds them):
--              70 % 139xxxxxxxx  wechat users      -> 200
--              20 % 137xxxxxxxx  primary contacts  -> 200
--              10 % 135xxxxxxxx  nobody            -> 404
-- Each request carries a unique requestId "<RUN_ID>-<thread>-<counter>".
-- done() prints one line "INGEST_RESULT {json}" with status counts and latency percentiles.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local events = { "查看客户详情", "查看客户详情", "更新客户跟进", "修改客户信息" }
local run_id, customers
local counter = 0

-- globals (not locals): done() reads them from each thread with thread:get()
ok, not_found, other = 0, 0, 0
statuses = {}

function init(args)
  local token = args[1]
  run_id = args[2]
  customers = tonumber(args[3])
  if token == nil or run_id == nil or customers == nil then
    error("usage: wrk ... -s ingest.lua URL -- TOKEN RUN_ID CUSTOMERS")
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. token
  math.randomseed(os.time() * 1000 + tid)
end

function request()
  counter = counter + 1
  local r = math.random(100)
  local prefix
  if r <= 70 then
    prefix = "139"
  elseif r <= 90 then
    prefix = "137"
  else
    prefix = "135"
  end
  local phone = string.format("%s%08d", prefix, math.random(0, customers - 1))
  local body = string.format(
    '{"phoneNumber":"%s","operationEvent":"%s","requestId":"%s-%d-%d"}',
    phone, events[(counter % #events) + 1], run_id, tid, counter
  )
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  elseif status == 404 then
    not_found = not_found + 1
  else
    other = other + 1
    local key = tostring(status)
    statuses[key] = (statuses[key] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total_ok, total_404, total_other = 0, 0, 0
  local by_status = {}
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_404 = total_404 + thread:get("not_found")
    total_other = total_other + thread:get("other")
    for status, count in pairs(thread:get("statuses")) do
      by_status[status] = (by_status[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(by_status) do
    table.insert(parts, string.format('"%s":%d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    'INGEST_RESULT {"ok":%d,"not_found":%d,"other":%d,"other_statuses":{%s},'
      .. '"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"min":%d,"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}\n',
    total_ok, total_404, total_other, table.concat(parts, ","),
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max
  ))
end
