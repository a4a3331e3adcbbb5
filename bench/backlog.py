"""Backpressure: many pull requests opened at once against one worker, then two and four.

Each run is a fresh stack (instant agents) with ``workers`` worker processes on the same task
queue. Every pull request is seeded first; then all their ``opened`` deliveries are sent by 50
concurrent senders, and the bench waits for every final commit status. It reports:

- whether every review completed, and what timed out: activities (the workflow sets only
  start-to-close timeouts, so time spent queued can never time an activity out; this checks it)
  and workflow tasks (by timeout type);
- the workers' resident memory: each process's peak while the backlog drained;
- how the backlog drained: schedule-to-start latency of the activities (from the histories,
  on the server's clock) in ten time slices of the run, and the reviews completed per second.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.api.history.v1 import HistoryEvent

from bench.driver import Driver
from bench.measures import BenchError, Counts, _fire
from bench.memory import PeakRss
from bench.stack import BenchStack, ServerConfig
from bench.stats import percentile, ratio

log = logging.getLogger("bench")

SENDERS = 50
SLICES = 10
HISTORY_FETCHES = 20
"""Histories read at once after the run."""


def schedule_to_start(events: list[HistoryEvent]) -> list[tuple[float, float]]:
    """(scheduled at, seconds until started) of every activity that started, server clock."""
    scheduled: dict[int, float] = {}
    waits: list[tuple[float, float]] = []
    for event in events:
        at = event.event_time.ToNanoseconds() / 1e9
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = at
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            scheduled_id = event.activity_task_started_event_attributes.scheduled_event_id
            if scheduled_id in scheduled:
                waits.append((scheduled[scheduled_id], at - scheduled[scheduled_id]))
    return waits


def timeouts(events: list[HistoryEvent]) -> dict[str, int]:
    """Activities and workflow tasks that timed out, by kind (a workflow task left on a
    worker's sticky queue too long times out ``SCHEDULE_TO_START`` and is rescheduled, with
    the history replayed)."""
    found: dict[str, int] = {}
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
            kind = "activity"
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
            timeout = event.workflow_task_timed_out_event_attributes.timeout_type
            kind = f"workflow_task_{TimeoutType.Name(timeout).removeprefix('TIMEOUT_TYPE_')}"
        else:
            continue
        found[kind.lower()] = found.get(kind.lower(), 0) + 1
    return found


def drain_curve(waits: list[tuple[float, float]], slices: int = SLICES) -> list[dict[str, Any]]:
    """Schedule-to-start latency in ``slices`` equal slices of time, from the first activity
    scheduled to the last."""
    if not waits:
        return []
    first = min(at for at, _ in waits)
    span = max(at for at, _ in waits) - first or 1.0
    curve = []
    for index in range(slices):
        low, high = first + span * index / slices, first + span * (index + 1) / slices
        last = index == slices - 1
        inside = [wait for at, wait in waits if low <= at < high or (last and at == high)]
        curve.append(
            {
                "from_s": round(low - first, 1),
                "activities": len(inside),
                "p50_ms": round(percentile(inside, 50) * 1000, 1) if inside else None,
                "max_ms": round(max(inside) * 1000, 1) if inside else None,
            }
        )
    return curve


async def _backlog_run(
    work_dir: Path, config: ServerConfig, prs_count: int, workers: int, timeout: float
) -> dict[str, Any]:
    stack = BenchStack(work_dir / f"backlog-{workers}-{uuid.uuid4().hex[:6]}", config)
    async with stack:
        if workers > 1:
            await stack.start_worker("instant", count=workers)
        driver = Driver(stack)
        try:
            prs = [await driver.seed_demo() for _ in range(prs_count)]
            deliveries = [driver.sign(pr.payload) for pr in prs]

            async def post(delivery: Any) -> str:
                code, _ = await driver.deliver(delivery)
                return str(code)

            with ExitStack() as peaks:
                rss = [peaks.enter_context(PeakRss(pid)) for pid in stack.worker_pids]
                started = time.monotonic()
                fired = await _fire(deliveries, SENDERS, post)
                waited = await driver.wait_final([pr.head_sha for pr in prs], timeout)
            finals = waited["statuses"]
            ends = [status["at"] - started for status in finals.values()]
            wall = max(ends) if ends else time.monotonic() - started
            semaphore = asyncio.Semaphore(HISTORY_FETCHES)

            async def history(workflow_id: str) -> list[HistoryEvent]:
                async with semaphore:
                    return await driver.history(workflow_id)

            histories = await asyncio.gather(*(history(pr.ref.workflow_id) for pr in prs))
        finally:
            await driver.aclose()
    waits = [wait for events in histories for wait in schedule_to_start(events)]
    states: dict[str, int] = {}
    for status in finals.values():
        states[status["state"]] = states.get(status["state"], 0) + 1
    timed_out: dict[str, int] = {}
    for events in histories:
        for kind, count in timeouts(events).items():
            timed_out[kind] = timed_out.get(kind, 0) + count
    return {
        "workers": workers,
        "pull_requests": prs_count,
        "accepted": fired["outcomes"].get("202", 0),
        "completed": len(finals),
        "missing": len(waited["missing"]),
        "final_states": states,
        "timed_out": timed_out,
        "activities_timed_out": timed_out.get("activity", 0),
        "wall_s": round(wall, 1),
        "reviews_per_s": round(len(finals) / wall, 2) if wall else None,
        "deliveries_per_s": round(fired["per_s"], 1),
        "worker_peak_rss_mib": [peak.mib for peak in rss],
        "schedule_to_start_p50_ms": round(percentile([w for _, w in waits], 50) * 1000, 1)
        if waits
        else None,
        "schedule_to_start_max_ms": round(max(w for _, w in waits) * 1000, 1) if waits else None,
        "drain": drain_curve(waits),
    }


async def measure_backlog(work_dir: Path, config: ServerConfig, counts: Counts) -> dict[str, Any]:
    runs = []
    for workers in counts.backlog_workers:
        run = await _backlog_run(
            work_dir, config, counts.backlog_prs, workers, counts.backlog_timeout
        )
        log.info(
            "backlog of %d with %d worker(s): %.1f s, %s reviews/s, peak RSS %s MiB",
            run["pull_requests"],
            workers,
            run["wall_s"],
            run["reviews_per_s"],
            run["worker_peak_rss_mib"],
        )
        if run["missing"]:
            raise BenchError(f"{run['missing']} reviews of the backlog never completed")
        runs.append(run)
    one = runs[0]["reviews_per_s"] or 0.0
    for run in runs:
        run["speedup"] = ratio(run["reviews_per_s"] or 0.0, one)
    return {"runs": runs}
