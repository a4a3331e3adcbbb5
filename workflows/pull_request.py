"""One long-lived workflow per pull request: its history is the pull request's audit trail.

Webhook deliveries reach it by signal-with-start. Each new head runs the review saga:
parse -> plan -> analyze (agents fanned out) -> [human approval] -> comment, with a compensation
registered before every step that changes something on GitHub. A newer push supersedes a review
in flight (cancelled, compensated); ``/agent`` commands and the ``decide`` update steer it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, is_cancelled_exception
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from prsaga.review.commands import help_text, may_run
    from prsaga.review.findings import keep_worst, status_description
    from prsaga.review.lifecycle import advance, final_status, needs_approval, propose
    from prsaga.schema import (
        MAX_REASON_CHARS,
        MAX_REPLY_CHARS,
        AgentReport,
        AnalyzeInput,
        ApprovalDecision,
        CommandEvent,
        CommitStatusInput,
        DecisionRecord,
        Finding,
        ParsedSummary,
        ParseInput,
        PendingApproval,
        PermissionInput,
        PlanInput,
        PublishReviewInput,
        PullRequestEvent,
        PullRequestState,
        PullRequestWorkflowInput,
        ReplyInput,
        ReviewEvent,
        ReviewPlan,
        ReviewStep,
        SpecialistInput,
        StatusState,
        WaitForReviewInput,
        WithdrawReviewInput,
        clip,
    )
    from prsaga.schema import search_attributes as sa
    from prsaga.schema.metrics import ReviewOutcome
    from prsaga.schema.workflow import (
        COMMAND_SIGNAL,
        DECIDE_UPDATE,
        DECISION_SIGNAL,
        EVENT_SIGNAL,
        STATE_QUERY,
        WAIT_FOR_REVIEW_UPDATE,
        WORKFLOW_TYPE,
    )

    from . import stubs
    from .metrics import record_findings, record_review
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
# An analyze activity fetches files and runs tools or calls Claude; it heartbeats, so a dead
# worker is detected in a minute rather than at the end of the budget.
ANALYZE_TIMEOUT = timedelta(minutes=10)
ANALYZE_HEARTBEAT = timedelta(minutes=1)
# Claude's 429/529 answers carry retry-after (used as the next delay); others back off.
LLM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=6,
)
# Bounded memories, so that the continue-as-new payload stays small.
RECENT_DELIVERIES = 500
RECENT_HEADS = 100
RECENT_DECISIONS = 20
MAX_HISTORY_EVENTS = 10_000
"""Continue-as-new past this many events even if the server has not suggested it yet."""
# What a review step changes on GitHub must not be cut off halfway by a supersede: those
# activities finish (or fail) before the compensations run.
FINISH_ON_CANCEL = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED


@workflow.defn(name=WORKFLOW_TYPE)
class PullRequestWorkflow:
    """The entity workflow of one pull request (id ``pr-OWNER/REPO-N``)."""

    @workflow.init
    def __init__(self, input: PullRequestWorkflowInput) -> None:
        # Initialised here, not in run(), because signal-with-start delivers the signal first.
        self._state = input.state or PullRequestState(pr=input.pr)
        self._options = input.options
        self._review_task: asyncio.Task[None] | None = None
        self._reviewing_head: str | None = None
        self._interruption: ReviewStep | None = None
        """Why the review in flight is being cancelled (``None``: the workflow is cancelled)."""
        self._decision: DecisionRecord | None = None
        self._waiting_for_human = False
        """The proposal is posted and the gate waits: a settled state for ``wait_for_review``."""
        self._commands_in_flight = 0
        """Command handlers still running (asking GitHub for a permission, replying)."""

    # ---------------------------------------------------------------------------------------
    # Signals, updates, queries

    @workflow.signal(name=EVENT_SIGNAL)
    def on_event(self, event: PullRequestEvent) -> None:
        """A delivery about this pull request. Redeliveries and already-reviewed heads do
        nothing; a newer event replaces a pending one, and a push supersedes a review in flight
        for an older head."""
        state = self._state
        if not self._first_delivery(event.delivery_id, state.recent_deliveries):
            return
        state.installation_id = event.installation_id or state.installation_id
        if event.action == "closed":
            state.closed = True
            self._interrupt(ReviewStep.CLOSED)
            return
        if event.label and event.label not in state.labels:
            state.labels = [*state.labels, event.label]
        manual = event.action in ("review", "labeled")
        if not manual and event.head_sha in state.reviewed_shas:
            workflow.logger.info("head %s already reviewed; ignored", event.head_sha)
            return
        pending = state.pending
        # A full re-review asked for earlier stays full when a push replaces it.
        full = event.full or (pending is not None and pending.full)
        state.pending = event.model_copy(update={"full": full})
        if event.head_sha not in (None, self._reviewing_head) and self._reviewing_head:
            self._interrupt(ReviewStep.SUPERSEDED)

    @workflow.signal(name=COMMAND_SIGNAL)
    async def on_command(self, command: CommandEvent) -> None:
        """A ``/agent`` command from the pull request's conversation (or sent directly)."""
        state = self._state
        if not self._first_delivery(command.delivery_id, state.recent_commands):
            return
        state.installation_id = command.installation_id or state.installation_id
        self._commands_in_flight += 1
        try:
            if not await self._authorized(command):
                return
            reply = self._apply_command(command)
            await self._reply(f"command-{command.delivery_id}", f"@{command.sender} {reply}")
        finally:
            self._commands_in_flight -= 1

    @workflow.update(name=DECIDE_UPDATE)
    def decide(self, decision: ApprovalDecision) -> DecisionRecord:
        """A human decision on the pending proposal (from the SDK or ``temporal workflow update
        execute``); the validator refuses it synchronously when nothing matches."""
        return self._record_decision(decision)

    @decide.validator
    def _validate_decision(self, decision: ApprovalDecision) -> None:
        approval = self._state.approval
        if approval is None or self._decision is not None:
            raise ValueError(f"{self._state.pr} has no proposal awaiting a decision")
        if decision.head_sha is not None and decision.head_sha != approval.head_sha:
            raise ValueError(
                f"the pending proposal is for {approval.head_sha[:12]}, "
                f"not {decision.head_sha[:12]}"
            )

    @workflow.signal(name=DECISION_SIGNAL)
    def decision_signal(self, decision: ApprovalDecision) -> None:
        """The same decision as a signal (``temporal workflow signal``); one that does not apply
        is logged and ignored, since a signal cannot be refused."""
        try:
            self._validate_decision(decision)
        except ValueError as err:
            workflow.logger.warning("decision by %s ignored: %s", decision.decided_by, err)
            return
        self._record_decision(decision)

    @workflow.query(name=STATE_QUERY)
    def get_state(self) -> PullRequestState:
        return self._state

    @workflow.update(name=WAIT_FOR_REVIEW_UPDATE)
    async def wait_for_review(self, input: WaitForReviewInput) -> PullRequestState:
        """Return once nothing is pending or under review (or the review awaits a human): every
        event received before this update has been reviewed, skipped, or failed."""
        await workflow.wait_condition(self._settled)
        return self._state

    def _settled(self) -> bool:
        state = self._state
        reviewing = self._review_task is not None and not self._review_task.done()
        if self._commands_in_flight:
            return False
        if state.closed:
            return not reviewing
        return state.pending is None and (not reviewing or self._waiting_for_human)

    # ---------------------------------------------------------------------------------------
    # The main loop

    @workflow.run
    async def run(self, input: PullRequestWorkflowInput) -> PullRequestState:
        state = self._state
        self._upsert_search_attributes()
        while True:
            await workflow.wait_condition(lambda: state.pending is not None or state.closed)
            if state.pending is not None and state.pending.action == "synchronize":
                await self._debounce()
            if state.closed:
                break
            event, state.pending = state.pending, None
            assert event is not None
            self._interruption = None
            self._review_task = asyncio.create_task(self._review(event))
            await self._review_task
            if state.closed:
                break
            if self._history_too_long():
                # Start a fresh history carrying the compact state (a pending event included),
                # once running handlers are done; a newly pending event is reviewed first.
                await workflow.wait_condition(
                    lambda: workflow.all_handlers_finished() or state.pending is not None
                )
                if workflow.all_handlers_finished():
                    workflow.continue_as_new(
                        PullRequestWorkflowInput(pr=state.pr, state=state, options=self._options)
                    )
        if state.step != ReviewStep.CLOSED:
            self._move(ReviewStep.CLOSED)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return state

    async def _debounce(self) -> None:
        """Wait for a quiet period after a push, so that quick successive pushes make one review
        (each newer push replaces the pending event and restarts the wait)."""
        state, quiet = self._state, self._options.debounce_seconds
        while quiet > 0 and not state.closed:
            seen = state.pending
            try:
                await workflow.wait_condition(
                    lambda seen=seen: state.pending is not seen or state.closed,  # type: ignore[misc]
                    timeout=timedelta(seconds=quiet),
                    timeout_summary="debounce pushes",
                )
            except TimeoutError:
                return

    def _history_too_long(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > MAX_HISTORY_EVENTS
        )

    def _interrupt(self, why: ReviewStep) -> None:
        """Cancel the review in flight (its compensations run) because of ``why``."""
        task = self._review_task
        if task is not None and not task.done() and self._interruption is None:
            workflow.logger.info("review of %s interrupted: %s", self._reviewing_head, why)
            self._interruption = why
            task.cancel()

    # ---------------------------------------------------------------------------------------
    # The review saga

    async def _review(self, event: PullRequestEvent) -> None:
        """Run the review saga; when it fails or is interrupted, run its compensations and
        record why. The workflow lives on: a newer event or ``/agent retry`` reviews again."""
        saga = Saga()
        state = self._state
        state.reviews_started += 1
        outcome: ReviewOutcome = "failed"
        try:
            await self._review_saga(event, saga, review_key=str(workflow.uuid4()))
            outcome = "posted" if state.step == ReviewStep.COMPLETED else "skipped"
        except (ActivityError, asyncio.CancelledError) as err:
            interruption = self._interruption
            if isinstance(err, asyncio.CancelledError) and interruption is None:
                # The workflow itself is being cancelled: undo, then let it end.
                await self._compensate(saga)
                raise
            state.last_error = (
                _reason(err) if interruption is None else _interruption_reason(interruption)
            )
            if interruption is None:
                state.failed_event = event
            else:
                outcome = "cancelled"
            self._move(interruption or ReviewStep.FAILED)
            outcomes = await self._compensate(saga)
            workflow.logger.warning("review stopped (%s); %s", state.last_error, outcomes)
        # Not in a `finally`: when the worker evicts a cached workflow, its coroutines are
        # closed and must not call workflow APIs.
        latency = (
            (workflow.now() - event.received_at).total_seconds() if event.received_at else None
        )
        record_review(workflow.metric_meter(), outcome, latency)
        self._waiting_for_human = False
        self._reviewing_head = None
        self._decision = None
        if state.approval is not None:
            state.approval = None
            self._upsert_search_attributes()

    async def _compensate(self, saga: Saga) -> list[str]:
        """Run the compensations to the end, even if a cancellation arrives meanwhile."""
        compensating = asyncio.create_task(saga.compensate())
        try:
            return await asyncio.shield(compensating)
        except asyncio.CancelledError:
            await compensating
            raise

    async def _review_saga(self, event: PullRequestEvent, saga: Saga, *, review_key: str) -> None:
        state = self._state
        self._move(ReviewStep.PARSING)
        parsed: ParsedSummary = await workflow.execute_activity(
            stubs.parse_pull_request,
            ParseInput(pr=state.pr, installation_id=state.installation_id),
            start_to_close_timeout=GITHUB_CALL_TIMEOUT,
            retry_policy=GITHUB_RETRY,
            summary=f"parse {state.pr} ({event.action} by {event.sender})",
        )
        head = parsed.diff.head_sha
        self._remember(parsed)
        manual = event.action in ("review", "labeled")
        if parsed.state != "open" or (head in state.reviewed_shas and not manual):
            workflow.logger.info("nothing to review at %s (pull request %s)", head, parsed.state)
            self._move(ReviewStep.IDLE)
            return
        since = None if event.full else state.last_reviewed_sha
        plan: ReviewPlan = await workflow.execute_activity(
            stubs.plan_review,
            PlanInput(
                diff=parsed.diff,
                base_sha=parsed.base_sha,
                since_sha=since if since != head else None,
                labels=state.labels,
                installation_id=state.installation_id,
            ),
            start_to_close_timeout=GITHUB_CALL_TIMEOUT,
            retry_policy=GITHUB_RETRY,
            summary=f"plan the review of {head[:12]}",
        )
        if plan.config_error:
            await self._reply(
                f"config-{parsed.base_sha}",
                "prsaga could not use this repository's configuration file, so it reviews with "
                f"the server's defaults:\n\n```\n{plan.config_error}\n```",
            )
        if parsed.draft and not (plan.policy.review_drafts or self._options.review_drafts):
            workflow.logger.info("draft pull request: waiting for ready_for_review")
            self._move(ReviewStep.IDLE)
            return

        self._reviewing_head = head
        saga.on_failure(
            "set the commit status to error",
            lambda: self._set_status(
                head,
                "error",
                f"Review stopped: {state.last_error}",
                summary=f"prsaga stopped reviewing `{head[:12]}`: {state.last_error}",
            ),
        )
        scope = list(plan.notes)
        if plan.incremental and plan.input.since_sha:
            scope.insert(0, f"Only what changed since `{plan.input.since_sha[:12]}` is reviewed.")
        await self._set_status(
            head,
            "pending",
            f"Reviewing {plan.files} changed files",
            summary="\n".join(f"- {line}" for line in scope),
        )

        self._move(ReviewStep.ANALYZING)
        reports = await self._analyze(plan)
        # Deterministic fan-in: agent order, duplicates dropped, worst first, bounded.
        findings, omitted = keep_worst([f for report in reports for f in report.findings])
        omitted += sum(report.omitted_findings for report in reports)

        proposal = propose(findings, plan.policy)
        posted_as: ReviewEvent = proposal
        decision: DecisionRecord | None = None
        if needs_approval(proposal, plan.policy):
            decision = await self._await_approval(head, proposal, len(findings), plan, review_key)
            posted_as = proposal if decision.approved else "COMMENT"

        self._move(ReviewStep.COMMENTING)
        saga.on_failure(
            "withdraw the posted review",
            lambda: workflow.execute_activity(
                stubs.withdraw_review,
                WithdrawReviewInput(
                    pr=state.pr,
                    review_key=review_key,
                    reason=clip(state.last_error or "failed", MAX_REASON_CHARS),
                    installation_id=state.installation_id,
                ),
                start_to_close_timeout=GITHUB_CALL_TIMEOUT,
                retry_policy=GITHUB_RETRY,
            ),
        )
        notes = list(plan.notes)
        if decision is not None:
            notes.append(_describe_decision(decision))
        state.last_review = await workflow.execute_activity(
            stubs.publish_review,
            PublishReviewInput(
                diff=parsed.diff,
                review_key=review_key,
                findings=findings,
                omitted_findings=omitted,
                agents=[report.summary() for report in reports],
                event=posted_as,
                max_inline_comments=plan.policy.max_inline_comments,
                notes=notes,
                installation_id=state.installation_id,
                # A review someone asked for is answered even when it has nothing new to say.
                quiet=plan.policy.quiet and not manual,
            ),
            start_to_close_timeout=GITHUB_CALL_TIMEOUT,
            retry_policy=GITHUB_RETRY,
            cancellation_type=FINISH_ON_CANCEL,
            summary=f"post review ({posted_as}): {len(findings)} findings on {head[:12]}",
        )
        record_findings(workflow.metric_meter(), findings)
        status, description = final_status(findings, posted_as, decision)
        review_url = state.last_review.html_url
        posted = f"The review: {review_url}" if review_url else "Nothing new to say: no review."
        await self._set_status(
            head,
            status,
            description,
            summary="\n".join([posted, *(f"- {note}" for note in notes)]),
            findings=findings,
            omitted=omitted,
        )
        state.findings_count = len(findings)
        earlier = [sha for sha in state.reviewed_shas if sha != head]
        state.reviewed_shas = [*earlier, head][-RECENT_HEADS:]
        state.last_reviewed_sha = head
        state.last_error = None
        state.failed_event = None
        self._move(ReviewStep.COMPLETED)

    async def _analyze(self, plan: ReviewPlan) -> list[AgentReport]:
        """Every agent of the plan over its batches, in parallel; Claude chunks at most
        ``plan.llm_parallelism`` at a time for this pull request (the worker's slots and the
        task queue's rate limit bound them across pull requests)."""
        offline = [
            workflow.execute_activity(
                stubs.offline_review,
                AnalyzeInput(plan=plan.input, batch=batch),
                start_to_close_timeout=ANALYZE_TIMEOUT,
                heartbeat_timeout=ANALYZE_HEARTBEAT,
                retry_policy=GITHUB_RETRY,
                summary=f"offline review, batch {batch + 1}/{plan.offline_batches}",
            )
            for batch in range(plan.offline_batches)
        ]
        limit = asyncio.Semaphore(plan.llm_parallelism)

        async def specialist(name: str, chunk: int, chunks: int) -> AgentReport:
            async with limit:
                try:
                    return await workflow.execute_activity(
                        stubs.claude_review,
                        SpecialistInput(plan=plan.input, specialist=name, chunk=chunk),
                        task_queue=plan.llm_task_queue or workflow.info().task_queue,
                        start_to_close_timeout=ANALYZE_TIMEOUT,
                        heartbeat_timeout=ANALYZE_HEARTBEAT,
                        retry_policy=LLM_RETRY,
                        summary=f"Claude {name} review, chunk {chunk + 1}/{chunks}",
                    )
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
                        error=_reason(err),
                    )

        claude = [
            specialist(name, chunk, chunks)
            for name, chunks in plan.specialists.items()
            for chunk in range(chunks)
        ]
        return list(await asyncio.gather(*offline, *claude))

    async def _await_approval(
        self,
        head: str,
        proposal: ReviewEvent,
        findings: int,
        plan: ReviewPlan,
        review_key: str,
    ) -> DecisionRecord:
        """Post the proposal, hold the status pending, and wait for a human (or the timeout and
        the configured default)."""
        state, policy = self._state, plan.policy
        self._move(ReviewStep.AWAITING_APPROVAL)
        timeout = self._options.approval_timeout_seconds or policy.approval_timeout_seconds
        now = workflow.now()
        state.approval = PendingApproval(
            head_sha=head,
            proposal=proposal,
            findings=findings,
            requested_at=now,
            deadline=now + timedelta(seconds=timeout),
        )
        self._upsert_search_attributes()
        action = _proposal_text(proposal)
        prefix = self._options.command_prefix
        deadline = f"{state.approval.deadline:%Y-%m-%d %H:%M} UTC"
        fallback = "go ahead" if policy.on_approval_timeout == "proceed" else "post a comment"
        proposal_text = (
            f"prsaga proposes to **{action}** ({findings} findings on {head[:12]}). A maintainer "
            f"can reply `{prefix} approve` to go ahead or `{prefix} reject [reason]` to post the "
            f"findings as a plain comment. Without a decision by {deadline}, prsaga will "
            f"{fallback}."
        )
        await self._reply(f"proposal-{review_key}", proposal_text)
        await self._set_status(
            head, "pending", f"Awaiting approval to {action}", summary=proposal_text
        )
        self._waiting_for_human = True
        try:
            await workflow.wait_condition(
                lambda: self._decision is not None,
                timeout=timedelta(seconds=timeout),
                timeout_summary="wait for a human decision",
            )
        except TimeoutError:
            self._record_decision(
                ApprovalDecision(
                    approve=policy.on_approval_timeout == "proceed",
                    decided_by="timeout",
                    channel="timeout",
                    reason=f"no decision within {timedelta(seconds=timeout)}",
                )
            )
        self._waiting_for_human = False
        decision = self._decision
        assert decision is not None
        state.approval = None
        self._upsert_search_attributes()
        return decision

    def _record_decision(self, decision: ApprovalDecision) -> DecisionRecord:
        approval = self._state.approval
        assert approval is not None, "validated: a proposal is pending"
        record = DecisionRecord(
            head_sha=approval.head_sha,
            proposal=approval.proposal,
            approved=decision.approve,
            decided_by=decision.decided_by,
            channel=decision.channel,
            reason=decision.reason,
            at=workflow.now(),
        )
        workflow.logger.info("decision: %s", _describe_decision(record))
        self._decision = record
        self._state.decisions = [*self._state.decisions, record][-RECENT_DECISIONS:]
        return record

    # ---------------------------------------------------------------------------------------
    # Commands

    async def _authorized(self, command: CommandEvent) -> bool:
        """Ask GitHub for the sender's permission when the command needs it; refuse politely."""
        state = self._state
        if command.source != "webhook":
            # Direct signals come from whoever may reach Temporal: Temporal authorizes them.
            return True
        is_author = command.sender == state.author
        if may_run(command.command, "none", is_author=is_author):
            return True
        permission: str = await workflow.execute_activity(
            stubs.get_permission,
            PermissionInput(
                pr=state.pr, login=command.sender, installation_id=state.installation_id
            ),
            start_to_close_timeout=GITHUB_CALL_TIMEOUT,
            retry_policy=GITHUB_RETRY,
            summary=f"permission of {command.sender}",
        )
        if may_run(command.command, permission, is_author=is_author):
            return True
        workflow.logger.info("%s (%s) may not %s", command.sender, permission, command.command)
        await self._reply(
            f"command-{command.delivery_id}",
            f"@{command.sender} sorry, `{command.command}` needs write access to this "
            f"repository (you have {permission}). Nothing was changed.",
        )
        return False

    def _apply_command(self, command: CommandEvent) -> str:
        """Carry out an authorized command; the reply to post."""
        state, name = self._state, command.command
        if name == "review":
            state.pending = PullRequestEvent(
                delivery_id=command.delivery_id,
                action="review",
                sender=command.sender,
                source=command.source,
                full=True,
            )
            return "a full review is on its way."
        if name in ("approve", "reject"):
            decision = ApprovalDecision(
                approve=name == "approve",
                decided_by=command.sender,
                channel="comment",
                reason=command.argument,
            )
            try:
                self._validate_decision(decision)
            except ValueError as err:
                return f"nothing to {name}: {err}."
            record = self._record_decision(decision)
            return f"noted: {_describe_decision(record)}."
        if name == "retry":
            if state.failed_event is None or state.step != ReviewStep.FAILED:
                return "there is no failed review to retry."
            state.pending = state.failed_event.model_copy(
                update={"delivery_id": command.delivery_id}
            )
            return f"retrying the review that failed with: {state.last_error}"
        if name == "cancel":
            if self._review_task is None or self._review_task.done():
                state.pending = None
                return "there is no review in progress to cancel."
            state.pending = None
            self._interrupt(ReviewStep.CANCELLED)
            return "the review in progress is cancelled."
        if name == "status":
            return self._status_text()
        if name == "help":
            return help_text(self._options.command_prefix)
        return f"I don't know `{command.argument}`.\n\n{help_text(self._options.command_prefix)}"

    def _status_text(self) -> str:
        state = self._state
        lines = [f"review state: **{state.step}**"]
        if state.head_sha:
            lines.append(f"head: {state.head_sha[:12]}")
        if state.last_reviewed_sha:
            lines.append(f"last reviewed head: {state.last_reviewed_sha[:12]}")
        if state.approval is not None:
            lines.append(
                f"awaiting approval to {_proposal_text(state.approval.proposal)} until "
                f"{state.approval.deadline:%Y-%m-%d %H:%M} UTC"
            )
        if state.last_error:
            lines.append(f"last error: {state.last_error}")
        return "\n".join(["", *(f"- {line}" for line in lines)])

    # ---------------------------------------------------------------------------------------
    # Helpers

    def _first_delivery(self, delivery_id: str, seen: list[str]) -> bool:
        """Remember ``delivery_id`` in ``seen`` (in place, bounded); False if already there."""
        if delivery_id in seen:
            workflow.logger.info("delivery %s already handled; ignored", delivery_id)
            return False
        seen.append(delivery_id)
        del seen[:-RECENT_DELIVERIES]
        return True

    def _move(self, to: ReviewStep) -> None:
        self._state.step = advance(self._state.step, to)
        self._upsert_search_attributes()

    def _remember(self, parsed: ParsedSummary) -> None:
        state = self._state
        state.head_sha, state.title = parsed.diff.head_sha, parsed.title
        state.author, state.html_url = parsed.author, parsed.html_url
        state.labels = sorted(set(state.labels) | set(parsed.labels))
        workflow.upsert_memo({"title": parsed.title, "url": parsed.html_url})
        self._upsert_search_attributes()

    def _upsert_search_attributes(self) -> None:
        state = self._state
        updates: list[Any] = [
            sa.PR_REPOSITORY.value_set(state.pr.full_name),
            sa.PR_NUMBER.value_set(state.pr.number),
            sa.REVIEW_STATE.value_set(state.step.value),
            sa.APPROVAL_PENDING.value_set(state.approval is not None),
        ]
        if state.head_sha:
            updates.append(sa.PR_HEAD_SHA.value_set(state.head_sha))
        current = workflow.info().typed_search_attributes
        changed = [u for u in updates if current.get(u.key) != u.value]
        if changed:
            workflow.upsert_search_attributes(changed)

    async def _reply(self, key: str, body: str) -> None:
        await workflow.execute_activity(
            stubs.reply,
            ReplyInput(
                pr=self._state.pr,
                key=key,
                body=clip(body, MAX_REPLY_CHARS),
                installation_id=self._state.installation_id,
            ),
            start_to_close_timeout=GITHUB_CALL_TIMEOUT,
            retry_policy=GITHUB_RETRY,
            summary=f"reply: {body[:60]}",
        )

    async def _set_status(
        self,
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
                pr=self._state.pr,
                head_sha=head_sha,
                state=status,
                description=status_description(description),
                installation_id=self._state.installation_id,
                summary=summary,
                findings=findings or [],
                omitted_findings=omitted,
            ),
            start_to_close_timeout=GITHUB_CALL_TIMEOUT,
            retry_policy=GITHUB_RETRY,
            cancellation_type=FINISH_ON_CANCEL,
            summary=f"status {status}: {description}",
        )


def _reason(err: BaseException) -> str:
    """The root cause's message: what a human needs to read in the UI."""
    while isinstance(err, ActivityError) and err.cause is not None:
        err = err.cause
    return str(err) or type(err).__name__


def _interruption_reason(why: ReviewStep) -> str:
    return {
        ReviewStep.SUPERSEDED: "superseded by a newer push",
        ReviewStep.CANCELLED: "cancelled on request",
        ReviewStep.CLOSED: "the pull request was closed",
    }[why]


def _proposal_text(proposal: ReviewEvent) -> str:
    return {
        "REQUEST_CHANGES": "request changes",
        "APPROVE": "approve the pull request",
        "COMMENT": "comment",
    }[proposal]


def _describe_decision(record: DecisionRecord) -> str:
    verdict = "approved" if record.approved else "declined"
    who = "the approval timeout" if record.channel == "timeout" else f"@{record.decided_by}"
    reason = f" ({record.reason})" if record.reason else ""
    return (
        f"{who} {verdict} the proposal to {_proposal_text(record.proposal)} via {record.channel}"
        f" at {record.at:%Y-%m-%d %H:%M} UTC{reason}"
    )
