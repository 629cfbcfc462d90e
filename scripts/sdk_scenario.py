#!/usr/bin/env python3
"""End-to-end scenario against a running Prompt Tracker, through the Python client that
openapi-python-client generated from the committed openapi.yaml (run by scripts/sdk-check.sh).

Only the generated package is used to talk to the server: its typed models and its `api`
functions (`sync_detailed` where the status code or headers matter, `sync` elsewhere). No raw
HTTP, with one exception: `POST /datasets/{id}/import` (JSONL/CSV body), which the generator
skips (sdk-check.sh lists it as a known generator limitation), goes through the generated
client's own httpx client, with the generated model parsing the answer. Exits non-zero on the
first failed check; the last line is the tally that sdk-check.sh turns into its own closing line.

The test-run part expects the server's OpenAI provider to be scripts/mock_openai.py with its
default reply ("Hello, welcome!", 12 prompt + 5 completion tokens), as sdk-check.sh starts it.
With MOCK_URL, the mock's request counter is read (stdlib HTTP to the mock, not the service) to
check one provider call per run.

Usage: sdk_scenario.py BASE_URL [MOCK_URL]
       (PROMPT_TRACKER_API_TOKEN, when set, is sent as a bearer token)
"""

from __future__ import annotations

import json
import math
import os
import sys
import urllib.request
import uuid
from http import HTTPStatus
from typing import Any

from prompt_tracker_client import AuthenticatedClient, Client
from prompt_tracker_client.api.datasets import add_row, create_dataset, get_dataset, list_rows
from prompt_tracker_client.api.evaluator_configs import create_test_config, create_version_config
from prompt_tracker_client.api.llm_responses import get_response, list_responses, track_call
from prompt_tracker_client.api.meta import metrics, readyz
from prompt_tracker_client.api.prompts import create_prompt
from prompt_tracker_client.api.test_runs import get_batch, get_run, list_runs, run_test, run_version
from prompt_tracker_client.api.tests import create_test
from prompt_tracker_client.api.versions import activate_version, create_version, get_version, version_stats
from prompt_tracker_client.models import (
    ApiType,
    BatchOut,
    BatchVerdict,
    ConfigurableType,
    DatasetOut,
    DatasetRowOut,
    EvaluationContext,
    EvaluatorConfigOut,
    ImportReport,
    LlmResponseOut,
    NewDataset,
    NewEvaluatorConfig,
    NewEvaluatorConfigConfigType0,
    NewPrompt,
    NewPromptTest,
    NewPromptTestTemplateVariables,
    NewRow,
    NewRowRowData,
    NewVersion,
    NewVersionModelConfigType0,
    PageDatasetRowOut,
    PageLlmResponseOut,
    PageRunOut,
    Problem,
    PromptOut,
    PromptTestOut,
    ResponseStatus,
    RowSource,
    RunMode,
    RunOut,
    RunRequest,
    StartedRuns,
    TestRunStatus,
    TrackRequest,
    TrackRequestVariables,
    VersionOut,
    VersionStats,
    VersionStatus,
)
from prompt_tracker_client.types import UNSET, Response

passed = 0


def check(what: str, ok: bool, got: Any = None) -> None:
    """One assertion: prints it, counts it, stops the scenario when it fails."""
    global passed
    if ok:
        passed += 1
        print(f"  ok    {what}")
        return
    print(f"  FAIL  {what}" + ("" if got is None else f"  (got: {got!r})"))
    print(f"sdk-scenario: {passed} passed, 1 failed")
    sys.exit(1)


def expect(resp: Response[Any], status: int, model: type, what: str) -> Any:
    """Checks a detailed response's status and parsed type; returns the parsed body."""
    detail = resp.parsed if resp.status_code != status else None
    check(f"{what}: HTTP {status}", resp.status_code == status, (int(resp.status_code), detail or resp.content[:300]))
    check(
        f"{what}: body parsed as {model.__name__}",
        isinstance(resp.parsed, model),
        type(resp.parsed).__name__,
    )
    return resp.parsed


def close(a: float | None | Any, b: float) -> bool:
    return isinstance(a, float) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def unset_none(value: Any) -> Any:
    return None if value is UNSET else value


def mock_requests(mock_url: str | None) -> int | None:
    """Chat completion requests the mock answered so far (None without a mock URL)."""
    if not mock_url:
        return None
    try:
        with urllib.request.urlopen(f"{mock_url}/count", timeout=5) as r:
            return int(json.load(r)["requests"])
    except (OSError, ValueError, KeyError) as err:
        check(f"GET {mock_url}/count (the mock OpenAI server)", False, repr(err))
        raise AssertionError("unreachable") from err  # check() exits


def make_client(base_url: str) -> Client | AuthenticatedClient:
    token = os.environ.get("PROMPT_TRACKER_API_TOKEN")
    kwargs: dict[str, Any] = {"base_url": base_url, "raise_on_unexpected_status": True, "timeout": 30.0}
    if token:
        return AuthenticatedClient(token=token, **kwargs)
    return Client(**kwargs)


# scripts/mock_openai.py's answer to every chat completion, and what it costs at gpt-4o's built-in
# price ($2.50 / $10.00 per million input / output tokens: the 0.0075 of the tracked call above).
MOCK_REPLY = "Hello, welcome!"
MOCK_TOKENS = (12, 5, 17)
MOCK_CALL_COST = (12 * 2.50 + 5 * 10.00) / 1_000_000  # 0.00008 USD


def add_test_config(
    client: Client | AuthenticatedClient, test: PromptTestOut, key: str, config: dict | None, weight: float
) -> EvaluatorConfigOut:
    body = NewEvaluatorConfig(
        evaluator_key=key,
        config=UNSET if config is None else NewEvaluatorConfigConfigType0.from_dict(config),
        weight=weight,
    )
    out: EvaluatorConfigOut = expect(
        create_test_config.sync_detailed(test.id, client=client, body=body),
        HTTPStatus.CREATED,
        EvaluatorConfigOut,
        f"POST /tests/{{id}}/evaluator-configs ({test.name}: {key})",
    )
    check(
        f"{key} config owned by test {test.name!r}, sync by default, weight {weight:g}",
        (out.owner_type, out.owner_id, out.run_mode, out.weight, out.enabled)
        == (ConfigurableType.PROMPT_TEST, test.id, RunMode.SYNC, weight, True),
        out.to_dict(),
    )
    return out


def batch_counts(b: BatchOut) -> tuple:
    return (b.total, b.pending, b.running, b.finished, b.passed, b.failed, b.errored, b.skipped, b.verdict)


def results_of(r: RunOut) -> set[tuple]:
    """(config id, score, passed, weight) of each evaluation of a run."""
    return {
        (e.get("evaluator_config_id"), e.get("score"), e.get("passed"), e.get("weight"))
        for e in (item.to_dict() for item in r.evaluator_results)
    }


def test_runs(client: Client | AuthenticatedClient, prompt: PromptOut, run: str, mock_url: str | None) -> str:
    """Tests, evaluator configs, a dataset, test runs against the mock provider, verdicts, stats."""
    print("== create a chat_completion version to test")
    chat = NewVersionModelConfigType0.from_dict({"provider": "openai", "api": "chat_completion", "model": "gpt-4o"})
    version: VersionOut = expect(
        create_version.sync_detailed(
            prompt.id,
            client=client,
            body=NewVersion(user_prompt="Say hello to {{ name }} and welcome them.", model_config=chat),
        ),
        HTTPStatus.CREATED,
        VersionOut,
        "POST /prompts/{id}/versions (openai/chat_completion)",
    )
    vmc = version.model_config.to_dict()
    check(
        "model_config kept as openai/chat_completion/gpt-4o",
        (vmc.get("provider"), vmc.get("api"), vmc.get("model")) == ("openai", "chat_completion", "gpt-4o"),
        vmc,
    )
    check("api_type == openai_chat_completion", version.api_type == ApiType.OPENAI_CHAT_COMPLETION, version.api_type)
    check("second version, a draft", (version.version_number, version.status) == (2, VersionStatus.DRAFT))

    print("== two tests with evaluator configs")
    # 'greets' passes by the weighted mean only: keyword (weight 2) scores 100 on the mock's reply,
    # exact_match (weight 1) scores 0; (2*100 + 1*0) / 3 = 66.7 >= pass_threshold 65. Equal weights
    # (50) or no pass_threshold (every evaluation must pass) would fail it.
    greets: PromptTestOut = expect(
        create_test.sync_detailed(
            version.id,
            client=client,
            body=NewPromptTest(
                name=f"greets {run}",
                template_variables=NewPromptTestTemplateVariables.from_dict({"name": "Ada"}),
                pass_threshold=65,
            ),
        ),
        HTTPStatus.CREATED,
        PromptTestOut,
        "POST /versions/{id}/tests (greets)",
    )
    tmc = greets.model_config.to_dict()
    check(
        "test inherits the version's model config",
        (tmc.get("provider"), tmc.get("api"), tmc.get("model"), greets.api_type)
        == ("openai", "chat_completion", "gpt-4o", ApiType.OPENAI_CHAT_COMPLETION),
        (tmc, greets.api_type),
    )
    check(
        "pass_threshold 65, enabled, on the version",
        (greets.pass_threshold, greets.enabled, greets.prompt_version_id) == (65, True, version.id),
    )
    greets_kw = add_test_config(client, greets, "keyword", {"required_keywords": ["welcome"]}, 2.0)
    greets_em = add_test_config(client, greets, "exact_match", {"expected_text": "Goodbye!"}, 1.0)

    # 'exact reply' fails: no pass_threshold and all weights 1, so every evaluation must pass, and
    # exact_match (no expected_text: the test's expected_output) does not, although keyword does.
    exact: PromptTestOut = expect(
        create_test.sync_detailed(
            version.id,
            client=client,
            body=NewPromptTest(
                name=f"exact reply {run}",
                template_variables=NewPromptTestTemplateVariables.from_dict({"name": "Ada"}),
                expected_output="Goodbye!",
            ),
        ),
        HTTPStatus.CREATED,
        PromptTestOut,
        "POST /versions/{id}/tests (exact reply)",
    )
    check("no pass_threshold", exact.pass_threshold in (None, UNSET), exact.pass_threshold)
    exact_kw = add_test_config(client, exact, "keyword", {"required_keywords": ["hello"]}, 1.0)
    exact_em = add_test_config(client, exact, "exact_match", None, 1.0)

    print("== a dataset: 2 rows added, 3 imported (JSONL)")
    dataset: DatasetOut = expect(
        create_dataset.sync_detailed(
            version.id, client=client, body=NewDataset(name=f"names {run}", description="people to greet")
        ),
        HTTPStatus.CREATED,
        DatasetOut,
        "POST /versions/{id}/datasets",
    )
    check(
        "dataset schema is the version's variables_schema, no rows",
        ([v.name for v in dataset.schema], dataset.row_count, dataset.prompt_version_id) == (["name"], 0, version.id),
        dataset.to_dict(),
    )
    added, imported = ["Grace", "Alan"], ["Linus", "Barbara", "Edsger"]
    for name in added:
        row: DatasetRowOut = expect(
            add_row.sync_detailed(
                dataset.id, client=client, body=NewRow(row_data=NewRowRowData.from_dict({"name": name}))
            ),
            HTTPStatus.CREATED,
            DatasetRowOut,
            f"POST /datasets/{{id}}/rows ({name})",
        )
        check(
            f"row {name}: manual, row_data kept",
            (row.source, row.row_data.to_dict(), row.dataset_id) == (RowSource.MANUAL, {"name": name}, dataset.id),
            row.to_dict(),
        )
    jsonl = "".join(json.dumps({"name": name}) + "\n" for name in imported)
    # openapi-python-client does not generate POST /datasets/{id}/import (its request body is
    # JSONL or CSV, not JSON: see known_generator_warnings in sdk-check.sh), so this single call
    # goes through the generated client's own httpx client (same base URL, token and timeout);
    # the answer is parsed with the generated models.
    raw = client.get_httpx_client().post(
        f"/api/v1/datasets/{dataset.id}/import",
        content=jsonl.encode(),
        headers={"Content-Type": "application/x-ndjson"},
    )
    check("POST /datasets/{id}/import (JSONL): HTTP 201", raw.status_code == 201, (raw.status_code, raw.text[:300]))
    report = ImportReport.from_dict(raw.json())
    check(
        "import report: 3 created, 0 rejected",
        (report.created, report.rejected_count, len(report.rejected)) == (3, 0, 0),
        report.to_dict(),
    )
    dataset = get_dataset.sync(dataset.id, client=client)
    check("GET /datasets/{id}: row_count 5", isinstance(dataset, DatasetOut) and dataset.row_count == 5, dataset)
    page: PageDatasetRowOut = expect(
        list_rows.sync_detailed(dataset.id, client=client, limit=50),
        HTTPStatus.OK,
        PageDatasetRowOut,
        "GET /datasets/{id}/rows",
    )
    rows = sorted(page.data, key=lambda r: r.id)
    names = added + imported
    check("the 5 rows, in creation order", [r.row_data.to_dict() for r in rows] == [{"name": n} for n in names])
    check(
        "sources: 2 manual, 3 imported",
        [r.source for r in rows] == [RowSource.MANUAL] * 2 + [RowSource.IMPORTED] * 3,
        [r.source for r in rows],
    )
    check(
        "imported rows keep their JSONL line numbers 1-3",
        [unset_none(r.line_number) for r in rows[2:]] == [1, 2, 3],
        [unset_none(r.line_number) for r in rows],
    )

    mock_before = mock_requests(mock_url)

    print("== run 'greets' over the dataset (?wait=true)")
    started: StartedRuns = expect(
        run_test.sync_detailed(greets.id, client=client, body=RunRequest(dataset_id=dataset.id), wait=True),
        HTTPStatus.OK,
        StartedRuns,
        "POST /tests/{id}/runs?wait=true (dataset_id)",
    )
    batch = started.batch
    check(
        "batch: total 5, finished 5, passed 5, verdict passed",
        batch_counts(batch) == (5, 0, 0, 5, 5, 0, 0, 0, BatchVerdict.PASSED),
        batch.to_dict(),
    )
    check(
        "batch of this test and version",
        (started.batch_id, batch.prompt_test_id, batch.prompt_version_id) == (batch.id, greets.id, version.id),
        batch.to_dict(),
    )
    runs = sorted(started.runs, key=lambda r: r.id)
    check("5 runs, one per row, in row order", [r.variables.to_dict() for r in runs] == [{"name": n} for n in names])
    check(
        "every run passed (weighted mean 66.7 >= 65) with 1 of 2 evaluations passed",
        all(
            (r.status, r.passed, r.passed_evaluators, r.failed_evaluators, r.total_evaluators, r.batch_id)
            == (TestRunStatus.PASSED, True, 1, 1, 2, batch.id)
            for r in runs
        ),
        [r.to_dict() for r in runs],
    )
    check(
        "evaluator_results: keyword 100 passed (weight 2), exact_match 0 failed (weight 1)",
        all(results_of(r) == {(greets_kw.id, 100.0, True, 2.0), (greets_em.id, 0.0, False, 1.0)} for r in runs),
        [r.to_dict()["evaluator_results"] for r in runs],
    )
    check(
        "each run costs 0.00008 (12 + 5 tokens of gpt-4o)",
        all(close(r.cost_usd, MOCK_CALL_COST) for r in runs),
        [r.cost_usd for r in runs],
    )

    print("== run the whole version (?wait=true)")
    vstarted: StartedRuns = expect(
        run_version.sync_detailed(version.id, client=client, wait=True),
        HTTPStatus.OK,
        StartedRuns,
        "POST /versions/{id}/test-runs?wait=true",
    )
    vbatch = vstarted.batch
    check(
        "batch: total 2, passed 1, failed 1, verdict failed",
        batch_counts(vbatch) == (2, 0, 0, 2, 1, 1, 0, 0, BatchVerdict.FAILED),
        vbatch.to_dict(),
    )
    check(
        "a whole-version batch (prompt_test_id null)",
        (vstarted.batch_id, unset_none(vbatch.prompt_test_id), vbatch.prompt_version_id)
        == (vbatch.id, None, version.id),
        vbatch.to_dict(),
    )
    by_test = {r.prompt_test_id: r for r in vstarted.runs}
    check("one run per enabled test", sorted(by_test) == sorted([greets.id, exact.id]) and len(vstarted.runs) == 2)
    g, e = by_test.get(greets.id), by_test.get(exact.id)
    check(
        "'greets' passed with its template_variables",
        g is not None and (g.status, g.passed, g.variables.to_dict()) == (TestRunStatus.PASSED, True, {"name": "Ada"}),
        g and g.to_dict(),
    )
    check(
        "'exact reply' failed: keyword passed, exact_match (expected_output) failed",
        e is not None
        and (e.status, e.passed, e.passed_evaluators, e.failed_evaluators) == (TestRunStatus.FAILED, False, 1, 1)
        and results_of(e) == {(exact_kw.id, 100.0, True, 1.0), (exact_em.id, 0.0, False, 1.0)},
        e and e.to_dict(),
    )

    print("== read the batches, a run and its LLM response")
    for label, b in (("dataset", batch), ("version", vbatch)):
        read: BatchOut = expect(
            get_batch.sync_detailed(b.id, client=client),
            HTTPStatus.OK,
            BatchOut,
            f"GET /test-run-batches/{{id}} ({label})",
        )
        check(f"{label} batch read back as answered by ?wait=true", read.to_dict() == b.to_dict(), read.to_dict())
    listed = list_runs.sync(client=client, batch_id=batch.id, limit=50)
    check(
        "GET /test-runs?batch_id= lists the 5 runs",
        isinstance(listed, PageRunOut) and sorted(r.id for r in listed.data) == [r.id for r in runs],
        listed,
    )
    first: RunOut = expect(
        get_run.sync_detailed(runs[0].id, client=client), HTTPStatus.OK, RunOut, "GET /test-runs/{id}"
    )
    check(
        "run read back: passed, its batch, an LLM response, an execution time",
        (first.status, first.passed, first.batch_id) == (TestRunStatus.PASSED, True, batch.id)
        and isinstance(first.llm_response_id, int)
        and isinstance(first.execution_time_ms, int),
        first.to_dict(),
    )
    resp: LlmResponseOut = expect(
        get_response.sync_detailed(first.llm_response_id, client=client),
        HTTPStatus.OK,
        LlmResponseOut,
        "GET /llm-responses/{id} (of the run)",
    )
    check(
        "is_test_run true, status success, latency recorded",
        (resp.is_test_run, resp.status) == (True, ResponseStatus.SUCCESS) and isinstance(resp.response_time_ms, int),
        (resp.is_test_run, resp.status, resp.response_time_ms),
    )
    check("the mock's reply", resp.response_text == MOCK_REPLY, resp.response_text)
    check(
        "tokens from the mock (12 + 5 = 17)",
        (resp.tokens_prompt, resp.tokens_completion, resp.tokens_total) == MOCK_TOKENS,
        (resp.tokens_prompt, resp.tokens_completion, resp.tokens_total),
    )
    check(
        "openai/chat_completion/gpt-4o on this version, cost 0.00008",
        (resp.provider, resp.api, resp.model, resp.prompt_version_id)
        == ("openai", "chat_completion", "gpt-4o", version.id)
        and close(resp.cost_usd, MOCK_CALL_COST),
        (resp.provider, resp.api, resp.model, resp.prompt_version_id, resp.cost_usd),
    )
    check(
        "rendered with the first row",
        resp.rendered_prompt == "Say hello to Grace and welcome them.",
        resp.rendered_prompt,
    )
    check(
        "its evaluations: the test's 2 configs, context test_run",
        sorted((ev.evaluator_config_id, ev.evaluation_context, ev.passed) for ev in resp.evaluations)
        == sorted(
            [(greets_kw.id, EvaluationContext.TEST_RUN, True), (greets_em.id, EvaluationContext.TEST_RUN, False)]
        ),
        [ev.to_dict() for ev in resp.evaluations],
    )

    print("== stats of the tested version")
    total_runs = len(started.runs) + len(vstarted.runs)
    stats: VersionStats = expect(
        version_stats.sync_detailed(version.id, client=client), HTTPStatus.OK, VersionStats, "GET /versions/{id}/stats"
    )
    tc = stats.test_calls
    check("tracked_calls.calls == 0", stats.tracked_calls.calls == 0, stats.tracked_calls.to_dict())
    check(f"test_calls.calls == {total_runs} (every run)", tc.calls == total_runs, tc.to_dict())
    check(
        "test_calls.success_rate == 1.0, latency percentiles present",
        unset_none(tc.success_rate) == 1.0
        and isinstance(tc.latency_ms_p50, int)
        and isinstance(tc.latency_ms_p95, int),
        tc.to_dict(),
    )
    check(
        f"test_calls tokens == {total_runs} x (12, 5, 17)",
        (tc.tokens_prompt, tc.tokens_completion, tc.tokens_total) == tuple(total_runs * n for n in MOCK_TOKENS),
        (tc.tokens_prompt, tc.tokens_completion, tc.tokens_total),
    )
    check(
        f"test_calls.cost_usd == {total_runs} x 0.00008",
        math.isclose(tc.cost_usd, total_runs * MOCK_CALL_COST, rel_tol=1e-9),
        tc.cost_usd,
    )
    per_key = {
        s.evaluator_key: (s.evaluations, unset_none(s.pass_rate), unset_none(s.mean_score)) for s in tc.evaluators
    }
    # keyword: 6 runs of 'greets' + 1 of 'exact reply', all passed; exact_match: the same 7, all failed.
    check(
        "evaluator pass rates: keyword 7/7 (mean 100), exact_match 0/7 (mean 0)",
        per_key == {"keyword": (7, 1.0, 100.0), "exact_match": (7, 0.0, 0.0)},
        per_key,
    )

    if mock_url:
        calls = mock_requests(mock_url) - mock_before
        check(f"the mock answered one chat completion per run ({total_runs})", calls == total_runs, calls)

    return (
        f"version {version.id}: tests {greets.id} (weighted, passed) and {exact.id} (failed), dataset {dataset.id} "
        f"({dataset.row_count} rows), batches {batch.id} ({batch.verdict.value}) and {vbatch.id} "
        f"({vbatch.verdict.value}), test calls {tc.calls}"
    )


def main() -> None:
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: sdk_scenario.py BASE_URL [MOCK_URL]")
    client = make_client(sys.argv[1])
    mock_url = sys.argv[2].rstrip("/") if len(sys.argv) == 3 else None
    run = uuid.uuid4().hex[:8]

    print("== readiness")
    health = readyz.sync(client=client)
    check("GET /readyz -> Health(status=ok)", getattr(health, "status", None) == "ok", health)

    print("== create a prompt")
    prompt: PromptOut = expect(
        create_prompt.sync_detailed(client=client, body=NewPrompt(name=f"SDK greeting {run}", tags=["sdk"])),
        HTTPStatus.CREATED,
        PromptOut,
        "POST /prompts",
    )
    check("prompt slug derived from the name", prompt.slug == f"sdk_greeting_{run}", prompt.slug)

    print("== create a version (legacy compound model_config)")
    legacy = NewVersionModelConfigType0.from_dict({"provider": "openai_responses", "model": "gpt-4o"})
    version: VersionOut = expect(
        create_version.sync_detailed(
            prompt.id,
            client=client,
            body=NewVersion(user_prompt="Say hello to {{ name }} and welcome them.", model_config=legacy),
        ),
        HTTPStatus.CREATED,
        VersionOut,
        "POST /prompts/{id}/versions",
    )
    mc = version.model_config.to_dict()
    check("model_config.provider split to 'openai'", mc.get("provider") == "openai", mc)
    check("model_config.api split to 'response_api'", mc.get("api") == "response_api", mc)
    check("model_config.model kept", mc.get("model") == "gpt-4o", mc)
    check("api_type == openai_response_api", version.api_type == ApiType.OPENAI_RESPONSE_API, version.api_type)
    check("new version is a draft, number 1", (version.status, version.version_number) == (VersionStatus.DRAFT, 1))
    check(
        "variables_schema extracted from {{ name }}",
        [v.name for v in version.variables_schema] == ["name"],
        [v.to_dict() for v in version.variables_schema],
    )

    print("== activate it")
    activated: VersionOut = expect(
        activate_version.sync_detailed(version.id, client=client),
        HTTPStatus.OK,
        VersionOut,
        "POST /versions/{id}/activate",
    )
    check("version status is active", activated.status == VersionStatus.ACTIVE, activated.status)
    again = get_version.sync(version.id, client=client)
    check("GET /versions/{id} (sync) agrees", isinstance(again, VersionOut) and again.status == VersionStatus.ACTIVE)

    print("== add a sync keyword evaluator")
    evaluator: EvaluatorConfigOut = expect(
        create_version_config.sync_detailed(
            version.id,
            client=client,
            body=NewEvaluatorConfig(
                evaluator_key="keyword",
                run_mode=RunMode.SYNC,
                config=NewEvaluatorConfigConfigType0.from_dict({"required_keywords": ["welcome"]}),
            ),
        ),
        HTTPStatus.CREATED,
        EvaluatorConfigOut,
        "POST /versions/{id}/evaluator-configs",
    )
    check("config run_mode sync", evaluator.run_mode == RunMode.SYNC, evaluator.run_mode)
    check(
        "config kept required_keywords",
        evaluator.config.to_dict().get("required_keywords") == ["welcome"],
        evaluator.config.to_dict(),
    )

    print("== track a call by prompt_slug")
    tracked: LlmResponseOut = expect(
        track_call.sync_detailed(
            client=client,
            idempotency_key=f"sdk-{run}",
            body=TrackRequest(
                prompt_slug=prompt.slug,
                variables=TrackRequestVariables.from_dict({"name": "Ada"}),
                response_text="Hello Ada, and welcome aboard!",
                tokens_prompt=1000,
                tokens_completion=500,
                response_time_ms=420,
            ),
        ),
        HTTPStatus.CREATED,
        LlmResponseOut,
        "POST /llm-responses",
    )
    check(
        "rendered_prompt",
        tracked.rendered_prompt == "Say hello to Ada and welcome them.",
        tracked.rendered_prompt,
    )
    check("tracked against the active version", tracked.prompt_version_id == version.id, tracked.prompt_version_id)
    check("provider/api from the split config", (tracked.provider, tracked.api) == ("openai", "response_api"))
    check("tokens_total derived (1500)", tracked.tokens_total == 1500, tracked.tokens_total)
    check(
        "cost_usd == 0.0075 (gpt-4o: 1000 in + 500 out)",
        isinstance(tracked.cost_usd, float) and math.isclose(tracked.cost_usd, 0.0075, rel_tol=0, abs_tol=1e-12),
        tracked.cost_usd,
    )
    check("status success, not a test run", tracked.status == ResponseStatus.SUCCESS and tracked.is_test_run is False)
    check("exactly one evaluation", len(tracked.evaluations) == 1, [e.to_dict() for e in tracked.evaluations])
    ev = tracked.evaluations[0]
    check("evaluation passed is True", ev.passed is True, ev.to_dict())
    check(
        "evaluation is keyword / tracked_call / this config",
        (ev.evaluator_key, ev.evaluation_context, ev.evaluator_config_id)
        == ("keyword", EvaluationContext.TRACKED_CALL, evaluator.id),
        ev.to_dict(),
    )

    print("== list llm-responses of the version")
    page: PageLlmResponseOut = expect(
        list_responses.sync_detailed(client=client, version_id=version.id, limit=10),
        HTTPStatus.OK,
        PageLlmResponseOut,
        "GET /llm-responses?version_id=",
    )
    check("the tracked call is listed", [r.id for r in page.data] == [tracked.id], [r.id for r in page.data])
    check("last page (next_cursor null)", page.next_cursor is None or page.next_cursor is UNSET, page.next_cursor)

    print("== version stats")
    stats: VersionStats = expect(
        version_stats.sync_detailed(version.id, client=client),
        HTTPStatus.OK,
        VersionStats,
        "GET /versions/{id}/stats",
    )
    check("tracked_calls.calls == 1", stats.tracked_calls.calls == 1, stats.tracked_calls.to_dict())
    check("test_calls.calls == 0", stats.test_calls.calls == 0, stats.test_calls.to_dict())

    print("== a validation problem (temperature 3)")
    bad = create_version.sync_detailed(
        prompt.id,
        client=client,
        body=NewVersion(
            user_prompt="Hi {{ name }}",
            model_config=NewVersionModelConfigType0.from_dict(
                {"provider": "openai", "api": "chat_completion", "model": "gpt-4o", "temperature": 3}
            ),
        ),
    )
    problem: Problem = expect(
        bad, HTTPStatus.UNPROCESSABLE_ENTITY, Problem, "POST /prompts/{id}/versions (temperature 3)"
    )
    check(
        "problem served as application/problem+json",
        bad.headers.get("content-type", "").startswith("application/problem+json"),
        bad.headers.get("content-type"),
    )
    check("problem.status == 422", problem.status == 422, problem.status)
    errors = [] if problem.errors is UNSET else problem.errors
    check(
        "errors[0].field == model_config.temperature",
        bool(errors) and errors[0].field == "model_config.temperature",
        [e.to_dict() for e in errors],
    )
    request_id = bad.headers.get("x-request-id", "")
    check("the answer carries a generated X-Request-Id", len(request_id) == 36, request_id)
    check(
        "problem.request_id == its X-Request-Id",
        problem.request_id is not UNSET and problem.request_id == request_id,
        problem.request_id,
    )

    tested = test_runs(client, prompt, run, mock_url)

    print("== metrics (Prometheus text format)")
    scraped = metrics.sync_detailed(client=client)
    check("GET /metrics -> 200", scraped.status_code == HTTPStatus.OK, scraped.status_code)
    text = scraped.parsed if isinstance(scraped.parsed, str) else ""
    check(
        "requests counted by route template",
        'route="/api/v1/prompts/{prompt_id}/versions"' in text,
        text[:300],
    )
    check(
        "provider calls counted",
        'prompt_tracker_provider_calls_total{provider="openai",api="chat_completion",outcome=' in text,
        [line for line in text.splitlines() if "provider_calls_total" in line],
    )

    print(
        f"summary: prompt {prompt.id} ({prompt.slug}), version {version.id} "
        f"[{mc.get('provider')}/{mc.get('api')}/{mc.get('model')}], evaluator config {evaluator.id}, "
        f"llm response {tracked.id} (cost {tracked.cost_usd}, evaluation passed={ev.passed}), "
        f"tracked calls {stats.tracked_calls.calls}; {tested}"
    )
    print(f"sdk-scenario: {passed} passed, 0 failed")


if __name__ == "__main__":
    main()
