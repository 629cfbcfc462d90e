#!/usr/bin/env python3
"""Driver of e2e-real.sh (see that script for the whole story): imports the openai/evals
datasets once per (dataset, api), runs every test twice through the running service, prints
the table of each pass, compares the passes and ends with `e2e-real: N passed, M failed`.

    e2e_real.py --api http://127.0.0.1:PORT/api/v1 --bin PROMPT_TRACKER --db-url URL \
                --data-dir DIR --work DIR [--proxy-log FILE] [--passes 2]

Standard library only. Every HTTP call and subprocess has a timeout.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

DATASETS = [
    # name, file in --data-dir, max_tokens (room for the longest ideal answer)
    ("crontab", "crontab.jsonl", 24),
    ("born_first", "born_first.jsonl", 8),
]
APIS = [
    ("chat_completion", {"provider": "openai", "api": "chat_completion"}),
    ("response_api", {"provider": "openai", "api": "response_api"}),
    ("messages", {"provider": "anthropic", "api": "messages"}),
]
FINAL = {"passed", "failed", "error", "skipped"}


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed.append(what)
            print(f"CHECK FAILED: {what}", flush=True)
        return ok


def http(method, url, body=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except Exception:  # noqa: BLE001
            return e.code, raw.decode("utf-8", "replace")


def get_ok(url, timeout=60):
    status, body = http("GET", url, timeout=timeout)
    if status != 200:
        raise RuntimeError(f"GET {url} answered {status}: {str(body)[:500]}")
    return body


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def import_all(a, checks):
    tests = {}
    for ds, fname, max_tokens in DATASETS:
        path = f"{a.data_dir}/{fname}"
        with open(path, encoding="utf-8") as f:
            n_samples = sum(1 for line in f if line.strip())
        for api, cfg in APIS:
            mc = dict(cfg, model="smollm2", max_tokens=max_tokens)
            cmd = [a.bin, "import-evals", path, "--prompt", f"e2e-real {ds} {api}",
                   "--model-config", json.dumps(mc), "--match", "starts-with", "-u", a.db_url]
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            if p.returncode != 0:
                checks.check(False, f"import-evals {ds} {api} exited {p.returncode}: {p.stderr.strip()[-1000:]}")
                continue
            rep = json.loads(p.stdout)
            ok = checks.check(rep.get("imported") == n_samples == rep.get("samples"),
                              f"import {ds} {api}: imported {rep.get('imported')} of {n_samples} samples")
            if ok:
                tests[(ds, api)] = dict(rep, n=n_samples, model_config=mc)
    log(f"imported {len(tests)} (dataset, api) tests")
    return tests


def run_batch(a, t):
    """Runs the test over its dataset; returns (batch, runs in row order)."""
    url = f"{a.api}/tests/{t['test_id']}/runs?wait=true"
    status, body = http("POST", url, {"dataset_id": t["dataset_id"]}, timeout=a.run_timeout + 60)
    if status not in (200, 202):
        raise RuntimeError(f"POST {url} answered {status}: {str(body)[:1000]}")
    batch_id = body["batch_id"]
    deadline = time.monotonic() + a.run_timeout
    batch = body["batch"]
    while batch["pending"] + batch["running"] > 0 and time.monotonic() < deadline:
        time.sleep(5)
        batch = get_ok(f"{a.api}/test-run-batches/{batch_id}")
    runs, cursor = [], None
    while True:
        page = get_ok(f"{a.api}/test-runs?batch_id={batch_id}&limit=500" + (f"&cursor={cursor}" if cursor else ""))
        runs.extend(page["data"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    runs.sort(key=lambda r: r["id"])
    return batch, runs


def collect(a, t, batch, runs):
    samples = []
    for r in runs:
        resp = None
        if r.get("llm_response_id"):
            resp = get_ok(f"{a.api}/llm-responses/{r['llm_response_id']}")
        samples.append({
            "run_id": r["id"],
            "status": r["status"],
            "passed": r["passed"],
            "error": r.get("error_message"),
            "variables": r["variables"],
            "llm_response_id": r.get("llm_response_id"),
            "exec_ms": r.get("execution_time_ms"),
            "latency_ms": (resp or {}).get("response_time_ms"),
            "tokens_prompt": (resp or {}).get("tokens_prompt"),
            "tokens_completion": (resp or {}).get("tokens_completion"),
            "text": (resp or {}).get("response_text"),
        })
    lat = [s["latency_ms"] if s["latency_ms"] is not None else s["exec_ms"] for s in samples]
    lat = [x for x in lat if x is not None]
    summary = {
        "runs": len(samples),
        "passed": sum(1 for s in samples if s["status"] == "passed"),
        "failed": sum(1 for s in samples if s["status"] == "failed"),
        "errored": sum(1 for s in samples if s["status"] == "error"),
        "other": sum(1 for s in samples if s["status"] not in ("passed", "failed", "error")),
        "p50_ms": round(statistics.median(lat)) if lat else None,
        "tokens_prompt": sum(s["tokens_prompt"] or 0 for s in samples),
        "tokens_completion": sum(s["tokens_completion"] or 0 for s in samples),
    }
    return {"batch": batch, "samples": samples, "summary": summary}


def check_pass(checks, p, key, t, res):
    ds, api = key
    b, s, samples = res["batch"], res["summary"], res["samples"]
    tag = f"pass {p} {ds} {api}"
    checks.check(b["total"] == t["n"] == s["runs"], f"{tag}: {s['runs']} runs (batch total {b['total']}), expected {t['n']}")
    not_final = [x["run_id"] for x in samples if x["status"] not in FINAL]
    checks.check(not not_final and b["pending"] == 0 and b["running"] == 0,
                 f"{tag}: runs not final: {not_final[:10]} (batch pending {b['pending']}, running {b['running']})")
    errs = [(x["run_id"], x["error"]) for x in samples if x["status"] == "error"]
    checks.check(not errs and b["errored"] == 0, f"{tag}: {len(errs)} runs errored, e.g. {errs[:3]}")
    checks.check(s["other"] == 0 and s["passed"] + s["failed"] == s["runs"] == b["passed"] + b["failed"],
                 f"{tag}: batch passed {b['passed']} failed {b['failed']} skipped {b['skipped']}; runs passed {s['passed']} failed {s['failed']}")
    no_resp = [x["run_id"] for x in samples if not x["llm_response_id"] or not x["tokens_completion"] or not x["tokens_prompt"]]
    checks.check(not no_resp, f"{tag}: runs without an LLM response with tokens: {no_resp[:10]}")
    return errs


def print_table(p, results):
    print(f"\n== pass {p} ==")
    hdr = f"{'dataset':<11} {'api':<16} {'runs':>5} {'passed':>7} {'failed':>7} {'errored':>8} {'p50_ms':>7} {'tok_prompt':>11} {'tok_compl':>10}"
    print(hdr)
    for (ds, api), res in results.items():
        s = res["summary"]
        print(f"{ds:<11} {api:<16} {s['runs']:>5} {s['passed']:>7} {s['failed']:>7} {s['errored']:>8} "
              f"{str(s['p50_ms']):>7} {s['tokens_prompt']:>11} {s['tokens_completion']:>10}")
    print(flush=True)


def show_exchanges(proxy_log, n=2):
    """The last exchanges the proxy saw that were not 200, else the last ones."""
    try:
        lines = [json.loads(x) for x in open(proxy_log, encoding="utf-8") if x.strip()]
    except OSError:
        return
    bad = [x for x in lines if x["status"] != 200] or lines
    for x in bad[-n:]:
        print("--- request the service sent (via the logging proxy) ---")
        print(json.dumps({k: x[k] for k in ("method", "path", "request_headers", "request_body")}, indent=1)[:4000])
        print(f"--- llama-server's answer: HTTP {x['status']} ---")
        print(json.dumps(x["response_body"], indent=1)[:4000])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--db-url", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--proxy-log")
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--run-timeout", type=int, default=900)
    ap.add_argument("--pre-checks", type=int, default=0, help="checks the shell script already passed")
    a = ap.parse_args()
    checks = Checks()
    checks.passed += a.pre_checks

    tests = import_all(a, checks)
    passes = []
    t_start = time.monotonic()
    for p in range(1, a.passes + 1):
        results = {}
        t0 = time.monotonic()
        for key, t in tests.items():
            ds, api = key
            tb = time.monotonic()
            try:
                batch, runs = run_batch(a, t)
            except Exception as e:  # noqa: BLE001 - a failed check, not a crash
                checks.check(False, f"pass {p} {ds} {api}: {e}")
                continue
            res = collect(a, t, batch, runs)
            results[key] = res
            s = res["summary"]
            log(f"pass {p} {ds} {api}: {s['runs']} runs, {s['passed']} passed, {s['failed']} failed, "
                f"{s['errored']} errored in {time.monotonic() - tb:.0f}s (batch verdict {batch['verdict']})")
            errs = check_pass(checks, p, key, t, res)
            if errs and a.proxy_log:
                show_exchanges(a.proxy_log)
        log(f"pass {p} took {time.monotonic() - t0:.0f}s")
        print_table(p, results)
        passes.append(results)
        with open(f"{a.work}/pass{p}.json", "w") as f:
            json.dump({f"{k[0]} {k[1]}": v for k, v in results.items()}, f, indent=1)

    # Determinism: every pass must give the same verdict per sample and the same numbers.
    first = passes[0]
    for p, results in enumerate(passes[1:], start=2):
        for key in tests:
            ds, api = key
            if key not in first or key not in results:
                checks.check(False, f"pass {p} {ds} {api}: missing results to compare")
                continue
            a1, a2 = first[key]["samples"], results[key]["samples"]
            same_vars = [x["variables"] for x in a1] == [x["variables"] for x in a2]
            verdicts1 = [x["status"] for x in a1]
            verdicts2 = [x["status"] for x in a2]
            diff = [i for i, (u, v) in enumerate(zip(verdicts1, verdicts2)) if u != v]
            checks.check(same_vars and verdicts1 == verdicts2,
                         f"pass 1 vs {p} {ds} {api}: verdicts differ at samples {diff[:10]} (same inputs: {same_vars})")
            s1 = {k: v for k, v in first[key]["summary"].items() if k != "p50_ms"}
            s2 = {k: v for k, v in results[key]["summary"].items() if k != "p50_ms"}
            checks.check(s1 == s2, f"pass 1 vs {p} {ds} {api}: numbers differ: {s1} vs {s2}")
            texts = sum(1 for u, v in zip(a1, a2) if u["text"] != v["text"])
            ids = {x["llm_response_id"] for x in a1} & {x["llm_response_id"] for x in a2}
            checks.check(not ids, f"pass 1 vs {p} {ds} {api}: LLM responses reused across passes: {sorted(ids)[:5]}")
            if texts:
                log(f"note: pass 1 vs {p} {ds} {api}: {texts} answers differ in text (verdicts and tokens equal)")
    log(f"{a.passes} passes took {time.monotonic() - t_start:.0f}s")
    if checks.failed:
        print("\nfailed checks:")
        for f in checks.failed:
            print(f"  - {f}")
    print(f"e2e-real: {checks.passed} passed, {len(checks.failed)} failed", flush=True)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
