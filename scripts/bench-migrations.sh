#!/usr/bin/env bash
# bench-migrations.sh: benchmark of the Prompt Tracker data migrations on PostgreSQL.
#
# What it measures
#   It creates a fresh database, applies only the baseline migration
#   (m20250101_000001) with the migration CLI, fills it set-based (generate_series, fully
#   deterministic) with a legacy data set: 10,000 prompts, ~20,000 versions, 20,000
#   evaluator configs, ~20,000 prompt tests, 1,000,000 LLM responses and 100,000
#   evaluations. Then it applies the remaining migrations one at a time (`up -n 1`) and,
#   for each, times:
#     - the migration: the whole `migration -u URL up -n 1` CLI invocation (wall clock);
#     - a hand-written, minimal, set-based reference doing the same job over the same rows,
#       run as one `psql` invocation (one transaction) on a copy of the database taken just
#       before that migration (CREATE DATABASE <BENCH_DB>_ref TEMPLATE <BENCH_DB>).
#       The reference reaches the same end schema (columns, NOT NULL, CHECKs, indexes) but
#       skips the migrations' validation and archive (down-data) bookkeeping.
#   It prints, per migration: rows touched, migration ms, reference ms, the ratio
#   migration/reference, and whether the migrated data equals the reference's result.
#   It ends with SQL checks that the data migrations did their job (OK/FAIL lines).
#   With --down it also times `down -n 1` of each data migration in reverse order and
#   checks that the baseline data came back exactly.
#   This is a benchmark, not a test: it is not run by `cargo test`.
#
# How to run (from anywhere; PostgreSQL must accept the user without a password)
#   scripts/bench-migrations.sh            # build the CLI (release) and benchmark
#   scripts/bench-migrations.sh --down     # also time the downs
#   MIGRATE=target/debug/migration scripts/bench-migrations.sh   # use an existing binary
#
# Environment
#   MIGRATE        migration CLI binary; unset: `cargo build -p migration --release` and
#                  use ${CARGO_TARGET_DIR:-target}/release/migration
#   BENCH_DB       database name (default pt_bench; dropped first if it exists); the copy
#                  for the references is ${BENCH_DB}_ref
#   PGHOST PGPORT PGUSER   server (default 127.0.0.1, 5432, postgres)
#   KEEP=1         keep ${BENCH_DB} (fully migrated, or up to the failure) when done
#   N_PROMPTS N_RESPONSES N_EVALUATIONS   data size (default 10000, 1000000, 100000)
#   STEP_TIMEOUT   seconds allowed for any one step (default 900); the script is bounded
#
# Exit status: 0 when every migration ran and every check printed OK, 1 otherwise.

set -euo pipefail

usage() { sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; }

DO_DOWN=0
for arg in "$@"; do
  case "$arg" in
    --down) DO_DOWN=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
BENCH_DB="${BENCH_DB:-pt_bench}"
REF_DB="${BENCH_DB}_ref"
KEEP="${KEEP:-0}"
N_PROMPTS="${N_PROMPTS:-10000}"
N_RESPONSES="${N_RESPONSES:-1000000}"
N_EVALUATIONS="${N_EVALUATIONS:-100000}"
STEP_TIMEOUT="${STEP_TIMEOUT:-900}"

[[ "$BENCH_DB" =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "BENCH_DB must be a plain lower-case identifier" >&2; exit 2; }
for n in N_PROMPTS N_RESPONSES N_EVALUATIONS STEP_TIMEOUT; do
  [[ "${!n}" =~ ^[1-9][0-9]*$ ]] || { echo "$n must be a positive integer" >&2; exit 2; }
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
URL="postgres://${PGUSER}@${PGHOST}:${PGPORT}/${BENCH_DB}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-migrations.XXXXXX")"
SCRIPT_START=$(date +%s%N)

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
log() { printf '[%6.1fs] %s\n' "$(( ( $(date +%s%N) - SCRIPT_START ) / 100000000 ))e-1" "$*"; }

# psql on database $1: remaining arguments are passed on (-c, -f, -v ...).
pg() {
  local db="$1"; shift
  timeout "$STEP_TIMEOUT" psql -X -q -v ON_ERROR_STOP=1 -At -d "$db" "$@"
}
# One value from one query on database $1.
val() { pg "$1" -c "$2"; }

drop_db() { pg postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)"; }

cleanup() {
  local rc=$?
  set +e
  drop_db "$REF_DB" >/dev/null 2>&1
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

# Waits (at most 30 s) until no session is connected to database $1, so that it can be
# used as a template.
wait_no_conn() {
  local i n
  for i in $(seq 1 300); do
    n=$(val postgres "SELECT count(*) FROM pg_stat_activity WHERE datname = '$1' AND pid <> pg_backend_pid()")
    [[ "$n" == 0 ]] && return 0
    sleep 0.1
  done
  echo "sessions still connected to $1:" >&2
  val postgres "SELECT pid, application_name, state, query FROM pg_stat_activity WHERE datname = '$1'" >&2
  return 1
}

checkpoint() { val postgres "CHECKPOINT" >/dev/null 2>&1 || true; }

# ---------------------------------------------------------------------------------------
# The migration CLI
# ---------------------------------------------------------------------------------------
if [[ -z "${MIGRATE:-}" ]]; then
  log "building the migration CLI: cargo build -p migration --release"
  (cd "$ROOT" && timeout "$STEP_TIMEOUT" cargo build -q -p migration --release)
  target_dir="${CARGO_TARGET_DIR:-target}"
  [[ "$target_dir" = /* ]] || target_dir="$ROOT/$target_dir"
  MIGRATE="$target_dir/release/migration"
fi
[[ -x "$MIGRATE" ]] || { echo "migration binary not found or not executable: $MIGRATE" >&2; exit 2; }

# Runs the CLI on $URL with the given sub-command; output to $WORK/cli.log.
cli() { timeout "$STEP_TIMEOUT" "$MIGRATE" -u "$URL" "$@" >"$WORK/cli.log" 2>&1; }

# ---------------------------------------------------------------------------------------
# 1. Fresh database + baseline
# ---------------------------------------------------------------------------------------
PG_VERSION=$(val postgres "SELECT version()")
PG_VERSION_NUM=$(val postgres "SHOW server_version_num")
COPY_STRATEGY=""
(( PG_VERSION_NUM >= 150000 )) && COPY_STRATEGY="STRATEGY = FILE_COPY"

log "PostgreSQL: $PG_VERSION"
log "migration CLI: $MIGRATE"
drop_db "$REF_DB"
drop_db "$BENCH_DB"
pg postgres -c "CREATE DATABASE \"$BENCH_DB\""
log "created database $BENCH_DB"

t0=$(now_ms)
if ! cli up -n 1; then cat "$WORK/cli.log" >&2; echo "baseline migration failed" >&2; exit 1; fi
BASELINE_MS=$(( $(now_ms) - t0 ))
log "baseline applied in ${BASELINE_MS} ms"

# ---------------------------------------------------------------------------------------
# 2. Legacy data, set-based and deterministic (modular arithmetic on the series index)
# ---------------------------------------------------------------------------------------
cat >"$WORK/load.sql" <<'SQL'
\set ON_ERROR_STOP 1
BEGIN;

-- model_config mix (versions use id % 6, tests (id * 5 + 1) % 6, so they differ per pair)
CREATE TEMP TABLE bench_mc (k int PRIMARY KEY, cfg jsonb NOT NULL) ON COMMIT DROP;
INSERT INTO bench_mc VALUES
  (0, '{"provider": "openai_responses", "model": "gpt-4o", "temperature": 0.7}'),
  (1, '{"provider": "openai_assistants", "model": "gpt-4o", "assistant_id": "asst_bench"}'),
  (2, '{"provider": "openai", "model": "gpt-4o-mini"}'),
  (3, '{"provider": "anthropic", "model": "claude-3-5-sonnet-20241022", "max_tokens": 1024}'),
  (4, '{"provider": "openai", "api": "response_api", "model": "gpt-4o", "temperature": 0.2}'),
  (5, '{}');

CREATE TEMP TABLE bench_keys (k int PRIMARY KEY, key text NOT NULL, cfg jsonb NOT NULL) ON COMMIT DROP;
INSERT INTO bench_keys VALUES
  (0, 'keyword',     '{"required_keywords": ["a"]}'),
  (1, 'length',      '{"min_length": 10, "max_length": 2000}'),
  (2, 'format',      '{"format": "json"}'),
  (3, 'exact_match', '{"expected": "ok"}'),
  (4, 'llm_judge',   '{"judge_model": "gpt-4o-mini", "criteria": ["helpfulness"]}');

-- prompts
INSERT INTO prompt_tracker_prompts (id, name, slug, description, category, tags, created_by, created_at, updated_at)
SELECT p, 'Prompt ' || p, 'prompt-' || p, 'Benchmark prompt number ' || p,
       (ARRAY['support', 'sales', 'summarization', 'classification'])[1 + p % 4],
       '["bench"]'::jsonb, 'bench', ts, ts
FROM generate_series(1, :n_prompts) AS p
CROSS JOIN LATERAL (SELECT timestamp '2024-01-01' + p * interval '1 minute') AS t(ts);

-- versions: p % 40 = 0 has none; others 1-3; (p * 7) % 10 < 7 has exactly one active
-- version (not always the latest); the rest only draft/deprecated.
INSERT INTO prompt_tracker_prompt_versions
  (id, prompt_id, user_prompt, system_prompt, version_number, status, variables_schema, model_config, notes, created_by, created_at, updated_at)
SELECT s.id, s.p, 'Answer the question about {{topic}} (prompt ' || s.p || ', v' || s.v || ').',
       CASE WHEN s.v % 2 = 1 THEN 'You are a helpful assistant.' END,
       s.v,
       CASE WHEN s.has_active AND s.v = s.act THEN 'active'
            WHEN s.has_active AND s.v < s.act THEN 'deprecated'
            WHEN s.has_active THEN 'draft'
            WHEN s.v = s.nver AND s.p % 2 = 0 THEN 'draft'
            ELSE 'deprecated' END,
       '[{"name": "topic", "type": "string"}]'::jsonb, mc.cfg, NULL, 'bench',
       timestamp '2024-01-01' + s.id * interval '1 minute', timestamp '2024-01-01' + s.id * interval '1 minute'
FROM (
  SELECT row_number() OVER (ORDER BY p, v) AS id, p, v, nver, act, has_active
  FROM (SELECT p, 1 + (p / 3) % 3 AS nver, (p * 7) % 10 < 7 AS has_active
        FROM generate_series(1, :n_prompts) AS p) AS pp
  CROSS JOIN LATERAL (SELECT 1 + (pp.p / 7) % pp.nver AS act) AS a
  CROSS JOIN LATERAL generate_series(1, CASE WHEN pp.p % 40 = 0 THEN 0 ELSE pp.nver END) AS v
) AS s
JOIN bench_mc mc ON mc.k = s.id % 6;

SELECT count(*) AS n_versions FROM prompt_tracker_prompt_versions \gset

-- evaluator configs: 2 per prompt, distinct keys per prompt
INSERT INTO prompt_tracker_evaluator_configs
  (id, prompt_id, evaluator_key, enabled, config, run_mode, priority, weight, created_at, updated_at)
SELECT (p - 1) * 2 + j + 1, p, k.key, j = 0 OR p % 10 <> 3,
       CASE WHEN j = 0 THEN k.cfg ELSE '{}'::jsonb END,
       CASE WHEN (p + j) % 3 = 0 THEN 'sync' ELSE 'async' END, j, 1.0,
       timestamp '2024-02-01', timestamp '2024-02-01'
FROM generate_series(1, :n_prompts) AS p
CROSS JOIN generate_series(0, 1) AS j
JOIN bench_keys k ON k.k = CASE WHEN j = 0 THEN p % 5 ELSE (p % 5 + 1 + p % 3) % 5 END;

-- prompt tests: one per version; evaluator_configs arrays of 0-3 entries (id % 4), keys
-- distinct within an array, some without threshold, some without config.
INSERT INTO prompt_tracker_prompt_tests
  (id, prompt_version_id, name, description, template_variables, expected_output, expected_patterns,
   model_config, evaluator_configs, enabled, tags, metadata, created_at, updated_at)
SELECT v.id, v.id, 'Test ' || v.id, 'Benchmark test of version ' || v.id,
       jsonb_build_object('topic', 'topic ' || v.id % 50), 'ok', '["ok"]'::jsonb,
       mc.cfg, COALESCE(ec.arr, '[]'::jsonb), v.id % 10 <> 9, '[]'::jsonb, '{}'::jsonb,
       timestamp '2024-03-01', timestamp '2024-03-01'
FROM prompt_tracker_prompt_versions v
JOIN bench_mc mc ON mc.k = (v.id * 5 + 1) % 6
CROSS JOIN LATERAL (
  SELECT jsonb_agg(
           jsonb_build_object('evaluator_key', k.key)
           || CASE WHEN (v.id + j) % 3 <> 0 THEN jsonb_build_object('threshold', 50 + (v.id * 7 + j * 11) % 51) ELSE '{}'::jsonb END
           || CASE WHEN (v.id + j) % 4 <> 1 THEN jsonb_build_object('config', k.cfg) ELSE '{}'::jsonb END
           ORDER BY j) AS arr
  FROM generate_series(0, (v.id % 4)::int - 1) AS j
  JOIN bench_keys k ON k.k = (v.id + j) % 5
) AS ec;

-- LLM responses, spread over the versions (multiplicative hash of the index)
INSERT INTO prompt_tracker_llm_responses
  (id, prompt_version_id, rendered_prompt, rendered_system_prompt, variables_used, response_text, response_metadata,
   status, error_type, error_message, response_time_ms, tokens_prompt, tokens_completion, tokens_total, cost_usd,
   provider, model, user_id, session_id, environment, context, created_at, updated_at)
SELECT r.i, 1 + (r.i * 7919) % :n_versions,
       'Summarize ticket #' || r.i || ' for the customer.', NULL,
       jsonb_build_object('topic', 'topic ' || r.i % 100),
       CASE WHEN r.i % 50 = 0 THEN NULL ELSE 'Summary of ticket #' || r.i END,
       CASE WHEN r.i % 20 < 6 THEN '{"test_run": true}'::jsonb
            WHEN r.i % 20 = 6 THEN '{"test_run": "true"}'::jsonb
            WHEN r.i % 20 = 7 THEN '{"test_run": false}'::jsonb
            WHEN r.i % 20 < 14 THEN '{}'::jsonb
            ELSE jsonb_build_object('source', 'api', 'request_id', 'req-' || r.i) END,
       CASE WHEN r.i % 50 = 0 THEN 'error' ELSE 'success' END,
       CASE WHEN r.i % 50 = 0 THEN 'Timeout::Error' END,
       CASE WHEN r.i % 50 = 0 THEN 'request timed out' END,
       100 + (r.i * 13) % 4000, 50 + r.i % 500, 20 + r.i % 300, 70 + r.i % 500 + r.i % 300,
       round(((r.i % 1000) / 100000.0)::numeric, 6),
       pm.provider, pm.model,
       'user-' || r.i % 1000, 'session-' || r.i / 10, (ARRAY['production', 'staging'])[1 + (r.i % 7 = 0)::int],
       '{}'::jsonb,
       timestamp '2024-01-01' + r.i * interval '20 seconds', timestamp '2024-01-01' + r.i * interval '20 seconds'
FROM generate_series(1::bigint, :n_responses) AS r(i)
CROSS JOIN LATERAL (
  SELECT CASE WHEN b < 7 THEN 'openai' WHEN b < 11 THEN 'openai_responses' WHEN b < 13 THEN 'openai_assistants'
              WHEN b < 17 THEN 'anthropic' WHEN b < 19 THEN 'google' ELSE 'mistral' END AS provider,
         CASE WHEN b < 13 THEN (ARRAY['gpt-4o', 'gpt-4o-mini'])[1 + b % 2]
              WHEN b < 17 THEN 'claude-3-5-sonnet-20241022'
              WHEN b < 19 THEN 'gemini-1.5-pro' ELSE 'mistral-large' END AS model
  FROM (SELECT (r.i / 20) % 20 AS b) AS bb
) AS pm;

-- evaluations on pseudo-random responses (48271 is coprime with 10^k: distinct targets)
INSERT INTO prompt_tracker_evaluations
  (id, llm_response_id, score, score_min, score_max, evaluator_type, evaluator_id, feedback, metadata, passed, created_at, updated_at)
SELECT e.j, 1 + (e.j * 48271) % :n_responses, (e.j * 37) % 101, 0, 100,
       (ARRAY['keyword', 'length', 'format', 'exact_match', 'llm_judge'])[1 + e.j % 5], NULL,
       CASE WHEN e.j % 3 = 0 THEN 'looks fine' END, '{}'::jsonb, (e.j * 37) % 101 >= 70,
       timestamp '2024-06-01' + e.j * interval '1 minute', timestamp '2024-06-01' + e.j * interval '1 minute'
FROM generate_series(1::bigint, :n_evaluations) AS e(j);

-- identity sequences continue after the explicit ids
SELECT setval(pg_get_serial_sequence(t, 'id'), m)
FROM (VALUES
  ('prompt_tracker_prompts', (SELECT max(id) FROM prompt_tracker_prompts)),
  ('prompt_tracker_prompt_versions', (SELECT max(id) FROM prompt_tracker_prompt_versions)),
  ('prompt_tracker_evaluator_configs', (SELECT max(id) FROM prompt_tracker_evaluator_configs)),
  ('prompt_tracker_prompt_tests', (SELECT max(id) FROM prompt_tracker_prompt_tests)),
  ('prompt_tracker_llm_responses', (SELECT max(id) FROM prompt_tracker_llm_responses)),
  ('prompt_tracker_evaluations', (SELECT max(id) FROM prompt_tracker_evaluations))) AS s(t, m)
WHERE m IS NOT NULL \g /dev/null

COMMIT;
VACUUM (ANALYZE);
SQL

log "loading data (${N_PROMPTS} prompts, ${N_RESPONSES} responses, ${N_EVALUATIONS} evaluations)"
t0=$(now_ms)
pg "$BENCH_DB" -v n_prompts="$N_PROMPTS" -v n_responses="$N_RESPONSES" -v n_evaluations="$N_EVALUATIONS" -f "$WORK/load.sql"
LOAD_MS=$(( $(now_ms) - t0 ))
log "loaded and VACUUM ANALYZEd in ${LOAD_MS} ms"

TABLES=(prompt_tracker_prompts prompt_tracker_prompt_versions prompt_tracker_evaluator_configs
        prompt_tracker_prompt_tests prompt_tracker_llm_responses prompt_tracker_evaluations)
COUNTS_SQL="SELECT string_agg(format('  %-36s %10s', t, c), E'\n' ORDER BY o) FROM (VALUES
  (1, 'prompt_tracker_prompts', (SELECT count(*) FROM prompt_tracker_prompts)),
  (2, '  of which without any version', (SELECT count(*) FROM prompt_tracker_prompts p WHERE NOT EXISTS (SELECT 1 FROM prompt_tracker_prompt_versions v WHERE v.prompt_id = p.id))),
  (3, '  of which with an active version', (SELECT count(DISTINCT prompt_id) FROM prompt_tracker_prompt_versions WHERE status = 'active')),
  (4, 'prompt_tracker_prompt_versions', (SELECT count(*) FROM prompt_tracker_prompt_versions)),
  (5, 'prompt_tracker_evaluator_configs', (SELECT count(*) FROM prompt_tracker_evaluator_configs)),
  (6, 'prompt_tracker_prompt_tests', (SELECT count(*) FROM prompt_tracker_prompt_tests)),
  (7, '  JSON evaluator_configs entries', (SELECT sum(jsonb_array_length(evaluator_configs)) FROM prompt_tracker_prompt_tests)),
  (8, 'prompt_tracker_llm_responses', (SELECT count(*) FROM prompt_tracker_llm_responses)),
  (9, '  of which test_run true/\"true\"', (SELECT count(*) FROM prompt_tracker_llm_responses WHERE response_metadata->>'test_run' = 'true')),
  (10, 'prompt_tracker_evaluations', (SELECT count(*) FROM prompt_tracker_evaluations))) AS s(o, t, c)"
LOADED_COUNTS=$(val "$BENCH_DB" "$COUNTS_SQL")
DB_SIZE=$(val "$BENCH_DB" "SELECT pg_size_pretty(pg_database_size(current_database()))")

# Baseline fingerprint (per table: rows and a hash of the baseline columns, in baseline
# column order) to check that the downs restore the data exactly.
declare -A BASE_COLS=()
for t in "${TABLES[@]}"; do
  BASE_COLS[$t]=$(val "$BENCH_DB" "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '$t'")
done
fingerprint_baseline() {
  local t out=""
  for t in "${TABLES[@]}"; do
    out+="$t=$(val "$BENCH_DB" "SELECT count(*) || ':' || coalesce(sum(hashtext(ROW(${BASE_COLS[$t]})::text)::bigint), 0) FROM $t");"
  done
  echo "$out"
}
if (( DO_DOWN )); then BASE_FP=$(fingerprint_baseline); fi

# CLI overhead: process start, connection, reading seaql_migrations
t0=$(now_ms); cli status; CLI_MS=$(( $(now_ms) - t0 ))

# ---------------------------------------------------------------------------------------
# 3. Per migration: rows touched, reference SQL, fingerprint of its result
# ---------------------------------------------------------------------------------------
MIGRATIONS=(
  m20250102_000001_make_evaluator_config_polymorphic
  m20250102_000002_add_test_run_tracking_to_llm_responses
  m20250102_000003_add_evaluation_context
  m20250102_000004_migrate_prompt_test_evaluator_configs
  m20250103_000001_split_model_config_provider_api
)

# Rows each migration touches, counted on the database just before it (m5: versions + tests + responses).
TOUCHED_SQL=(
  "SELECT count(*) FROM prompt_tracker_evaluator_configs"
  "SELECT count(*) FROM prompt_tracker_llm_responses WHERE response_metadata->>'test_run' = 'true'"
  "SELECT count(*) FROM prompt_tracker_evaluations e JOIN prompt_tracker_llm_responses lr ON lr.id = e.llm_response_id WHERE lr.is_test_run"
  "SELECT coalesce(sum(jsonb_array_length(evaluator_configs)), 0) FROM prompt_tracker_prompt_tests"
  "SELECT (SELECT count(*) FROM prompt_tracker_prompt_versions WHERE model_config->>'provider' IN ('openai_responses', 'openai_assistants'))
        + (SELECT count(*) FROM prompt_tracker_prompt_tests WHERE model_config->>'provider' IN ('openai_responses', 'openai_assistants'))
        + (SELECT count(*) FROM prompt_tracker_llm_responses WHERE provider IN ('openai_responses', 'openai_assistants', 'openai', 'anthropic', 'google'))"
)

# What each migration must produce, as one text value; computed on the reference copy
# after the reference and on the bench database after the migration.
RESULT_SQL=(
  "SELECT count(*) || ':' || md5(string_agg(concat_ws(',', id, configurable_type, configurable_id, threshold), ';' ORDER BY id))
     || ':prompt_id_gone=' || NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'prompt_tracker_evaluator_configs' AND column_name = 'prompt_id')
   FROM prompt_tracker_evaluator_configs"
  "SELECT count(*) FILTER (WHERE is_test_run) || ':' || coalesce(sum(hashtext(id::text)::bigint) FILTER (WHERE is_test_run), 0)
   FROM prompt_tracker_llm_responses"
  "SELECT string_agg(c || '=' || n || ':' || h, ';' ORDER BY c) FROM (
     SELECT evaluation_context AS c, count(*) AS n, sum(hashtext(id::text)::bigint) AS h
     FROM prompt_tracker_evaluations GROUP BY 1) s"
  "SELECT count(*) || ':' || md5(string_agg(concat_ws(',', configurable_id, evaluator_key, threshold, config, enabled, run_mode, priority, weight, depends_on, min_dependency_score),
       ';' ORDER BY configurable_id, evaluator_key))
     || ':json_column_gone=' || NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'prompt_tracker_prompt_tests' AND column_name = 'evaluator_configs')
   FROM prompt_tracker_evaluator_configs WHERE configurable_type = 'PromptTracker::PromptTest'"
  "SELECT (SELECT md5(string_agg(id || model_config::text, ';' ORDER BY id)) FROM prompt_tracker_prompt_versions)
     || ':' || (SELECT md5(string_agg(id || model_config::text, ';' ORDER BY id)) FROM prompt_tracker_prompt_tests)
     || ':' || (SELECT string_agg(provider || '/' || coalesce(api, '-') || '=' || n, ';' ORDER BY provider, api)
                FROM (SELECT provider, api, count(*) AS n FROM prompt_tracker_llm_responses GROUP BY 1, 2) s)"
)

cat >"$WORK/ref1.sql" <<'SQL'
BEGIN;
ALTER TABLE prompt_tracker_evaluator_configs
  ADD COLUMN configurable_type varchar, ADD COLUMN configurable_id bigint, ADD COLUMN threshold integer;
UPDATE prompt_tracker_evaluator_configs ec
SET (configurable_type, configurable_id) = (
  SELECT CASE WHEN t.vid IS NULL THEN 'PromptTracker::Prompt' ELSE 'PromptTracker::PromptVersion' END,
         coalesce(t.vid, ec.prompt_id)
  FROM (SELECT (SELECT pv.id FROM prompt_tracker_prompt_versions pv WHERE pv.prompt_id = ec.prompt_id
                ORDER BY pv.status = 'active' DESC, pv.version_number DESC LIMIT 1) AS vid) t);
ALTER TABLE prompt_tracker_evaluator_configs
  ALTER COLUMN configurable_type SET NOT NULL, ALTER COLUMN configurable_id SET NOT NULL,
  ADD CONSTRAINT chk_prompt_tracker_evaluator_configs_configurable_type
    CHECK (configurable_type IN ('PromptTracker::PromptVersion', 'PromptTracker::PromptTest', 'PromptTracker::Prompt')),
  ADD CONSTRAINT chk_prompt_tracker_evaluator_configs_threshold CHECK (threshold IS NULL OR (threshold >= 0 AND threshold <= 100)),
  DROP COLUMN prompt_id;
CREATE INDEX index_evaluator_configs_on_configurable ON prompt_tracker_evaluator_configs (configurable_type, configurable_id);
CREATE UNIQUE INDEX index_evaluator_configs_unique_per_configurable ON prompt_tracker_evaluator_configs (configurable_type, configurable_id, evaluator_key);
COMMIT;
SQL

cat >"$WORK/ref2.sql" <<'SQL'
BEGIN;
ALTER TABLE prompt_tracker_llm_responses ADD COLUMN is_test_run boolean NOT NULL DEFAULT false;
UPDATE prompt_tracker_llm_responses SET is_test_run = true WHERE response_metadata->>'test_run' = 'true';
CREATE INDEX index_prompt_tracker_llm_responses_on_is_test_run ON prompt_tracker_llm_responses (is_test_run);
COMMIT;
SQL

cat >"$WORK/ref3.sql" <<'SQL'
BEGIN;
ALTER TABLE prompt_tracker_evaluations ADD COLUMN evaluation_context varchar NOT NULL DEFAULT 'tracked_call'
  CONSTRAINT chk_prompt_tracker_evaluations_evaluation_context CHECK (evaluation_context IN ('tracked_call', 'test_run', 'manual'));
UPDATE prompt_tracker_evaluations e SET evaluation_context = 'test_run'
FROM prompt_tracker_llm_responses lr WHERE lr.id = e.llm_response_id AND lr.is_test_run;
CREATE INDEX index_prompt_tracker_evaluations_on_evaluation_context ON prompt_tracker_evaluations (evaluation_context);
COMMIT;
SQL

cat >"$WORK/ref4.sql" <<'SQL'
BEGIN;
INSERT INTO prompt_tracker_evaluator_configs
  (configurable_type, configurable_id, evaluator_key, threshold, config, enabled, run_mode, priority, weight)
SELECT 'PromptTracker::PromptTest', t.id, e->>'evaluator_key', coalesce((e->>'threshold')::integer, 80),
       coalesce(e->'config', '{}'::jsonb), true, 'sync', 0, 1.0
FROM prompt_tracker_prompt_tests t CROSS JOIN LATERAL jsonb_array_elements(t.evaluator_configs) e;
ALTER TABLE prompt_tracker_prompt_tests DROP COLUMN evaluator_configs;
COMMIT;
SQL

cat >"$WORK/ref5.sql" <<'SQL'
BEGIN;
UPDATE prompt_tracker_prompt_versions
SET model_config = model_config || jsonb_build_object('provider', 'openai', 'api', coalesce(model_config->>'api',
      CASE model_config->>'provider' WHEN 'openai_responses' THEN 'response_api' ELSE 'assistants_api' END))
WHERE model_config->>'provider' IN ('openai_responses', 'openai_assistants');
UPDATE prompt_tracker_prompt_tests
SET model_config = model_config || jsonb_build_object('provider', 'openai', 'api', coalesce(model_config->>'api',
      CASE model_config->>'provider' WHEN 'openai_responses' THEN 'response_api' ELSE 'assistants_api' END))
WHERE model_config->>'provider' IN ('openai_responses', 'openai_assistants');
ALTER TABLE prompt_tracker_llm_responses ADD COLUMN api varchar;
UPDATE prompt_tracker_llm_responses
SET api = CASE provider WHEN 'openai_responses' THEN 'response_api' WHEN 'openai_assistants' THEN 'assistants_api'
                        WHEN 'openai' THEN 'chat_completion' WHEN 'anthropic' THEN 'messages' WHEN 'google' THEN 'gemini' END,
    provider = CASE WHEN provider IN ('openai_responses', 'openai_assistants') THEN 'openai' ELSE provider END
WHERE provider IN ('openai_responses', 'openai_assistants', 'openai', 'anthropic', 'google');
CREATE INDEX index_prompt_tracker_llm_responses_on_provider_and_api ON prompt_tracker_llm_responses (provider, api);
COMMIT;
SQL

# ---------------------------------------------------------------------------------------
# 4. Up, one migration at a time
# ---------------------------------------------------------------------------------------
declare -a R_TOUCHED=() R_MIG=() R_REF=() R_MATCH=() R_STATUS=()
FAILED=""
for i in "${!MIGRATIONS[@]}"; do
  name="${MIGRATIONS[$i]}"
  log "── ${name}"
  R_TOUCHED[i]=$(val "$BENCH_DB" "${TOUCHED_SQL[i]}")

  # reference, on a copy taken just before the migration
  wait_no_conn "$BENCH_DB"
  drop_db "$REF_DB"
  pg postgres -c "CREATE DATABASE \"$REF_DB\" TEMPLATE \"$BENCH_DB\" $COPY_STRATEGY"
  checkpoint
  t0=$(now_ms)
  pg "$REF_DB" -f "$WORK/ref$((i + 1)).sql"
  R_REF[i]=$(( $(now_ms) - t0 ))
  ref_result=$(val "$REF_DB" "${RESULT_SQL[i]}")
  drop_db "$REF_DB"
  log "   reference: ${R_REF[i]} ms"

  # the migration itself
  checkpoint
  t0=$(now_ms)
  if cli up -n 1; then
    R_MIG[i]=$(( $(now_ms) - t0 ))
    R_STATUS[i]=ok
    log "   migration: ${R_MIG[i]} ms"
    mig_result=$(val "$BENCH_DB" "${RESULT_SQL[i]}")
    if [[ "$mig_result" == "$ref_result" ]]; then R_MATCH[i]=yes; else
      R_MATCH[i]=NO
      echo "   result differs from the reference's:" >&2
      echo "     migration: $mig_result" >&2
      echo "     reference: $ref_result" >&2
    fi
  else
    R_MIG[i]=$(( $(now_ms) - t0 ))
    R_STATUS[i]=FAILED
    R_MATCH[i]=-
    FAILED="$name"
    echo "   migration FAILED after ${R_MIG[i]} ms; CLI output:" >&2
    sed 's/^/     | /' "$WORK/cli.log" >&2
    break
  fi
done

# ---------------------------------------------------------------------------------------
# 5. Report
# ---------------------------------------------------------------------------------------
echo
echo "PostgreSQL: $PG_VERSION"
echo "database:   $BENCH_DB ($DB_SIZE after load); CLI: $MIGRATE"
echo "baseline migration: ${BASELINE_MS} ms; data load + VACUUM ANALYZE: ${LOAD_MS} ms; CLI overhead (\`status\`): ${CLI_MS} ms"
echo "rows loaded:"
echo "$LOADED_COUNTS"
echo
printf '%-58s %10s %10s %10s %7s %9s  %-4s\n' "migration (up)" "rows" "mig ms" "ref ms" "ratio" "net ratio" "same"
printf '%-58s %10s %10s %10s %7s %9s  %-4s\n' "$(printf '%.0s-' {1..58})" "----------" "----------" "----------" "-------" "---------" "----"
SLOW=()
for i in "${!MIGRATIONS[@]}"; do
  [[ -n "${R_STATUS[i]:-}" ]] || { printf '%-58s %10s\n' "${MIGRATIONS[i]}" "not run"; continue; }
  if [[ "${R_STATUS[i]}" == ok ]]; then
    ratio=$(awk -v m="${R_MIG[i]}" -v r="${R_REF[i]}" 'BEGIN { printf "%.2f", (r > 0 ? m / r : 0) }')
    net=$(awk -v m="${R_MIG[i]}" -v c="$CLI_MS" -v r="${R_REF[i]}" 'BEGIN { printf "%.2f", (r > 0 ? (m - c) / r : 0) }')
    flag=""
    if awk -v x="$ratio" 'BEGIN { exit !(x > 3) }'; then flag=" >3x"; SLOW+=("${MIGRATIONS[i]} (${ratio}x)"); fi
    printf '%-58s %10s %10s %10s %7s %9s  %-4s%s\n' "${MIGRATIONS[i]}" "${R_TOUCHED[i]}" "${R_MIG[i]}" "${R_REF[i]}" "$ratio" "$net" "${R_MATCH[i]}" "$flag"
  else
    printf '%-58s %10s %10s %10s %7s %9s  %-4s\n' "${MIGRATIONS[i]}" "${R_TOUCHED[i]}" "FAILED" "${R_REF[i]}" "-" "-" "-"
  fi
done
echo "(rows: rows the migration rewrites/creates, counted just before it; m20250103: versions + tests + responses;"
echo " net ratio: (migration ms - CLI overhead ms) / reference ms; same: the migrated data equals the reference's result)"
(( ${#SLOW[@]} )) && echo "slower than 3x its reference: ${SLOW[*]}"

STATUS=0
[[ -z "$FAILED" ]] || { echo; echo "migration FAILED: $FAILED (see its CLI output above)"; STATUS=1; }
for i in "${!MIGRATIONS[@]}"; do [[ "${R_MATCH[i]:-}" != NO ]] || STATUS=1; done

# ---------------------------------------------------------------------------------------
# 6. Verification
# ---------------------------------------------------------------------------------------
check() { # label, SQL returning true/false
  local r
  r=$(val "$BENCH_DB" "$2" 2>&1) || r="error: $r"
  if [[ "$r" == t ]]; then printf '  OK    %s\n' "$1"; else printf '  FAIL  %s (%s)\n' "$1" "$r"; STATUS=1; fi
}
if [[ -z "$FAILED" ]]; then
  echo
  echo "verification:"
  check "all 5 migrations recorded in seaql_migrations" \
    "SELECT count(*) = 6 FROM seaql_migrations"
  check "evaluator configs: every prompt's configs moved to its active-or-latest version (or stay on a version-less prompt)" \
    "SELECT count(*) = 0 FROM prompt_tracker_evaluator_configs ec
     WHERE ec.configurable_type = 'PromptTracker::PromptVersion' AND ec.configurable_id IS DISTINCT FROM (
       -- the loader gives config id (p - 1) * 2 + j + 1 to prompt p
       SELECT pv.id FROM prompt_tracker_prompt_versions pv WHERE pv.prompt_id = (ec.id - 1) / 2 + 1
       ORDER BY pv.status = 'active' DESC, pv.version_number DESC LIMIT 1)"
  check "evaluator configs: version-less prompts keep theirs (2 x $(val "$BENCH_DB" "SELECT count(*) FROM prompt_tracker_prompts p WHERE NOT EXISTS (SELECT 1 FROM prompt_tracker_prompt_versions v WHERE v.prompt_id = p.id)") prompts)" \
    "SELECT (SELECT count(*) FROM prompt_tracker_evaluator_configs WHERE configurable_type = 'PromptTracker::Prompt')
          = 2 * (SELECT count(*) FROM prompt_tracker_prompts p WHERE NOT EXISTS (SELECT 1 FROM prompt_tracker_prompt_versions v WHERE v.prompt_id = p.id))"
  check "is_test_run = true count equals metadata test_run true/\"true\" count (${R_TOUCHED[1]})" \
    "SELECT count(*) FILTER (WHERE is_test_run) = count(*) FILTER (WHERE response_metadata->>'test_run' = 'true')
            AND count(*) FILTER (WHERE is_test_run) = ${R_TOUCHED[1]}
     FROM prompt_tracker_llm_responses"
  check "evaluation_context = 'test_run' exactly on evaluations of test-run responses" \
    "SELECT count(*) = 0 FROM prompt_tracker_evaluations e JOIN prompt_tracker_llm_responses lr ON lr.id = e.llm_response_id
     WHERE (e.evaluation_context = 'test_run') <> lr.is_test_run"
  check "tests' JSON evaluator configs became ${R_TOUCHED[3]} rows (threshold 80 where absent)" \
    "SELECT count(*) = ${R_TOUCHED[3]} AND count(*) FILTER (WHERE threshold IS NULL) = 0
     FROM prompt_tracker_evaluator_configs WHERE configurable_type = 'PromptTracker::PromptTest'"
  check "no compound provider left in versions' / tests' model_config" \
    "SELECT NOT EXISTS (SELECT 1 FROM prompt_tracker_prompt_versions WHERE model_config->>'provider' IN ('openai_responses', 'openai_assistants'))
        AND NOT EXISTS (SELECT 1 FROM prompt_tracker_prompt_tests WHERE model_config->>'provider' IN ('openai_responses', 'openai_assistants'))"
  check "split configs carry provider openai + their api, other keys kept" \
    "SELECT count(*) FILTER (WHERE model_config->>'assistant_id' IS NOT NULL) > 0
        AND count(*) FILTER (WHERE model_config->>'assistant_id' IS NOT NULL
                               AND NOT (model_config @> '{\"provider\": \"openai\", \"api\": \"assistants_api\", \"model\": \"gpt-4o\"}')) = 0
        AND count(*) FILTER (WHERE model_config->>'temperature' = '0.7'
                               AND NOT (model_config @> '{\"provider\": \"openai\", \"api\": \"response_api\", \"model\": \"gpt-4o\"}')) = 0
     FROM (SELECT model_config FROM prompt_tracker_prompt_versions UNION ALL SELECT model_config FROM prompt_tracker_prompt_tests) s"
  check "no compound provider left in LLM responses; api set for every known provider, NULL otherwise" \
    "SELECT NOT EXISTS (SELECT 1 FROM prompt_tracker_llm_responses WHERE provider IN ('openai_responses', 'openai_assistants'))
        AND NOT EXISTS (SELECT 1 FROM prompt_tracker_llm_responses WHERE (api IS NULL) <> (provider NOT IN ('openai', 'anthropic', 'google')))"
fi

# ---------------------------------------------------------------------------------------
# 7. Optional: down, in reverse order
# ---------------------------------------------------------------------------------------
if (( DO_DOWN )) && [[ -z "$FAILED" ]]; then
  echo
  printf '%-58s %10s\n' "migration (down)" "ms"
  printf '%-58s %10s\n' "$(printf '%.0s-' {1..58})" "----------"
  DOWN_FAILED=""
  for (( i = ${#MIGRATIONS[@]} - 1; i >= 0; i-- )); do
    checkpoint
    t0=$(now_ms)
    if cli down -n 1; then
      printf '%-58s %10s\n' "${MIGRATIONS[i]}" "$(( $(now_ms) - t0 ))"
    else
      printf '%-58s %10s\n' "${MIGRATIONS[i]}" "FAILED"
      sed 's/^/     | /' "$WORK/cli.log"
      DOWN_FAILED="${MIGRATIONS[i]}"; STATUS=1
      break
    fi
  done
  if [[ -z "$DOWN_FAILED" ]]; then
    echo
    echo "verification after down:"
    fp=$(fingerprint_baseline)
    if [[ "$fp" == "$BASE_FP" ]]; then echo "  OK    baseline data restored exactly (row counts + row hashes of all 6 tables)"
    else echo "  FAIL  baseline data differs after down"; echo "    before: $BASE_FP"; echo "    after:  $fp"; STATUS=1; fi
    check "migration archive table gone" "SELECT to_regclass('prompt_tracker_migration_archive') IS NULL"
  fi
fi

echo
echo "total runtime: $(( ( $(date +%s%N) - SCRIPT_START ) / 1000000 )) ms"
exit "$STATUS"
