#!/usr/bin/env bash
# bench-test-runs.sh: benchmark of test runs against a mock provider, on PostgreSQL.
#
# What it measures (release build, a fresh PostgreSQL database, everything on 127.0.0.1)
#   A mock OpenAI Chat Completions server (scripts/mock_openai.py, Python asyncio) answers
#   every POST /v1/chat/completions after DELAY_MS. The service runs with WORKERS background
#   workers and a provider concurrency limit of CONCURRENCY. Through the API the script
#   creates a prompt, a version ("Greet {{ name }}.", openai chat_completion gpt-4o) and a
#   test with one `keyword` evaluator config (required keyword "welcome", which the mock's
#   answer "Hello, welcome!" contains, so every run passes).
#   Then, REPEAT times on a fresh batch (same service):
#     POST /api/v1/tests/{id}/runs?wait=true  with ROWS distinct {"name": ...} rows
#   i.e. one run per row, timed as a whole (enqueue + provider calls + evaluations + every
#   verdict, until the answer arrives). Checked each time: the batch verdict is `passed`,
#   passed = ROWS, errored = 0, and the mock answered exactly ROWS requests.
#   Reported per repetition: wall time, ideal = ROWS x DELAY_MS / min(WORKERS, CONCURRENCY),
#   wall/ideal, the service's RSS before the run and its peak RSS during it (VmHWM, reset
#   before each run through /proc/PID/clear_refs when allowed, else the peak since start),
#   the mock's peak concurrency, CPU seconds used meanwhile by the service, PostgreSQL and
#   the mock, and PostgreSQL transactions per run (pg_stat_database; every statement outside
#   an explicit transaction is one). The median of the repetitions is the headline.
#   Targets: wall/ideal <= 1.2, peak RSS < 150 MB.
#   This is a benchmark, not a test: it is not run by `cargo test`. Client, service, mock and
#   PostgreSQL share the machine, so figures are for this machine only.
#
# How to run (from anywhere; PostgreSQL must accept the user without a password)
#   scripts/bench-test-runs.sh                         # build (release) and run everything
#   PROMPT_TRACKER_BIN=/path/to/prompt-tracker scripts/bench-test-runs.sh
#   DELAY_MS=200 WORKERS=64 CONCURRENCY=64 scripts/bench-test-runs.sh
#
# Environment
#   PROMPT_TRACKER_BIN  the service binary; unset: `cargo build --release -p prompt-tracker`
#                       into CARGO_TARGET_DIR (default /var/cache/prompt-tracker/target)
#   BENCH_DB            database name (default pt_bench_runs; dropped first if it exists)
#   BENCH_PORT          port of the service on 127.0.0.1 (default 18088); the mock takes a
#                       free port (MOCK_PORT to choose one)
#   PGHOST PGPORT PGUSER   server (default 127.0.0.1, 5432, postgres)
#   DB_PARAMS           query string added to the service's DATABASE_URL, e.g.
#                       sslmode=disable (default none: the driver's sslmode=prefer, i.e. TLS
#                       when the server offers it, as Debian's PostgreSQL does)
#   ROWS                runs per batch (default 1000, at most 10000)
#   DELAY_MS            the mock's answer delay (default 100)
#   WORKERS             PROMPT_TRACKER_WORKERS (default 32)
#   CONCURRENCY         PROMPT_TRACKER_PROVIDER_CONCURRENCY (default 32)
#   REPEAT              measured batches (default 3)
#   WARMUP=1            run one unmeasured batch of 64 rows first (default 0: the first
#                       measured batch is a cold start, as a user's first batch is)
#   WAIT_IDLE           seconds to wait for other benchmarks (load-tracking.sh, wrk, pgbench)
#                       to finish before measuring, polling every 20 s (default 1200; 0: no wait)
#   QUIET_BUSY QUIET_WAIT  before each batch, wait until the machine's CPU is at most
#                       QUIET_BUSY percent busy (default 20, sampled over 2 s), polling every
#                       10 s, QUIET_WAIT seconds in all for the whole script (default 300), then
#                       go on anyway; the summary shows the CPU that other processes used
#                       during each batch (other_cpu_s), i.e. how distorted the figures are
#   KEEP=1              keep the database and the work directory (server and mock logs,
#                       request and answer bodies); both are named at the end
#   RUN_TIMEOUT         seconds allowed for one batch request (default 600, the server's own
#                       ?wait limit); every step has a timeout, so the script always ends
#
# Exit status: 0 when every repetition ran and every run passed (whether or not the targets
#              are met; the summary says), 1 on a failure (an error answer, a run that did
#              not pass, a request count that is not ROWS, a server that died...).

set -euo pipefail

usage() { sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; }
for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
BENCH_DB="${BENCH_DB:-pt_bench_runs}"
BENCH_PORT="${BENCH_PORT:-18088}"
MOCK_PORT="${MOCK_PORT:-0}"
ROWS="${ROWS:-1000}"
DELAY_MS="${DELAY_MS:-100}"
WORKERS="${WORKERS:-32}"
CONCURRENCY="${CONCURRENCY:-32}"
REPEAT="${REPEAT:-3}"
WARMUP="${WARMUP:-0}"
WAIT_IDLE="${WAIT_IDLE:-1200}"
QUIET_BUSY="${QUIET_BUSY:-20}"
QUIET_WAIT="${QUIET_WAIT:-300}"
KEEP="${KEEP:-0}"
RUN_TIMEOUT="${RUN_TIMEOUT:-600}"
BUILD_TIMEOUT="${BUILD_TIMEOUT:-3600}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/prompt-tracker/target}"

[[ "$BENCH_DB" =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "BENCH_DB must be a plain lower-case identifier" >&2; exit 2; }
for n in BENCH_PORT ROWS DELAY_MS WORKERS CONCURRENCY REPEAT RUN_TIMEOUT BUILD_TIMEOUT; do
  [[ "${!n}" =~ ^[1-9][0-9]*$ ]] || { echo "$n must be a positive integer" >&2; exit 2; }
done
for n in MOCK_PORT WAIT_IDLE QUIET_BUSY QUIET_WAIT; do
  [[ "${!n}" =~ ^[0-9]+$ ]] || { echo "$n must be a non-negative integer" >&2; exit 2; }
done
(( ROWS <= 10000 )) || { echo "ROWS must be at most 10000 (the API's limit)" >&2; exit 2; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
URL="postgres://${PGUSER}@${PGHOST}:${PGPORT}/${BENCH_DB}${DB_PARAMS:+?$DB_PARAMS}"
BASE="http://127.0.0.1:${BENCH_PORT}"
API="$BASE/api/v1"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-test-runs.XXXXXX")"
SCRIPT_START=$(date +%s%N)
SERVER_PID="" MOCK_PID=""
REPRO="$(printf '%q ' env ${DB_PARAMS:+DB_PARAMS="$DB_PARAMS"} ROWS="$ROWS" DELAY_MS="$DELAY_MS" WORKERS="$WORKERS" CONCURRENCY="$CONCURRENCY" REPEAT="$REPEAT")scripts/bench-test-runs.sh"

log() { printf '[%6.1fs] %s\n' "$(( ( $(date +%s%N) - SCRIPT_START ) / 100000000 ))e-1" "$*"; }
die() { log "FAILED: $*"; exit 1; }

pg() {
  local db="$1"; shift
  timeout 300 psql -X -q -v ON_ERROR_STOP=1 -At -d "$db" "$@"
}
drop_db() { pg postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)"; }

stop_pid() { # pid: TERM, up to 5 s, then KILL
  local pid="$1"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  stop_pid "$SERVER_PID"; SERVER_PID=""
  stop_pid "$MOCK_PID"; MOCK_PID=""
  if [[ "$rc" != 0 && -s "$WORK/server.log" ]]; then
    echo "--- last lines of the server log ---" >&2
    tail -n 30 "$WORK/server.log" >&2
  fi
  if [[ "$KEEP" == 1 ]]; then
    echo "KEEP=1: database $BENCH_DB kept ($URL); logs in $WORK"
  else
    drop_db "$BENCH_DB" >/dev/null 2>&1
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for t in psql curl python3; do
  command -v "$t" >/dev/null 2>&1 || die "$t is required (Debian: postgresql-client, curl, python3)"
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
# The mock provider, a fresh database and the server on it
# ---------------------------------------------------------------------------------------
python3 "$ROOT/scripts/mock_openai.py" --port "$MOCK_PORT" --delay-ms "$DELAY_MS" \
  --port-file "$WORK/mock.port" >"$WORK/mock.log" 2>&1 &
MOCK_PID=$!
for i in $(seq 1 100); do
  kill -0 "$MOCK_PID" 2>/dev/null || { cat "$WORK/mock.log" >&2; die "the mock exited during start-up"; }
  [[ -s "$WORK/mock.port" ]] && break
  [[ $i == 100 ]] && die "the mock did not start within 10 s"
  sleep 0.1
done
MOCK_PORT=$(cat "$WORK/mock.port")
MOCK="http://127.0.0.1:$MOCK_PORT"
log "mock provider on $MOCK (pid $MOCK_PID, answers after $DELAY_MS ms)"

if (exec 3<>"/dev/tcp/127.0.0.1/$BENCH_PORT") 2>/dev/null; then
  die "127.0.0.1:$BENCH_PORT is already in use (set BENCH_PORT)"
fi
drop_db "$BENCH_DB"
pg postgres -c "CREATE DATABASE \"$BENCH_DB\""
log "database $BENCH_DB created; starting $BIN on 127.0.0.1:$BENCH_PORT ($WORKERS workers, provider concurrency $CONCURRENCY)"
env -u PROMPT_TRACKER_API_TOKEN -u PROMPT_TRACKER_PRICES_FILE \
  -u ANTHROPIC_API_KEY -u ANTHROPIC_BASE_URL -u GEMINI_API_KEY -u GEMINI_BASE_URL \
  -u PROMPT_TRACKER_PROVIDER_TIMEOUT_SECS -u PROMPT_TRACKER_PROVIDER_RETRIES -u PROMPT_TRACKER_JOB_LEASE_SECS \
  DATABASE_URL="$URL" PROMPT_TRACKER_BIND="127.0.0.1:$BENCH_PORT" \
  OPENAI_API_KEY=bench OPENAI_BASE_URL="$MOCK/v1" \
  PROMPT_TRACKER_WORKERS="$WORKERS" PROMPT_TRACKER_PROVIDER_CONCURRENCY="$CONCURRENCY" \
  RUST_LOG="${SERVER_RUST_LOG:-warn}" \
  "$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for i in $(seq 1 600); do
  kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited during start-up"
  [[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz" || true)" == 200 ]] && break
  [[ $i == 600 ]] && die "/readyz did not answer 200 within 60 s"
  sleep 0.1
done
log "server ready (pid $SERVER_PID)"
server_alive() { kill -0 "$SERVER_PID" 2>/dev/null || die "the server died"; }

# POST/GET JSON; prints the body, fails unless the status is 2xx.
call() {
  local method="$1" path="$2" body="${3:-}" out code
  out="$WORK/call.json"
  if [[ -n "$body" ]]; then
    code=$(curl -s -m 60 -o "$out" -w '%{http_code}' -X "$method" -H 'Content-Type: application/json' --data "$body" "$API$path")
  else
    code=$(curl -s -m 60 -o "$out" -w '%{http_code}' -X "$method" "$API$path")
  fi
  [[ "$code" == 2?? ]] || { cat "$out" >&2; echo >&2; die "$method $path answered $code"; }
  cat "$out"
}
json() { python3 -c 'import json,sys; v=json.load(sys.stdin); exec(sys.argv[1])' "$1"; }
field() { json "v=v$1; assert v is not None, '$1 is null'; print(v)"; }

# ---------------------------------------------------------------------------------------
# Measurement helpers: RSS, CPU seconds, PostgreSQL transactions, the mock's counters
# ---------------------------------------------------------------------------------------
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
mb() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }
CLK_TCK=$(getconf CLK_TCK)
cpu_of() { # pid: utime + stime in clock ticks (0 when gone)
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  s="${s##*) }"
  set -- $s
  echo $(( ${12} + ${13} ))
}
# PostgreSQL processes working for this benchmark: the backends connected to BENCH_DB and
# the server's own processes (WAL writer, checkpointer...), not other databases' backends.
postgres_pids() {
  pg postgres -c "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()
                    AND (datname = '$BENCH_DB' OR backend_type <> 'client backend')"
}
# pg_snapshot FILE: "pid ticks" of each such process
pg_snapshot() { local pid; for pid in $(postgres_pids); do echo "$pid $(cpu_of "$pid")"; done >"$1"; }
# pg_delta BEFORE AFTER: CPU ticks used between the snapshots (processes new since BEFORE
# count in full: the pool opens connections on demand)
pg_delta() { awk 'NR == FNR { b[$1] = $2; next } { d += $2 - (($1 in b) ? b[$1] : 0) } END { print d + 0 }' "$1" "$2"; }
secs() { awk -v t="$1" -v h="$CLK_TCK" 'BEGIN { printf "%.1f", t / h }'; }
db_xacts() {
  pg postgres -c "SELECT pg_stat_clear_snapshot()" \
    -c "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$BENCH_DB'" | tail -n 1
}
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
busy_pct() { # share of the machine's CPU busy over 2 s, percent
  local b0 b1 t0 t1
  read -r b0 t0 < <(awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat)
  sleep 2
  read -r b1 t1 < <(awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat)
  awk -v b=$(( b1 - b0 )) -v t=$(( t1 - t0 )) 'BEGIN { printf "%.0f", (t > 0) ? 100 * b / t : 0 }'
}
reset_hwm() { { echo 5 >"/proc/$SERVER_PID/clear_refs"; } 2>/dev/null && echo 1 || echo 0; }

# ---------------------------------------------------------------------------------------
# Seed through the API
# ---------------------------------------------------------------------------------------
MODEL_CONFIG='{"provider":"openai","api":"chat_completion","model":"gpt-4o"}'
PROMPT_ID=$(call POST /prompts '{"name":"Run bench","description":"bench-test-runs.sh"}' | field '["id"]')
VERSION_ID=$(call POST "/prompts/$PROMPT_ID/versions" \
  "{\"user_prompt\":\"Greet {{ name }}.\",\"model_config\":$MODEL_CONFIG,\"notes\":\"bench\"}" | field '["id"]')
TEST_ID=$(call POST "/versions/$VERSION_ID/tests" \
  "{\"name\":\"greets\",\"description\":\"the answer welcomes\",\"model_config\":$MODEL_CONFIG}" | field '["id"]')
CONFIG_ID=$(call POST "/tests/$TEST_ID/evaluator-configs" \
  '{"evaluator_key":"keyword","config":{"required_keywords":["welcome"]}}' | field '["id"]')
log "seeded: prompt $PROMPT_ID, version $VERSION_ID, test $TEST_ID with keyword config $CONFIG_ID"

# One batch: rows named "<tag>-<i>". Writes the answer to $WORK/<label>.json and sets
# R_CODE R_WALL_MS (curl's time_total).
batch() {
  local label="$1" tag="$2" n="$3"
  python3 -c 'import json,sys; t,n=sys.argv[1],int(sys.argv[2]); print(json.dumps({"rows":[{"name":f"user {t}-{i}"} for i in range(n)]}))' \
    "$tag" "$n" >"$WORK/$label.body"
  local out
  out=$(curl -s -m "$(( RUN_TIMEOUT + 30 ))" -o "$WORK/$label.json" -w '%{http_code} %{time_total}' \
    -X POST -H 'Content-Type: application/json' --data-binary "@$WORK/$label.body" \
    "$API/tests/$TEST_ID/runs?wait=true") || true
  R_CODE="${out%% *}"
  R_WALL_MS=$(awk -v s="${out#* }" 'BEGIN { printf "%.0f", s * 1000 }')
  [[ "$R_CODE" == 200 ]] || { head -c 2000 "$WORK/$label.json" >&2; echo >&2; die "$label: POST /tests/$TEST_ID/runs?wait=true answered $R_CODE"; }
  server_alive
}

# Summary of a batch answer: verdict passed failed errored skipped total runs p50/p95/max
# execution_time_ms, and the span from the first run created to the last run updated (ms).
batch_facts() {
  json '
from datetime import datetime
b = v["batch"]; runs = v["runs"]
ts = sorted(r["execution_time_ms"] or 0 for r in runs)
pct = lambda p: ts[min(len(ts) - 1, int(p / 100 * len(ts)))] if ts else 0
t = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
span = (max(t(r["updated_at"]) for r in runs) - min(t(r["created_at"]) for r in runs)).total_seconds() * 1000 if runs else 0
print(b["verdict"], b["passed"], b["failed"], b["errored"], b["skipped"], b["total"], len(runs),
      pct(50), pct(95), ts[-1] if ts else 0, round(span))' <"$1"
}

# ---------------------------------------------------------------------------------------
# Wait for other benchmarks, so they do not distort the figures
# ---------------------------------------------------------------------------------------
bench_running() { pgrep -f 'load-tracking.sh|wrk |pgbench' >/dev/null 2>&1; }
if (( WAIT_IDLE > 0 )) && bench_running; then
  log "another benchmark is running ($(pgrep -fa 'load-tracking.sh|wrk |pgbench' | head -n 3 | cut -c1-80 | tr '\n' ';')); waiting up to $WAIT_IDLE s"
  waited=0
  while bench_running; do
    (( waited >= WAIT_IDLE )) && die "other benchmarks still running after $WAIT_IDLE s"
    sleep 20; waited=$(( waited + 20 ))
    server_alive
  done
  log "the machine is free after $waited s"
fi

if [[ "$WARMUP" == 1 ]]; then
  log "warm-up: one batch of 64 rows (not measured)"
  batch warmup w 64
fi

# ---------------------------------------------------------------------------------------
# The measured batches
# ---------------------------------------------------------------------------------------
EFFECTIVE=$(( WORKERS < CONCURRENCY ? WORKERS : CONCURRENCY ))
IDEAL_MS=$(( ROWS * DELAY_MS / EFFECTIVE ))
RESULTS=()
QUIET_LEFT=$QUIET_WAIT
for r in $(seq 1 "$REPEAT"); do
  pg postgres -c "CHECKPOINT" >/dev/null
  said=0
  while busy=$(busy_pct); (( busy > QUIET_BUSY && QUIET_LEFT > 0 )); do
    (( said++ )) || log "the machine is ${busy}% busy (other processes); waiting for <= ${QUIET_BUSY}% (up to $QUIET_LEFT s more)"
    sleep 8; QUIET_LEFT=$(( QUIET_LEFT - 10 ))
    server_alive
  done
  (( busy > QUIET_BUSY )) && log "the machine is ${busy}% busy and the quiet wait (QUIET_WAIT=$QUIET_WAIT s) is used up: measuring anyway (see other_cpu_s)"
  curl -s -m 10 -X POST "$MOCK/reset" >/dev/null || die "the mock does not answer"
  rss_before=$(status_kb "$SERVER_PID" VmRSS)
  hwm_reset=$(reset_hwm)
  x0=$(db_xacts)
  pg_snapshot "$WORK/pg0"; s0=$(cpu_of "$SERVER_PID"); m0=$(cpu_of "$MOCK_PID"); a0=$(machine_ticks)
  log "run $r/$REPEAT: POST /tests/$TEST_ID/runs?wait=true with $ROWS rows (service RSS $(mb "$rss_before") MB)"
  batch "run$r" "r$r" "$ROWS"
  s1=$(cpu_of "$SERVER_PID"); m1=$(cpu_of "$MOCK_PID"); a1=$(machine_ticks); pg_snapshot "$WORK/pg1"
  p0=0; p1=$(pg_delta "$WORK/pg0" "$WORK/pg1")
  other=$(( (a1 - a0) - (s1 - s0) - (p1 - p0) - (m1 - m0) )); (( other >= 0 )) || other=0
  hwm=$(status_kb "$SERVER_PID" VmHWM)
  rss_after=$(status_kb "$SERVER_PID" VmRSS)
  mock=$(curl -s -m 10 "$MOCK/count") || die "the mock does not answer"
  mock_n=$(field '["requests"]' <<<"$mock"); mock_peak=$(field '["max_in_flight"]' <<<"$mock")
  sleep 1.5   # backends report their statistics at most once a second
  x1=$(db_xacts)
  read -r verdict passed failed errored skipped total nruns e50 e95 emax span <<<"$(batch_facts "$WORK/run$r.json")"
  ratio=$(awk -v w="$R_WALL_MS" -v i="$IDEAL_MS" 'BEGIN { printf "%.2f", w / i }')
  xpr=$(awk -v a="$x0" -v b="$x1" -v n="$ROWS" 'BEGIN { printf "%.1f", (b - a) / n }')
  line="$r $R_WALL_MS $ratio $(mb "$rss_before") $(mb "$hwm") $(mb "$rss_after") $hwm_reset $passed $errored $failed $mock_n $mock_peak $(secs $(( s1 - s0 ))) $(secs $(( p1 - p0 ))) $(secs $(( m1 - m0 ))) $xpr $e50 $e95 $emax $span $(secs "$other") $busy"
  RESULTS+=("$line")
  log "run $r: ${R_WALL_MS} ms (ideal $IDEAL_MS ms, ratio $ratio), verdict $verdict: passed $passed, failed $failed, errored $errored, skipped $skipped of $total; mock requests $mock_n (peak in flight $mock_peak); RSS $(mb "$rss_before") MB before, peak $(mb "$hwm") MB; CPU s: service $(secs $(( s1 - s0 ))), postgres $(secs $(( p1 - p0 ))), mock $(secs $(( m1 - m0 ))), other processes $(secs "$other") (machine ${busy}% busy before); $xpr PostgreSQL transactions per run; run execution ms p50 $e50 p95 $e95 max $emax"
  [[ "$nruns" == "$ROWS" && "$total" == "$ROWS" ]] || die "run $r: the batch holds $total runs ($nruns returned), expected $ROWS"
  [[ "$errored" == 0 ]] || die "run $r: $errored runs errored$(echo; python3 -c 'import json,sys; print([r["error_message"] for r in json.load(open(sys.argv[1]))["runs"] if r["error_message"]][:3])' "$WORK/run$r.json")"
  [[ "$verdict" == passed && "$passed" == "$ROWS" ]] || die "run $r: verdict $verdict, $passed of $ROWS passed"
  [[ "$mock_n" == "$ROWS" ]] || die "run $r: the mock answered $mock_n requests, expected $ROWS"
done

# ---------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { local i="$1" l; for l in "${RESULTS[@]}"; do set -- $l; echo "${!i}"; done; }
MED_WALL=$(median $(col 2))
MED_RATIO=$(awk -v w="$MED_WALL" -v i="$IDEAL_MS" 'BEGIN { printf "%.2f", w / i }')
MAX_HWM=$(col 5 | sort -g | tail -n 1)
ratio_ok=$(awk -v r="$MED_RATIO" 'BEGIN { print ((r <= 1.2) ? "met" : "MISSED") }')
rss_ok=$(awk -v m="$MAX_HWM" 'BEGIN { print ((m < 150) ? "met" : "MISSED") }')
hwm_note="peak RSS reset before each run (/proc/PID/clear_refs)"
[[ "$(col 7 | sort -u)" == 1 ]] || hwm_note="peak RSS since the service started (clear_refs not allowed)"

echo
echo "== bench-test-runs.sh: $ROWS test runs per batch, mock provider answering after $DELAY_MS ms =="
echo "   $WORKERS workers, provider concurrency $CONCURRENCY, PostgreSQL $(pg postgres -c 'SHOW server_version' | cut -d' ' -f1) at $PGHOST:$PGPORT, $(nproc) cores, release build"
echo "   ideal = $ROWS x $DELAY_MS ms / $EFFECTIVE = $IDEAL_MS ms; $hwm_note"
echo
printf '%-4s %8s %6s %10s %10s %7s %7s %5s %6s %9s %8s %10s %11s %9s %11s\n' \
  run wall_ms ratio rss_before peak_rss passed errored mock in_flt svc_cpu_s pg_cpu_s mock_cpu_s other_cpu_s xacts/run exec_ms_p50
for l in "${RESULTS[@]}"; do
  set -- $l
  printf '%-4s %8s %6s %7s MB %7s MB %7s %7s %5s %6s %9s %8s %10s %11s %9s %11s\n' \
    "$1" "$2" "$3" "$4" "$5" "$8" "$9" "${11}" "${12}" "${13}" "${14}" "${15}" "${21}" "${16}" "${17}"
done
echo
echo "median wall time: $MED_WALL ms = ${MED_RATIO}x ideal (target <= 1.2x: $ratio_ok)"
echo "largest peak RSS: $MAX_HWM MB (target < 150 MB: $rss_ok)"
echo "every run passed, 0 errored, mock requests = $ROWS per batch"
echo
echo "reproduce: $REPRO"
