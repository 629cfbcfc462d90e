#!/usr/bin/env bash
# load-tracking.sh: load benchmark of tracked calls and list endpoints on PostgreSQL.
#
# What it measures (release build, a fresh PostgreSQL database, everything on 127.0.0.1)
#   Phase A  tracked calls: `wrk` POSTs /api/v1/llm-responses for DURATION at CONNECTIONS
#            connections (a Lua script varies the variables per request). Each call
#            resolves the version, renders "Hello {{ name }}", prices gpt-4o and runs one
#            `sync` keyword evaluator, i.e. writes one LLM response and one evaluation.
#            Reported: requests/s, p50/p99 latency, non-2xx count (must be 0); then the
#            same calls at 1 connection for 5 s (the latency without queueing).
#   Phase B  raw inserts: the same two rows per call (one LLM response + one evaluation,
#            copied column for column from a row phase A wrote, in one transaction; the
#            service writes them in one statement) by a plain SQL insert loop into the same database:
#            `pgbench -n -M prepared -c CONNECTIONS -j THREADS -T DURATION`, i.e. the same
#            concurrency as phase A. Reported: transactions/s and tracked/raw.
#            Target: tracked/raw >= 0.5, phase A p99 < 20 ms.
#   Phase C  list endpoints at N_RESPONSES stored responses: the table is topped up to
#            N_RESPONSES rows with one set-based INSERT ... SELECT generate_series (10
#            prompts used all along; prompts 1-9 switched from a v1 to a v2 at 60% of the
#            history; environment prod 60% / staging 25% / dev 1% / null; 2% errors), plus
#            evaluations for 1 response in 4, then VACUUM ANALYZE. Then `wrk` for
#            LIST_DURATION on each list request (after a short warm-up; errors, e.g. 10 s
#            timeouts, are counted, not fatal). Target: p99 < 10 ms. Rows marked `extra`
#            are harder variants of the same endpoints (a deprecated version's old rows, a
#            rare environment, the version filter of evaluations, pages at random cursors:
#            pages the server has not seen, whose rows it must all read), under the same
#            target; the `compare` row is the plain list at 1 connection. A run repeats one
#            request, so after its first two answers the page's rows come from the service's
#            list cache (row_cache.rs: PostgreSQL sends ids and row versions); the random
#            cursors measure pages answered once, read in full (PROMPT_TRACKER_LIST_CACHE_MB=0
#            measures every run that way).
#   CPU columns: CPU ms per request (or pgbench transaction) of the server process and of
#   the PostgreSQL backends connected to the database, and how busy the whole machine was,
#   measured over the middle of each run (from /proc). Busy near 100% with srv + PG CPU
#   well under the latency means the run is CPU-bound on this machine.
#   After each POST run it checks for server connections left `idle in transaction` (see
#   check_leaks below); when there are any it warns and restarts the server.
#   The summary at the end repeats every figure and the command that reproduces it.
#   This is a benchmark, not a test: it is not run by `cargo test`. Client, server and
#   PostgreSQL share the machine, so figures are for this machine only.
#
# How to run (from anywhere; PostgreSQL must accept the user without a password)
#   scripts/load-tracking.sh                          # build (release) and run everything
#   PROMPT_TRACKER_BIN=/path/to/prompt-tracker scripts/load-tracking.sh
#   DURATION=60s scripts/load-tracking.sh
#
# Environment
#   PROMPT_TRACKER_BIN  the service binary; unset: `cargo build --release -p prompt-tracker`
#                       into CARGO_TARGET_DIR (default /var/cache/prompt-tracker/target)
#   BENCH_DB            database name (default pt_load; dropped first if it exists)
#   BENCH_PORT          port the service listens on, on 127.0.0.1 (default 18087)
#   PGHOST PGPORT PGUSER   server (default 127.0.0.1, 5432, postgres)
#   DURATION            phase A and phase B run time, wrk syntax: 20s, 2m (default 20s)
#   LIST_DURATION       each phase C run (default 10s); WARMUP before each run (default 3s)
#   CONNECTIONS THREADS wrk connections / threads = pgbench clients / threads (16, 2)
#   N_RESPONSES         stored LLM responses in phase C (default 1000000)
#   KEEP=1              keep the database (with its 1,000,000 rows) for EXPLAIN ANALYZE
#   PROMPT_TRACKER_LIST_CACHE_MB  passed to the server (its list cache, row_cache.rs); 0
#                       turns it off, so that every list row is read in full every time
#   SERVER_RUST_LOG     the server's RUST_LOG (default warn); its log is shown on failure
#   BUILD_TIMEOUT       seconds allowed for the cargo build (default 3600)
#   STEP_TIMEOUT        seconds allowed for any one SQL step (default 900); every wrk and
#                       pgbench run has a duration, so the script always ends by itself
#
# Exit status: 0 when every phase ran (whether or not the targets are met; the summary says),
#              1 on a failure (a non-2xx answer, a failed transaction, a server that died...).

set -euo pipefail

usage() { sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; }
for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
BENCH_DB="${BENCH_DB:-pt_load}"
BENCH_PORT="${BENCH_PORT:-18087}"
DURATION="${DURATION:-20s}"
LIST_DURATION="${LIST_DURATION:-10s}"
WARMUP="${WARMUP:-3s}"
CONNECTIONS="${CONNECTIONS:-16}"
THREADS="${THREADS:-2}"
N_RESPONSES="${N_RESPONSES:-1000000}"
KEEP="${KEEP:-0}"
STEP_TIMEOUT="${STEP_TIMEOUT:-900}"
BUILD_TIMEOUT="${BUILD_TIMEOUT:-3600}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/prompt-tracker/target}"

[[ "$BENCH_DB" =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "BENCH_DB must be a plain lower-case identifier" >&2; exit 2; }
for n in BENCH_PORT CONNECTIONS THREADS N_RESPONSES STEP_TIMEOUT BUILD_TIMEOUT; do
  [[ "${!n}" =~ ^[1-9][0-9]*$ ]] || { echo "$n must be a positive integer" >&2; exit 2; }
done
# wrk duration syntax (N, Ns, Nm, Nh) -> seconds, for pgbench -T and the timeouts.
seconds() {
  [[ "$1" =~ ^([1-9][0-9]*)([smh]?)$ ]] || { echo "bad duration: $1 (use e.g. 20s or 2m)" >&2; exit 2; }
  case "${BASH_REMATCH[2]}" in
    m) echo $(( BASH_REMATCH[1] * 60 )) ;;
    h) echo $(( BASH_REMATCH[1] * 3600 )) ;;
    *) echo "${BASH_REMATCH[1]}" ;;
  esac
}
DURATION_S=$(seconds "$DURATION")
LIST_DURATION_S=$(seconds "$LIST_DURATION")
WARMUP_S=$(seconds "$WARMUP")

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
URL="postgres://${PGUSER}@${PGHOST}:${PGPORT}/${BENCH_DB}"
BASE="http://127.0.0.1:${BENCH_PORT}"
API="$BASE/api/v1"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/load-tracking.XXXXXX")"
SCRIPT_START=$(date +%s%N)
SERVER_PID=""
REPRO="$(printf '%q ' env DURATION="$DURATION" LIST_DURATION="$LIST_DURATION" CONNECTIONS="$CONNECTIONS" THREADS="$THREADS" N_RESPONSES="$N_RESPONSES")scripts/load-tracking.sh"

log() { printf '[%6.1fs] %s\n' "$(( ( $(date +%s%N) - SCRIPT_START ) / 100000000 ))e-1" "$*"; }
die() { log "FAILED: $*"; exit 1; }

# psql on database $1: remaining arguments are passed on (-c, -f, -v ...).
pg() {
  local db="$1"; shift
  timeout "$STEP_TIMEOUT" psql -X -q -v ON_ERROR_STOP=1 -At -d "$db" "$@"
}
val() { pg "$BENCH_DB" -c "$1"; }
drop_db() { pg postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)"; }

stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}

cleanup() {
  local rc=$?
  set +e
  stop_server
  if [[ "$rc" != 0 && -s "$WORK/server.log" ]]; then
    echo "--- last lines of the server log ---" >&2
    tail -n 30 "$WORK/server.log" >&2
  fi
  if [[ "$KEEP" == 1 ]]; then
    echo "KEEP=1: database $BENCH_DB kept ($URL)"
  else
    drop_db "$BENCH_DB" >/dev/null 2>&1
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------
# Tools: wrk and jq from Debian when missing; psql, pgbench and curl must be there.
# ---------------------------------------------------------------------------------------
ensure_apt() {
  local missing=() t sudo=()
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  [[ ${#missing[@]} == 0 ]] && return 0
  [[ "$(id -u)" == 0 ]] || sudo=(sudo)
  log "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  if ! timeout 600 "${sudo[@]}" apt-get install -y -q "${missing[@]}" >"$WORK/apt.log" 2>&1; then
    timeout 600 "${sudo[@]}" apt-get update -q >>"$WORK/apt.log" 2>&1 || true
    timeout 600 "${sudo[@]}" apt-get install -y -q "${missing[@]}" >>"$WORK/apt.log" 2>&1 \
      || { cat "$WORK/apt.log" >&2; die "could not install ${missing[*]}"; }
  fi
}
ensure_apt wrk jq
for t in psql pgbench curl; do
  command -v "$t" >/dev/null 2>&1 || die "$t is required (Debian: postgresql-client, curl)"
done

# ---------------------------------------------------------------------------------------
# The release binary
# ---------------------------------------------------------------------------------------
if [[ -n "${PROMPT_TRACKER_BIN:-}" ]]; then
  BIN="$PROMPT_TRACKER_BIN"
else
  log "building the service (cargo build --release -p prompt-tracker, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  (cd "$ROOT" && timeout "$BUILD_TIMEOUT" cargo build --release --quiet -p prompt-tracker)
  BIN="$CARGO_TARGET_DIR/release/prompt-tracker"
fi
[[ -x "$BIN" ]] || die "no executable at $BIN"

# ---------------------------------------------------------------------------------------
# A fresh database and the server on it
# ---------------------------------------------------------------------------------------
if (exec 3<>"/dev/tcp/127.0.0.1/$BENCH_PORT") 2>/dev/null; then
  die "127.0.0.1:$BENCH_PORT is already in use (set BENCH_PORT)"
fi
drop_db "$BENCH_DB"
pg postgres -c "CREATE DATABASE \"$BENCH_DB\""
log "database $BENCH_DB created"
start_server() {
  env -u PROMPT_TRACKER_API_TOKEN -u PROMPT_TRACKER_PRICES_FILE \
    DATABASE_URL="$URL" PROMPT_TRACKER_BIND="127.0.0.1:$BENCH_PORT" RUST_LOG="${SERVER_RUST_LOG:-warn}" \
    "$BIN" serve >>"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  local i
  for i in $(seq 1 600); do
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited during start-up"
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz" || true)" == 200 ]] && break
    [[ $i == 600 ]] && die "/readyz did not answer 200 within 60 s"
    sleep 0.1
  done
  log "server ready: $BIN on 127.0.0.1:$BENCH_PORT (pid $SERVER_PID)"
}
start_server
server_alive() { kill -0 "$SERVER_PID" 2>/dev/null || die "the server died"; }

# POST/GET JSON; prints the body, fails unless the status is 2xx.
call() {
  local method="$1" path="$2" body="${3:-}" out code
  out="$WORK/call.json"
  if [[ -n "$body" ]]; then
    code=$(curl -s -o "$out" -w '%{http_code}' -X "$method" -H 'Content-Type: application/json' --data "$body" "$API$path")
  else
    code=$(curl -s -o "$out" -w '%{http_code}' -X "$method" "$API$path")
  fi
  [[ "$code" == 2?? ]] || { cat "$out" >&2; echo >&2; die "$method $path answered $code"; }
  cat "$out"
}

# Creates a prompt with versions (each activated in turn, so the last one is active) and a
# sync keyword config on each version. Prints the version ids.
MODEL_CONFIG='{"provider":"openai","api":"chat_completion","model":"gpt-4o"}'
KEYWORD_CONFIG='{"evaluator_key":"keyword","config":{"required_keywords":["hello"]},"run_mode":"sync"}'
seed_prompt() {
  local name="$1" n_versions="$2" pid vid k
  pid=$(call POST /prompts "{\"name\":\"$name\",\"description\":\"load-tracking.sh\"}" | jq -er .id)
  for k in $(seq 1 "$n_versions"); do
    vid=$(call POST "/prompts/$pid/versions" \
      "{\"user_prompt\":\"Hello {{ name }}\",\"model_config\":$MODEL_CONFIG,\"notes\":\"v$k\"}" | jq -er .id)
    call POST "/versions/$vid/activate" >/dev/null
    call POST "/versions/$vid/evaluator-configs" "$KEYWORD_CONFIG" >/dev/null
    echo "$vid"
  done
}

# wrk's done() hook: one machine-readable line (latencies in microseconds). wrk counts
# answers >= 400 in errors.status; 1xx/3xx would not be counted, and the API sends none.
cat >"$WORK/report.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format(
    "WRK requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d status_errors=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA

# CPU accounting of a run, over its middle (from 1 s after the start to 2 s before the end),
# from /proc: machine busy % (all cores); CPU ms per second of the server process, of the
# PostgreSQL backends connected to BENCH_DB (the pool's, or pgbench's) and of the load
# client (wrk or pgbench, found as a grandchild of this script); and `other`: the % of the
# machine the rest used (other workloads, PostgreSQL's background processes).
CLK_TCK=$(getconf CLK_TCK)
ticks() { local f; f=$(cut -d')' -f2- "/proc/$1/stat" 2>/dev/null) && set -- $f && echo $(( ${12} + ${13} )); }
cpu_sample() { # $1: client command name; prints: total idle server client pid:ticks...
  local cpu u n s i w q sq st rest server=0 client=0 pid t pp
  read -r cpu u n s i w q sq st rest </proc/stat
  [[ -n "$SERVER_PID" ]] && server=$(ticks "$SERVER_PID" || echo 0)
  for pid in $(pgrep -x "$1" || true); do
    pp=$(cut -d')' -f2- "/proc/$pid/stat" 2>/dev/null | awk '{ print $2 }')
    [[ -n "$pp" && "$(cut -d')' -f2- "/proc/$pp/stat" 2>/dev/null | awk '{ print $2 }')" == "$$" ]] || continue
    t=$(ticks "$pid") && client=$(( client + t ))
  done
  printf '%s %s %s %s' $(( u + n + s + i + w + q + sq + st )) $(( i + w )) "$server" "$client"
  for pid in $(val "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()" 2>/dev/null); do
    t=$(ticks "$pid") && printf ' %s:%s' "$pid" "$t"
  done
  echo
}
# cpu_window SECONDS OUT CLIENT: samples 1 s after it starts and 2 s before the run ends
# (run it in the background when the run starts).
cpu_window() {
  local t0 t1 t2 left
  t0=$(date +%s%N)
  sleep 1; cpu_sample "$3" >"$2.1"; t1=$(date +%s%N)
  left=$(( t0 + ($1 - 2) * 1000000000 - t1 ))
  (( left > 0 )) && sleep "$(( left / 1000000 ))e-3"
  cpu_sample "$3" >"$2.2"; t2=$(date +%s%N)
  awk -v secs="$(( (t2 - t1) / 1000000 ))e-3" -v hz="$CLK_TCK" '
    NR == 1 { t1 = $1; i1 = $2; s1 = $3; c1 = $4; for (k = 5; k <= NF; k++) { split($k, a, ":"); b[a[1]] = a[2] } }
    NR == 2 { pg = 0; for (k = 5; k <= NF; k++) { split($k, a, ":"); if (a[1] in b) pg += a[2] - b[a[1]] }
              dt = $1 - t1; busy = dt - ($2 - i1); srv = $3 - s1; cl = $4 - c1
              printf "%.0f %.0f %.0f %.0f %.0f\n", (dt > 0 ? 100 * busy / dt : 0),
                     (dt > 0 ? 100 * (busy - srv - pg - cl) / dt : 0),
                     1000 * srv / hz / secs, 1000 * pg / hz / secs, 1000 * cl / hz / secs }' \
    "$2.1" "$2.2" >"$2"
}
# C_BUSY C_OTHER (% of the machine), C_SRV C_PG C_CLIENT (CPU ms per request or
# transaction) of a run at RATE/s.
read_cpu() {
  local busy other srv pg cl
  read -r busy other srv pg cl <"$1" || { C_BUSY="?" C_OTHER="?" C_SRV="?" C_PG="?" C_CLIENT="?"; return; }
  C_BUSY=$busy C_OTHER=$(( other < 0 ? 0 : other ))
  C_SRV=$(awk -v v="$srv" -v r="$2" 'BEGIN { printf "%.2f", (r > 0 ? v / r : 0) }')
  C_PG=$(awk -v v="$pg" -v r="$2" 'BEGIN { printf "%.2f", (r > 0 ? v / r : 0) }')
  C_CLIENT=$(awk -v v="$cl" -v r="$2" 'BEGIN { printf "%.2f", (r > 0 ? v / r : 0) }')
}

# run_wrk LABEL DURATION LUA URL: runs wrk (10 s request timeout), keeps its output in
# $WORK/LABEL.wrk and sets W_RPS W_P50 W_P99 W_MAX (ms) W_REQ W_BAD (answers >= 400 +
# socket errors and timeouts) and, for runs of 4 s or more, the CPU figures (read_cpu).
run_wrk() {
  local label="$1" dur="$2" lua="$3" url="$4" line secs cpu_pid=""
  secs=$(seconds "$dur")
  (( secs >= 4 )) && { cpu_window "$secs" "$WORK/$label.cpu" wrk & cpu_pid=$!; }
  timeout $(( secs + 60 )) \
    wrk -t"${WRK_T:-$THREADS}" -c"${WRK_C:-$CONNECTIONS}" -d"$dur" --timeout 10s --latency -s "$lua" "$url" >"$WORK/$label.wrk" 2>&1 \
    || { cat "$WORK/$label.wrk" >&2; die "wrk failed ($label)"; }
  [[ -n "$cpu_pid" ]] && wait "$cpu_pid"
  line=$(grep '^WRK ' "$WORK/$label.wrk") || { cat "$WORK/$label.wrk" >&2; die "no wrk report ($label)"; }
  eval "local $(echo "${line#WRK }")"
  W_REQ=$requests
  W_BAD=$(( status_errors + socket_errors ))
  W_RPS=$(awk -v r="$requests" -v d="$duration_us" 'BEGIN { printf "%.0f", r / (d / 1e6) }')
  W_P50=$(awk -v v="$p50_us" 'BEGIN { printf "%.2f", v / 1000 }')
  W_P99=$(awk -v v="$p99_us" 'BEGIN { printf "%.2f", v / 1000 }')
  W_MAX=$(awk -v v="$max_us" 'BEGIN { printf "%.2f", v / 1000 }')
  C_BUSY="-" C_OTHER="-" C_SRV="-" C_PG="-" C_CLIENT="-"
  [[ -n "$cpu_pid" ]] && read_cpu "$WORK/$label.cpu" "$W_RPS"
  server_alive
}

checkpoint() { pg postgres -c "CHECKPOINT" >/dev/null; }

# wrk ends a run by closing its connections with requests in flight, which cancels those
# requests in the server. A tracked call cancelled while its BEGIN is in flight can leave its
# pooled connection inside a transaction nobody ends (sqlx 0.9, transact-rs/sqlx#4393): the
# next statements on that connection run in it, uncommitted. Count such sessions after each
# POST run; when there are any, restart the server so that the figures that follow come from
# a clean pool (the summary reports the count).
LEAKED=0
check_leaks() {
  local n
  sleep 1
  n=$(val "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
             AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'
             AND state_change < now() - interval '0.5 s'")
  if [[ "$n" != 0 ]]; then
    LEAKED=$(( LEAKED + n ))
    log "WARNING ($1): $n server connection(s) left idle in transaction after wrk stopped; restarting the server"
    val "SELECT pid, state, left(query, 120) FROM pg_stat_activity WHERE datname = current_database()
           AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'" | sed 's/^/    /'
    stop_server
    start_server
  fi
}

# ---------------------------------------------------------------------------------------
# Seed through the API
# ---------------------------------------------------------------------------------------
VERSION_ID=$(seed_prompt "Load bench" 1)
CONFIG_ID=$(call GET "/versions/$VERSION_ID/evaluator-configs" | jq -er '.data[0].id')
probe=$(call POST /llm-responses "{\"prompt_version_id\":$VERSION_ID,\"variables\":{\"name\":\"probe\"},\"response_text\":\"Hello probe\",\"tokens_prompt\":12,\"tokens_completion\":30,\"response_time_ms\":420}")
[[ "$(jq -r '.evaluations | length' <<<"$probe")" == 1 ]] || die "a tracked call did not run the sync evaluator: $probe"
[[ "$(jq -r '.cost_usd' <<<"$probe")" != null ]] || die "a tracked call was not priced: $probe"
log "seeded: prompt version $VERSION_ID (active), sync keyword config $CONFIG_ID"

# ---------------------------------------------------------------------------------------
# Phase A: tracked calls
# ---------------------------------------------------------------------------------------
cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
local t = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  t = tid or 0
end
request = function()
  n = n + 1
  local name = "user " .. t .. "-" .. n
  return wrk.format(nil, nil, nil, string.format(
    '{"prompt_version_id":$VERSION_ID,"variables":{"name":"%s"},'
    .. '"response_text":"Hello %s, here is the answer to your question.",'
    .. '"tokens_prompt":%d,"tokens_completion":%d,"response_time_ms":%d,'
    .. '"environment":"prod","user_id":"u%d","session_id":"s%d-%d",'
    .. '"response_metadata":{"finish_reason":"stop"}}',
    name, name, 10 + n % 40, 20 + n % 200, 300 + n % 900, n % 1000, t, n % 50))
end
LUA
cat "$WORK/report.lua" >>"$WORK/post.lua"

log "phase A: warm-up $WARMUP"
run_wrk a_warmup "$WARMUP" "$WORK/post.lua" "$API/llm-responses"
[[ "$W_BAD" == 0 ]] || die "warm-up: $W_BAD failed requests"
check_leaks "phase A warm-up"
checkpoint
max_id_before=$(val "SELECT max(id) FROM prompt_tracker_llm_responses")
log "phase A: wrk -t$THREADS -c$CONNECTIONS -d$DURATION POST /api/v1/llm-responses"
run_wrk a "$DURATION" "$WORK/post.lua" "$API/llm-responses"
A_RPS=$W_RPS A_P50=$W_P50 A_P99=$W_P99 A_MAX=$W_MAX A_REQ=$W_REQ A_BAD=$W_BAD
A_BUSY=$C_BUSY A_SRV=$C_SRV A_PG=$C_PG A_OTHER=$C_OTHER A_CLIENT=$C_CLIENT
check_leaks "phase A"
A_ROWS=$(val "SELECT count(*) FROM prompt_tracker_llm_responses WHERE id > $max_id_before")
A_EVALS=$(val "SELECT count(*) FROM prompt_tracker_evaluations WHERE llm_response_id > $max_id_before")
log "phase A: $A_RPS req/s, p50 $A_P50 ms, p99 $A_P99 ms, $A_BAD non-2xx/socket errors; $A_ROWS responses and $A_EVALS evaluations stored for $A_REQ requests; CPU per call: server $A_SRV ms, PostgreSQL $A_PG ms, wrk $A_CLIENT ms; machine busy $A_BUSY% (other $A_OTHER%)"
[[ "$A_BAD" == 0 ]] || die "phase A: $A_BAD requests failed (see wrk output below)$(echo; cat "$WORK/a.wrk")"
(( A_ROWS >= A_REQ && A_EVALS == A_ROWS )) || die "phase A: $A_REQ answered requests but $A_ROWS rows / $A_EVALS evaluations stored"
# The latency floor: the same calls one at a time (no queueing), for comparison.
WRK_T=1 WRK_C=1 run_wrk a1 5s "$WORK/post.lua" "$API/llm-responses"
A1_RPS=$W_RPS A1_P50=$W_P50 A1_P99=$W_P99 A1_SRV=$C_SRV A1_PG=$C_PG A1_BUSY=$C_BUSY A1_OTHER=$C_OTHER A1_CLIENT=$C_CLIENT
check_leaks "phase A, 1 connection"
log "phase A at 1 connection: $A1_RPS req/s, p50 $A1_P50 ms, p99 $A1_P99 ms"

# ---------------------------------------------------------------------------------------
# Phase B: the same rows by a plain SQL insert loop (pgbench, same concurrency)
# ---------------------------------------------------------------------------------------
# The newest response phase A wrote and its evaluation, copied column for column (every
# column the service writes; ids from the sequences, timestamps now()), in one transaction
# like the service's: BEGIN; INSERT response RETURNING id; INSERT evaluation; COMMIT.
tmpl_id=$(val "SELECT max(id) FROM prompt_tracker_llm_responses")
literals() { # table, where: "col, col, ... | lit, lit, ..." of one row (id left out)
  val "SELECT string_agg(quote_ident(key), ', ' ORDER BY a.attnum) || ' | ' ||
              string_agg(CASE WHEN key IN ('created_at', 'updated_at') THEN 'now()'
                              WHEN key = 'llm_response_id' THEN ':rid'
                              ELSE quote_nullable(value) END, ', ' ORDER BY a.attnum)
         FROM (SELECT to_jsonb(t) - 'id' AS j FROM $1 t WHERE $2) r,
              jsonb_each_text(r.j) e(key, value)
         JOIN pg_attribute a ON a.attrelid = '$1'::regclass AND a.attname = e.key"
}
r_lits=$(literals prompt_tracker_llm_responses "id = $tmpl_id")
e_lits=$(literals prompt_tracker_evaluations "llm_response_id = $tmpl_id")
[[ -n "$r_lits" && -n "$e_lits" ]] || die "could not read the template rows"
cat >"$WORK/insert.sql" <<SQL
BEGIN;
INSERT INTO prompt_tracker_llm_responses (${r_lits%% | *}) VALUES (${r_lits#* | }) RETURNING id AS rid \gset
INSERT INTO prompt_tracker_evaluations (${e_lits%% | *}) VALUES (${e_lits#* | }) RETURNING id AS eid \gset
END;
SQL
# pgbench reads :name as a variable anywhere in the text; only :rid may appear.
if grep -o ':[A-Za-z0-9_]\+' "$WORK/insert.sql" | grep -qv '^:rid$'; then
  B_MODE=simple   # a literal contains ":word": simple protocol leaves unknown names alone
else
  B_MODE=prepared # like the service's driver (extended protocol, prepared statements)
fi
checkpoint
b_before=$(val "SELECT count(*) FROM prompt_tracker_llm_responses")
log "phase B: pgbench -n -M $B_MODE -c$CONNECTIONS -j$THREADS -T$DURATION_S -f insert.sql"
b_cpu_pid=""
(( DURATION_S >= 4 )) && { cpu_window "$DURATION_S" "$WORK/b.cpu" pgbench & b_cpu_pid=$!; }
timeout $(( DURATION_S + 120 )) pgbench -n -M "$B_MODE" -c "$CONNECTIONS" -j "$THREADS" -T "$DURATION_S" \
  -f "$WORK/insert.sql" "$BENCH_DB" >"$WORK/b.pgbench" 2>&1 \
  || { cat "$WORK/b.pgbench" >&2; die "pgbench failed"; }
B_TPS=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$WORK/b.pgbench")
B_LAT=$(sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' "$WORK/b.pgbench")
B_FAILED=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$WORK/b.pgbench")
B_TX=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/b.pgbench")
[[ -n "$B_TPS" && -n "$B_TX" ]] || { cat "$WORK/b.pgbench" >&2; die "could not read pgbench's output"; }
[[ "${B_FAILED:-0}" == 0 ]] || { cat "$WORK/b.pgbench" >&2; die "pgbench: $B_FAILED failed transactions"; }
b_after=$(val "SELECT count(*) FROM prompt_tracker_llm_responses")
(( b_after - b_before == B_TX )) || die "pgbench reported $B_TX transactions but $(( b_after - b_before )) rows were stored"
B_TPS=$(printf '%.0f' "$B_TPS")
B_BUSY="-" B_PG="-" B_OTHER="-" B_CLIENT="-"
if [[ -n "$b_cpu_pid" ]]; then
  wait "$b_cpu_pid"; read_cpu "$WORK/b.cpu" "$B_TPS"; B_BUSY=$C_BUSY B_PG=$C_PG B_OTHER=$C_OTHER B_CLIENT=$C_CLIENT
fi
RATIO=$(awk -v a="$A_RPS" -v b="$B_TPS" 'BEGIN { printf "%.2f", a / b }')
log "phase B: $B_TPS inserts/s (transactions of 1 response + 1 evaluation), latency avg $B_LAT ms; CPU per transaction: PostgreSQL $B_PG ms, pgbench $B_CLIENT ms; machine busy $B_BUSY% (other $B_OTHER%); tracked/raw = $RATIO"
server_alive

# ---------------------------------------------------------------------------------------
# Phase C: list endpoints at N_RESPONSES stored responses
# ---------------------------------------------------------------------------------------
log "phase C: seeding 9 more prompts with 2 versions each through the API"
OLD_VERSIONS=() NEW_VERSIONS=()
for p in $(seq 1 9); do
  mapfile -t vs < <(seed_prompt "Load bench $p" 2)
  [[ ${#vs[@]} == 2 ]] || die "could not seed prompt $p"
  OLD_VERSIONS+=("${vs[0]}") NEW_VERSIONS+=("${vs[1]}")
done
old_arr="{$(IFS=,; echo "${OLD_VERSIONS[*]}")}"
new_arr="{$(IFS=,; echo "${NEW_VERSIONS[*]}")}"
have=$(val "SELECT count(*) FROM prompt_tracker_llm_responses")
TOPUP=$(( N_RESPONSES - have ))
(( TOPUP > 0 )) || TOPUP=0
max_before=$(val "SELECT max(id) FROM prompt_tracker_llm_responses")
log "phase C: inserting $TOPUP LLM responses (one INSERT ... SELECT generate_series) and evaluations for 1 in 4"
start=$(date +%s%N)
pg "$BENCH_DB" -v n="$TOPUP" -v va="$VERSION_ID" -v old="$old_arr" -v new="$new_arr" \
  -v max_before="$max_before" -v tmpl="$tmpl_id" <<'SQL'
-- Row g (1..n, oldest first): prompt g % 10; prompt 0 is the benchmark's version all along,
-- prompts 1-9 used their v1 for the first 60% of the history and their v2 since.
INSERT INTO prompt_tracker_llm_responses
  (prompt_version_id, rendered_prompt, rendered_system_prompt, variables_used, response_text,
   response_metadata, status, error_type, error_message, response_time_ms, tokens_prompt,
   tokens_completion, tokens_total, cost_usd, provider, api, model, user_id, session_id,
   environment, context, created_at, updated_at, is_test_run)
SELECT CASE WHEN p = 0 THEN :va
            WHEN g <= :n * 0.6 THEN (:'old'::bigint[])[p]
            ELSE (:'new'::bigint[])[p] END,
       'Hello user ' || g, NULL, jsonb_build_object('name', 'user ' || g),
       CASE WHEN err THEN NULL ELSE 'Hello user ' || g || ', here is the answer to your question.' END,
       CASE WHEN err THEN '{}'::jsonb ELSE '{"finish_reason": "stop"}'::jsonb END,
       CASE WHEN err THEN 'error' ELSE 'success' END,
       CASE WHEN err THEN 'RateLimitError' END,
       CASE WHEN err THEN 'Rate limit reached for gpt-4o' END,
       300 + g % 900, tp, tc, tp + tc, round((tp * 2.5 + tc * 10.0) / 1e6, 6),
       'openai', 'chat_completion', 'gpt-4o', 'u' || g % 1000, 's' || g % 5000,
       CASE WHEN e < 60 THEN 'prod' WHEN e < 85 THEN 'staging' WHEN e < 86 THEN 'dev' END,
       '{}'::jsonb, ts, ts, false
  FROM (SELECT g, g % 10 AS p, abs(hashint4(g)) % 50 = 0 AS err, abs(hashint4(g + 7)) % 100 AS e,
               10 + g % 40 AS tp, 20 + g % 200 AS tc,
               (now() - (:n - g) * interval '1 second')::timestamp AS ts
          FROM generate_series(1, :n) g) s
 ORDER BY g;
INSERT INTO prompt_tracker_evaluations
  (llm_response_id, score, score_min, score_max, evaluator_type, evaluator_id, feedback,
   metadata, passed, created_at, updated_at, evaluation_context, evaluator_config_id,
   prompt_version_id)
SELECT r.id, CASE WHEN r.status = 'success' THEN 100 ELSE 0 END, 0, 100, 'keyword', c.id::text,
       t.feedback, t.metadata, r.status = 'success', r.created_at, r.created_at, 'tracked_call', c.id,
       r.prompt_version_id
  FROM prompt_tracker_llm_responses r
  JOIN prompt_tracker_evaluator_configs c
    ON c.configurable_type = 'PromptTracker::PromptVersion' AND c.configurable_id = r.prompt_version_id
   AND c.evaluator_key = 'keyword'
 CROSS JOIN (SELECT feedback, metadata FROM prompt_tracker_evaluations WHERE llm_response_id = :tmpl) t
 WHERE r.id > :max_before AND abs(hashint8(r.id)) % 4 = 0
 ORDER BY r.id;
SQL
pg "$BENCH_DB" -c "VACUUM ANALYZE prompt_tracker_llm_responses" -c "VACUUM ANALYZE prompt_tracker_evaluations"
C_LOAD_S=$(( ( $(date +%s%N) - start ) / 1000000000 ))
C_ROWS=$(val "SELECT count(*) FROM prompt_tracker_llm_responses")
C_EVALS=$(val "SELECT count(*) FROM prompt_tracker_evaluations")
C_SIZE=$(val "SELECT pg_size_pretty(pg_total_relation_size('prompt_tracker_llm_responses'))")
log "phase C: $C_ROWS responses ($C_SIZE with indexes), $C_EVALS evaluations; loaded and analysed in ${C_LOAD_S}s"
OLD_V="${OLD_VERSIONS[0]}"
V_ROWS=$(val "SELECT count(*) FROM prompt_tracker_llm_responses WHERE prompt_version_id = $VERSION_ID")
OLD_V_ROWS=$(val "SELECT count(*) FROM prompt_tracker_llm_responses WHERE prompt_version_id = $OLD_V")
PROD_ROWS=$(val "SELECT count(*) FROM prompt_tracker_llm_responses WHERE environment = 'prod'")
DEV_ROWS=$(val "SELECT count(*) FROM prompt_tracker_llm_responses WHERE environment = 'dev'")

# A cursor from deep in the list: the API's cursor is the last row's id (pagination.rs,
# `id:<n>` base64url); start from the middle of the table, then follow next_cursor 3 pages
# so the cursor measured is one the server issued.
mid_id=$(val "SELECT id FROM prompt_tracker_llm_responses ORDER BY id DESC OFFSET $(( C_ROWS / 2 )) LIMIT 1")
CURSOR=$(printf 'id:%s' "$mid_id" | base64 | tr '+/' '-_' | tr -d '=\n')
for _ in 1 2 3; do
  CURSOR=$(call GET "/llm-responses?limit=50&cursor=$CURSOR" | jq -er '.next_cursor')
done
n_deep=$(call GET "/llm-responses?limit=50&cursor=$CURSOR" | jq -er '.data | length')
[[ "$n_deep" == 50 ]] || die "the deep cursor page has $n_deep rows"

# Pages at random cursors (`random.lua`: a new `id:<n>` cursor per request, n uniform over the
# table's ids): pages the server has not seen before, so every row is read from PostgreSQL in
# full (the list cache, row_cache.rs, only skips the rows of a page query it has answered).
MIN_ID=$(val "SELECT min(id) FROM prompt_tracker_llm_responses")
MAX_ID=$(val "SELECT max(id) FROM prompt_tracker_llm_responses")
cat >"$WORK/random.lua" <<LUA
local min_id, max_id = $MIN_ID, $MAX_ID
LUA
cat >>"$WORK/random.lua" <<'LUA'
local threads = 0
function setup(thread) threads = threads + 1; thread:set("thread_no", threads) end
function init(args) math.randomseed(os.time() * 1000 + thread_no) end
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
-- base64url without padding (RFC 4648, section 5), as pagination.rs encodes cursors
local function base64url(s)
  local out, bits, n = {}, 0, 0
  for i = 1, #s do
    bits = bits * 256 + s:byte(i); n = n + 8
    while n >= 6 do
      n = n - 6
      local v = math.floor(bits / 2 ^ n) % 64
      out[#out + 1] = alphabet:sub(v + 1, v + 1)
    end
    bits = bits % 2 ^ n
  end
  if n > 0 then
    local v = (bits * 2 ^ (6 - n)) % 64
    out[#out + 1] = alphabet:sub(v + 1, v + 1)
  end
  return table.concat(out)
end
function request()
  local id = math.random(min_id + 50, max_id)
  return wrk.format("GET", wrk.path .. "&cursor=" .. base64url("id:" .. id))
end
LUA
cat "$WORK/report.lua" >>"$WORK/random.lua"

# label|kind|path[|lua script]
PROBES=(
  "llm-responses|target|/llm-responses?limit=50"
  "llm-responses?version_id (active version, $V_ROWS rows)|target|/llm-responses?version_id=$VERSION_ID&limit=50"
  "llm-responses?environment=prod ($PROD_ROWS rows)|target|/llm-responses?environment=prod&limit=50"
  "evaluations|target|/evaluations?limit=50"
  "llm-responses?cursor (row ~$(( C_ROWS / 2 + 150 )) of $C_ROWS)|target|/llm-responses?limit=50&cursor=$CURSOR"
  "llm-responses, 1 connection (no queueing)|c1|/llm-responses?limit=50"
  "llm-responses?version_id (deprecated v1, $OLD_V_ROWS old rows)|extra|/llm-responses?version_id=$OLD_V&limit=50"
  "llm-responses?environment=dev ($DEV_ROWS rows)|extra|/llm-responses?environment=dev&limit=50"
  "evaluations?version_id (active version)|extra|/evaluations?version_id=$VERSION_ID&limit=50"
  "evaluations?version_id (deprecated v1)|extra|/evaluations?version_id=$OLD_V&limit=50"
  "llm-responses?cursor=random (pages not seen before)|extra|/llm-responses?limit=50|random.lua"
)
C_RESULTS=()
i=0
# run_wrk at 1 connection for the `c1` rows, at CONNECTIONS otherwise
env_run() { if [[ "$kind" == c1 ]]; then WRK_T=1 WRK_C=1 run_wrk "$@"; else run_wrk "$@"; fi; }
for probe in "${PROBES[@]}"; do
  IFS='|' read -r label kind path lua <<<"$probe"
  lua="$WORK/${lua:-report.lua}"
  i=$(( i + 1 ))
  n=$(call GET "$path" | jq -er '.data | length')
  [[ "$n" == 50 ]] || die "GET $path returned $n rows, not 50"
  env_run "c${i}_warmup" "$WARMUP" "$lua" "$API$path"
  # warm-ups of pathological requests can leave a backlog: let it drain
  sleep 1
  env_run "c$i" "$LIST_DURATION" "$lua" "$API$path"
  log "phase C: GET $path: $W_RPS req/s, p50 $W_P50 ms, p99 $W_P99 ms, $W_BAD errors; CPU per request: server $C_SRV ms, PostgreSQL $C_PG ms, wrk $C_CLIENT ms; machine busy $C_BUSY% (other $C_OTHER%)"
  C_RESULTS+=("$label|$kind|$path|$W_RPS|$W_P50|$W_P99|$W_BAD|$C_SRV|$C_PG|$C_CLIENT|$C_BUSY|$C_OTHER")
  C_ERRORS=$(( ${C_ERRORS:-0} + W_BAD ))
done
check_leaks "phase C"

# ---------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------
verdict() { awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN { ok = (dir == "<") ? (v < t) : (v >= t); print ok ? "met" : "MISSED" }'; }
pg_settings=$(val "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) FROM pg_settings WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync')")
server_version=$("$BIN" --version 2>/dev/null || echo "prompt-tracker")
echo
echo "== load-tracking summary ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(psql -XAtc 'SHOW server_version' -d postgres | cut -d' ' -f1) $pg_settings, $server_version) =="
echo
echo "Phase A/B: $CONNECTIONS connections, $DURATION each. CPU: ms per call (per transaction for B) of the server,"
echo "its PostgreSQL backends and the load client; busy: the whole machine ($(nproc) cores); other: the part used by"
echo "anything else (other workloads on the machine, PostgreSQL background processes)."
row() { printf '| %-66s | %7s | %7s | %7s | %7s | %7s | %7s | %7s | %4s | %5s | %s\n' "$@"; }
row "phase" "per sec" "p50 ms" "p99 ms" "non-2xx" "srv CPU" "PG CPU" "cli CPU" "busy" "other" "target"
row "A tracked calls (POST /api/v1/llm-responses)" "$A_RPS" "$A_P50" "$A_P99" "$A_BAD" "$A_SRV" "$A_PG" "$A_CLIENT" "$A_BUSY%" "$A_OTHER%" "p99 < 20 ms: $(verdict "$A_P99" 20 '<')"
row "A' the same at 1 connection (no queueing)" "$A1_RPS" "$A1_P50" "$A1_P99" "-" "$A1_SRV" "$A1_PG" "$A1_CLIENT" "$A1_BUSY%" "$A1_OTHER%" "(for comparison)"
row "B raw inserts (pgbench: 1 response + 1 evaluation per tx)" "$B_TPS" "-" "-" "0" "-" "$B_PG" "$B_CLIENT" "$B_BUSY%" "$B_OTHER%" "avg latency $B_LAT ms"
row "tracked / raw" "$RATIO" "" "" "" "" "" "" "" "" ">= 0.5: $(verdict "$RATIO" 0.5 '>=')"
echo
echo "Phase C: list endpoints at $C_ROWS LLM responses, $C_EVALS evaluations; $CONNECTIONS connections, $LIST_DURATION each, limit=50;"
echo "list cache PROMPT_TRACKER_LIST_CACHE_MB=${PROMPT_TRACKER_LIST_CACHE_MB:-default (64)} (0: every row read in full)"
row "GET /api/v1/..." "req/s" "p50 ms" "p99 ms" "errors" "srv CPU" "PG CPU" "cli CPU" "busy" "other" "p99 < 10 ms"
for r in "${C_RESULTS[@]}"; do
  IFS='|' read -r label kind path rps p50 p99 bad srv pgc cli busy other <<<"$r"
  [[ "$kind" == extra ]] && label="(extra) $label"
  [[ "$kind" == c1 ]] && label="(compare) $label"
  row "$label" "$rps" "$p50" "$p99" "$bad" "$srv" "$pgc" "$cli" "$busy%" "$other%" "$(verdict "$p99" 10 '<')"
done
echo
echo "Phase A stored $A_ROWS responses + $A_EVALS evaluations for $A_REQ answered requests; phase B $B_TX transactions (pgbench -M $B_MODE); phase C load ${C_LOAD_S}s."
if [[ "$LEAKED" != 0 ]]; then
  echo "WARNING: $LEAKED server connection(s) were left idle in transaction when wrk stopped mid-request"
  echo "         (a cancelled BEGIN, transact-rs/sqlx#4393); the server was restarted before continuing."
fi
echo "Reproduce: $REPRO"
