# --- Faults from the outside: GitHub and the Messages API misbehave on demand ---
"""Each fault GitHub or Claude can answer with, injected into the local servers.

Transient faults (5xx, timeouts, rate limits) are retried by Temporal with backoff, waiting as
long as the rate-limit headers ask; permanent ones end the step at once with a message that says
what is wrong, and the saga compensates. Attempts and waits are read from the workflow history,
so the tests check what Temporal really did.

Claude is an extra reviewer: whatever it answers, the review completes with the offline
reviewer's findings and says which agent failed.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from prsaga.local.llm_fake import (
    DelayReply,
    ErrorReply,
    FakeMessages,
    RawReply,
    Reply,
    ToolUseReply,
)
from prsaga.local.llm_fake import serve_in_thread as serve_llm
from prsaga.runtime.config import Settings
from prsaga.schema import PullRequestState
from tests.conftest import make_settings, renumbered_demo
from tests.workflow.test_reliability import (
    SERVER_PY,
    GatedGitHub,
    SeededPR,
    event_payload,
    gated_github,
    seed_unique_pr,
    settled,
    signed_headers,
    webhook_client,
)
from worker import MAX_CONCURRENT_ACTIVITIES, build_worker
from workflows.calls import GITHUB_RETRY, LLM_RETRY

ANTHROPIC_KEY = "sk-ant-" + "f4ke" * 10
BARE_EXCEPT = (
    "\n\ndef probe():\n    try:\n        return int('1')\n    except:\n        return None\n"
)
"""Code the local Claude flags (a bare ``except:``, category correctness) on added lines."""
CLAUDE_AGENT = "claude-correctness"
RecordProperty = Callable[[str, object], None]


@dataclass
class Stack:
    client: Client
    github: GatedGitHub
    settings: Settings
    llm: FakeMessages | None

    def pr(self) -> SeededPR:
        """A new pull request, its head adding code that Claude has something to say about."""
        pr = seed_unique_pr(self.github.fake)
        if self.llm is None:
            return pr
        server_py = renumbered_demo(pr.ref.number).source.contents[SERVER_PY]
        assert isinstance(server_py, bytes)
        head = self.github.fake.push(
            pr.ref.owner,
            pr.ref.repo,
            pr.ref.number,
            contents={SERVER_PY: server_py.decode() + BARE_EXCEPT},
        )
        return SeededPR(pr.ref, head, pr.base_sha, event_payload(pr.payload, head))

    async def review(self, pr: SeededPR) -> PullRequestState:
        """Deliver the pull request's ``opened`` webhook; its state once settled."""
        body = json.dumps(pr.payload).encode()
        async with webhook_client(self.settings, self.client) as http:
            response = await http.post(
                "/webhooks/github", content=body, headers=signed_headers(body, str(uuid.uuid4()))
            )
            assert response.status_code == 202, response.text
        return await settled(self.client, pr.ref)

    async def attempts(self, pr: SeededPR, activity_type: str) -> list[tuple[int, float]]:
        """Per scheduling of ``activity_type``: its last attempt, and the seconds from being
        scheduled to that attempt's start (every retry's wait is in there)."""
        handle = self.client.get_workflow_handle(pr.ref.workflow_id)
        scheduled: dict[int, float] = {}
        found = []
        async for event in handle.fetch_history_events():
            at = event.event_time.ToDatetime().timestamp()
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attributes = event.activity_task_scheduled_event_attributes
                if attributes.activity_type.name == activity_type:
                    scheduled[event.event_id] = at
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                started = event.activity_task_started_event_attributes
                if started.scheduled_event_id in scheduled:
                    found.append((started.attempt, at - scheduled[started.scheduled_event_id]))
        return found

    def review_of(self, pr: SeededPR) -> dict[str, Any]:
        [review] = self.github.reviews(pr.ref.number)
        return review


@contextmanager
def local_claude(enabled: bool) -> Iterator[tuple[FakeMessages | None, str | None]]:
    if not enabled:
        yield None, None
        return
    fake = FakeMessages(api_key=ANTHROPIC_KEY)
    with serve_llm(fake) as url:
        yield fake, url


@asynccontextmanager
async def running_stack(
    client: Client, state_dir: Path, *, claude: bool = False, **overrides: Any
) -> AsyncIterator[Stack]:
    """A gated local GitHub (and the local Messages API), with an in-process worker. With
    Claude, the server's defaults run one specialist, so one Claude activity per review."""
    with gated_github() as github, local_claude(claude) as (llm, llm_url):
        if llm is not None:
            defaults = state_dir / "server-defaults.yml"
            state_dir.mkdir(parents=True, exist_ok=True)
            defaults.write_text("specialists: [correctness]\n")
            overrides |= {
                "anthropic_api_key": SecretStr(ANTHROPIC_KEY),
                "anthropic_base_url": llm_url,
                "anthropic_timeout_seconds": 1.0,
                "default_repo_config": defaults,
            }
        settings = make_settings(github.url, state_dir, **overrides)
        with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_ACTIVITIES) as executor:
            async with build_worker(client, settings, executor):
                yield Stack(client, github, settings, llm)


@pytest.fixture(scope="module")
async def stack(
    temporal_client: Client, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """Shared by the module's tests: each one reviews pull requests of its own."""
    state_dir = tmp_path_factory.mktemp("faults")
    async with running_stack(temporal_client, state_dir) as stack:
        yield stack


@pytest.fixture(scope="module")
async def claude_stack(
    temporal_client: Client, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """Shared by the Claude tests, which run one at a time: a test's scripted replies go to
    its own pull requests."""
    state_dir = tmp_path_factory.mktemp("claude-faults")
    # The worker's circuit breaker has tests of its own; here a provider that failed for one
    # test is probed again at once by the next, instead of failing fast through a cool-down.
    async with running_stack(
        temporal_client, state_dir, claude=True, llm_circuit_cooldown_seconds=0
    ) as stack:
        yield stack


def assert_reviewed(stack: Stack, pr: SeededPR, state: PullRequestState) -> dict[str, Any]:
    assert state.step.value == "completed", state.last_error
    assert state.last_reviewed_sha == pr.head_sha
    review = stack.review_of(pr)
    assert stack.github.statuses(pr.head_sha)[-1] == "success"
    return review


# ------------------------------------------------------------------------------------------------
# GitHub


async def test_github_server_errors_are_retried_with_backoff(
    stack: Stack, record_property: RecordProperty
):
    """A 500 (JSON) then a 502 (the edge's HTML page) on the file list: the parse step runs a
    third time, after the retry policy's two backoffs (1 s, then 2 s), and the review
    completes."""
    pr = stack.pr()
    files = rf"/pulls/{pr.ref.number}/files$"
    stack.github.fake.inject_fault(500, files, method="GET")
    stack.github.fake.inject_fault(
        502, files, method="GET", body="<html><body><h1>502 Bad Gateway</h1></body></html>"
    )
    assert_reviewed(stack, pr, await stack.review(pr))
    [(attempt, waited)] = await stack.attempts(pr, "parse_pull_request")
    assert attempt == 3
    record_property("seconds_before_third_attempt", round(waited, 2))
    first = GITHUB_RETRY.initial_interval.total_seconds()
    assert waited >= first + first * GITHUB_RETRY.backoff_coefficient - 0.5


async def test_github_rate_limits_wait_as_long_as_github_asks(
    stack: Stack, record_property: RecordProperty
):
    """A 429 with ``retry-after`` and a 403 with ``x-ratelimit-remaining: 0`` and
    ``x-ratelimit-reset`` (two pull requests at once): each is retried after the pause its
    headers ask for (3 s), not after the retry policy's first interval (1 s)."""
    asked = 3.0
    reset = int(time.time() + asked) + 1  # whole seconds, as GitHub sends it
    faults = {
        429: {"retry-after": str(int(asked))},
        403: {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
    }
    prs = {status: stack.pr() for status in faults}
    for status, pr in prs.items():
        stack.github.fake.inject_fault(
            status, rf"/pulls/{pr.ref.number}$", method="GET", headers=faults[status]
        )
    states = await asyncio.gather(*(stack.review(pr) for pr in prs.values()))
    for (status, pr), state in zip(prs.items(), states, strict=True):
        assert_reviewed(stack, pr, state)
        [(attempt, waited)] = await stack.attempts(pr, "parse_pull_request")
        record_property(f"seconds_before_retry_{status}", round(waited, 2))
        assert attempt == 2
        assert waited >= asked - 1.0  # the reset is counted in whole seconds


async def test_a_slow_github_times_out_and_the_step_is_retried(
    temporal_client: Client, tmp_path: Path
):
    """An answer slower than ``github_timeout_seconds`` is abandoned and the step retried."""
    async with running_stack(
        temporal_client, tmp_path / "state", github_timeout_seconds=1.0
    ) as stack:
        pr = stack.pr()
        stack.github.gate.delay(2.5, "GET", rf"/pulls/{pr.ref.number}/files\?")
        assert_reviewed(stack, pr, await stack.review(pr))
        [(attempt, _)] = await stack.attempts(pr, "parse_pull_request")
    assert attempt == 2


async def test_a_deleted_pull_request_ends_the_review_with_a_clear_message(stack: Stack):
    """The pull request disappears (404) while its files are analysed: posting fails at once,
    without retries, says why, and the pending status is set to error."""
    pr = stack.pr()
    analysing = stack.github.gate.hold(
        "GET", rf"/contents/tests/testserver/server\.py\?ref={pr.head_sha}"
    )
    task = asyncio.create_task(stack.review(pr))
    await asyncio.to_thread(analysing.wait_reached)
    stack.github.fake.inject_fault(404, rf"/pulls/{pr.ref.number}(/|$)", times=1000)
    analysing.release()
    state = await task

    assert state.step.value == "failed"
    assert state.last_error is not None
    assert "404" in state.last_error and "does not exist" in state.last_error
    assert [attempt for attempt, _ in await stack.attempts(pr, "publish_review")] == [1]
    assert stack.github.reviews(pr.ref.number) == []
    assert stack.github.statuses(pr.head_sha) == ["pending", "error"]


async def test_a_refused_comment_line_falls_back_to_a_summary_only_review(stack: Stack):
    """GitHub refuses the inline comments (422: the line is no longer in the diff): the review
    is posted once, with every finding in its summary, in the same attempt."""
    pr = stack.pr()
    stack.github.fake.inject_fault(
        422,
        rf"/pulls/{pr.ref.number}/reviews$",
        method="POST",
        body={
            "message": "Unprocessable Entity",
            "errors": ["Line could not be resolved"],
            "documentation_url": "https://docs.github.com/rest/pulls/reviews",
        },
    )
    state = await stack.review(pr)
    review = assert_reviewed(stack, pr, state)
    assert review["comments"] == []
    assert "Trailing whitespace" in review["body"]
    assert state.last_review is not None and state.last_review.inline_comments == 0
    assert state.last_review.summary_findings == state.findings_count > 0
    assert [attempt for attempt, _ in await stack.attempts(pr, "publish_review")] == [1]


# ------------------------------------------------------------------------------------------------
# Claude


def coverage_row(review: dict[str, Any], agent: str) -> str:
    [row] = [line for line in review["body"].splitlines() if line.startswith(f"| {agent} |")]
    return row


async def test_claude_answers_when_all_is_well(claude_stack: Stack):
    """The baseline the fault tests depart from: Claude's finding is posted next to the
    offline reviewer's, and the coverage table shows no error."""
    pr = claude_stack.pr()
    review = assert_reviewed(claude_stack, pr, await claude_stack.review(pr))
    assert coverage_row(review, CLAUDE_AGENT).endswith("| none |")
    assert any("Bare `except:`" in c["body"] for c in review["comments"])


async def test_claude_rate_limits_and_overload_wait_as_asked(
    claude_stack: Stack, record_property: RecordProperty
):
    """A 429 (``retry-after``) and a 529 (``retry-after-ms``) from the Messages API, for two
    pull requests at once: each is retried after the pause it asks for (1 s), not the retry
    policy's first 5 s, and Claude's findings make it into both reviews."""
    assert claude_stack.llm is not None
    claude_stack.llm.script(
        ErrorReply(429, "rate limited", headers={"retry-after": "1"}),
        ErrorReply(529, "Overloaded", headers={"retry-after-ms": "1000"}),
    )
    prs = [claude_stack.pr() for _ in range(2)]
    states = await asyncio.gather(*(claude_stack.review(pr) for pr in prs))
    assert claude_stack.llm.pending == 0
    for pr, state in zip(prs, states, strict=True):
        review = assert_reviewed(claude_stack, pr, state)
        [(attempt, waited)] = await claude_stack.attempts(pr, "claude_review")
        record_property(f"seconds_before_retry_{pr.ref.number}", round(waited, 2))
        assert attempt == 2
        assert 0.9 <= waited < LLM_RETRY.initial_interval.total_seconds()
        assert any("Bare `except:`" in c["body"] for c in review["comments"])


async def test_claude_timeouts_and_unreadable_answers_are_retried(claude_stack: Stack):
    """No answer within ``anthropic_timeout_seconds``, and a body that is not JSON (two pull
    requests at once): each is retried after the retry policy's first interval (5 s), and both
    reviews complete with Claude's findings."""
    assert claude_stack.llm is not None
    claude_stack.llm.script(
        DelayReply(3.0), RawReply('{"type": "message", "content": [', status=200)
    )
    prs = [claude_stack.pr() for _ in range(2)]
    states = await asyncio.gather(*(claude_stack.review(pr) for pr in prs))
    assert claude_stack.llm.pending == 0
    for pr, state in zip(prs, states, strict=True):
        review = assert_reviewed(claude_stack, pr, state)
        [(attempt, waited)] = await claude_stack.attempts(pr, "claude_review")
        assert attempt == 2
        assert waited >= LLM_RETRY.initial_interval.total_seconds() - 0.5
        assert coverage_row(review, CLAUDE_AGENT).endswith("| none |")


async def test_claude_garbage_findings_are_reported_and_the_review_goes_on(claude_stack: Stack):
    """Claude twice calls its tool with input that does not fit the schema: the review is
    posted with the offline findings, and its coverage table says that Claude failed."""
    assert claude_stack.llm is not None
    garbage = ToolUseReply({"findings": [{"path": 7, "severity": "apocalyptic"}]})
    claude_stack.llm.script(garbage, garbage)
    pr = claude_stack.pr()
    state = await claude_stack.review(pr)
    review = assert_reviewed(claude_stack, pr, state)
    assert "no valid report_findings call" in coverage_row(review, CLAUDE_AGENT)
    assert "Trailing whitespace" in review["body"] or review["comments"]
    assert not any("Bare `except:`" in c["body"] for c in review["comments"])
    assert [attempt for attempt, _ in await claude_stack.attempts(pr, "claude_review")] == [1]


@pytest.mark.parametrize(
    ("replies", "reason"),
    [
        pytest.param(
            [ErrorReply(529, "Overloaded", headers={"retry-after-ms": "100"})] * 6,
            "529 overloaded_error",
            id="529-until-retries-run-out",
        ),
        pytest.param(
            [ErrorReply(401, "invalid x-api-key")],
            "401 authentication_error",
            id="401-non-retryable",
        ),
    ],
)
async def test_claude_failing_for_good_still_completes_the_review(
    claude_stack: Stack, replies: list[Reply], reason: str
):
    """Claude overloaded until the retries run out, or a key it refuses: the review is posted
    with the offline reviewer's findings, and says that Claude failed and why."""
    assert claude_stack.llm is not None
    claude_stack.llm.script(*replies)
    pr = claude_stack.pr()
    state = await claude_stack.review(pr)
    review = assert_reviewed(claude_stack, pr, state)
    assert reason in coverage_row(review, CLAUDE_AGENT)
    assert "Trailing whitespace" in review["body"] + str(review["comments"])
    assert not any("Bare `except:`" in c["body"] for c in review["comments"])
    attempts = [attempt for attempt, _ in await claude_stack.attempts(pr, "claude_review")]
    assert attempts == [len(replies)]
