# --- A pull request's life on the real dev server: pushes, commands, approval gate, close ---
from __future__ import annotations

import asyncio
import copy
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError

from prsaga.local.github_fake.objects import github_timestamp
from prsaga.schema import ApprovalDecision, PullRequestState, ReviewStep, WaitForReviewInput
from prsaga.schema.search_attributes import AWAITING_APPROVAL_QUERY
from starter.temporal import decide
from tests.conftest import Harness, running_harness
from tests.paths import REPO_ROOT, TESTS_DIR
from workflows.pull_request import PullRequestWorkflow

COMMENT_FIXTURE = (
    TESTS_DIR
    / "fixtures"
    / "webhooks"
    / "issue_comment"
    / "go-playground-webhooks__pull-request-issue-comment.json"
)
# Every finding of the demo pull request is low or medium: asking for changes at "low" makes
# its review a consequential proposal that the gate holds for a human.
GATED_CONFIG = "require_approval: true\nrequest_changes_at: low\n"
MAINTAINER, OUTSIDER = "maintainer-1", "passer-by"


@pytest.fixture
async def gated(temporal_client, github, tmp_path) -> AsyncIterator[Harness]:
    """A harness whose repository asks for approval before requesting changes."""
    async with running_harness(temporal_client, github, tmp_path) as harness:
        source = harness.pr.source
        harness.github.seed_pull_request(
            source.pull,
            source.files,
            source.contents,
            base_contents={".github/prsaga.yml": GATED_CONFIG},
        )
        harness.github.set_permission(harness.pr.ref.full_name, MAINTAINER, "write")
        yield harness


def handle_of(harness: Harness):
    return harness.client.get_workflow_handle_for(
        PullRequestWorkflow.run, harness.pr.ref.workflow_id
    )


async def settle(harness: Harness) -> PullRequestState:
    return await handle_of(harness).execute_update(
        PullRequestWorkflow.wait_for_review, WaitForReviewInput()
    )


async def eventually(predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    for _ in range(int(timeout / 0.05)):
        if value := predicate():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def pr_comments(harness: Harness) -> list[dict[str, Any]]:
    return [
        c
        for c in harness.github.state()["issue_comments"]
        if c.get("issue_number", harness.pr.ref.number) == harness.pr.ref.number
    ]


def reviews(harness: Harness) -> list[dict[str, Any]]:
    number = harness.pr.ref.number
    return [r for r in harness.github.state()["reviews"] if r["pull_number"] == number]


def statuses(harness: Harness, sha: str) -> list[dict[str, Any]]:
    return [s for s in harness.github.state()["statuses"] if s["sha"] == sha]


async def command(harness: Harness, login: str, body: str) -> str:
    """A user's comment on the pull request and its webhook; returns prsaga's reply."""
    ref = harness.pr.ref
    comment = harness.github.add_issue_comment(ref.owner, ref.repo, ref.number, body, login=login)
    payload = copy.deepcopy(json.loads(COMMENT_FIXTURE.read_text()))
    payload["repository"] = harness.pr.webhook_payload["repository"]
    payload["issue"]["number"] = ref.number
    payload["comment"] = comment
    payload["sender"] = comment["user"]
    delivery = str(uuid.uuid4())
    response = await harness.deliver(payload, delivery_id=delivery, event="issue_comment")
    assert response.status_code == 202, response.text
    marker = f"prsaga:reply key=command-{delivery}"
    reply = await eventually(
        lambda: next((c for c in pr_comments(harness) if marker in c["body"]), None)
    )
    return reply["body"]


async def push(harness: Harness, contents: dict[str, str | None], *, force: bool = False) -> str:
    """New commits on the pull request's branch, and their ``synchronize`` delivery."""
    ref = harness.pr.ref
    head = harness.github.push(ref.owner, ref.repo, ref.number, contents=contents, force=force)
    payload = copy.deepcopy(harness.pr.webhook_payload)
    payload["action"] = "synchronize"
    payload["pull_request"]["head"]["sha"] = head
    payload["pull_request"]["updated_at"] = github_timestamp(datetime.now(UTC))
    assert (await harness.deliver(payload)).status_code == 202
    return head


async def test_an_outsider_cannot_approve_and_a_maintainer_can(gated: Harness):
    harness = gated
    await harness.deliver(harness.pr.webhook_payload)
    state = await settle(harness)
    assert state.step == ReviewStep.AWAITING_APPROVAL
    assert state.approval is not None and state.approval.proposal == "REQUEST_CHANGES"
    assert reviews(harness) == []  # nothing consequential is posted before a human decides
    assert statuses(harness, harness.pr.head_sha)[-1]["state"] == "pending"
    assert any("proposes to **request changes**" in c["body"] for c in pr_comments(harness))
    # The UI filter for "awaiting approval" finds it.
    query = f"{AWAITING_APPROVAL_QUERY} AND PrNumber = {harness.pr.ref.number}"

    async def listed() -> list[str]:
        return [w.id async for w in harness.client.list_workflows(query)]

    for _ in range(40):  # the list (visibility) follows the workflow a moment later
        if found := await listed():
            break
        await asyncio.sleep(0.25)
    assert found == [harness.pr.ref.workflow_id]

    reply = await command(harness, OUTSIDER, "/agent approve")
    assert "needs write access" in reply and "Nothing was changed" in reply
    state = await settle(harness)
    assert state.step == ReviewStep.AWAITING_APPROVAL
    assert state.decisions == []
    assert reviews(harness) == []

    reply = await command(harness, MAINTAINER, "/agent approve")
    assert "approved the proposal to request changes via comment" in reply
    state = await settle(harness)
    assert state.step == ReviewStep.COMPLETED
    [decision] = state.decisions
    assert (decision.decided_by, decision.channel, decision.approved) == (
        MAINTAINER,
        "comment",
        True,
    )
    [review] = reviews(harness)
    assert review["state"] == "CHANGES_REQUESTED"
    assert f"@{MAINTAINER} approved the proposal" in review["body"]
    assert statuses(harness, harness.pr.head_sha)[-1]["state"] == "failure"


async def test_a_decision_through_the_sdk_is_validated_and_recorded(gated: Harness):
    harness = gated
    wrong_head = ApprovalDecision(approve=True, decided_by="ci", head_sha="f" * 40)
    await harness.deliver(harness.pr.webhook_payload)
    assert (await settle(harness)).step == ReviewStep.AWAITING_APPROVAL

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await decide(harness.client, harness.pr.ref, wrong_head)
    assert "the pending proposal is for" in str(refused.value.cause)

    record = await decide(
        harness.client,
        harness.pr.ref,
        ApprovalDecision(approve=False, decided_by="lead", channel="cli", reason="not now"),
    )
    assert (record.approved, record.decided_by, record.reason) == (False, "lead", "not now")
    state = await settle(harness)
    assert state.step == ReviewStep.COMPLETED
    [review] = reviews(harness)
    assert review["state"] == "COMMENTED"  # declined: the findings as a plain comment
    [status] = statuses(harness, harness.pr.head_sha)[-1:]
    assert status["state"] == "success" and "declined by @lead" in status["description"]

    with pytest.raises(WorkflowUpdateFailedError) as nothing:
        await decide(harness.client, harness.pr.ref, ApprovalDecision(approve=True, decided_by="x"))
    assert "no proposal awaiting a decision" in str(nothing.value.cause)


async def test_prsaga_reject_and_the_decision_signal_reach_the_gate(gated: Harness):
    harness = gated
    await harness.deliver(harness.pr.webhook_payload)
    assert (await settle(harness)).step == ReviewStep.AWAITING_APPROVAL
    # A signal that does not apply (another head) is ignored: a signal cannot be refused.
    stale = ApprovalDecision(
        approve=True, decided_by="bot", channel="temporal-cli", head_sha="e" * 40
    )
    await handle_of(harness).signal(PullRequestWorkflow.decision_signal, stale)
    assert (await settle(harness)).step == ReviewStep.AWAITING_APPROVAL

    target = harness.client.service_client.config.target_host
    env = {**os.environ, "PRSAGA_TEMPORAL_ADDRESS": target}
    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "starter.cli",
            "reject",
            str(harness.pr.ref),
            "--by",
            "lead",
            "--reason",
            "too noisy",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{harness.pr.ref}: lead declined the proposal (REQUEST_CHANGES)" in done.stdout
    state = await settle(harness)
    assert state.step == ReviewStep.COMPLETED
    [decision] = state.decisions
    assert (decision.channel, decision.reason) == ("cli", "too noisy")
    assert reviews(harness)[0]["state"] == "COMMENTED"


async def test_an_invalid_repository_config_is_explained_and_the_defaults_apply(harness: Harness):
    source = harness.pr.source
    harness.github.seed_pull_request(
        source.pull,
        source.files,
        source.contents,
        base_contents={".github/prsaga.yml": "require_approval: maybe\nbudget: {tokns: 1}\n"},
    )
    await harness.deliver(harness.pr.webhook_payload)
    state = await settle(harness)
    assert state.step == ReviewStep.COMPLETED  # reviewed with the defaults (no gate)
    [explained] = [c for c in pr_comments(harness) if "configuration file" in c["body"]]
    assert "require_approval" in explained["body"] and "tokns" in explained["body"]
    assert len(reviews(harness)) == 1


async def test_a_push_supersedes_the_review_waiting_for_approval(gated: Harness):
    harness = gated
    await harness.deliver(harness.pr.webhook_payload)
    assert (await settle(harness)).step == ReviewStep.AWAITING_APPROVAL

    new_head = await push(harness, {"docs/notes.md": "# Notes\n\nTODO write more\n"})
    state = await settle(harness)
    assert state.head_sha == new_head
    assert state.step == ReviewStep.AWAITING_APPROVAL
    assert state.approval is not None and state.approval.head_sha == new_head
    # The old head's review was compensated, not posted; its status says why.
    old = statuses(harness, harness.pr.head_sha)
    assert old[-1]["state"] == "error" and "superseded" in old[-1]["description"]
    assert reviews(harness) == []


async def test_a_push_is_reviewed_incrementally_without_repeating_comments(harness: Harness):
    await harness.deliver(harness.pr.webhook_payload)
    first = await settle(harness)
    assert first.step == ReviewStep.COMPLETED
    [first_review] = reviews(harness)

    new_head = await push(harness, {"tests/testserver/extra.py": "import os\nx = 1 \n"})
    state = await settle(harness)
    assert state.step == ReviewStep.COMPLETED
    assert state.last_reviewed_sha == new_head
    second = reviews(harness)[-1]
    assert len(reviews(harness)) == 2
    assert f"files changed since {harness.pr.head_sha[:12]}" in second["body"]
    # Only the pushed file was reviewed: every inline comment is on it.
    assert second["comments"]
    assert {c["path"] for c in second["comments"]} == {"tests/testserver/extra.py"}
    assert first_review["comments"]  # the first review's comments stay where they were


async def test_a_force_push_is_reviewed_in_full(harness: Harness):
    await harness.deliver(harness.pr.webhook_payload)
    await settle(harness)
    # Something new to say (quiet mode posts no review otherwise), and where the note goes.
    await push(harness, {"notes.txt": "hello \n"}, force=True)
    state = await settle(harness)
    assert state.step == ReviewStep.COMPLETED
    body = reviews(harness)[-1]["body"]
    assert "no longer in the branch's history" in body


async def test_status_help_and_unknown_commands_answer_anyone(harness: Harness):
    await harness.deliver(harness.pr.webhook_payload)
    await settle(harness)
    status = await command(harness, OUTSIDER, "/agent status")
    assert "review state: **completed**" in status
    assert harness.pr.head_sha[:12] in status
    assert "/agent approve" in await command(harness, OUTSIDER, "/agent help")
    unknown = await command(harness, OUTSIDER, "/agent deploy")
    assert "I don't know `deploy`" in unknown and "/agent retry" in unknown


async def test_retry_and_review_commands_rerun_the_review(harness: Harness):
    harness.github.set_permission(harness.pr.ref.full_name, MAINTAINER, "write")
    harness.github.inject_fault(
        method="POST", path_regex=r"/pulls/\d+/reviews$", status=403, times=10
    )
    await harness.deliver(harness.pr.webhook_payload)
    assert (await settle(harness)).step == ReviewStep.FAILED

    refused = await command(harness, OUTSIDER, "/agent retry")
    assert "needs write access" in refused
    harness.github.clear_faults()
    assert "retrying the review" in await command(harness, MAINTAINER, "/agent retry")
    state = await settle(harness)
    assert state.step == ReviewStep.COMPLETED and state.last_error is None
    assert "there is no failed review" in await command(harness, MAINTAINER, "/agent retry")

    # The author may ask for a full re-review; it posts a new review of the same head.
    author = harness.pr.source.pull["user"]["login"]
    assert "a full review is on its way" in await command(harness, author, "/agent review")
    state = await settle(harness)
    assert state.step == ReviewStep.COMPLETED
    assert len(reviews(harness)) == 2


async def test_cancel_stops_the_review_awaiting_approval(gated: Harness):
    harness = gated
    await harness.deliver(harness.pr.webhook_payload)
    assert (await settle(harness)).step == ReviewStep.AWAITING_APPROVAL
    assert "needs write access" in await command(harness, OUTSIDER, "/agent cancel")
    assert "is cancelled" in await command(harness, MAINTAINER, "/agent cancel")
    state = await settle(harness)
    assert state.step == ReviewStep.CANCELLED and state.approval is None
    assert reviews(harness) == []
    assert statuses(harness, harness.pr.head_sha)[-1]["state"] == "error"


async def test_closing_ends_the_workflow_after_the_step_in_flight(gated: Harness):
    harness = gated
    await harness.deliver(harness.pr.webhook_payload)
    assert (await settle(harness)).step == ReviewStep.AWAITING_APPROVAL
    closed = copy.deepcopy(harness.pr.webhook_payload)
    closed["action"] = "closed"
    closed["pull_request"]["state"] = "closed"
    await harness.deliver(closed)
    state = await handle_of(harness).result()
    assert state.closed and state.step == ReviewStep.CLOSED
    assert state.last_error == "the pull request was closed"
    assert reviews(harness) == []


async def test_a_draft_waits_until_it_is_ready(harness: Harness):
    source = harness.pr.source
    harness.github.seed_pull_request(dict(source.pull, draft=True), source.files, source.contents)
    await harness.deliver(harness.pr.webhook_payload)
    state = await settle(harness)
    assert state.step == ReviewStep.IDLE and reviews(harness) == []

    harness.github.seed_pull_request(source.pull, source.files, source.contents)
    await harness.deliver(dict(harness.pr.webhook_payload, action="ready_for_review"))
    state = await settle(harness)
    assert state.step == ReviewStep.COMPLETED and len(reviews(harness)) == 1
