"""Connecting to Temporal and signal-with-starting a pull request's workflow.

Shared by the webhook server and the ``prsaga`` command line, so that both start workflows the
same way: one workflow per pull request, woken by its events.
"""

from __future__ import annotations

import asyncio
import logging

from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from prsaga.config import Settings
from prsaga.contracts import (
    DecisionRecord,
    PullRequestState,
    PullRequestWorkflowInput,
    WorkflowOptions,
)
from prsaga.models import ApprovalDecision, CommandEvent, PullRequestEvent, PullRequestRef
from prsaga.search_attributes import SEARCH_ATTRIBUTES
from prsaga.telemetry import client_interceptors, process_runtime
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
    """A Temporal client with the pydantic data converter every prsaga process uses, on the
    process's runtime (Prometheus metrics at ``metrics_address``) and traced when ``tracing``
    is on; workers built on it inherit both."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        runtime=process_runtime(settings),
        interceptors=client_interceptors(settings),
        api_key=settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
        tls=settings.temporal_tls or settings.temporal_api_key is not None,
    )


def workflow_options(settings: Settings) -> WorkflowOptions:
    """The server settings a pull request's workflow runs with."""
    return WorkflowOptions(
        debounce_seconds=settings.debounce_seconds,
        review_drafts=settings.review_drafts,
        command_prefix=settings.command_prefix,
    )


async def signal_pull_request(
    client: Client, settings: Settings, pr: PullRequestRef, event: PullRequestEvent | CommandEvent
) -> WorkflowHandle[PullRequestWorkflow, PullRequestState]:
    """Deliver ``event`` (or a command) to the pull request's workflow, starting it if it is not
    running."""
    signal = (
        PullRequestWorkflow.on_command
        if isinstance(event, CommandEvent)
        else (PullRequestWorkflow.on_event)
    )
    return await client.start_workflow(
        PullRequestWorkflow.run,
        PullRequestWorkflowInput(pr=pr, options=workflow_options(settings)),
        id=pr.workflow_id,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal=signal.__name__,
        start_signal_args=[event],
        static_summary=f"Review agent for {pr}",
    )


async def decide(client: Client, pr: PullRequestRef, decision: ApprovalDecision) -> DecisionRecord:
    """Send a human decision to the pull request's approval gate (the ``decide`` update): the
    workflow's validator refuses it, with the reason, when no proposal matches."""
    handle = client.get_workflow_handle_for(PullRequestWorkflow.run, pr.workflow_id)
    return await handle.execute_update(PullRequestWorkflow.decide, decision)


async def register_search_attributes(client: Client) -> list[str]:
    """Register prsaga's search attributes in the client's namespace (idempotent); the names
    added."""
    namespace = client.namespace
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        registered = set(existing.custom_attributes)
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        registered = set()  # the time-skipping test server only implements adding them
    missing = {name: kind for name, kind in SEARCH_ATTRIBUTES.items() if name not in registered}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


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
