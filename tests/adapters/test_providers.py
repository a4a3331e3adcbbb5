"""Every provider behind the one interface, each against a local server speaking its API: the
Chat Completions API (OpenAI and self-hosted servers, Azure OpenAI) through the ``openai`` SDK,
Amazon Bedrock and Google Vertex through the ``anthropic`` SDK's clients; then the fallback chain
and the circuit breaker with servers failing, going down and coming back."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import anthropic
import httpx
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError

from activities.analyze import worker_models
from prsaga.adapters.claude import SPECIALISTS, PullRequestContext, review_chunk
from prsaga.adapters.llm import CIRCUIT_OPEN, BreakerPolicy, Breakers, CircuitState, Models
from prsaga.adapters.llm.anthropic_api import make_client as make_anthropic_client
from prsaga.adapters.verifier import verify_finding
from prsaga.local.llm_fake import FakeMessages
from prsaga.local.llm_fake import serve_in_thread as serve_messages
from prsaga.local.openai_fake import (
    DelayReply,
    ErrorReply,
    FakeChatCompletions,
    RawReply,
    ToolUseReply,
)
from prsaga.local.openai_fake import serve_in_thread as serve_chat
from prsaga.review.diff import DiffFile
from prsaga.review.models import ModelSpec, parse_chain
from prsaga.runtime.config import Settings
from prsaga.schema.metrics import LLM_CIRCUIT_TRANSITIONS
from tests.conftest import ANTHROPIC_KEY
from tests.e2e.test_observability import free_address, scrape, total
from tests.git_diff import parse_unified_diff

OPENAI_KEY = "sk-proj-" + "L0calFake" * 5
DIFF = """\
diff --git a/app/run.py b/app/run.py
--- a/app/run.py
+++ b/app/run.py
@@ -1,2 +1,5 @@
 def run(command):
-    return command
+    try:
+        return eval(command)
+    except:
+        return None
"""
FILES: list[DiffFile] = parse_unified_diff(DIFF)
PULL = PullRequestContext(
    repository="octo/widgets",
    number=7,
    title="Run commands",
    body="Evaluates them.",
    author="sam",
    base_ref="main",
    head_sha="b" * 40,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def chat_server() -> Iterator[tuple[FakeChatCompletions, str]]:
    fake = FakeChatCompletions(OPENAI_KEY)
    with serve_chat(fake) as url:
        yield fake, url


@pytest.fixture
def chat(chat_server: tuple[FakeChatCompletions, str]) -> FakeChatCompletions:
    chat_server[0].reset()
    return chat_server[0]


@pytest.fixture
def messages(messages_server: tuple[FakeMessages, str]) -> FakeMessages:
    messages_server[0].reset()
    return messages_server[0]


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **({"anthropic_timeout_seconds": 5.0} | values))


def models(config: Settings, clock: Clock | None = None, **policy: Any) -> Models:
    return Models(config, Breakers(BreakerPolicy(**policy), clock or time.monotonic))


def security(
    m: Models, chain: str, files: list[DiffFile] = FILES, agent: str = "claude-security"
) -> Any:
    return review_chunk(
        m, parse_chain(chain), 2048, SPECIALISTS["security"], PULL, files, agent=agent
    )


def openai_settings(url: str, **values: Any) -> Settings:
    return settings(openai_api_key=SecretStr(OPENAI_KEY), openai_base_url=f"{url}/v1", **values)


# --- OpenAI-compatible endpoints ----------------------------------------------------------------


def test_an_openai_compatible_server_reviews_through_function_calling(
    chat_server: tuple[FakeChatCompletions, str], chat: FakeChatCompletions
) -> None:
    result = security(models(openai_settings(chat_server[1])), "openai:qwen2.5-coder")
    assert result.error is None and result.provider == "openai"
    assert [(f.line, f.evidence, f.tool) for f in result.findings] == [
        (3, "return eval(command)", "qwen2.5-coder")
    ]
    assert result.usage.input_tokens > 0 and result.cost_usd > 0
    (request,) = chat.requests
    body = request.body
    assert request.path == "/v1/chat/completions"
    assert body["tool_choice"] == {"type": "function", "function": {"name": "report_findings"}}
    assert body["messages"][0]["role"] == "system"
    assert "report-categories: security" in body["messages"][0]["content"]
    assert body["tools"][0]["function"]["parameters"]["type"] == "object"
    assert OPENAI_KEY not in json.dumps(request.headers)


def test_malformed_arguments_are_answered_by_a_tool_message_and_retried_once(
    chat_server: tuple[FakeChatCompletions, str], chat: FakeChatCompletions
) -> None:
    chat.script(ToolUseReply("{not json"))
    result = security(models(openai_settings(chat_server[1])), "openai:gpt-5-mini")
    assert result.error is None and result.attempts == 2 and result.findings
    first, retry = chat.requests
    assert retry.status == 200  # the server checks that each tool call is answered
    *_, call, answer = retry.body["messages"]
    assert call["role"] == "assistant" and call["tool_calls"][0]["function"]["arguments"] == (
        "{not json"
    )
    assert answer["role"] == "tool" and answer["tool_call_id"] == call["tool_calls"][0]["id"]
    assert "findings: Input should be a valid dictionary" in answer["content"] or (
        "input: Input should be a valid dictionary" in answer["content"]
    )


OPENAI_ERRORS = [
    (ErrorReply(400, "max_tokens is too large"), True, "OpenAIBadRequest", None),
    (ErrorReply(401, "Incorrect API key"), True, "OpenAIUnauthorized", None),
    (ErrorReply(404, "The model does not exist"), True, "OpenAINotFound", None),
    (
        ErrorReply(429, "Rate limit reached", headers={"retry-after": "3"}),
        False,
        "OpenAIRateLimited",
        3.0,
    ),
    (ErrorReply(500, "The server had an error"), False, "OpenAIServerError", None),
    (ErrorReply(503, "Overloaded"), False, "OpenAIServerError", None),
    (
        RawReply("<html>Bad gateway</html>", content_type="text/html"),
        False,
        "OpenAIBadResponse",
        None,
    ),
    (RawReply('{"choices": []}'), False, "OpenAIBadResponse", None),
]


@pytest.mark.parametrize(("reply", "final", "error_type", "delay"), OPENAI_ERRORS)
def test_chat_completions_failures_are_classified_for_temporal(
    chat_server: tuple[FakeChatCompletions, str],
    chat: FakeChatCompletions,
    reply: ErrorReply | RawReply,
    final: bool,
    error_type: str,
    delay: float | None,
) -> None:
    chat.script(reply)
    with pytest.raises(ApplicationError) as caught:
        security(models(openai_settings(chat_server[1])), "openai:gpt-5")
    error = caught.value
    assert (error.type, error.non_retryable) == (error_type, final)
    assert error.next_retry_delay == (None if delay is None else timedelta(seconds=delay))
    if isinstance(reply, ErrorReply):
        assert reply.message in error.message
    assert OPENAI_KEY not in str(error)


def test_a_chat_completions_timeout_is_retryable(
    chat_server: tuple[FakeChatCompletions, str], chat: FakeChatCompletions
) -> None:
    chat.script(DelayReply(3.0))
    config = openai_settings(chat_server[1], anthropic_timeout_seconds=0.3)
    with pytest.raises(ApplicationError) as caught:
        security(models(config), "openai:gpt-5")
    assert caught.value.type == "OpenAITimeout" and not caught.value.non_retryable


def test_azure_openai_calls_the_deployment_with_its_key_header(
    chat_server: tuple[FakeChatCompletions, str], chat: FakeChatCompletions
) -> None:
    config = settings(
        azure_openai_endpoint=chat_server[1],
        azure_openai_api_key=SecretStr(OPENAI_KEY),
        azure_openai_api_version="2024-10-21",
    )
    result = security(models(config), "azure:reviewer-gpt-5")
    assert result.error is None and result.provider == "azure" and result.findings
    # (A request an earlier test gave up on may still be recorded: only Azure's path counts.)
    paths = [r.path for r in chat.requests if r.path.startswith("/openai/")]
    assert paths == ["/openai/deployments/reviewer-gpt-5/chat/completions"]


def test_a_provider_without_credentials_says_which_setting_to_set() -> None:
    with pytest.raises(ApplicationError) as caught:
        security(models(settings()), "openai:gpt-5")
    assert caught.value.type == "OpenAINotConfigured" and caught.value.non_retryable
    assert "PRSAGA_OPENAI_API_KEY" in caught.value.message


# --- Bedrock and Vertex -------------------------------------------------------------------------


def test_bedrock_sends_the_model_in_the_path_and_the_version_in_the_body(
    messages_server: tuple[FakeMessages, str], messages: FakeMessages
) -> None:
    config = settings(
        bedrock_region="eu-west-1",
        PRSAGA_BEDROCK_API_KEY=ANTHROPIC_KEY,  # by its variable: the field has aliases
        bedrock_base_url=messages_server[1],
    )
    model = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
    result = security(models(config), f"bedrock:{model}")
    assert result.error is None and result.provider == "bedrock" and result.findings
    (request,) = messages.requests
    assert request.path == f"/model/{model}/invoke"
    assert "model" in request.body  # put back by the server from the path
    assert result.cost_usd > 0


def test_bedrock_with_aws_keys_signs_requests_with_sigv4() -> None:
    access_key = "AKIDLOCALTEST"
    fake = FakeMessages(access_key)  # checks the signature's shape and access key id
    with serve_messages(fake) as url:
        config = settings(
            bedrock_region="us-east-1",
            bedrock_access_key_id=access_key,
            bedrock_secret_access_key=SecretStr("local-secret"),
            bedrock_base_url=url,
        )
        result = security(models(config), "bedrock:anthropic.claude-sonnet-4-5-20250929-v1:0")
        stranger = config.model_copy(update={"bedrock_access_key_id": "AKIDSOMEONEELSE"})
        with pytest.raises(ApplicationError) as caught:
            security(models(stranger), "bedrock:anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert caught.value.type == "ClaudeUnauthorized"
    assert result.error is None and result.findings
    request, refused = fake.requests
    assert (request.status, refused.status) == (200, 401) and "x-amz-date" in request.headers
    client = make_anthropic_client(config, "bedrock")
    assert isinstance(client, anthropic.AnthropicBedrock) and client.api_key is None


def test_vertex_sends_raw_predict_with_the_access_token(
    messages_server: tuple[FakeMessages, str], messages: FakeMessages
) -> None:
    config = settings(
        vertex_region="us-east5",
        vertex_project_id="octo-reviews",
        vertex_access_token=SecretStr(ANTHROPIC_KEY),
        vertex_base_url=f"{messages_server[1]}/v1",
    )
    result = security(models(config), "vertex:claude-sonnet-4-5@20250929")
    assert result.error is None and result.provider == "vertex" and result.findings
    (request,) = messages.requests
    assert request.path == (
        "/v1/projects/octo-reviews/locations/us-east5/publishers/anthropic/models/"
        "claude-sonnet-4-5@20250929:rawPredict"
    )


@pytest.mark.parametrize(
    ("provider", "values", "setting"),
    [
        ("bedrock", {}, "PRSAGA_BEDROCK_REGION"),
        ("bedrock", {"bedrock_region": "us-east-1"}, "PRSAGA_BEDROCK_API_KEY"),
        ("vertex", {"vertex_region": "us-east5"}, "PRSAGA_VERTEX_PROJECT_ID"),
    ],
)
def test_bedrock_and_vertex_say_what_is_missing(
    provider: str, values: dict[str, Any], setting: str
) -> None:
    with pytest.raises(ApplicationError) as caught:
        make_anthropic_client(settings(**values), provider)
    assert caught.value.non_retryable and setting in caught.value.message


# --- the verifier -------------------------------------------------------------------------------


def test_the_verifier_confirms_what_the_code_shows_and_refutes_what_it_does_not(
    chat_server: tuple[FakeChatCompletions, str], chat: FakeChatCompletions
) -> None:
    m = models(openai_settings(chat_server[1]))
    (finding,) = security(m, "openai:gpt-5").findings
    code = 'file: "app/run.py" lines 1-5\n1   def run(command):\n2 +     try:\n'
    code += "3 +         return eval(command)\n4 +     except:\n5 +         return None"
    chain = parse_chain("openai:gpt-5-mini")
    confirmed = verify_finding(m, chain, 512, PULL, finding, code)
    assert (confirmed.verdict, confirmed.confidence) == ("confirmed", 95)
    assert confirmed.model == "gpt-5-mini" and confirmed.usage and confirmed.cost_usd > 0
    moved = finding.model_copy(update={"line": 5})
    refuted = verify_finding(m, chain, 512, PULL, moved, code)
    assert refuted.verdict == "refuted" and refuted.reason == "the quoted code is not there"
    prompt = chat.requests[-1].body["messages"][1]["content"]
    assert "<finding_" in prompt and "<code_" in prompt and "not instructions" in prompt


# --- the fallback chain and the circuit breaker -------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_a_provider_that_fails_for_good_hands_over_to_the_next(
    chat_server: tuple[FakeChatCompletions, str],
    chat: FakeChatCompletions,
    messages_server: tuple[FakeMessages, str],
    messages: FakeMessages,
) -> None:
    config = openai_settings(
        chat_server[1],
        anthropic_api_key=SecretStr("sk-ant-wrong"),
        anthropic_base_url=messages_server[1],
    )
    result = security(models(config), "anthropic:claude-sonnet-4-6, openai:gpt-5")
    assert result.provider == "openai" and result.findings
    (skipped,) = result.skipped
    assert skipped.startswith("anthropic:claude-sonnet-4-6: the Messages API answered 401")
    assert [r.status for r in messages.requests] == [401]


def test_a_provider_that_is_down_opens_its_circuit_then_calls_fail_fast_or_fall_back(
    chat_server: tuple[FakeChatCompletions, str], chat: FakeChatCompletions
) -> None:
    clock = Clock()
    port = free_port()
    config = openai_settings(
        chat_server[1],
        anthropic_api_key=SecretStr(ANTHROPIC_KEY),
        anthropic_base_url=f"http://127.0.0.1:{port}",
    )
    m = models(config, clock, failures=2, cooldown_seconds=30)
    down = "anthropic:claude-sonnet-4-6"
    for _ in range(2):  # nothing listens: retryable, for Temporal to retry with backoff
        with pytest.raises(ApplicationError) as caught:
            security(m, f"{down}, openai:gpt-5")
        assert caught.value.type == "ClaudeUnavailable" and not caught.value.non_retryable
    assert m.breakers.state("anthropic") == CircuitState.OPEN
    assert chat.requests == []

    # Open: the next call does not wait on the dead provider; it goes to the fallback at once.
    result = security(m, f"{down}, openai:gpt-5")
    assert (
        result.provider == "openai"
        and "circuit breaker of provider 'anthropic' is open" in (result.skipped[0])
    )
    # Without a fallback it fails fast, non-retryable, saying why.
    with pytest.raises(ApplicationError) as caught:
        security(m, down)
    assert caught.value.type == CIRCUIT_OPEN and caught.value.non_retryable
    assert "next probe in 30s" in caught.value.message

    # The provider comes back: after the cool-down one probe goes through and closes it.
    fake = FakeMessages(ANTHROPIC_KEY)
    with serve_messages(fake, port=port):
        clock.now += 30
        result = security(m, f"{down}, openai:gpt-5")
    assert result.provider == "anthropic" and result.skipped == []
    assert m.breakers.state("anthropic") == CircuitState.CLOSED
    assert len(fake.requests) == 1


def test_server_errors_count_against_the_circuit_but_refused_requests_do_not(
    messages_server: tuple[FakeMessages, str], messages: FakeMessages
) -> None:
    config = settings(
        anthropic_api_key=SecretStr(ANTHROPIC_KEY), anthropic_base_url=messages_server[1]
    )
    m = models(config, Clock(), failures=2)
    for reply in (ErrorReply(400, "bad"), ErrorReply(429, "slow"), ErrorReply(400, "bad")):
        messages.script(reply)
        with pytest.raises(ApplicationError):
            security(m, "anthropic:claude-sonnet-4-6")
    assert m.breakers.state("anthropic") == CircuitState.CLOSED
    messages.script(ErrorReply(500, "boom"), ErrorReply(529, "overloaded"))
    for _ in range(2):
        with pytest.raises(ApplicationError):
            security(m, "anthropic:claude-sonnet-4-6")
    assert m.breakers.state("anthropic") == CircuitState.OPEN
    assert ModelSpec(provider="anthropic", model="x").provider == "anthropic"


def test_circuit_transitions_are_metrics_and_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    config = settings(
        metrics_address=free_address(), llm_circuit_failures=1, llm_circuit_cooldown_seconds=0
    )
    breakers = worker_models(config).breakers
    with caplog.at_level(logging.INFO, logger="activities.analyze"):
        breakers.failed("openai", "the Chat Completions API answered 503")
        assert breakers.allow("openai") is None  # the probe, at once (no cool-down)
        breakers.succeeded("openai")
    assert [r.getMessage() for r in caplog.records] == [
        "circuit breaker of provider 'openai': closed -> open (1 consecutive failures)",
        "circuit breaker of provider 'openai': open -> half_open (cool-down over: one probe call)",
        "circuit breaker of provider 'openai': half_open -> closed (the probe call succeeded)",
    ]
    samples = scrape(httpx.get(f"http://{config.metrics_address}/metrics").text)
    for state in ("open", "half_open", "closed"):
        assert total(samples, LLM_CIRCUIT_TRANSITIONS, provider="openai", state=state) == 1
