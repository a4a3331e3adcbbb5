"""One long-lived workflow per pull request: its history is the pull request's audit trail.

Webhook deliveries reach it by signal-with-start; each new head SHA runs the review saga:
parse -> analyze (fanned out) -> comment, with a compensation registered before every step that
changes something on GitHub.
"""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.analyze import AnalyzeAgents
    from activities.comment import CommentAgent
    from activities.parse import ParseAgent
    from prsaga.contracts import (
        AnalyzeInput,
        CommitStatusInput,
        ParsedSummary,
        ParseInput,
        PublishReviewInput,
        PullRequestState,
        PullRequestWorkflowInput,
        StatusState,
        WaitForReviewInput,
        WithdrawReviewInput,
    )
    from prsaga.models import PullRequestEvent, ReviewStep
    from prsaga.review import conclude, keep_worst, status_description

    from .saga import Saga

# GitHub's transient failures (5xx, timeouts, rate limits with the delay GitHub asks for) retry
# with backoff; permanent ones (401, 404, 422...) are raised non-retryable by the activities.
GITHUB_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=8,
)
GITHUB_CALL_TIMEOUT = timedelta(minutes=2)
# An analyze batch fetches up to `analyze_batch_files` files and runs the tools; it heartbeats
# per file, so a stuck worker is detected in a minute rather than at the end of the budget.
ANALYZE_TIMEOUT = timedelta(minutes=10)
ANALYZE_HEARTBEAT = timedelta(minutes=1)
# Bounded memory of handled deliveries and reviewed heads: enough to absorb GitHub's redeliveries
# while keeping the continue-as-new payload small.
RECENT_DELIVERIES = 500
RECENT_HEADS = 100
ACTIVE_STEPS = (ReviewStep.PARSING, ReviewStep.ANALYZING, ReviewStep.COMMENTING)


@workflow.defn
class PullRequestWorkflow:
    """The entity workflow of one pull request (id ``pr-OWNER/REPO-N``)."""

    @workflow.init
    def __init__(self, input: PullRequestWorkflowInput) -> None:
        # Initialised here, not in run(), because signal-with-start delivers the signal first.
        self._state = input.state or PullRequestState(pr=input.pr)

    @workflow.signal
    def on_event(self, event: PullRequestEvent) -> None:
        """A delivery about this pull request. Redeliveries and already-reviewed heads do
        nothing; a newer event replaces a pending one (the newest head wins)."""
        state = self._state
        if event.delivery_id in state.recent_deliveries:
            workflow.logger.info("delivery %s already handled; ignored", event.delivery_id)
            return
        state.recent_deliveries = [*state.recent_deliveries, event.delivery_id][-RECENT_DELIVERIES:]
        if event.action == "closed":
            state.closed = True
        elif event.action != "review" and event.head_sha in state.reviewed_shas:
            workflow.logger.info("head %s already reviewed; ignored", event.head_sha)
        else:
            state.pending = event

    @workflow.query
    def get_state(self) -> PullRequestState:
        return self._state

    @workflow.update
    async def wait_for_review(self, input: WaitForReviewInput) -> PullRequestState:
        """Return once nothing is pending or under review: every event received before this
        update has been reviewed, skipped, or its review failed (the state says which)."""
        await workflow.wait_condition(self._settled)
        return self._state

    def _settled(self) -> bool:
        state = self._state
        return state.closed or (state.pending is None and state.step not in ACTIVE_STEPS)

    @workflow.run
    async def run(self, input: PullRequestWorkflowInput) -> PullRequestState:
        state = self._state
        while True:
            await workflow.wait_condition(lambda: state.pending is not None or state.closed)
            if state.closed:
                break
            event, state.pending = state.pending, None
            assert event is not None
            await self._review(event)
            if workflow.info().is_continue_as_new_suggested():
                # Start a fresh history carrying the compact state (a pending event included),
                # once waiting updates have their answer; one that waits for a newly pending
                # event is answered first, by the next loop.
                await workflow.wait_condition(
                    lambda: workflow.all_handlers_finished() or state.pending is not None
                )
                if workflow.all_handlers_finished():
                    workflow.continue_as_new(PullRequestWorkflowInput(pr=state.pr, state=state))
        state.step = ReviewStep.CLOSED
        await workflow.wait_condition(workflow.all_handlers_finished)
        return state

    async def _review(self, event: PullRequestEvent) -> None:
        """Run the review saga; on failure compensate, then fail the workflow with the reason
        (unless a newer event is already waiting to be reviewed)."""
        saga = Saga()
        self._state.reviews_started += 1
        try:
            await self._review_saga(event, saga, review_key=str(workflow.uuid4()))
        except (ActivityError, asyncio.CancelledError) as err:
            self._state.step = ReviewStep.FAILED
            self._state.last_error = _reason(err)
            # Compensations run to the end even if a cancellation arrives meanwhile.
            compensating = asyncio.create_task(saga.compensate())
            try:
                outcomes = await asyncio.shield(compensating)
            except asyncio.CancelledError:
                await compensating
                raise
            workflow.logger.warning("review failed (%s); compensations: %s", _reason(err), outcomes)
            if is_cancelled_exception(err):
                await workflow.wait_condition(workflow.all_handlers_finished)
                raise
            # Let waiting updates see the failure; a newer event may arrive meanwhile.
            await workflow.wait_condition(
                lambda: workflow.all_handlers_finished() or self._state.pending is not None
            )
            if self._state.pending is not None:
                # A newer event is waiting: review it instead of ending the pull request's
                # workflow. This failure stays in the history and in `last_error`.
                return
            raise ApplicationError(
                f"review of {self._state.pr} failed: {self._state.last_error}",
                type="ReviewFailed",
                non_retryable=True,
            ) from err

    async def _review_saga(self, event: PullRequestEvent, saga: Saga, *, review_key: str) -> None:
        state = self._state
        state.step = ReviewStep.PARSING
        parsed: ParsedSummary = await workflow.execute_activity_method(
            ParseAgent.parse_pull_request,
            ParseInput(pr=state.pr),
            start_to_close_timeout=GITHUB_CALL_TIMEOUT,
            retry_policy=GITHUB_RETRY,
            summary=f"parse {state.pr} ({event.action} by {event.sender})",
        )
        head = parsed.diff.head_sha
        state.head_sha, state.title = head, parsed.title
        if parsed.state != "open" or (head in state.reviewed_shas and event.action != "review"):
            workflow.logger.info("nothing to review at %s (pull request %s)", head, parsed.state)
            state.step = ReviewStep.IDLE
            return

        saga.on_failure(
            "set the commit status to error",
            lambda: self._set_status(head, "error", f"Review failed: {state.last_error}"),
        )
        await self._set_status(head, "pending", f"Reviewing {parsed.files} changed files")

        state.step = ReviewStep.ANALYZING
        batches = math.ceil(parsed.analyzable_files / parsed.batch_size)
        reports = await asyncio.gather(
            *(
                workflow.execute_activity_method(
                    AnalyzeAgents.offline_review,
                    AnalyzeInput(diff=parsed.diff, batch=batch, batch_size=parsed.batch_size),
                    start_to_close_timeout=ANALYZE_TIMEOUT,
                    heartbeat_timeout=ANALYZE_HEARTBEAT,
                    retry_policy=GITHUB_RETRY,
                    summary=f"offline review, batch {batch + 1}/{batches}",
                )
                for batch in range(batches)
            )
        )
        # Deterministic fan-in: batch order, duplicates dropped, worst first, bounded.
        findings, omitted = keep_worst([f for report in reports for f in report.findings])
        omitted += sum(report.omitted_findings for report in reports)

        state.step = ReviewStep.COMMENTING
        saga.on_failure(
            "withdraw the posted review",
            lambda: workflow.execute_activity_method(
                CommentAgent.withdraw_review,
                WithdrawReviewInput(
                    pr=state.pr, review_key=review_key, reason=state.last_error or "failed"
                ),
                start_to_close_timeout=GITHUB_CALL_TIMEOUT,
                retry_policy=GITHUB_RETRY,
            ),
        )
        state.last_review = await workflow.execute_activity_method(
            CommentAgent.publish_review,
            PublishReviewInput(
                diff=parsed.diff,
                review_key=review_key,
                findings=findings,
                omitted_findings=omitted,
                agents=[report.summary() for report in reports],
            ),
            start_to_close_timeout=GITHUB_CALL_TIMEOUT,
            retry_policy=GITHUB_RETRY,
            summary=f"post review: {len(findings)} findings on {head[:12]}",
        )
        conclusion, description = conclude(findings)
        await self._set_status(head, conclusion, description)
        state.findings_count = len(findings)
        earlier = [sha for sha in state.reviewed_shas if sha != head]
        state.reviewed_shas = [*earlier, head][-RECENT_HEADS:]
        state.last_error = None
        state.step = ReviewStep.COMPLETED

    async def _set_status(self, head_sha: str, status: StatusState, description: str) -> None:
        await workflow.execute_activity_method(
            CommentAgent.set_commit_status,
            CommitStatusInput(
                pr=self._state.pr,
                head_sha=head_sha,
                state=status,
                description=status_description(description),
            ),
            start_to_close_timeout=GITHUB_CALL_TIMEOUT,
            retry_policy=GITHUB_RETRY,
            summary=f"status {status}: {description}",
        )


def _reason(err: BaseException) -> str:
    """The root cause's message: what a human needs to read in the UI."""
    while isinstance(err, ActivityError) and err.cause is not None:
        err = err.cause
    return str(err) or type(err).__name__
