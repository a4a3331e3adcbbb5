# --- Hostile pull requests: names, sizes and lengths that break naive code ---
"""Pull requests whose content is hostile, by accident or on purpose.

File names with spaces, unicode, ``..`` segments and newlines; a 50,000-line file; comment
bodies over GitHub's 65,536-character limit. Each is reviewed (or safely skipped) without a crash,
without writing outside the scan directory, without bloating the workflow history, and without
posting anything GitHub would refuse.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment

from activities.comment import CommentAgent
from prsaga.adapters.offline import ChangedFile, review_files
from prsaga.review.findings import MAX_COMMENT_CHARS, AgentSummary, review_marker
from prsaga.review.repo_config import ToolSettings
from prsaga.schema import DiffRef, Finding, PublishReviewInput, PullRequestState, Severity
from tests.conftest import make_settings, next_pr_number, renumbered_demo
from tests.workflow.test_faults import BARE_EXCEPT, CLAUDE_AGENT, Stack, running_stack
from tests.workflow.test_reliability import (
    SERVER_PY,
    SeededPR,
    event_payload,
    gated_github,
    seed_unique_pr,
)

TRUNCATION_NOTE = "(truncated: the full list is in the Temporal workflow history)"


@pytest.fixture(scope="module")
async def stack(
    temporal_client: Client, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """A local GitHub and the local Messages API (one specialist), with an in-process worker."""
    state_dir = tmp_path_factory.mktemp("hostile")
    async with running_stack(temporal_client, state_dir, claude=True) as stack:
        yield stack


def push(stack: Stack, pr: SeededPR, contents: Mapping[str, str | None]) -> SeededPR:
    head = stack.github.fake.push(pr.ref.owner, pr.ref.repo, pr.ref.number, contents=contents)
    return SeededPR(pr.ref, head, pr.base_sha, event_payload(pr.payload, head))


async def test_hostile_file_names_are_reviewed_or_skipped_safely(stack: Stack):
    """Spaces, unicode, dots and a newline in file names: each file that GitHub serves is
    reviewed under its exact name by both agents; a name GitHub cannot serve is skipped."""
    names = {
        "docs/release notes.py": "x = 1 \n",
        "src/ünïcødé/名前.py": "y = 2 \n" + BARE_EXCEPT,
        "a/..b/c..py": "z = 3 \n",
        "weird\nname.py": "w = 4 \n",
    }
    pr = push(stack, stack.pr(), names)
    state = await stack.review(pr)
    assert state.step.value == "completed", state.last_error
    review = stack.review_of(pr)
    commented = {(c["path"], c["line"]) for c in review["comments"]}
    for name in ("docs/release notes.py", "src/ünïcødé/名前.py", "a/..b/c..py"):
        assert (name, 1) in commented, name  # ruff W291 on its first line
    claude = {c["path"] for c in review["comments"] if "Bare `except:`" in c["body"]}
    assert "src/ünïcødé/名前.py" in claude
    # The local GitHub cannot serve contents under a name with a newline: no content, no
    # crash, no comment on a made-up line.
    assert not any(c["path"] == "weird\nname.py" for c in review["comments"])
    assert "| none |" in next(
        line for line in review["body"].splitlines() if line.startswith(f"| {CLAUDE_AGENT} |")
    )


def test_paths_that_escape_the_scan_directory_are_never_written(tmp_path: Path):
    """Paths no git repository holds, but a compromised API answer could: the offline reviewer
    skips them and writes nothing outside its scratch directory."""
    marker = uuid.uuid4().hex
    temp = Path(tempfile.gettempdir())
    hostile = [
        f"../../escape-{marker}.py",
        f"../../../escape-{marker}.py",
        f"{temp}/absolute-{marker}.py",
        f"a/./dot-{marker}.py",
        f"a//double-{marker}.py",
        f"nul\x00-{marker}.py",
        "",
    ]
    files = [ChangedFile(path=p, content="x = 1 \n", added_lines=frozenset({1})) for p in hostile]
    review = review_files(
        [*files, ChangedFile(path="ok.py", content="x = 1 \n", added_lines=frozenset({1}))],
        tools={"ruff": ToolSettings(select=["W"])},
    )
    assert {s.path for s in review.skipped} == set(hostile)
    assert all(s.reason.startswith("unsafe path") for s in review.skipped)
    assert {f.path for f in review.findings} == {"ok.py"}
    for root in (temp, temp.parent, Path("/")):
        assert not list(root.glob(f"*{marker}*"))


async def test_a_50000_line_file_is_reviewed_and_the_history_stays_small(
    stack: Stack, record_property: Callable[[str, object], None]
):
    """A 50,000-line file: reviewed (a hygiene finding says it is very large, the one line with
    trailing whitespace is commented), and the workflow history holds references, not the
    diff, so it stays small."""
    lines = [f"VALUE_{i} = {i}" for i in range(50_000)]
    lines[4_241] += "  "
    pr = push(stack, stack.pr(), {"data/table.py": "\n".join(lines) + "\n"})
    started = time.monotonic()
    state = await stack.review(pr)
    record_property("review_seconds", round(time.monotonic() - started, 1))
    assert state.step.value == "completed", state.last_error
    review = stack.review_of(pr)
    assert ("data/table.py", 4_242) in {(c["path"], c["line"]) for c in review["comments"]}
    assert "Very large file added" in review["body"] + json.dumps(review["comments"])
    history = await stack.client.get_workflow_handle(pr.ref.workflow_id).fetch_history()
    size = len(history.to_json())
    record_property("history_characters", size)
    assert size < 200_000, f"the history holds {size} characters"


def test_a_review_body_over_githubs_limit_is_truncated_with_a_note(tmp_path: Path):
    """Findings whose summary would take over 70,000 characters: the review is posted, cut to
    GitHub's 65,536 characters with a note, its marker kept, so a retry finds it instead of
    posting it again."""
    with gated_github() as github:
        pr = seed_unique_pr(github.fake)
        settings = make_settings(github.url, tmp_path / "state")
        findings = [
            Finding(
                agent="offline",
                tool="ruff",
                rule=f"X{i:03}",
                path=SERVER_PY,
                line=i + 1,
                severity=Severity.LOW,
                title=f"Finding {i}",
                message=f"{i} " + "m" * 3_990,
            )
            for i in range(18)
        ]
        assert sum(len(f.message) for f in findings) > 70_000
        key = uuid.uuid4().hex
        publish = PublishReviewInput(
            diff=DiffRef(pr=pr.ref, head_sha=pr.head_sha),
            review_key=key,
            findings=findings,
            agents=[AgentSummary(agent="offline", files=3, findings=18, skipped=0)],
            max_inline_comments=0,
        )
        agent = CommentAgent(settings)
        first = ActivityEnvironment().run(agent.publish_review, publish)
        retried = ActivityEnvironment().run(agent.publish_review, publish)
        [review] = github.reviews(pr.ref.number)

    body = review["body"]
    assert len(body) <= MAX_COMMENT_CHARS
    assert TRUNCATION_NOTE in body
    assert body.endswith(review_marker(key))
    assert not first.reused and retried.reused and retried.review_id == first.review_id


async def test_a_huge_configuration_error_is_replied_and_the_review_goes_on(stack: Stack):
    """A base-branch configuration whose error message is longer than any comment may be: the
    author is told (within GitHub's limit) and the review goes on with the defaults."""
    fake = stack.github.fake
    number = next_pr_number()
    demo = renumbered_demo(number)
    pull = copy.deepcopy(demo.source.pull)
    pull["base"]["sha"] = hashlib.sha1(f"base-{number}".encode()).hexdigest()
    config = "? " + "k" * 64_000 + "\n: 1\n"
    fake.seed_pull_request(
        pull, demo.source.files, demo.source.contents, base_contents={".github/prsaga.yml": config}
    )
    pr = SeededPR(demo.ref, demo.head_sha, pull["base"]["sha"], demo.webhook_payload)
    handle = stack.client.get_workflow_handle(pr.ref.workflow_id)
    try:
        state = await until_settled_or_stuck(stack, pr)
    finally:
        await _terminate_if_running(handle)
    assert state.step.value == "completed", state.last_error
    [reply] = [c for c in fake.state()["issue_comments"] if c["pull_number"] == number]
    assert "could not use this repository's configuration" in reply["body"]
    assert len(reply["body"]) <= MAX_COMMENT_CHARS
    assert len(stack.github.reviews(number)) == 1


async def until_settled_or_stuck(stack: Stack, pr: SeededPR) -> PullRequestState:
    """The review's state once settled; fails as soon as a workflow task fails instead (the
    workflow would retry it forever)."""
    review = asyncio.create_task(stack.review(pr))
    handle = stack.client.get_workflow_handle(pr.ref.workflow_id)
    while not review.done():
        await asyncio.sleep(0.2)
        with contextlib.suppress(RPCError):  # not started yet
            async for event in handle.fetch_history_events():
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    review.cancel()
                    with contextlib.suppress(BaseException):
                        await review
                    failure = event.workflow_task_failed_event_attributes.failure
                    pytest.fail(f"a workflow task failed: {failure.message[:300]}")
    return review.result()


async def _terminate_if_running(handle: WorkflowHandle[Any, Any]) -> None:
    with contextlib.suppress(RPCError):
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await handle.terminate("test cleanup: the workflow could not make progress")


def test_many_diagnostics_in_a_large_file_cost_linear_time():
    """A 10,000-line file with a diagnostic on every line takes about as long to review as the
    same file without them (the tools' run time dominates), not several times longer."""
    lines = [f"value_{i} = {i}" for i in range(10_000)]

    def review_seconds(text: list[str]) -> float:
        started = time.monotonic()
        changed = ChangedFile(
            path="table.py",
            content="\n".join(text) + "\n",
            added_lines=frozenset(range(1, len(text) + 1)),
        )
        review_files([changed], tools={"ruff": ToolSettings(select=["W"])})
        return time.monotonic() - started

    clean = review_seconds(lines)
    noisy = review_seconds([line + "  " for line in lines])
    assert noisy < 1.5 * clean + 1.0, f"{noisy:.1f} s with diagnostics, {clean:.1f} s without"
