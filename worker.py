"""The prsaga worker: runs the pull-request workflow and its agents' activities.

Run as many as you like on the same task queue (``python worker.py``); Temporal spreads the work.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.analyze import AnalyzeAgents
from activities.comment import CommentAgent
from activities.conversation import ConversationAgent
from activities.heartbeat import MAX_HEARTBEAT_THROTTLE_SECONDS
from activities.parse import ParseAgent, ParsedDiffs
from activities.plan import PlanAgent, ReviewPlans
from prsaga.runtime.config import Settings, get_settings
from prsaga.runtime.logs import configure_logging
from prsaga.runtime.telemetry import SERVICE_NAME_WORKER, configure_tracing
from prsaga.runtime.temporal import connect
from workflows.pull_request import PullRequestWorkflow

MAX_CONCURRENT_ACTIVITIES = 16
"""Activities are synchronous (PyGithub, subprocess linters) and run on this many threads."""
MODEL_ACTIVITIES = ("claude_review", "verify_finding")
"""The activities that call model providers (``llm_task_queue`` can give them their own
workers and rate limit)."""


def review_activities(settings: Settings) -> list[Callable[..., Any]]:
    """Every review activity, bound to the agent objects that keep its clients and caches (the
    workflow schedules them by the names in ``workflows/stubs.py``). The agents share this
    worker's parsed diffs and plans, so that a large diff is loaded once, not once per agent."""
    diffs = ParsedDiffs(settings)
    plans = ReviewPlans(settings, diffs)
    parse, plan = ParseAgent(settings, diffs), PlanAgent(plans)
    analyze, comment = AnalyzeAgents(settings, plans), CommentAgent(settings, diffs)
    conversation = ConversationAgent(settings)
    return [
        parse.parse_pull_request,
        plan.plan_review,
        analyze.offline_review,
        analyze.claude_review,
        analyze.verify_finding,
        comment.set_commit_status,
        comment.publish_review,
        comment.withdraw_review,
        conversation.reply,
        conversation.get_permission,
    ]


def build_worker(client: Client, settings: Settings, executor: ThreadPoolExecutor) -> Worker:
    """A worker for every prsaga workflow and activity, bound to ``settings`` (Claude activities
    too, unless ``llm_task_queue`` sends them to their own workers: see ``build_llm_worker``)."""
    activities = review_activities(settings)
    if settings.llm_task_queue is not None:
        activities = [a for a in activities if a.__name__ not in MODEL_ACTIVITIES]
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[PullRequestWorkflow],
        activities=activities,
        activity_executor=executor,
        max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES,
        max_heartbeat_throttle_interval=timedelta(seconds=MAX_HEARTBEAT_THROTTLE_SECONDS),
        graceful_shutdown_timeout=timedelta(seconds=20),
    )


def build_llm_worker(
    client: Client, settings: Settings, executor: ThreadPoolExecutor
) -> Worker | None:
    """A worker for Claude activities on ``llm_task_queue``, whose rate limit the Temporal server
    enforces across every worker of that queue; ``None`` when they share the main queue."""
    if settings.llm_task_queue is None:
        return None
    return Worker(
        client,
        task_queue=settings.llm_task_queue,
        activities=[a for a in review_activities(settings) if a.__name__ in MODEL_ACTIVITIES],
        activity_executor=executor,
        max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES,
        max_task_queue_activities_per_second=settings.llm_activities_per_second,
        max_heartbeat_throttle_interval=timedelta(seconds=MAX_HEARTBEAT_THROTTLE_SECONDS),
        graceful_shutdown_timeout=timedelta(seconds=20),
    )


async def run_worker(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT, then stop polling and let running activities finish."""
    client = await connect_with_retry(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_ACTIVITIES) as executor:
        llm_worker = build_llm_worker(client, settings, executor)
        # A worker whose own queue is the LLM queue is an LLM-only worker (compose's llm-worker).
        llm_only = settings.llm_task_queue == settings.task_queue
        main_worker = nullcontext() if llm_only else build_worker(client, settings, executor)
        async with main_worker, llm_worker or nullcontext():
            logging.getLogger("prsaga.worker").info(
                "worker polling task queue %r on %s%s",
                settings.task_queue,
                settings.temporal_address,
                f"; metrics on http://{settings.metrics_address}/metrics"
                if settings.metrics_address
                else "",
            )
            await stop.wait()


async def connect_with_retry(settings: Settings, attempts: int = 60) -> Client:
    """Connect, waiting up to ``attempts`` seconds for Temporal to come up."""
    for attempt in itertools.count(1):
        try:
            return await connect(settings)
        except RuntimeError:
            if attempt >= attempts:
                raise
            await asyncio.sleep(1)
    raise AssertionError("itertools.count never ends")


def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    tracer_provider = configure_tracing(settings, SERVICE_NAME_WORKER)
    try:
        asyncio.run(run_worker(settings))
    finally:
        if tracer_provider is not None:
            tracer_provider.shutdown()  # flush the last spans before the hard exit below
    # Work around temporalio/sdk-python#300 (an abort in interpreter shutdown).
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
