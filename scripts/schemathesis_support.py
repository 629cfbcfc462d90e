#!/usr/bin/env python3
"""schemathesis_support.py: the Python half of scripts/schemathesis.sh (standard library only).

seed BASE_URL TOKEN OUT_JSON [OUT_TOML]
    Creates, through the API, a few resources of every kind so that the fuzzer's path ids
    (small integers, and the ids Schemathesis harvests from responses) point at real rows:
    prompts (one without variables, one with a required `name`, one archived), versions
    (active and draft, OpenAI chat_completion), tests, evaluator configs on versions and
    tests, tracked calls, manual evaluations, datasets with rows, and test runs answered
    by the mock OpenAI server (so /test-runs/{id} and /test-run-batches/{id} exist).
    Any non-2xx answer fails the seeding. Writes the ids to OUT_JSON and, to OUT_TOML, a
    Schemathesis config fragment: one dictionary of ids per kind of resource, bound to the
    id parameters (path, query and body) with probability 0.5, so half of the generated
    requests address a seeded resource and the other half a random id.

summarize NDJSON_REPORT JSON_REPORT
    Reads Schemathesis' NDJSON event stream and JSON run report and prints: requests made
    (per phase, per status code, per operation), every distinct failure with a curl
    reproduction, the answer and the failing check's message, and a few informational
    notes (operations whose answers were never 2xx; documented-valid requests the server
    rejected). In the curl reproductions the run's server URL and token (env ST_BASE_URL,
    ST_TOKEN) become "$BASE" and $PROMPT_TRACKER_API_TOKEN.
    Last line, for the shell script: `REQUESTS=N FAILURES=M ERRORS=E`.
"""

from __future__ import annotations

import base64
import collections
import json
import os
import shlex
import sys
import urllib.error
import urllib.request


# ---------------------------------------------------------------------------------------------
# seed
# ---------------------------------------------------------------------------------------------
def _call(base: str, token: str, method: str, path: str, body=None, expect=(200, 201, 202, 204)):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + "/api/v1" + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    if status not in expect:
        raise SystemExit(f"seed: {method} {path} answered {status}: {raw[:500].decode(errors='replace')}")
    return json.loads(raw) if raw else None


def seed(base: str, token: str, out: str, toml_out: str | None = None) -> None:
    call = lambda *a, **k: _call(base, token, *a, **k)
    chat = {"provider": "openai", "api": "chat_completion", "model": "gpt-4o", "temperature": 0.2}
    ids: dict[str, list[int]] = collections.defaultdict(list)

    def keep(kind: str, obj: dict) -> dict:
        ids[kind].append(obj["id"])
        return obj

    plain = keep(
        "prompts",
        call(
            "POST",
            "/prompts",
            {"name": "Plain greeting", "slug": "plain_greeting", "description": "no variables", "tags": ["seed"]},
        ),
    )
    greet = keep(
        "prompts",
        call(
            "POST",
            "/prompts",
            {"name": "Greeting", "slug": "greeting", "category": "support", "created_by": "schemathesis"},
        ),
    )
    gone = keep("prompts", call("POST", "/prompts", {"name": "Archived one", "slug": "archived_one"}))

    v_plain = keep(
        "versions",
        call(
            "POST",
            f"/prompts/{plain['id']}/versions",
            {"user_prompt": "Say hello.", "system_prompt": "Be brief.", "model_config": chat},
        ),
    )
    call("POST", f"/versions/{v_plain['id']}/activate")
    v_greet = keep(
        "versions",
        call(
            "POST",
            f"/prompts/{greet['id']}/versions",
            {"user_prompt": "Greet {{ name }}.", "model_config": chat, "notes": "v1"},
        ),
    )
    call("POST", f"/versions/{v_greet['id']}/activate")
    keep(
        "versions",
        call(
            "POST",
            f"/prompts/{greet['id']}/versions",
            {"user_prompt": "Greet {{ name }} warmly.", "model_config": chat, "notes": "draft v2"},
        ),
    )
    keep("versions", call("POST", f"/prompts/{gone['id']}/versions", {"user_prompt": "Bye."}))
    call("DELETE", f"/prompts/{gone['id']}")

    for v, variables in ((v_plain, {}), (v_greet, {"name": "Ada"})):
        t = keep(
            "tests",
            call(
                "POST",
                f"/versions/{v['id']}/tests",
                {
                    "name": "welcomes",
                    "template_variables": variables,
                    "expected_patterns": ["(?i)hello"],
                    "tags": ["seed"],
                },
            ),
        )
        keep(
            "evaluator_configs",
            call(
                "POST",
                f"/tests/{t['id']}/evaluator-configs",
                {"evaluator_key": "keyword", "config": {"required_keywords": ["welcome"]}},
            ),
        )
        keep(
            "evaluator_configs",
            call(
                "POST",
                f"/tests/{t['id']}/evaluator-configs",
                {"evaluator_key": "length", "config": {"min_length": 1}, "weight": 0.5},
            ),
        )
        keep(
            "evaluator_configs",
            call(
                "POST",
                f"/versions/{v['id']}/evaluator-configs",
                {"evaluator_key": "keyword", "config": {"required_keywords": ["hello"]}, "run_mode": "sync"},
            ),
        )
        r = keep(
            "llm_responses",
            call(
                "POST",
                "/llm-responses",
                {
                    "prompt_version_id": v["id"],
                    "variables": variables,
                    "response_text": "Hello, welcome!",
                    "tokens_prompt": 12,
                    "tokens_completion": 5,
                    "response_time_ms": 120,
                    "environment": "test",
                    "session_id": "s1",
                },
            ),
        )
        keep(
            "evaluations",
            call("POST", f"/llm-responses/{r['id']}/evaluations", {"score": 90, "passed": True, "feedback": "fine"}),
        )
        ds = keep(
            "datasets", call("POST", f"/versions/{v['id']}/datasets", {"name": "people", "description": "seed rows"})
        )
        for n in ("Ada", "Linus"):
            keep(
                "dataset_rows",
                call("POST", f"/datasets/{ds['id']}/rows", {"row_data": {"name": n} if variables else {}}),
            )
        started = call("POST", f"/tests/{t['id']}/runs?wait=true", {})
        ids["test_run_batches"].append(started["batch_id"])
        for run in started["runs"]:
            ids["test_runs"].append(run["id"])
    keep("tests", call("POST", f"/versions/{v_plain['id']}/tests", {"name": "no evaluators", "enabled": True}))

    with open(out, "w") as f:
        json.dump(ids, f, indent=1)
    print("seeded: " + ", ".join(f"{len(v)} {k}" for k, v in ids.items()))
    if toml_out:
        with open(toml_out, "w") as f:
            f.write(ids_toml(ids, slugs=[plain["slug"], greet["slug"]]))


# Path/query/body parameter -> seeded ids. Each binding replaces the generated value with one of
# the seeded ids with this probability (the rest stay random: 404s and 422s are tested too).
ID_PROBABILITY = 0.5
GLOBAL_BINDINGS = {  # parameter name (any location, or `body.` field) -> kind of seeded resource
    "prompt_id": "prompts",
    "version_id": "versions",
    "test_id": "tests",
    "run_id": "test_runs",
    "batch_id": "test_run_batches",
    "llm_response_id": "llm_responses",
    "body.prompt_version_id": "versions",
    "body.dataset_id": "datasets",
    "body.prompt_slug": "slugs",
}
ID_PATHS = {  # operations whose path parameter is a bare `id`: path regex -> kind
    "^/api/v1/evaluator-configs/": "evaluator_configs",
    "^/api/v1/llm-responses/": "llm_responses",
    "^/api/v1/datasets/": "datasets",
    "^/api/v1/dataset-rows/": "dataset_rows",
}


def ids_toml(ids: dict[str, list[int]], slugs: list[str]) -> str:
    """A TOML fragment (appended to scripts/schemathesis.toml) binding id parameters to the seed."""
    kinds = dict(ids, slugs=slugs)
    lines = ["", "# ---- generated by scripts/schemathesis_support.py seed: ids of the seeded resources ----"]
    for kind in sorted(set(GLOBAL_BINDINGS.values()) | set(ID_PATHS.values())):
        lines += [f"[dictionaries.{kind}]", f"values = {json.dumps(kinds[kind])}", ""]
    lines.append("[parameters]")
    for name, kind in GLOBAL_BINDINGS.items():
        lines.append(f'"{name}" = {{ dictionary = "{kind}", probability = {ID_PROBABILITY} }}')
    for regex, kind in ID_PATHS.items():
        lines += [
            "",
            "[[operations]]",
            f"include-path-regex = {json.dumps(regex)}",
            f'parameters = {{ "path.id" = {{ dictionary = "{kind}", probability = {ID_PROBABILITY} }} }}',
        ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# summarize
# ---------------------------------------------------------------------------------------------
def _b64(obj) -> bytes | None:
    if isinstance(obj, dict):
        if "$base64" in obj:
            return base64.b64decode(obj["$base64"])
        if "string" in obj:
            return obj["string"].encode()
    if isinstance(obj, str):
        return obj.encode()
    return None


# The run's server URL and throwaway token, replaced in the curl reproductions by a server of
# one's own ($BASE, e.g. http://127.0.0.1:8080 from `cargo run`) and its token, if any.
RUN_BASE = os.environ.get("ST_BASE_URL", "")
RUN_TOKEN = os.environ.get("ST_TOKEN", "")


def _curl(request: dict) -> str:
    parts = ["curl", "-si", "-X", request.get("method", "GET")]
    auth = None
    for name, values in (request.get("headers") or {}).items():
        if name.lower() in (
            "user-agent",
            "accept-encoding",
            "accept",
            "connection",
            "content-length",
            "x-schemathesis-testcaseid",
        ):
            continue
        for v in values if isinstance(values, list) else [values]:
            if name.lower() == "authorization" and RUN_TOKEN and v == f"Bearer {RUN_TOKEN}":
                auth = '-H "Authorization: Bearer $PROMPT_TRACKER_API_TOKEN"'
            else:
                parts += ["-H", f"{name}: {v}"]
    body = _b64(request.get("body"))
    if body is not None:
        try:
            parts += ["--data-binary", body.decode()]
        except UnicodeDecodeError:
            parts += ["--data-binary", f"<{len(body)} non-UTF-8 bytes, see the NDJSON report>"]
    uri = request.get("uri", "?")
    if any(c in uri for c in "[]{}"):
        parts.insert(1, "-g")
    words = [shlex.quote(p) for p in parts]
    if auth:
        words.insert(4, auth)
    if RUN_BASE and uri.startswith(RUN_BASE):
        words.append('"$BASE"' + shlex.quote(uri[len(RUN_BASE) :]))
    else:
        words.append(shlex.quote(uri))
    return " ".join(words)


def _short(text: str, limit: int = 600) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def summarize(ndjson_path: str, json_path: str) -> None:
    phases = collections.Counter()
    statuses = collections.Counter()
    per_op: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    failures: dict[tuple, dict] = {}
    positive = collections.Counter()
    rejected = collections.Counter()
    rejected_positive: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    errors: list[str] = []
    slowest = (0.0, "")

    with open(ndjson_path) as f:
        events = [json.loads(line) for line in f if line.strip()]
    for event in events:
        if "NonFatalError" in event or "FatalError" in event:
            e = event.get("NonFatalError") or event.get("FatalError")
            errors.append(_short(json.dumps(e), 800))
            continue
        if "ScenarioFinished" not in event:
            continue
        sf = event["ScenarioFinished"]
        rec = sf.get("recorder") or {}
        cases = rec.get("cases") or {}
        interactions = rec.get("interactions") or {}
        for cid, inter in interactions.items():
            phase = sf.get("phase", "?")
            phases[phase] += 1
            case = (cases.get(cid) or {}).get("value") or {}
            op = f"{case.get('method', inter['request'].get('method'))} {case.get('path', '?')}"
            label = rec.get("label") or op
            if phase != "stateful" and label != op:
                # the coverage phase's "unspecified HTTP method" cases (TRACE, PUT... expecting 405)
                op = f"{label.split(' ', 1)[-1]} (other methods)"
            resp = inter.get("response")
            status = resp["status_code"] if resp else "no answer"
            statuses[status] += 1
            per_op[op][status] += 1
            if resp and resp.get("elapsed", 0) > slowest[0]:
                slowest = (resp["elapsed"], f"{op} -> {status}")
            mode = ((case.get("meta") or {}).get("generation") or {}).get("mode")
            if mode == "positive" and resp:
                positive[op] += 1
                if status in (400, 415, 422):
                    rejected[op] += 1
                    try:
                        problem = json.loads(_b64(resp.get("content")) or b"{}")
                        reasons = [f"{e.get('field')}: {e.get('message')}" for e in problem.get("errors") or []]
                        reasons = reasons or [str(problem.get("detail"))]
                    except (ValueError, AttributeError):
                        reasons = ["(not a problem+json body)"]
                    for reason in reasons:
                        rejected_positive[op][_short(reason, 140)] += 1
        for cid, checks in (rec.get("checks") or {}).items():
            for check in checks:
                if check.get("status") == "success":
                    continue
                info = (check.get("failure_info") or {}).get("failure") or {}
                inter = interactions.get(cid) or {}
                case = (cases.get(cid) or {}).get("value") or {}
                op = info.get("operation") or f"{case.get('method')} {case.get('path')}"
                key = (op, check.get("name"), info.get("title"), info.get("message", "").split("\n")[0][:120])
                resp = inter.get("response") or {}
                curl = _curl(inter["request"]) if inter.get("request") else "(no request recorded)"
                entry = failures.get(key)
                if entry is None or len(curl) < len(entry["curl"]):
                    failures[key] = {
                        "count": (entry or {}).get("count", 0),
                        "curl": curl,
                        "status": resp.get("status_code"),
                        "content_type": ",".join((resp.get("headers") or {}).get("content-type", [])),
                        "body": _short((_b64(resp.get("content")) or b"").decode(errors="replace")),
                        "message": info.get("message", ""),
                        "code": info.get("code", ""),
                        "phase": sf.get("phase"),
                    }
                failures[key]["count"] += 1

    with open(json_path) as f:
        report = json.load(f)
    total = sum(phases.values())
    print(f"requests made: {total} ({', '.join(f'{p} {n}' for p, n in sorted(phases.items()))})")
    print("status codes:  " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items(), key=lambda x: str(x[0]))))
    print(
        f"operations:    {report['operations']['tested']} tested of {report['operations']['selected']} selected"
        f" ({report['operations']['total']} in the spec)"
    )
    if slowest[1]:
        print(f"slowest:       {slowest[0]:.2f}s ({slowest[1]})")
    print(
        f"schemathesis:  {report['test_cases']['generated']} test cases, {report['test_cases']['unique_failures']}"
        f" unique failures, {report['test_cases']['errored']} errored, stop reason {report.get('stop_reason')}"
    )

    other = collections.Counter()
    for op in [op for op in per_op if op.endswith("(other methods)")]:
        other.update(per_op.pop(op))
    print("\nper operation (requests, then status:count):")
    for op in sorted(per_op, key=lambda o: (o.split(" ", 1)[-1], o)):
        c = per_op[op]
        ok = sum(n for s, n in c.items() if isinstance(s, int) and 200 <= s < 300)
        mark = "" if ok else "   <- never 2xx"
        print(
            f"  {op:62s} {sum(c.values()):5d}  "
            + " ".join(f"{s}:{n}" for s, n in sorted(c.items(), key=lambda x: str(x[0])))
            + mark
        )

    if other:
        print(
            f"  {'undocumented methods on documented paths':62s} {sum(other.values()):5d}  "
            + " ".join(f"{s}:{n}" for s, n in sorted(other.items(), key=lambda x: str(x[0])))
        )
    never = sorted(op for op, c in per_op.items() if not any(isinstance(s, int) and 200 <= s < 300 for s in c))
    warn = report.get("warnings") or {}
    if never or any(warn.values()):
        print("\nnotes (informational, not failures):")
        for op in never:
            print(f"  - {op}: no 2xx answer in this run (its deeper logic went untested)")
        for kind, ops in warn.items():
            if ops:
                print(f"  - schemathesis warning {kind}: {', '.join(map(str, ops))}")
    if rejected_positive:
        print(
            "\nrequests valid per the spec that the server rejected with 400/415/422 (informational: where the"
            " server is stricter than the spec says; positive_data_acceptance is not among the checks):"
        )
        for op in sorted(rejected_positive, key=lambda o: (o.split(" ", 1)[-1], o)):
            reasons = rejected_positive[op]
            n = rejected[op]
            top = "; ".join(f"{r} ({k}x)" for r, k in reasons.most_common(3))
            print(f"  - {op}: {n} of {positive[op]} valid requests rejected; most often: {top}")

    if errors:
        print(f"\nERRORS ({len(errors)}): the run could not complete some tests")
        for e in errors:
            print(f"  - {e}")
    if failures:
        print(
            f"\nFAILURES ({len(failures)} distinct). Reproduce against a server of your own: BASE=http://127.0.0.1:8080"
            " (and PROMPT_TRACKER_API_TOKEN=its token, if it has one); ids refer to the run's data (seeded, then"
            " changed by the run), so a 404 may need the resource created first:"
        )
        for i, ((op, check, title, _), f) in enumerate(sorted(failures.items()), 1):
            print(f"\n{i}. {op}: {check} ({f['code']} {title}), {f['count']} failing request(s), e.g. in {f['phase']}")
            print(f"   request:  {f['curl']}")
            print(f"   answered: {f['status']} {f['content_type']} {f['body']}")
            print("   spec says: " + "\n              ".join(f["message"].splitlines()))
    print(f"\nREQUESTS={total} FAILURES={len(failures)} ERRORS={len(errors)}")


def main() -> None:
    if len(sys.argv) in (5, 6) and sys.argv[1] == "seed":
        seed(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] if len(sys.argv) == 6 else None)
    elif len(sys.argv) == 4 and sys.argv[1] == "summarize":
        summarize(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
