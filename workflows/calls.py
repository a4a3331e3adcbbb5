"""How the pull request workflow calls each activity: its timeouts, retry policy and what a
cancellation does to it. Workflow code only (deterministic): the activities are named by their
typed stubs."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from prsaga.review.findings import status_description
    from prsaga.review.texts import counted
    from prsaga.schema import (
        MAX_REASON_CHARS,
        MAX_REPLY_CHARS,
        AgentReport,
        AnalyzeInput,
        CommitStatusInput,
        Finding,
        ParsedSummary,
        ParseInput,
        PermissionInput,
        PlanInput,
        PublishedReview,
        PublishReviewInput,
        PullRequestState,
        ReplyInput,
        ReviewPlan,
        SpecialistInput,
        StatusState,
        Verification,
        VerifyInput,
        WithdrawReviewInput,
        clip,
    )

    from . import stubs

# GitHub's transient failures (5xx, timeouts, rate limits with the delay GitHub asks for) retry
# with backoff; permanent ones (401, 404, 422...) are raised non-retryable by the activities.
GITHUB_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=8,
)
# Every activity heartbeats every few seconds (activities/heartbeat.py): when a worker dies, its
# attempts are retried elsewhere once the heartbeat timeout passes, in well under 30 s.
HEARTBEAT_TIMEOUT = timedelta(seconds=15)
# The start-to-close timeouts bound a live but stuck attempt, close to the work's real bound:
# a few GitHub requests (15 s HTTP timeout each) for a status, a reply or a permission...
GITHUB_CALL_TIMEOUT = timedelta(seconds=30)
# ... many for parsing (every file of the pull request), planning, posting or withdrawing...
GITHUB_STEP_TIMEOUT = timedelta(minutes=2)
# ... and fetching files then running the tools or calling Claude.
ANALYZE_TIMEOUT = timedelta(minutes=10)
# Claude's 429/529 answers carry retry-after (used as the next delay); others back off.
LLM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=6,
)
# What a review step changes on GitHub must not be cut off halfway by a supersede: those
# activities finish (or fail) before the compensations run.
FINISH_ON_CANCEL = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED


async def parse(state: PullRequestState, why: str) -> ParsedSummary:
    return await workflow.execute_activity(
        stubs.parse_pull_request,
        ParseInput(pr=state.pr, installation_id=state.installation_id),
        start_to_close_timeout=GITHUB_STEP_TIMEOUT,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        retry_policy=GITHUB_RETRY,
        summary=f"parse {state.pr} ({why})",
    )


async def plan(input: PlanInput) -> ReviewPlan:
    return await workflow.execute_activity(
        stubs.plan_review,
        input,
        start_to_close_timeout=GITHUB_STEP_TIMEOUT,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        retry_policy=GITHUB_RETRY,
        summary=f"plan the review of {input.diff.head_sha[:12]}",
    )


async def offline_review(plan: ReviewPlan, batch: int) -> AgentReport:
    return await workflow.execute_activity(
        stubs.offline_review,
        AnalyzeInput(plan=plan.input, batch=batch),
        start_to_close_timeout=ANALYZE_TIMEOUT,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        retry_policy=GITHUB_RETRY,
        summary=f"offline review, batch {batch + 1}/{plan.offline_batches}",
    )


async def claude_review(plan: ReviewPlan, specialist: str, chunk: int, chunks: int) -> AgentReport:
    return await workflow.execute_activity(
        stubs.claude_review,
        SpecialistInput(plan=plan.input, specialist=specialist, chunk=chunk),
        task_queue=plan.llm_task_queue or workflow.info().task_queue,
        start_to_close_timeout=ANALYZE_TIMEOUT,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        retry_policy=LLM_RETRY,
        summary=f"Claude {specialist} review, chunk {chunk + 1}/{chunks}",
    )


async def verify(plan: ReviewPlan, finding: Finding) -> Verification:
    return await workflow.execute_activity(
        stubs.verify_finding,
        VerifyInput(plan=plan.input, finding=finding),
        task_queue=plan.llm_task_queue or workflow.info().task_queue,
        start_to_close_timeout=ANALYZE_TIMEOUT,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        retry_policy=LLM_RETRY,
        summary=f"verify {finding.path}:{finding.line} ({finding.agent})",
    )


async def publish(input: PublishReviewInput) -> PublishedReview:
    return await workflow.execute_activity(
        stubs.publish_review,
        input,
        start_to_close_timeout=GITHUB_STEP_TIMEOUT,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        retry_policy=GITHUB_RETRY,
        cancellation_type=FINISH_ON_CANCEL,
        summary=(
            f"post review ({input.event}): {counted(len(input.findings), 'finding')} on "
            f"{input.diff.head_sha[:12]}"
        ),
    )


async def withdraw(state: PullRequestState, review_key: str) -> None:
    """Compensation: withdraw the review posted under ``review_key``, saying why."""
    await workflow.execute_activity(
        stubs.withdraw_review,
        WithdrawReviewInput(
            pr=state.pr,
            review_key=review_key,
            reason=clip(state.last_error or "failed", MAX_REASON_CHARS),
            installation_id=state.installation_id,
        ),
        start_to_close_timeout=GITHUB_STEP_TIMEOUT,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        retry_policy=GITHUB_RETRY,
    )


async def reply(state: PullRequestState, key: str, body: str) -> None:
    """Comment in the pull request's conversation, at most once per ``key``."""
    await workflow.execute_activity(
        stubs.reply,
        ReplyInput(
            pr=state.pr,
            key=key,
            body=clip(body, MAX_REPLY_CHARS),
            installation_id=state.installation_id,
        ),
        start_to_close_timeout=GITHUB_CALL_TIMEOUT,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        retry_policy=GITHUB_RETRY,
        summary=f"reply: {body[:60]}",
    )


async def permission(state: PullRequestState, login: str) -> str:
    """``login``'s permission on the pull request's repository."""
    return await workflow.execute_activity(
        stubs.get_permission,
        PermissionInput(pr=state.pr, login=login, installation_id=state.installation_id),
        start_to_close_timeout=GITHUB_CALL_TIMEOUT,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        retry_policy=GITHUB_RETRY,
        summary=f"permission of {login}",
    )


async def set_status(
    state: PullRequestState,
    head_sha: str,
    status: StatusState,
    description: str,
    *,
    summary: str = "",
    findings: list[Finding] | None = None,
    omitted: int = 0,
) -> None:
    """Report the review's state on the head: ``description`` is the commit status (or the
    check run's title); a check run also shows ``summary`` and, once the review is posted,
    the ``findings`` (bounded by ``keep_worst``) as annotations."""
    await workflow.execute_activity(
        stubs.set_commit_status,
        CommitStatusInput(
            pr=state.pr,
            head_sha=head_sha,
            state=status,
            description=status_description(description),
            installation_id=state.installation_id,
            summary=summary,
            findings=findings or [],
            omitted_findings=omitted,
        ),
        start_to_close_timeout=GITHUB_CALL_TIMEOUT,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        retry_policy=GITHUB_RETRY,
        cancellation_type=FINISH_ON_CANCEL,
        summary=f"status {status}: {description}",
    )
