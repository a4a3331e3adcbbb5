"""Connecting to Temporal and signal-with-starting a pull request's workflow.

Shared by the webhook server and the ``prsaga`` command line, so that both start workflows the
same way: one workflow per pull request, woken by its events.
"""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from prsaga.config import Settings
from prsaga.contracts import PullRequestState, PullRequestWorkflowInput
from prsaga.models import PullRequestEvent, PullRequestRef
from starter.github_events import SubmitUnavailable
from workflows.pull_request import PullRequestWorkflow

log = logging.getLogger(__name__)

# Temporal could not take the request now; GitHub will redeliver if we answer 5xx.
_UNAVAILABLE = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
}


async def connect(settings: Settings) -> Client:
    """A Temporal client with the pydantic data converter every prsaga process uses."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )


async def signal_pull_request(
    client: Client, settings: Settings, pr: PullRequestRef, event: PullRequestEvent
) -> WorkflowHandle[PullRequestWorkflow, PullRequestState]:
    """Deliver ``event`` to the pull request's workflow, starting it if it is not running."""
    return await client.start_workflow(
        PullRequestWorkflow.run,
        PullRequestWorkflowInput(pr=pr),
        id=pr.workflow_id,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal=PullRequestWorkflow.on_event.__name__,
        start_signal_args=[event],
        static_summary=f"Review agent for {pr}",
    )


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

    async def __call__(self, pr: PullRequestRef, event: PullRequestEvent) -> str:
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
