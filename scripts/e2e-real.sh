#!/usr/bin/env bash
# e2e-real.sh: the service against a real (small, local) LLM, end to end, on PostgreSQL.
#
# What it does (everything on 127.0.0.1, no internet)
#   1. Starts its own llama-server with SmolLM2-135M-Instruct (scripts/local-llm.sh: built
#      once and cached; ~11 min cold) and checks its three endpoints.
#   2. Copies two openai/evals datasets out of the PyPI wheel evals==3.0.1.post1 (MIT; the
#      wheel's LICENSE.md is copied beside them) into /var/cache/prompt-tracker/evals-data/:
#      crontab (21 samples: `wc -l` says 20, the last line has no newline) and born_first
#      (122 samples), both `Match` evals.
#   3. Creates a fresh PostgreSQL database and starts the service (debug binary) with
#      OPENAI_BASE_URL and ANTHROPIC_BASE_URL pointing at llama-server (through a small
#      logging proxy, scripts/llm_log_proxy.py, that records every exchange), one worker and
#      provider concurrency 1 (llama-server answers one request at a time).
#   4. `prompt-tracker import-evals` once per (dataset, api): OpenAI Chat Completions, OpenAI
#      Responses, Anthropic Messages; model "smollm2", temperature 0, max_tokens 24 (crontab)
#      or 8 (born_first); `--match starts-with` (openai/evals Match).
#   5. Runs the six tests over their datasets (POST /tests/{id}/runs?wait=true with the
#      dataset_id), twice, and prints per dataset and api: runs, passed, failed, errored,
#      median provider latency (ms) and prompt/completion tokens.
#   Checks: every import took every sample; every run is final, none errored, each has an
#   LLM response with tokens; the second pass gives the same verdict for every sample and the
#   same numbers (latency excluded), from new LLM calls. Pass rates are whatever the model
#   earns. Ends with `e2e-real: N passed, M failed` (N, M: checks).
#   When runs error, the exchanges the proxy logged (the exact request the service sent and
#   llama-server's answer) are printed.
#
# How to run
#   scripts/e2e-real.sh
#   PROMPT_TRACKER_BIN=/path/to/prompt-tracker scripts/e2e-real.sh
#
# Environment
#   PROMPT_TRACKER_BIN  the service binary; unset: `cargo build -p prompt-tracker` (debug) into
#                       CARGO_TARGET_DIR (default /var/cache/prompt-tracker/target)
#   E2E_DB              database name (default pt_e2e_real; dropped first and at the end)
#   E2E_PORT            the service's port (default: a free one)
#   E2E_PASSES          passes (default 2)
#   E2E_PROXY=0         no logging proxy (the service calls llama-server directly)
#   KEEP=1              keep the database and the work directory (logs, pass*.json)
#   PGHOST PGPORT PGUSER   PostgreSQL (default 127.0.0.1, 5432, postgres; no password)
#   Time: each step is bounded (model start 120 s after the build, each batch 15 min); one
#   e2e run takes a few minutes once llama-server is cached.
#
# Exit status: 0 when every check passed, 1 otherwise.

set -euo pipefail

usage() { sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; }
for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
E2E_DB="${E2E_DB:-pt_e2e_real}"
E2E_PASSES="${E2E_PASSES:-2}"
E2E_PROXY="${E2E_PROXY:-1}"
KEEP="${KEEP:-0}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/prompt-tracker/target}"
[[ "$E2E_DB" =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "E2E_DB must be a plain lower-case identifier" >&2; exit 2; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE=/var/cache/prompt-tracker
EVALS_VERSION=3.0.1.post1
EVALS_WHEEL="$CACHE/evals/evals-$EVALS_VERSION-py3-none-any.whl"
DATA_DIR="$CACHE/evals-data/evals-$EVALS_VERSION"
DB_URL="postgres://${PGUSER}@${PGHOST}:${PGPORT}/${E2E_DB}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/e2e-real.XXXXXX")"
T0=$SECONDS
SERVER_PID="" PROXY_PID="" LLM_STARTED=0
export LOCAL_LLM_STATE="$WORK/llm.state"   # our own llama-server, stopped at the end

log() { printf '[%s +%4ds] %s\n' "$(date +%H:%M:%S)" "$((SECONDS - T0))" "$*"; }
die() { log "FAILED: $*"; echo "e2e-real: ${PRE_CHECKS:-0} passed, 1 failed"; exit 1; }
PRE_CHECKS=0
pass_check() { PRE_CHECKS=$((PRE_CHECKS + 1)); log "ok: $*"; }

pg() { local db="$1"; shift; timeout 120 psql -X -q -v ON_ERROR_STOP=1 -At -d "$db" "$@"; }
drop_db() { pg postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)"; }

stop_pid() { # pid: TERM, up to 10 s, then KILL
  local pid="$1"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  stop_pid "$SERVER_PID"; SERVER_PID=""
  stop_pid "$PROXY_PID"; PROXY_PID=""
  [[ "$LLM_STARTED" == 1 ]] && timeout 60 "$ROOT/scripts/local-llm.sh" stop >/dev/null 2>&1
  if [[ "$rc" != 0 && -s "$WORK/server.log" ]]; then
    echo "--- last lines of the service log ($WORK/server.log) ---" >&2
    tail -n 40 "$WORK/server.log" >&2
  fi
  if [[ "$KEEP" == 1 ]]; then
    echo "KEEP=1: database $E2E_DB kept ($DB_URL); logs and results in $WORK"
  else
    drop_db "$E2E_DB" >/dev/null 2>&1
    rm -rf "$WORK"
  fi
  log "done in $((SECONDS - T0)) s"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for t in psql curl python3 unzip; do
  command -v "$t" >/dev/null 2>&1 || die "$t is required (Debian: postgresql-client, curl, python3, unzip)"
done
pg_isready -h "$PGHOST" -p "$PGPORT" -q || die "PostgreSQL is not reachable on $PGHOST:$PGPORT"

# --- the service binary -------------------------------------------------------------------
if [[ -n "${PROMPT_TRACKER_BIN:-}" ]]; then
  BIN="$PROMPT_TRACKER_BIN"
else
  log "cargo build -p prompt-tracker (debug, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  (cd "$ROOT" && timeout 3600 cargo build --quiet -p prompt-tracker)
  BIN="$CARGO_TARGET_DIR/debug/prompt-tracker"
fi
[[ -x "$BIN" ]] || die "no executable at $BIN"

# --- the datasets (openai/evals, MIT) -------------------------------------------------------
if [[ ! -s "$DATA_DIR/crontab.jsonl" || ! -s "$DATA_DIR/born_first.jsonl" || ! -s "$DATA_DIR/LICENSE.md" ]]; then
  if [[ ! -s "$EVALS_WHEEL" ]]; then
    log "downloading the evals==$EVALS_VERSION wheel (PyPI, --no-deps)"
    mkdir -p "$(dirname "$EVALS_WHEEL")"
    timeout 600 python3 -m pip download -q --no-deps -d "$WORK/wheel" "evals==$EVALS_VERSION" \
      || die "pip download evals==$EVALS_VERSION failed"
    mv "$WORK/wheel/$(basename "$EVALS_WHEEL")" "$EVALS_WHEEL"
  fi
  mkdir -p "$DATA_DIR"
  unzip -p "$EVALS_WHEEL" evals/registry/data/crontab/samples.jsonl >"$DATA_DIR/crontab.jsonl.tmp"
  unzip -p "$EVALS_WHEEL" evals/registry/data/born_first/born_first.jsonl >"$DATA_DIR/born_first.jsonl.tmp"
  unzip -p "$EVALS_WHEEL" "evals-$EVALS_VERSION.dist-info/LICENSE.md" >"$DATA_DIR/LICENSE.md"
  cat >"$DATA_DIR/NOTICE" <<EOF
crontab.jsonl  = evals/registry/data/crontab/samples.jsonl
born_first.jsonl = evals/registry/data/born_first/born_first.jsonl
from the PyPI wheel evals==$EVALS_VERSION (openai/evals, Copyright (c) 2023 OpenAI, MIT License:
see LICENSE.md beside this file, copied from that wheel's dist-info).
EOF
  mv "$DATA_DIR/crontab.jsonl.tmp" "$DATA_DIR/crontab.jsonl"
  mv "$DATA_DIR/born_first.jsonl.tmp" "$DATA_DIR/born_first.jsonl"
fi
[[ "$(grep -c . "$DATA_DIR/crontab.jsonl")" == 21 && "$(grep -c . "$DATA_DIR/born_first.jsonl")" == 122 ]] \
  || die "the datasets in $DATA_DIR do not hold 21 and 122 samples"
pass_check "datasets in $DATA_DIR (crontab 21, born_first 122 samples, with LICENSE.md)"

# --- the model ------------------------------------------------------------------------------
log "starting llama-server (scripts/local-llm.sh start; builds it first when not cached)"
LLM_STARTED=1
timeout 4800 "$ROOT/scripts/local-llm.sh" start >"$WORK/llm.out" 2>"$WORK/llm.err" \
  || { cat "$WORK/llm.err" >&2; die "scripts/local-llm.sh start failed"; }
LLM_URL="$(sed -n 's/^URL=//p' "$WORK/llm.out")"
[[ -n "$LLM_URL" ]] || die "scripts/local-llm.sh start printed no URL"
pass_check "llama-server on $LLM_URL answers /v1/chat/completions, /v1/responses and /v1/messages"

UPSTREAM="$LLM_URL"
if [[ "$E2E_PROXY" == 1 ]]; then
  python3 "$ROOT/scripts/llm_log_proxy.py" --upstream "$LLM_URL" --log "$WORK/exchanges.jsonl" \
    --port-file "$WORK/proxy.port" >"$WORK/proxy.log" 2>&1 &
  PROXY_PID=$!
  for i in $(seq 1 100); do
    kill -0 "$PROXY_PID" 2>/dev/null || { cat "$WORK/proxy.log" >&2; die "the logging proxy exited"; }
    [[ -s "$WORK/proxy.port" ]] && break
    [[ $i == 100 ]] && die "the logging proxy did not start within 10 s"
    sleep 0.1
  done
  UPSTREAM="http://127.0.0.1:$(cat "$WORK/proxy.port")"
  log "logging proxy on $UPSTREAM -> $LLM_URL ($WORK/exchanges.jsonl)"
fi

# --- a fresh database and the service on it ---------------------------------------------------
PORT="${E2E_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
BASE="http://127.0.0.1:$PORT"
drop_db "$E2E_DB"
pg postgres -c "CREATE DATABASE \"$E2E_DB\""
log "database $E2E_DB created; starting $BIN on $BASE"
env -u PROMPT_TRACKER_API_TOKEN -u PROMPT_TRACKER_PRICES_FILE -u GEMINI_API_KEY -u GEMINI_BASE_URL \
  -u PROMPT_TRACKER_JOB_LEASE_SECS \
  DATABASE_URL="$DB_URL" PROMPT_TRACKER_BIND="127.0.0.1:$PORT" \
  OPENAI_API_KEY=local-llm OPENAI_BASE_URL="$UPSTREAM/v1" \
  ANTHROPIC_API_KEY=local-llm ANTHROPIC_BASE_URL="$UPSTREAM" \
  PROMPT_TRACKER_WORKERS=1 PROMPT_TRACKER_PROVIDER_CONCURRENCY=1 \
  PROMPT_TRACKER_PROVIDER_TIMEOUT_SECS=120 PROMPT_TRACKER_PROVIDER_RETRIES=1 \
  RUST_LOG="${SERVER_RUST_LOG:-info,sqlx=warn,api=debug}" \
  "$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for i in $(seq 1 600); do
  kill -0 "$SERVER_PID" 2>/dev/null || die "the service exited during start-up"
  [[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz" || true)" == 200 ]] && break
  [[ $i == 600 ]] && die "/readyz did not answer 200 within 60 s"
  sleep 0.1
done
pass_check "service ready on $BASE (pid $SERVER_PID, database $E2E_DB)"

# --- import, run twice, compare ----------------------------------------------------------------
set +e
timeout 7200 python3 "$ROOT/scripts/e2e_real.py" --api "$BASE/api/v1" --bin "$BIN" --db-url "$DB_URL" \
  --data-dir "$DATA_DIR" --work "$WORK" --passes "$E2E_PASSES" --pre-checks "$PRE_CHECKS" \
  ${PROXY_PID:+--proxy-log "$WORK/exchanges.jsonl"}
rc=$?
set -e
kill -0 "$SERVER_PID" 2>/dev/null || { log "the service died during the runs"; rc=1; }
if [[ "$rc" == 124 ]]; then log "the runs did not finish within 2 h"; echo "e2e-real: $PRE_CHECKS passed, 1 failed"; fi
exit "$rc"
