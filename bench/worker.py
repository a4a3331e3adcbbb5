"""The benchmark's worker process: prsaga's own worker with instant agents, plus the baseline.

``worker.build_worker`` builds the prsaga worker exactly as production does (same activities,
slots, executor and timeouts); only the analyze agents are swapped for the benchmark's, under
the same activity names. The baseline's worker shares the executor and the settings, on a task
queue of its own. Run by the bench: ``python -m bench.worker --agents instant --ready FILE``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from temporalio.worker import Worker

import worker as prsaga_worker
from bench.agents import InstantAgents, LlmAgents, RealOfflineAgents
from bench.bare import BareReview, noop
from bench.profiling import ProcessProfiler
from prsaga.runtime.config import Settings, get_settings
from prsaga.runtime.logs import configure_logging
from prsaga.runtime.temporal import connect

AGENTS = {"instant": InstantAgents, "real-offline": RealOfflineAgents, "llm": LlmAgents}
log = logging.getLogger("bench.worker")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("--agents", choices=sorted(AGENTS), default="instant")
    parser.add_argument("--bare-task-queue", required=True)
    parser.add_argument("--ready", type=Path, required=True, help="file written once polling")
    parser.add_argument("--profile-dir", type=Path, help="profile every thread into this folder")
    parser.add_argument("--profile-name", default="worker", help="the profile's file name")
    return parser.parse_args(argv)


async def run(settings: Settings, args: argparse.Namespace) -> None:
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    slots = prsaga_worker.MAX_CONCURRENT_ACTIVITIES
    with ThreadPoolExecutor(max_workers=slots) as executor:
        review_worker = prsaga_worker.build_worker(client, settings, executor)
        bare_worker = Worker(
            client,
            task_queue=args.bare_task_queue,
            workflows=[BareReview],
            activities=[noop],
            activity_executor=executor,
            max_concurrent_activities=slots,
            graceful_shutdown_timeout=timedelta(seconds=20),
        )
        async with review_worker, bare_worker:
            args.ready.write_text(str(os.getpid()))
            log.info("bench worker polling %s and %s", settings.task_queue, args.bare_task_queue)
            await stop.wait()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = get_settings()
    configure_logging(settings)
    # The one change to production's worker: the analyze agents (same activity names).
    prsaga_worker.AnalyzeAgents = AGENTS[args.agents]  # type: ignore[misc, assignment]
    profiler = ProcessProfiler(args.profile_name, args.profile_dir) if args.profile_dir else None
    if profiler is not None:
        profiler.start()
    try:
        asyncio.run(run(settings, args))
    finally:
        if profiler is not None:
            log.info("profile written to %s", profiler.stop())
    # Work around temporalio/sdk-python#300 (an abort in interpreter shutdown).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
