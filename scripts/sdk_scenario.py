#!/usr/bin/env python3
"""End-to-end scenario against a running Prompt Tracker, through the Python client that
openapi-python-client generated from the committed openapi.yaml (run by scripts/sdk-check.sh).

Only the generated package is used to talk to the server: its typed models and its `api`
functions (`sync_detailed` where the status code or headers matter, `sync` elsewhere). No raw
HTTP. Exits non-zero on the first failed check; the last line is the tally that sdk-check.sh
turns into its own closing line.

Usage: sdk_scenario.py BASE_URL   (PROMPT_TRACKER_API_TOKEN, when set, is sent as a bearer token)
"""

from __future__ import annotations

import math
import os
import sys
import uuid
from http import HTTPStatus
from typing import Any

from prompt_tracker_client import AuthenticatedClient, Client
from prompt_tracker_client.api.evaluator_configs import create_version_config
from prompt_tracker_client.api.llm_responses import list_responses, track_call
from prompt_tracker_client.api.meta import readyz
from prompt_tracker_client.api.prompts import create_prompt
from prompt_tracker_client.api.versions import activate_version, create_version, get_version, version_stats
from prompt_tracker_client.models import (
    ApiType,
    EvaluationContext,
    EvaluatorConfigOut,
    LlmResponseOut,
    NewEvaluatorConfig,
    NewEvaluatorConfigConfigType0,
    NewPrompt,
    NewVersion,
    NewVersionModelConfigType0,
    PageLlmResponseOut,
    Problem,
    PromptOut,
    ResponseStatus,
    RunMode,
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


def make_client(base_url: str) -> Client | AuthenticatedClient:
    token = os.environ.get("PROMPT_TRACKER_API_TOKEN")
    kwargs: dict[str, Any] = {"base_url": base_url, "raise_on_unexpected_status": True, "timeout": 30.0}
    if token:
        return AuthenticatedClient(token=token, **kwargs)
    return Client(**kwargs)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: sdk_scenario.py BASE_URL")
    client = make_client(sys.argv[1])
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

    print(
        f"summary: prompt {prompt.id} ({prompt.slug}), version {version.id} "
        f"[{mc.get('provider')}/{mc.get('api')}/{mc.get('model')}], evaluator config {evaluator.id}, "
        f"llm response {tracked.id} (cost {tracked.cost_usd}, evaluation passed={ev.passed}), "
        f"tracked calls {stats.tracked_calls.calls}"
    )
    print(f"sdk-scenario: {passed} passed, 0 failed")


if __name__ == "__main__":
    main()
