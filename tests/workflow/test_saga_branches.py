# --- One test per branch of the review saga: the real workflow, scripted activities ---
"""The real ``PullRequestWorkflow`` on the time-skipping test server, with its activities
replaced by scripted ones registered under the real names (the Temporal samples' habit): no
GitHub, no tools, no Claude, so each branch of the saga runs in about a second. Each test
asserts on the activities the workflow called, in order, and on the state it ends in."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from prsaga.local.testing import time_skipping_server
from prsaga.schema import (
    AgentReport,
    AnalyzeInput,
    ApprovalDecision,
    CommandEvent,
    CommitStatusInput,
    DiffRef,
    Finding,
    ParsedSummary,
    ParseInput,
    PermissionInput,
    PlanInput,
    PublishedReview,
    PublishReviewInput,
    PullRequestEvent,
    PullRequestRef,
    PullRequestState,
    PullRequestWorkflowInput,
    ReplyInput,
    ReviewPlan,
    ReviewPolicy,
    ReviewStep,
    Severity,
    SpecialistInput,
    WaitForReviewInput,
    WithdrawReviewInput,
    WorkflowOptions,
)
from workflows.pull_request import PullRequestWorkflow

HEAD_1 = "1" * 40
HEAD_2 = "2" * 40
BASE = "b" * 40


@pytest.fixture
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """A server of its own for each test (it starts in a fraction of a second): time skips only
    when the server is idle, and a previous test's leftovers must not hold it back."""
    async with time_skipping_server() as env:
        yield env


@dataclass
class Call:
    activity: str
    input: BaseModel


@dataclass
class ScriptedActivities:
    """The review activities as a script: canned answers from ``prsaga.schema`` models, every
    call recorded, and the knobs each branch needs (a head under review that blocks, a step
    that fails)."""

    head: str = HEAD_1
    """The head GitHub reports now (a push changes it)."""
    updated_at: datetime = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    """The pull request's ``updated_at`` GitHub reports now."""
    policy: ReviewPolicy = field(default_factory=ReviewPolicy)
    files: int = 2
    """Files the plan gives the agents (0: every changed file is binary or skipped)."""
    specialists: dict[str, int] = field(default_factory=lambda: {"security": 1})
    findings: list[Finding] = field(default_factory=list)
    blocked_heads: set[str] = field(default_factory=set)
    """Analyses of these heads run (heartbeating) until cancelled: a review in flight."""
    failing: set[str] = field(default_factory=set)
    """Activities (or ``set_commit_status:STATE``) that fail for good."""
    calls: list[Call] = field(default_factory=list)
    blocked: int = 0
    """Analyses blocked right now."""

    def record(self, name: str, input: BaseModel) -> None:
        self.calls.append(Call(name, input))
        if name in self.failing:
            raise ApplicationError(f"{name} failed for good", non_retryable=True)

    async def until_cancelled(self, head: str) -> None:
        self.blocked += 1
        try:
            while head in self.blocked_heads:
                activity.heartbeat()  # how a cancellation reaches a running activity
                await asyncio.sleep(0.05)
        finally:
            self.blocked -= 1

    async def release(self) -> None:
        """End the blocked analyses, so that none outlives its test: the time-skipping server
        does not skip time while an activity is in flight."""
        self.blocked_heads.clear()
        async with asyncio.timeout(10):
            while self.blocked:
                await asyncio.sleep(0.02)

    async def analyzing(self) -> None:
        """Return once every analysis activity of the first review has started."""
        agents = (1 + sum(self.specialists.values())) if self.files else 0
        async with asyncio.timeout(10):
            while len([n for n in self.names() if n in ANALYZE]) < agents:
                await asyncio.sleep(0.02)

    def names(self) -> list[str]:
        return [call.activity for call in self.calls]

    def of(self, name: str) -> list[Any]:
        return [call.input for call in self.calls if call.activity == name]

    def statuses(self) -> list[tuple[str, str, str]]:
        return [(s.head_sha, s.state, s.description) for s in self.of("set_commit_status")]

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name="parse_pull_request")
        async def parse(input: ParseInput) -> ParsedSummary:
            self.record("parse_pull_request", input)
            return ParsedSummary(
                diff=DiffRef(pr=input.pr, head_sha=self.head),
                base_sha=BASE,
                title="Add a feature",
                html_url=f"https://github.test/{input.pr.full_name}/pull/{input.pr.number}",
                author="author",
                state="open",
                draft=False,
                files=2,
                additions=10,
                deletions=1,
                updated_at=self.updated_at,
            )

        @activity.defn(name="plan_review")
        async def plan(input: PlanInput) -> ReviewPlan:
            self.record("plan_review", input)
            return ReviewPlan(
                input=input,
                files=self.files,
                incremental=False,
                offline_batches=1 if self.files else 0,
                specialists=self.specialists if self.files else {},
                policy=self.policy,
            )

        @activity.defn(name="offline_review")
        async def offline(input: AnalyzeInput) -> AgentReport:
            self.record("offline_review", input)
            await self.until_cancelled(input.plan.diff.head_sha)
            return report("offline", self.findings)

        @activity.defn(name="claude_review")
        async def claude(input: SpecialistInput) -> AgentReport:
            self.record("claude_review", input)
            await self.until_cancelled(input.plan.diff.head_sha)
            return report(f"claude-{input.specialist}", [])

        @activity.defn(name="set_commit_status")
        async def set_status(input: CommitStatusInput) -> None:
            self.record("set_commit_status", input)
            if f"set_commit_status:{input.state}" in self.failing:
                raise ApplicationError(
                    f"GitHub refused the {input.state} status", non_retryable=True
                )

        @activity.defn(name="publish_review")
        async def publish(input: PublishReviewInput) -> PublishedReview:
            self.record("publish_review", input)
            return PublishedReview(
                review_id=len(self.of("publish_review")),
                html_url="https://github.test/review/1",
                inline_comments=len(input.findings),
                summary_findings=0,
                reused=False,
            )

        @activity.defn(name="withdraw_review")
        async def withdraw(input: WithdrawReviewInput) -> None:
            self.record("withdraw_review", input)

        @activity.defn(name="reply")
        async def reply(input: ReplyInput) -> int:
            self.record("reply", input)
            return len(self.of("reply"))

        @activity.defn(name="get_permission")
        async def permission(input: PermissionInput) -> str:
            self.record("get_permission", input)
            return "write"

        return [parse, plan, offline, claude, set_status, publish, withdraw, reply, permission]


def report(agent: str, findings: list[Finding]) -> AgentReport:
    return AgentReport(
        agent=agent,
        batch=0,
        files=2,
        paths=["app.py", "README.md"],
        findings=findings,
        duration_ms=3,
    )


HIGH = Finding(
    agent="offline",
    tool="bandit",
    rule="B602",
    path="app.py",
    line=3,
    severity=Severity.HIGH,
    title="subprocess with shell=True",
    message="A shell command built from input.",
)


@dataclass
class PullRequestRun:
    """One pull request's workflow on a worker with the scripted activities."""

    client: Client
    handle: WorkflowHandle[PullRequestWorkflow, PullRequestState]
    script: ScriptedActivities

    async def deliver(
        self, action: str, head: str | None = None, updated_at: datetime | None = None
    ) -> None:
        event = PullRequestEvent(
            delivery_id=str(uuid.uuid4()),
            action=action,  # type: ignore[arg-type]
            head_sha=head,
            sender="author",
            updated_at=updated_at,
            label="security" if action == "labeled" else None,
        )
        await self.handle.signal(PullRequestWorkflow.on_event, event)

    async def settle(self) -> PullRequestState:
        return await self.handle.execute_update(
            PullRequestWorkflow.wait_for_review, WaitForReviewInput()
        )


@asynccontextmanager
async def running(
    env: WorkflowEnvironment, script: ScriptedActivities, **options: Any
) -> AsyncIterator[PullRequestRun]:
    """A worker with ``script``'s activities, and a pull request's workflow started by its
    ``opened`` delivery (as the webhook server starts it: signal-with-start)."""
    queue = f"saga-{uuid.uuid4()}"
    pr = PullRequestRef(owner="octo", repo="demo", number=1)
    opened = PullRequestEvent(
        delivery_id=str(uuid.uuid4()),
        action="opened",
        head_sha=script.head,
        sender="author",
        updated_at=script.updated_at,
    )
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[PullRequestWorkflow],
        activities=script.activities(),
    ):
        handle = await env.client.start_workflow(
            PullRequestWorkflow.run,
            PullRequestWorkflowInput(
                pr=pr, options=WorkflowOptions(**{"debounce_seconds": 0, **options})
            ),
            id=f"{pr.workflow_id}-{queue}",
            task_queue=queue,
            start_signal="on_event",
            start_signal_args=[opened],
        )
        try:
            yield PullRequestRun(env.client, handle, script)
        finally:
            await script.release()


ANALYZE = sorted(["offline_review", "claude_review"])


def in_order_with_analysis(names: list[str], before: list[str], after: list[str]) -> None:
    """``names`` is ``before``, the analysis activities in any order, then ``after``."""
    assert names[: len(before)] == before
    assert sorted(names[len(before) : len(before) + len(ANALYZE)]) == ANALYZE
    assert names[len(before) + len(ANALYZE) :] == after


# ------------------------------------------------------------------------------------------------


async def test_happy_path_parses_plans_analyzes_posts_and_reports_success(time_skipping):
    script = ScriptedActivities()
    async with running(time_skipping, script) as saga:
        state = await saga.settle()

    in_order_with_analysis(
        script.names(),
        ["parse_pull_request", "plan_review", "set_commit_status"],
        ["publish_review", "set_commit_status"],
    )
    assert script.statuses() == [
        (HEAD_1, "pending", "Reviewing 2 changed files"),
        (HEAD_1, "success", "no findings"),
    ]
    [published] = script.of("publish_review")
    assert published.event == "COMMENT" and published.diff.head_sha == HEAD_1
    assert [agent.agent for agent in published.agents] == ["offline", "claude-security"]
    assert state.step == ReviewStep.COMPLETED
    assert (state.reviewed_shas, state.last_reviewed_sha) == ([HEAD_1], HEAD_1)
    assert state.reviews_started == 1 and state.last_error is None


async def test_a_step_that_fails_for_good_runs_the_compensations_newest_first(time_skipping):
    script = ScriptedActivities(failing={"set_commit_status:success"})
    async with running(time_skipping, script) as saga:
        state = await saga.settle()

    in_order_with_analysis(
        script.names(),
        ["parse_pull_request", "plan_review", "set_commit_status"],
        ["publish_review", "set_commit_status", "withdraw_review", "set_commit_status"],
    )
    [withdrawn] = script.of("withdraw_review")
    assert withdrawn.review_key == script.of("publish_review")[0].review_key
    assert withdrawn.reason == "GitHub refused the success status"
    assert script.statuses()[-1] == (
        HEAD_1,
        "error",
        "Review stopped: GitHub refused the success status",
    )
    assert state.step == ReviewStep.FAILED
    assert state.last_error == "GitHub refused the success status"
    assert state.failed_event is not None and state.failed_event.action == "opened"
    assert state.reviewed_shas == []


async def test_a_newer_push_supersedes_the_review_in_flight(time_skipping):
    script = ScriptedActivities(blocked_heads={HEAD_1})
    async with running(time_skipping, script) as saga:
        await script.analyzing()
        script.head = HEAD_2
        await saga.deliver("synchronize", HEAD_2)
        state = await saga.settle()

    assert script.statuses() == [
        (HEAD_1, "pending", "Reviewing 2 changed files"),
        (HEAD_1, "error", "Review stopped: superseded by a newer push"),
        (HEAD_2, "pending", "Reviewing 2 changed files"),
        (HEAD_2, "success", "no findings"),
    ]
    # Nothing was posted for the old head, so nothing is withdrawn.
    assert [p.diff.head_sha for p in script.of("publish_review")] == [HEAD_2]
    assert script.of("withdraw_review") == []
    assert state.step == ReviewStep.COMPLETED and state.reviews_started == 2
    assert state.reviewed_shas == [HEAD_2]


async def waiting_for_approval(saga: PullRequestRun) -> PullRequestState:
    state = await saga.settle()
    assert state.step == ReviewStep.AWAITING_APPROVAL
    assert state.approval is not None and state.approval.proposal == "REQUEST_CHANGES"
    [proposal] = saga.script.of("reply")
    assert "prsaga proposes to **request changes** (1 finding on 111111111111)" in proposal.body
    assert saga.script.statuses()[-1] == (HEAD_1, "pending", "Awaiting approval to request changes")
    return state


def approval_script() -> ScriptedActivities:
    return ScriptedActivities(findings=[HIGH], policy=ReviewPolicy(require_approval=True))


async def test_an_approved_proposal_is_posted_as_proposed(time_skipping):
    script = approval_script()
    async with running(time_skipping, script) as saga:
        await waiting_for_approval(saga)
        record = await saga.handle.execute_update(
            PullRequestWorkflow.decide, ApprovalDecision(approve=True, decided_by="maint")
        )
        state = await saga.settle()

    assert (record.approved, record.decided_by, record.channel) == (True, "maint", "sdk")
    [published] = script.of("publish_review")
    assert published.event == "REQUEST_CHANGES"
    assert any(
        "@maint approved the proposal to request changes via sdk" in n for n in published.notes
    )
    assert script.statuses()[-1] == (HEAD_1, "failure", "1 finding; worst is high")
    assert state.step == ReviewStep.COMPLETED and state.approval is None
    assert [d.decided_by for d in state.decisions] == ["maint"]


async def test_a_rejected_proposal_is_posted_as_a_plain_comment(time_skipping):
    script = approval_script()
    async with running(time_skipping, script) as saga:
        await waiting_for_approval(saga)
        # A maintainer answers in the conversation: the workflow asks GitHub who they are.
        await saga.handle.signal(
            PullRequestWorkflow.on_command,
            CommandEvent(delivery_id="c-1", command="reject", argument="noisy", sender="maint"),
        )
        state = await saga.settle()

    [permission] = script.of("get_permission")
    assert permission.login == "maint"
    [_, answer] = script.of("reply")
    assert answer.body.startswith("@maint noted: @maint declined the proposal to request changes")
    [published] = script.of("publish_review")
    assert published.event == "COMMENT"
    assert script.statuses()[-1] == (
        HEAD_1,
        "success",
        "1 finding; worst is high; request changes declined by @maint",
    )
    assert state.step == ReviewStep.COMPLETED
    assert [(d.approved, d.channel, d.reason) for d in state.decisions] == [
        (False, "comment", "noisy")
    ]


async def test_without_a_decision_the_timeout_applies_the_default(time_skipping):
    script = approval_script()
    async with running(time_skipping, script, approval_timeout_seconds=3600) as saga:
        state = await waiting_for_approval(saga)
        assert state.approval is not None
        assert state.approval.deadline - state.approval.requested_at == timedelta(hours=1)
        await time_skipping.sleep(timedelta(minutes=61))
        state = await saga.settle()

    [published] = script.of("publish_review")
    assert published.event == "COMMENT"
    assert script.statuses()[-1][1:] == (
        "success",
        "1 finding; worst is high; request changes declined by timeout",
    )
    [decision] = state.decisions
    assert (decision.decided_by, decision.channel, decision.approved) == (
        "timeout",
        "timeout",
        False,
    )
    assert decision.reason == "no decision within 1:00:00"
    assert state.step == ReviewStep.COMPLETED


async def test_closing_the_pull_request_stops_the_review_in_flight_and_ends_the_workflow(
    time_skipping,
):
    script = ScriptedActivities(blocked_heads={HEAD_1})
    async with running(time_skipping, script) as saga:
        await script.analyzing()
        await saga.deliver("closed", HEAD_1)
        state = await saga.handle.result()

    assert script.statuses() == [
        (HEAD_1, "pending", "Reviewing 2 changed files"),
        (HEAD_1, "error", "Review stopped: the pull request was closed"),
    ]
    assert script.of("publish_review") == []
    assert state.step == ReviewStep.CLOSED and state.closed
    assert state.last_error == "the pull request was closed"
    assert state.reviewed_shas == []


async def test_a_failed_claude_specialist_does_not_fail_the_review(time_skipping):
    script = ScriptedActivities(
        specialists={"security": 1, "correctness": 1}, failing={"claude_review"}
    )
    async with running(time_skipping, script) as saga:
        state = await saga.settle()

    assert len(script.of("claude_review")) == 2  # non-retryable: one attempt each
    [published] = script.of("publish_review")
    errors = {agent.agent: agent.errors for agent in published.agents}
    assert errors == {
        "offline": [],
        "claude-security": ["claude_review failed for good"],
        "claude-correctness": ["claude_review failed for good"],
    }
    assert script.statuses()[-1] == (HEAD_1, "success", "no findings")
    assert script.of("withdraw_review") == []
    assert state.step == ReviewStep.COMPLETED and state.last_error is None


async def test_late_deliveries_about_an_older_head_leave_the_newer_review_alone(time_skipping):
    """GitHub delivers out of order: while the newer head is under review, deliveries about the
    older head arrive (a redelivered push, a label, ready for review, reopen), each carrying the
    older ``updated_at``. None of them cancels the review, and the newer head is reviewed once."""
    script = ScriptedActivities(head=HEAD_2, blocked_heads={HEAD_2})
    older = script.updated_at - timedelta(minutes=3)
    async with running(time_skipping, script) as saga:
        await script.analyzing()
        for action in ("synchronize", "labeled", "ready_for_review", "reopened"):
            await saga.deliver(action, HEAD_1, older)
        state = await saga.handle.query(PullRequestWorkflow.get_state)
        assert state.pending is None and state.step == ReviewStep.ANALYZING
        await script.release()
        # And once it is reviewed, the same late deliveries again (new delivery ids).
        state = await saga.settle()
        for action in ("synchronize", "labeled", "ready_for_review", "reopened"):
            await saga.deliver(action, HEAD_1, older)
        state = await saga.settle()

    assert script.statuses() == [
        (HEAD_2, "pending", "Reviewing 2 changed files"),
        (HEAD_2, "success", "no findings"),
    ]
    assert script.names().count("parse_pull_request") == 1
    assert [p.diff.head_sha for p in script.of("publish_review")] == [HEAD_2]
    assert state.reviews_started == 1 and state.reviewed_shas == [HEAD_2]
    assert state.step == ReviewStep.COMPLETED and state.last_error is None


async def test_a_pull_request_with_nothing_to_review_says_so_and_posts_a_review(time_skipping):
    """A binary-only pull request: the plan gives the agents no file."""
    script = ScriptedActivities(files=0)
    async with running(time_skipping, script) as saga:
        state = await saga.settle()

    assert not {"offline_review", "claude_review"} & set(script.names())
    assert script.statuses() == [
        (HEAD_1, "pending", "No changed file to review (binary, removed or skipped files only)"),
        (HEAD_1, "success", "no findings"),
    ]
    [published] = script.of("publish_review")
    assert published.agents == [] and published.findings == []
    assert state.step == ReviewStep.COMPLETED
