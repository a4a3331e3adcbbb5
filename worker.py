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
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.analyze import AnalyzeAgents
from activities.comment import CommentAgent
from activities.parse import ParseAgent
from prsaga.config import Settings, get_settings
from starter.temporal import connect
from workflows.pull_request import PullRequestWorkflow

MAX_CONCURRENT_ACTIVITIES = 16
"""Activities are synchronous (PyGithub, subprocess linters) and run on this many threads."""


def build_worker(client: Client, settings: Settings, executor: ThreadPoolExecutor) -> Worker:
    """A worker for every prsaga workflow and activity, bound to ``settings``."""
    parse, analyze, comment = ParseAgent(settings), AnalyzeAgents(settings), CommentAgent(settings)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[PullRequestWorkflow],
        activities=[
            parse.parse_pull_request,
            analyze.offline_review,
            comment.set_commit_status,
            comment.publish_review,
            comment.withdraw_review,
        ],
        activity_executor=executor,
        max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES,
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
        async with build_worker(client, settings, executor):
            logging.getLogger("prsaga.worker").info(
                "worker polling task queue %r on %s", settings.task_queue, settings.temporal_address
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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(run_worker(get_settings()))
    # Work around temporalio/sdk-python#300 (an abort in interpreter shutdown).
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
