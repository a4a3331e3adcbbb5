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
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from prsaga.review.commands import decide_command, may_run
    from prsaga.review.lifecycle import (
        Admission,
        HeadEvidence,
        admit_event,
        admit_event_by_arrival,
        advance,
        decision_record,
        decision_refusal,
        newer,
        retire,
    )
    from prsaga.review.texts import describe_decision, interruption_reason
    from prsaga.schema import (
        ApprovalDecision,
        ApprovalTimeoutDefault,
        CommandEvent,
        DecisionRecord,
        ParsedSummary,
        PendingApproval,
        PullRequestEvent,
        PullRequestState,
        PullRequestWorkflowInput,
        ReviewStep,
        WaitForReviewInput,
        WorkflowOptions,
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

    from . import calls
    from .metrics import record_review
    from .review_saga import RECENT_HEADS, ReviewSaga, root_cause
    from .saga import Saga

# Bounded memories, so that the continue-as-new payload stays small.
RECENT_DELIVERIES = 500
RECENT_DECISIONS = 20
MAX_HISTORY_EVENTS = 10_000
"""Continue-as-new past this many events even if the server has not suggested it yet."""
JUDGE_LATE_DELIVERIES = "judge-late-deliveries-by-evidence"
"""Patch: a delivery supersedes or queues a review by evidence of its head's age, not by
arrival (histories recorded before it replay with ``admit_event_by_arrival``)."""


@workflow.defn(name=WORKFLOW_TYPE)
class PullRequestWorkflow:
    """The entity workflow of one pull request (id ``pr-OWNER/REPO-N``)."""

    @workflow.init
    def __init__(self, input: PullRequestWorkflowInput) -> None:
        # Initialised here, not in run(), because signal-with-start delivers the signal first.
        self._state = input.state or PullRequestState(pr=input.pr)
        self._options = input.options
        self._review_task: asyncio.Task[None] | None = None
        self.reviewing_head: str | None = None
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
        """A delivery about this pull request. Redeliveries, late deliveries and already
        reviewed heads do nothing; a newer event replaces a pending one, and one about a newer
        head supersedes the review in flight (``admit_event`` judges "newer" by evidence)."""
        state = self._state
        if not self._first_delivery(event.delivery_id, state.recent_deliveries):
            return
        state.installation_id = event.installation_id or state.installation_id
        if event.action == "closed":
            state.closed = True
            self._interrupt(ReviewStep.CLOSED)
            return
        admission = self._admission(event)
        state.newest_update = newer(state.newest_update, event.updated_at)
        if admission == Admission.IGNORE:
            workflow.logger.info(
                "%s about %s: late or already reviewed; ignored", event.action, event.head_sha
            )
            return
        pending = state.pending
        # A full re-review asked for earlier stays full when a push replaces it.
        full = event.full or (pending is not None and pending.full)
        state.pending = event.model_copy(update={"full": full})
        if admission == Admission.SUPERSEDE:
            self._interrupt(ReviewStep.SUPERSEDED)

    def _admission(self, event: PullRequestEvent) -> Admission:
        state = self._state
        if not workflow.patched(JUDGE_LATE_DELIVERIES):
            return admit_event_by_arrival(event, self.reviewing_head, state.reviewed_shas)
        evidence = HeadEvidence(
            reviewing_head=self.reviewing_head,
            current_head=state.head_sha,
            current_update=state.head_updated_at,
            reviewed_heads=state.reviewed_shas,
            retired_heads=state.retired_heads,
            newest_update=state.newest_update,
        )
        return admit_event(event, evidence)

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
            await calls.reply(
                self._state, f"command-{command.delivery_id}", f"@{command.sender} {reply}"
            )
        finally:
            self._commands_in_flight -= 1

    @workflow.update(name=DECIDE_UPDATE)
    def decide(self, decision: ApprovalDecision) -> DecisionRecord:
        """A human decision on the pending proposal (from the SDK or ``temporal workflow update
        execute``); the validator refuses it synchronously when nothing matches."""
        return self._record_decision(decision)

    @decide.validator
    def _validate_decision(self, decision: ApprovalDecision) -> None:
        refusal = decision_refusal(self._state, decision, decided=self._decision is not None)
        if refusal is not None:
            raise ValueError(refusal)

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
            self.move(ReviewStep.CLOSED)
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
            workflow.logger.info("review of %s interrupted: %s", self.reviewing_head, why)
            self._interruption = why
            task.cancel()

    # ---------------------------------------------------------------------------------------
    # The review saga (its steps: workflows/review_saga.py)

    async def _review(self, event: PullRequestEvent) -> None:
        """Run the review saga; when it fails or is interrupted, run its compensations and
        record why. The workflow lives on: a newer event or ``/agent retry`` reviews again."""
        state = self._state
        state.reviews_started += 1
        review = ReviewSaga(self, event, review_key=str(workflow.uuid4()))
        outcome: ReviewOutcome = "failed"
        try:
            await review.run()
            outcome = "posted" if state.step == ReviewStep.COMPLETED else "skipped"
        except (ActivityError, asyncio.CancelledError) as err:
            interruption = self._interruption
            if isinstance(err, asyncio.CancelledError) and interruption is None:
                # The workflow itself is being cancelled: undo, then let it end.
                await self._compensate(review.compensations)
                raise
            state.last_error = (
                root_cause(err) if interruption is None else interruption_reason(interruption)
            )
            if interruption is None:
                state.failed_event = event
            else:
                outcome = "cancelled"
            self.move(interruption or ReviewStep.FAILED)
            outcomes = await self._compensate(review.compensations)
            workflow.logger.warning("review stopped (%s); %s", state.last_error, outcomes)
        # Not in a `finally`: when the worker evicts a cached workflow, its coroutines are
        # closed and must not call workflow APIs.
        latency = (
            (workflow.now() - event.received_at).total_seconds() if event.received_at else None
        )
        record_review(workflow.metric_meter(), outcome, latency)
        self._waiting_for_human = False
        self.reviewing_head = None
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

    # ---------------------------------------------------------------------------------------
    # The approval gate (the saga's approve step holds it; decide and /agent approve open it)

    def hold_for_approval(self, approval: PendingApproval) -> None:
        self._state.approval = approval
        self._upsert_search_attributes()

    async def wait_for_decision(
        self, timeout: timedelta, on_timeout: ApprovalTimeoutDefault
    ) -> DecisionRecord:
        """Wait for a human's decision on the pending proposal; without one in ``timeout``,
        ``on_timeout`` decides."""
        self._waiting_for_human = True
        try:
            await workflow.wait_condition(
                lambda: self._decision is not None,
                timeout=timeout,
                timeout_summary="wait for a human decision",
            )
        except TimeoutError:
            self._record_decision(
                ApprovalDecision(
                    approve=on_timeout == "proceed",
                    decided_by="timeout",
                    channel="timeout",
                    reason=f"no decision within {timeout}",
                )
            )
        self._waiting_for_human = False
        decision = self._decision
        assert decision is not None
        self._state.approval = None
        self._upsert_search_attributes()
        return decision

    def _record_decision(self, decision: ApprovalDecision) -> DecisionRecord:
        approval = self._state.approval
        assert approval is not None, "validated: a proposal is pending"
        record = decision_record(approval, decision, workflow.now())
        self._keep_decision(record)
        return record

    def _keep_decision(self, record: DecisionRecord) -> None:
        workflow.logger.info("decision: %s", describe_decision(record))
        self._decision = record
        self._state.decisions = [*self._state.decisions, record][-RECENT_DECISIONS:]

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
        permission = await calls.permission(state, command.sender)
        if may_run(command.command, permission, is_author=is_author):
            return True
        workflow.logger.info("%s (%s) may not %s", command.sender, permission, command.command)
        await calls.reply(
            state,
            f"command-{command.delivery_id}",
            f"@{command.sender} sorry, `{command.command}` needs write access to this "
            f"repository (you have {permission}). Nothing was changed.",
        )
        return False

    def _apply_command(self, command: CommandEvent) -> str:
        """Carry out an authorized command (``decide_command`` says what it does); the reply."""
        outcome = decide_command(
            command,
            self._state,
            review_in_flight=self._review_task is not None and not self._review_task.done(),
            decided=self._decision is not None,
            prefix=self._options.command_prefix,
            now=workflow.now(),
        )
        if outcome.replace_pending:
            self._state.pending = outcome.pending
        if outcome.record is not None:
            self._keep_decision(outcome.record)
        if outcome.cancel_review:
            self._interrupt(ReviewStep.CANCELLED)
        return outcome.reply

    # ---------------------------------------------------------------------------------------
    # What the review saga reaches through ReviewHost, and helpers

    @property
    def state(self) -> PullRequestState:
        return self._state

    @property
    def options(self) -> WorkflowOptions:
        return self._options

    def move(self, to: ReviewStep) -> None:
        self._state.step = advance(self._state.step, to)
        self._upsert_search_attributes()

    def remember(self, parsed: ParsedSummary) -> None:
        state = self._state
        head = parsed.diff.head_sha
        # GitHub reports ``head`` now: deliveries about the head it replaced are late from now.
        state.retired_heads = retire(state.retired_heads, state.head_sha, head, RECENT_HEADS)
        state.newest_update = newer(state.newest_update, parsed.updated_at)
        state.head_sha, state.head_updated_at = head, parsed.updated_at
        state.title = parsed.title
        state.author, state.html_url = parsed.author, parsed.html_url
        state.labels = sorted(set(state.labels) | set(parsed.labels))
        workflow.upsert_memo({"title": parsed.title, "url": parsed.html_url})
        self._upsert_search_attributes()

    def _first_delivery(self, delivery_id: str, seen: list[str]) -> bool:
        """Remember ``delivery_id`` in ``seen`` (in place, bounded); False if already there."""
        if delivery_id in seen:
            workflow.logger.info("delivery %s already handled; ignored", delivery_id)
            return False
        seen.append(delivery_id)
        del seen[:-RECENT_DELIVERIES]
        return True

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
