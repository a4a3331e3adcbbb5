"""One review of one head, as a saga: parse -> plan -> analyze -> [approve] -> publish.

Each step is a method; a compensation is registered before every step that changes something
on GitHub, and the workflow runs them when the review fails or is interrupted. The pull
request's workflow owns the state, the approval gate and the handlers: the saga reaches them
through ``ReviewHost``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Protocol

from temporalio import workflow
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from prsaga.review.findings import keep_worst
    from prsaga.review.lifecycle import final_status, needs_approval, propose
    from prsaga.review.texts import (
        approval_request,
        describe_decision,
        proposal_text,
        reviewing_text,
    )
    from prsaga.review.verification import (
        apply_verifications,
        select_for_verification,
        unverified,
    )
    from prsaga.schema import (
        AgentReport,
        ApprovalTimeoutDefault,
        DecisionRecord,
        Finding,
        ParsedSummary,
        PendingApproval,
        PlanInput,
        PublishReviewInput,
        PullRequestEvent,
        PullRequestState,
        ReviewEvent,
        ReviewPlan,
        ReviewStep,
        Verification,
        WorkflowOptions,
    )

    from . import calls
    from .metrics import record_findings
    from .saga import Saga

RECENT_HEADS = 100
"""Reviewed heads remembered (bounded, so that the continue-as-new payload stays small)."""


class ReviewHost(Protocol):
    """What a review needs from its pull request's workflow."""

    reviewing_head: str | None

    @property
    def state(self) -> PullRequestState: ...

    @property
    def options(self) -> WorkflowOptions: ...

    def move(self, to: ReviewStep) -> None: ...

    def remember(self, parsed: ParsedSummary) -> None: ...

    def hold_for_approval(self, approval: PendingApproval) -> None: ...

    async def wait_for_decision(
        self, timeout: timedelta, on_timeout: ApprovalTimeoutDefault
    ) -> DecisionRecord: ...


class ReviewSaga:
    """The review of the head ``event`` asked for; ``review_key`` makes what it posts
    idempotent across retries."""

    def __init__(self, host: ReviewHost, event: PullRequestEvent, review_key: str) -> None:
        self.host, self.event, self.review_key = host, event, review_key
        self.state = host.state
        self.compensations = Saga()

    async def run(self) -> None:
        parsed = await self.parse()
        if parsed is None:
            return
        plan = await self.plan(parsed)
        if plan is None:
            return
        head = parsed.diff.head_sha
        await self.start(head, plan)
        self.host.move(ReviewStep.ANALYZING)
        reports = await self.analyze(plan)
        # Deterministic fan-in: agent order, duplicates dropped, worst first, bounded.
        findings, omitted = keep_worst([f for report in reports for f in report.findings])
        omitted += sum(report.omitted_findings for report in reports)

        proposal = propose(findings, plan.policy)
        posted_as: ReviewEvent = proposal
        decision: DecisionRecord | None = None
        if needs_approval(proposal, plan.policy):
            decision = await self.approve(head, proposal, len(findings), plan)
            posted_as = proposal if decision.approved else "COMMENT"
        await self.publish(parsed, plan, reports, findings, omitted, posted_as, decision)
        self.finish(head)

    async def parse(self) -> ParsedSummary | None:
        """Fetch and parse the pull request; ``None`` when there is nothing to review."""
        state, event = self.state, self.event
        self.host.move(ReviewStep.PARSING)
        parsed = await calls.parse(state, f"{event.action} by {event.sender}")
        head = parsed.diff.head_sha
        self.host.remember(parsed)
        manual = event.action in ("review", "labeled")
        if parsed.state != "open" or (head in state.reviewed_shas and not manual):
            workflow.logger.info("nothing to review at %s (pull request %s)", head, parsed.state)
            self.host.move(ReviewStep.IDLE)
            return None
        return parsed

    async def plan(self, parsed: ParsedSummary) -> ReviewPlan | None:
        """Plan the review (incremental since the last reviewed head unless a full review is
        asked for); ``None`` when a draft waits for ``ready_for_review``."""
        state, head = self.state, parsed.diff.head_sha
        since = None if self.event.full else state.last_reviewed_sha
        plan = await calls.plan(
            PlanInput(
                diff=parsed.diff,
                base_sha=parsed.base_sha,
                since_sha=since if since != head else None,
                labels=state.labels,
                installation_id=state.installation_id,
            )
        )
        if plan.config_error:
            await calls.reply(
                state,
                f"config-{parsed.base_sha}",
                "prsaga could not use this repository's configuration file, so it reviews with "
                f"the server's defaults:\n\n```\n{plan.config_error}\n```",
            )
        if parsed.draft and not (plan.policy.review_drafts or self.host.options.review_drafts):
            workflow.logger.info("draft pull request: waiting for ready_for_review")
            self.host.move(ReviewStep.IDLE)
            return None
        return plan

    async def start(self, head: str, plan: ReviewPlan) -> None:
        """Mark ``head`` under review: a pending status (an error status if the review stops)."""
        state = self.state
        self.host.reviewing_head = head
        self.compensations.on_failure(
            "set the commit status to error",
            lambda: calls.set_status(
                state,
                head,
                "error",
                f"Review stopped: {state.last_error}",
                summary=f"prsaga stopped reviewing `{head[:12]}`: {state.last_error}",
            ),
        )
        scope = list(plan.notes)
        if plan.incremental and plan.input.since_sha:
            scope.insert(0, f"Only what changed since `{plan.input.since_sha[:12]}` is reviewed.")
        await calls.set_status(
            state,
            head,
            "pending",
            reviewing_text(plan.files),
            summary="\n".join(f"- {line}" for line in scope),
        )

    async def analyze(self, plan: ReviewPlan) -> list[AgentReport]:
        """Every agent of the plan over its batches, in parallel; Claude chunks at most
        ``plan.llm_parallelism`` at a time for this pull request (the worker's slots and the
        task queue's rate limit bound them across pull requests)."""
        offline = [calls.offline_review(plan, batch) for batch in range(plan.offline_batches)]
        limit = asyncio.Semaphore(plan.llm_parallelism)

        async def specialist(name: str, chunk: int, chunks: int) -> AgentReport:
            async with limit:
                try:
                    return await calls.claude_review(plan, name, chunk, chunks)
                except ActivityError as err:
                    if is_cancelled_exception(err):
                        raise
                    # Claude is an extra opinion: once its retries are spent, the review goes
                    # on with the other agents and says which one failed.
                    return AgentReport(
                        agent=f"claude-{name}",
                        batch=chunk,
                        files=0,
                        paths=[],
                        findings=[],
                        duration_ms=0,
                        error=root_cause(err),
                    )

        claude = [
            specialist(name, chunk, chunks)
            for name, chunks in plan.specialists.items()
            for chunk in range(chunks)
        ]
        return await self.verify(plan, list(await asyncio.gather(*offline, *claude)))

    async def verify(self, plan: ReviewPlan, reports: list[AgentReport]) -> list[AgentReport]:
        """The guardian: every model finding that would be posted is checked by an independent
        verification activity (at most ``plan.llm_parallelism`` at once); findings it does not
        confirm with ``plan.verify_threshold`` confidence are dropped, and counted with their
        reasons in the agents' reports and the verifier's."""
        threshold = plan.verify_threshold
        if threshold is None:
            return reports
        selection = select_for_verification(reports, plan.verify_max_findings)
        if not selection.to_verify and not selection.over_allowance:
            return reports
        limit = asyncio.Semaphore(plan.llm_parallelism)

        async def verify(finding: Finding) -> Verification:
            async with limit:
                try:
                    return await calls.verify(plan, finding)
                except ActivityError as err:
                    if is_cancelled_exception(err):
                        raise
                    return unverified(finding, root_cause(err))

        verdicts = await asyncio.gather(*(verify(f) for f in selection.to_verify))
        return apply_verifications(reports, verdicts, selection, threshold)

    async def approve(
        self, head: str, proposal: ReviewEvent, findings: int, plan: ReviewPlan
    ) -> DecisionRecord:
        """Post the proposal, hold the status pending, and wait for a human (or the timeout and
        the configured default)."""
        state, policy, options = self.state, plan.policy, self.host.options
        self.host.move(ReviewStep.AWAITING_APPROVAL)
        timeout = timedelta(
            seconds=options.approval_timeout_seconds or policy.approval_timeout_seconds
        )
        now = workflow.now()
        approval = PendingApproval(
            head_sha=head,
            proposal=proposal,
            findings=findings,
            requested_at=now,
            deadline=now + timeout,
        )
        self.host.hold_for_approval(approval)
        request = approval_request(
            head_sha=head,
            proposal=proposal,
            findings=findings,
            deadline=approval.deadline,
            on_timeout=policy.on_approval_timeout,
            command_prefix=options.command_prefix,
        )
        await calls.reply(state, f"proposal-{self.review_key}", request)
        await calls.set_status(
            state,
            head,
            "pending",
            f"Awaiting approval to {proposal_text(proposal)}",
            summary=request,
        )
        return await self.host.wait_for_decision(timeout, policy.on_approval_timeout)

    async def publish(
        self,
        parsed: ParsedSummary,
        plan: ReviewPlan,
        reports: list[AgentReport],
        findings: list[Finding],
        omitted: int,
        posted_as: ReviewEvent,
        decision: DecisionRecord | None,
    ) -> None:
        """Post the review (withdrawn if the saga fails later), then its final status."""
        state, head = self.state, parsed.diff.head_sha
        self.host.move(ReviewStep.COMMENTING)
        self.compensations.on_failure(
            "withdraw the posted review", lambda: calls.withdraw(state, self.review_key)
        )
        notes = list(plan.notes)
        if decision is not None:
            notes.append(describe_decision(decision))
        state.last_review = await calls.publish(
            PublishReviewInput(
                diff=parsed.diff,
                review_key=self.review_key,
                findings=findings,
                omitted_findings=omitted,
                agents=[report.summary() for report in reports],
                event=posted_as,
                max_inline_comments=plan.policy.max_inline_comments,
                notes=notes,
                installation_id=state.installation_id,
                # A review someone asked for is answered even when it has nothing new to say.
                quiet=plan.policy.quiet and self.event.action not in ("review", "labeled"),
            )
        )
        record_findings(workflow.metric_meter(), findings)
        status, description = final_status(findings, posted_as, decision)
        review_url = state.last_review.html_url
        posted = f"The review: {review_url}" if review_url else "Nothing new to say: no review."
        await calls.set_status(
            state,
            head,
            status,
            description,
            summary="\n".join([posted, *(f"- {note}" for note in notes)]),
            findings=findings,
            omitted=omitted,
        )
        state.findings_count = len(findings)

    def finish(self, head: str) -> None:
        """Remember ``head`` as reviewed: the base of the next incremental review."""
        state = self.state
        earlier = [sha for sha in state.reviewed_shas if sha != head]
        state.reviewed_shas = [*earlier, head][-RECENT_HEADS:]
        state.last_reviewed_sha = head
        state.last_error = None
        state.failed_event = None
        self.host.move(ReviewStep.COMPLETED)


def root_cause(err: BaseException) -> str:
    """The root cause's message: what a human needs to read in the UI."""
    while isinstance(err, ActivityError) and err.cause is not None:
        err = err.cause
    return str(err) or type(err).__name__
