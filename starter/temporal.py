"""Connecting to Temporal and signal-with-starting a pull request's workflow.

Shared by the webhook server and the ``prsaga`` command line, so that both start workflows the
same way: one workflow per pull request, woken by its events.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from prsaga.review.audit import History, previous_run_id, run_id
from prsaga.runtime.config import Settings
from prsaga.runtime.temporal import connect
from prsaga.schema import (
    ApprovalDecision,
    CommandEvent,
    DecisionRecord,
    PullRequestEvent,
    PullRequestRef,
    PullRequestState,
    PullRequestWorkflowInput,
    WaitForReviewInput,
    WorkflowOptions,
)
from prsaga.schema.workflow import (
    COMMAND_SIGNAL,
    DECIDE_UPDATE,
    EVENT_SIGNAL,
    STATE_QUERY,
    WAIT_FOR_REVIEW_UPDATE,
    WORKFLOW_TYPE,
)
from starter.github_events import SubmitUnavailable

log = logging.getLogger(__name__)

# Temporal could not take the request now; GitHub will redeliver if we answer 5xx.
_UNAVAILABLE = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
}


def workflow_options(settings: Settings) -> WorkflowOptions:
    """The server settings a pull request's workflow runs with."""
    return WorkflowOptions(
        debounce_seconds=settings.debounce_seconds,
        review_drafts=settings.review_drafts,
        command_prefix=settings.command_prefix,
    )


async def signal_pull_request(
    client: Client, settings: Settings, pr: PullRequestRef, event: PullRequestEvent | CommandEvent
) -> WorkflowHandle[Any, PullRequestState]:
    """Deliver ``event`` (or a command) to the pull request's workflow, starting it if it is not
    running."""
    return await client.start_workflow(
        WORKFLOW_TYPE,
        PullRequestWorkflowInput(pr=pr, options=workflow_options(settings)),
        result_type=PullRequestState,
        id=pr.workflow_id,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal=COMMAND_SIGNAL if isinstance(event, CommandEvent) else EVENT_SIGNAL,
        start_signal_args=[event],
        static_summary=f"Review agent for {pr}",
    )


async def wait_for_review(client: Client, pr: PullRequestRef) -> PullRequestState:
    """The pull request's state once every event it received so far has been reviewed (or its
    review failed, or waits for a human)."""
    handle = client.get_workflow_handle(pr.workflow_id)
    return await handle.execute_update(
        WAIT_FOR_REVIEW_UPDATE, WaitForReviewInput(), result_type=PullRequestState
    )


async def decide(client: Client, pr: PullRequestRef, decision: ApprovalDecision) -> DecisionRecord:
    """Send a human decision to the pull request's approval gate (the ``decide`` update): the
    workflow's validator refuses it, with the reason, when no proposal matches."""
    handle = client.get_workflow_handle(pr.workflow_id)
    return await handle.execute_update(DECIDE_UPDATE, decision, result_type=DecisionRecord)


QUERY_TIMEOUT = timedelta(seconds=10)
"""How long a query waits for a worker to answer it."""


async def read_state(client: Client, pr: PullRequestRef) -> tuple[PullRequestState, bool]:
    """The pull request's state, and whether it is live: the ``get_state`` query's answer while
    its workflow runs (a worker answers it), else the state it ended with.

    Raises:
        RPCError: No such workflow (``NOT_FOUND``), or no worker answered the query in time.
        LookupError: The workflow ended without a state (failed, cancelled or terminated).
    """
    handle = client.get_workflow_handle(pr.workflow_id, result_type=PullRequestState)
    status = (await handle.describe()).status
    if status == WorkflowExecutionStatus.RUNNING:
        state = await handle.query(
            STATE_QUERY, result_type=PullRequestState, rpc_timeout=QUERY_TIMEOUT
        )
        return state, True
    if status == WorkflowExecutionStatus.COMPLETED:
        return await handle.result(), False
    name = status.name.lower() if status is not None else "unknown"
    raise LookupError(f"the workflow {pr.workflow_id} ended {name}, without a state")


async def run_histories(client: Client, pr: PullRequestRef) -> list[History]:
    """Every run of the pull request's workflow, oldest first, in Temporal's JSON form: the
    latest run and the runs it continued as new from (followed back through their histories),
    and the earlier executions under the same id that visibility lists (a pull request closed,
    then reopened, starts a new execution)."""
    chain: list[History] = []
    previous: str | None = None
    while True:
        history = await _history(client, pr, previous)
        chain.append(history)
        previous = previous_run_id(history)
        if previous is None:
            break
    known = {run_id(history) for history in chain}
    earlier = [
        execution
        async for execution in client.list_workflows(f"WorkflowId = '{pr.workflow_id}'")
        if execution.run_id not in known
    ]
    earlier.sort(key=lambda execution: execution.start_time)
    return [*[await _history(client, pr, e.run_id) for e in earlier], *chain[::-1]]


async def _history(client: Client, pr: PullRequestRef, run: str | None) -> History:
    handle = client.get_workflow_handle(pr.workflow_id, run_id=run)
    return (await handle.fetch_history()).to_json_dict()


class TemporalSubmitter:
    """The webhook server's ``submit``: signal-with-start, with Temporal outages reported as
    ``SubmitUnavailable`` (answered 503, so GitHub redelivers). Connects lazily, so the webhook
    server can start before Temporal is reachable."""

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._settings = settings
        self._client = client
        self._connecting = asyncio.Lock()

    async def _get_client(self) -> Client:
        async with self._connecting:
            if self._client is None:
                try:
                    self._client = await connect(self._settings)
                except RuntimeError as err:
                    raise SubmitUnavailable(
                        f"Temporal at {self._settings.temporal_address} is unreachable"
                    ) from err
            return self._client

    async def __call__(self, pr: PullRequestRef, event: PullRequestEvent | CommandEvent) -> str:
        client = await self._get_client()
        try:
            handle = await signal_pull_request(client, self._settings, pr, event)
        except RPCError as err:
            if err.status in _UNAVAILABLE:
                raise SubmitUnavailable(
                    f"Temporal did not take the signal: {err.status.name}"
                ) from err
            raise
        return handle.id


async def connect_submitter(settings: Settings) -> TemporalSubmitter:
    """A submitter for the webhook server; tries to connect now, but starts even if it cannot."""
    submitter = TemporalSubmitter(settings)
    try:
        await submitter._get_client()
    except SubmitUnavailable as err:
        log.warning("%s; will retry on the first delivery", err)
    return submitter
