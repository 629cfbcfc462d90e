#!/usr/bin/env bash
# Property-based API testing of the real server against the committed openapi.yaml, with
# Schemathesis (https://schemathesis.readthedocs.io):
#
#   1. a cached virtualenv (${ST_VENV:-/var/cache/prompt-tracker/schemathesis-venv}) with the
#      pinned schemathesis, rebuilt only when a pin changes (offline on warm runs);
#   2. a mock OpenAI server (scripts/mock_openai.py, no delay) so that test runs complete;
#      Anthropic and Gemini point at a closed loopback port: nothing leaves the machine;
#   3. the real server on a free port, a fresh SQLite file, a throwaway bearer token
#      (so the documented 401s are exercised too) and provider retries off;
#   4. seeding through the API (scripts/schemathesis_support.py seed): a few prompts, versions,
#      tests, evaluator configs, tracked calls, evaluations, datasets, rows and finished test
#      runs; their ids are bound to the id parameters (probability 0.5) so that the fuzzer
#      reaches existing resources as well as missing ones;
#   5. `schemathesis run` over every operation of openapi.yaml, all phases (examples,
#      coverage, fuzzing, stateful), checks not_a_server_error, status_code_conformance,
#      content_type_conformance, response_headers_conformance, response_schema_conformance
#      and max_response_time, a fixed seed, one worker (scripts/schemathesis.toml);
#   6. a summary from Schemathesis' NDJSON/JSON reports: requests made per phase, status and
#      operation, then each distinct failure with a curl reproduction, the answer and what the
#      spec says.
#
# It fails when Schemathesis reports a failure or an error, when fewer than ST_MIN_REQUESTS
# requests were made, or when the run does not finish within ST_TIMEOUT seconds.
#
# Environment: PROMPT_TRACKER_BIN (default ${CARGO_TARGET_DIR:-target}/debug/prompt-tracker,
# built beforehand: this script never runs cargo), ST_VENV, ST_PYTHON (python3), ST_SPEC
# (default openapi.yaml), ST_SEED (default 20261121), ST_MAX_EXAMPLES (per operation and phase,
# default 25), ST_MIN_REQUESTS (1000), ST_MAX_RESPONSE_TIME (seconds, default 10),
# ST_TIMEOUT (whole run, seconds, default 600), ST_REPORT_DIR (copy the reports, the server
# log and the summary there), ST_KEEP_TMP=1 (keep the work directory). Extra arguments go to
# `schemathesis run` (e.g. --include-path-regex /prompts --phases fuzzing).
# Tool pins: SCHEMATHESIS_VERSION below plus scripts/schemathesis-constraints.txt (every
# transitive dependency); changing either rebuilds the venv.
# Last line: `schemathesis: N passed, M failed` (N = requests made, M = distinct failures +
# errors; any M > 0 exits 1).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

SCHEMATHESIS_VERSION=4.32.5

venv="${ST_VENV:-/var/cache/prompt-tracker/schemathesis-venv}"
python="${ST_PYTHON:-python3}"
bin="${PROMPT_TRACKER_BIN:-${CARGO_TARGET_DIR:-target}/debug/prompt-tracker}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
spec="${ST_SPEC:-$root/openapi.yaml}"
case "$spec" in /*) ;; *) spec="$root/$spec" ;; esac
seed="${ST_SEED:-20261121}"
max_examples="${ST_MAX_EXAMPLES:-25}"
min_requests="${ST_MIN_REQUESTS:-1000}"
max_response_time="${ST_MAX_RESPONSE_TIME:-10}"
run_timeout="${ST_TIMEOUT:-600}"

server_pid=""
mock_pid=""
requests=0
tmp="$(mktemp -d -t schemathesis.XXXXXX)"
t0=$(date +%s.%N)

elapsed() { awk -v now="$(date +%s.%N)" -v start="$1" 'BEGIN { printf "%.1fs", now - start }'; }
log() { echo "schemathesis: $*"; }
fail() {
  echo "schemathesis: FAILED: $*" >&2
  if [ -n "$server_pid" ] && [ -s "$tmp/server.log" ]; then
    echo "---- server log (last 40 lines) ----" >&2
    tail -n 40 "$tmp/server.log" >&2
    echo "------------------------------------" >&2
  fi
  echo "schemathesis: $requests passed, 1 failed"
  exit 1
}
stop() { # pid: TERM, up to 5 s, then KILL
  local pid="$1"
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then return 0; fi
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop "$server_pid"
  stop "$mock_pid"
  if [ -n "${ST_REPORT_DIR:-}" ]; then
    mkdir -p "$ST_REPORT_DIR"
    cp -r "$tmp/reports/." "$ST_REPORT_DIR/" 2>/dev/null || true
    cp "$tmp"/{server.log,mock.log,summary.txt,schemathesis.log,schemathesis.toml,seed.json} "$ST_REPORT_DIR/" 2>/dev/null || true
    echo "schemathesis: reports copied to $ST_REPORT_DIR" >&2
  fi
  if [ "${ST_KEEP_TMP:-0}" = 1 ]; then
    echo "schemathesis: kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ -f "$spec" ] || fail "no $spec"
[ -x "$bin" ] || fail "server binary $bin not found (cargo build first, or set PROMPT_TRACKER_BIN)"

# ---------------------------------------------------------------------------------------------
echo "== 1. tools (venv $venv)"
t=$(date +%s.%N)
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock" # one install at a time per venv
flock -w 600 9 || fail "another run has held $venv.lock for 10 minutes"
constraints="$root/scripts/schemathesis-constraints.txt" # every transitive dependency, pinned as tested
[ -f "$constraints" ] || fail "no $constraints"
pins="python=$("$python" -c 'import sys; print(sys.version.split()[0])') schemathesis==$SCHEMATHESIS_VERSION constraints=$(sha256sum "$constraints" | cut -c1-12)"
if [ -x "$venv/bin/schemathesis" ] && [ "$(cat "$venv/.schemathesis-pins" 2>/dev/null)" = "$pins" ]; then
  echo "cached: $pins"
else
  echo "installing: $pins"
  if [ -e "$venv" ]; then
    [ -f "$venv/pyvenv.cfg" ] || fail "$venv exists and is not a virtualenv: refusing to replace it"
    rm -rf "$venv"
  fi
  "$python" -m venv "$venv" || fail "cannot create a virtualenv with $python"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --constraint "$constraints" \
    "schemathesis==$SCHEMATHESIS_VERSION" || fail "pip install of the pinned tools"
  "$venv/bin/pip" check >/dev/null || fail "pip check: $("$venv/bin/pip" check)"
  echo "$pins" >"$venv/.schemathesis-pins"
fi
exec 9>&- # the venv is only read from here on: concurrent runs are fine
log "ok: tools ready: $("$venv/bin/schemathesis" --version) ($(elapsed "$t"))"

# ---------------------------------------------------------------------------------------------
echo "== 2. mock OpenAI and the server"
t=$(date +%s.%N)
"$venv/bin/python" "$root/scripts/mock_openai.py" --port 0 --delay-ms 0 --port-file "$tmp/mock.port" \
  >"$tmp/mock.log" 2>&1 &
mock_pid=$!
for i in $(seq 1 100); do
  kill -0 "$mock_pid" 2>/dev/null || { cat "$tmp/mock.log" >&2; fail "the mock OpenAI server exited during start-up"; }
  [ -s "$tmp/mock.port" ] && break
  [ "$i" = 100 ] && fail "the mock OpenAI server did not start within 10 s"
  sleep 0.1
done
mock="http://127.0.0.1:$(cat "$tmp/mock.port")"

free_port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_ready() {
  "$venv/bin/python" - "$@" <<'PY'
import os, sys, time, urllib.request
pid, url = int(sys.argv[1]), sys.argv[2]
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(1)
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.1)
sys.exit(2)
PY
}
token="st-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" # throwaway: only this server knows it
dead="http://127.0.0.1:9" # discard port, nothing listens: Anthropic/Gemini calls fail at once
base=""
for attempt in 1 2 3; do
  port="$(free_port)"
  rm -f "$tmp"/st.db*
  env -u PROMPT_TRACKER_PRICES_FILE -u ANTHROPIC_API_KEY -u GEMINI_API_KEY -u PROMPT_TRACKER_JOB_LEASE_SECS \
    DATABASE_URL="sqlite://$tmp/st.db?mode=rwc" PROMPT_TRACKER_BIND="127.0.0.1:$port" \
    PROMPT_TRACKER_API_TOKEN="$token" \
    OPENAI_API_KEY=schemathesis-mock OPENAI_BASE_URL="$mock/v1" \
    ANTHROPIC_BASE_URL="$dead" GEMINI_BASE_URL="$dead" \
    PROMPT_TRACKER_PROVIDER_RETRIES=0 PROMPT_TRACKER_PROVIDER_TIMEOUT_SECS=5 PROMPT_TRACKER_WORKERS=2 \
    RUST_LOG="${RUST_LOG:-warn}" "$bin" serve >"$tmp/server.log" 2>&1 &
  server_pid=$!
  # In the background so that a TERM/INT reaches the trap at once.
  wait_ready "$server_pid" "http://127.0.0.1:$port/readyz" &
  if wait $!; then
    base="http://127.0.0.1:$port"
    break
  fi
  if kill -0 "$server_pid" 2>/dev/null; then
    fail "the server on port $port did not become ready within 60 s"
  fi
  wait "$server_pid" 2>/dev/null || true
  echo "schemathesis: the server exited during start-up (attempt $attempt, port $port):" >&2
  tail -n 20 "$tmp/server.log" >&2
  server_pid=""
done
[ -n "$base" ] || fail "the server did not start (3 attempts)"
log "ok: server ready at $base (pid $server_pid, fresh SQLite $tmp/st.db, mock OpenAI $mock) ($(elapsed "$t"))"

if ! "$bin" openapi 2>/dev/null | cmp -s - "$spec"; then
  echo "schemathesis: WARNING: '$bin openapi' differs from $spec (stale binary or stale spec);" \
    "the run tests that binary against $spec" >&2
fi

# ---------------------------------------------------------------------------------------------
echo "== 3. seed through the API"
t=$(date +%s.%N)
"$venv/bin/python" "$root/scripts/schemathesis_support.py" seed "$base" "$token" "$tmp/seed.json" "$tmp/ids.toml" \
  || fail "seeding (above)"
cat "$root/scripts/schemathesis.toml" "$tmp/ids.toml" >"$tmp/schemathesis.toml"
log "ok: seeded ($(elapsed "$t"))"

# ---------------------------------------------------------------------------------------------
echo "== 4. schemathesis run (seed $seed, max examples $max_examples, timeout ${run_timeout}s)"
t=$(date +%s.%N)
mkdir -p "$tmp/reports" "$tmp/work"
set +e
# From an empty directory: Schemathesis and Hypothesis write nothing into the repository.
(cd "$tmp/work" && ST_BASE_URL="$base" ST_TOKEN="$token" \
  timeout --kill-after=10 "$run_timeout" "$venv/bin/schemathesis" --config-file "$tmp/schemathesis.toml" \
  run "$spec" --url "$base" --seed "$seed" --max-examples "$max_examples" \
  --max-response-time "$max_response_time" --no-color \
  --report ndjson,json,junit --report-dir "$tmp/reports" \
  --report-ndjson-path "$tmp/reports/events.ndjson" --report-json-path "$tmp/reports/report.json" \
  --report-junit-path "$tmp/reports/junit.xml" "$@") >"$tmp/schemathesis.log" 2>&1
st_status=$?
set -e
run_time="$(elapsed "$t")"
cat "$tmp/schemathesis.log"
kill -0 "$server_pid" 2>/dev/null || fail "the server died during the run (exit status of schemathesis: $st_status)"
if [ "$st_status" -eq 124 ] || [ "$st_status" -eq 137 ]; then
  fail "schemathesis did not finish within ${run_timeout}s (ST_TIMEOUT)"
fi
if [ ! -s "$tmp/reports/events.ndjson" ] || [ ! -s "$tmp/reports/report.json" ]; then
  fail "schemathesis exited $st_status without writing its reports (output above)"
fi

# ---------------------------------------------------------------------------------------------
echo "== 5. summary"
if ! ST_BASE_URL="$base" ST_TOKEN="$token" "$venv/bin/python" "$root/scripts/schemathesis_support.py" summarize \
  "$tmp/reports/events.ndjson" "$tmp/reports/report.json" >"$tmp/summary.txt"; then
  cat "$tmp/summary.txt"
  fail "scripts/schemathesis_support.py summarize failed (schemathesis exited $st_status)"
fi
cat "$tmp/summary.txt"
totals="$(tail -n 1 "$tmp/summary.txt")"
requests=$(sed -nE 's/^REQUESTS=([0-9]+) .*/\1/p' <<<"$totals")
failures=$(sed -nE 's/.* FAILURES=([0-9]+) .*/\1/p' <<<"$totals")
errors=$(sed -nE 's/.* ERRORS=([0-9]+)$/\1/p' <<<"$totals")
if [ -z "$requests" ] || [ -z "$failures" ] || [ -z "$errors" ]; then
  fail "could not read the summary's totals"
fi
failed=$((failures + errors))
if [ "$st_status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1
  echo "schemathesis: FAILED: schemathesis exited $st_status though the reports hold no failure (output above)" >&2
fi
if [ "$requests" -lt "$min_requests" ]; then
  failed=$((failed + 1))
  echo "schemathesis: FAILED: only $requests requests, fewer than ST_MIN_REQUESTS=$min_requests" \
    "(raise ST_MAX_EXAMPLES)" >&2
fi
log "run time $run_time (schemathesis), total $(elapsed "$t0"); $requests requests," \
  "$failures distinct failures, $errors errors; seed $seed, max examples $max_examples, schemathesis $SCHEMATHESIS_VERSION"
echo "schemathesis: $requests passed, $failed failed"
[ "$failed" -eq 0 ]
