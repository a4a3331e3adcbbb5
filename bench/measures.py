"""The measures: orchestration overhead, webhook burst, scale, and the dev server's pragmas.

Each returns a JSON-ready dict. Durations are measured on the machine's monotonic clock, shared
by the bench, the worker and the local GitHub, from the moment a delivery (or a baseline start)
is sent to the moment the local GitHub stores the review's final commit status (or the
baseline's last activity runs), so both sides end after the same number of activities.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bench.bare import BareShape
from bench.driver import Delivery, Driver, SeededPullRequest
from bench.history import activity_counts, history_cost, timeline
from bench.memory import PeakRss
from bench.stack import SERVER_CONFIGS, BenchStack
from bench.stats import linear_fit, ratio, summary_ms
from prsaga.schema import PullRequestEvent
from starter.github_events import Routed, parse_delivery, route
from starter.temporal import signal_pull_request

log = logging.getLogger("bench")
T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")

BURST_ACTIONS = ("opened", "synchronize", "reopened", "ready_for_review", "synchronize")
"""Handled actions a pull request's deliveries cycle through; all name the same head, so each
pull request must get exactly one review however many deliveries arrive."""


class BenchError(RuntimeError):
    """The system under test did not do what it must (a review missing, a delivery refused)."""


@dataclass(frozen=True)
class Counts:
    """How much each measure does (``FULL`` or ``QUICK``)."""

    warmup: int
    latency_runs: int
    batch: int
    rounds: int
    burst_prs: int
    burst_per_pr: int
    burst_repeat: int
    burst_concurrency: int
    burst_rounds: int
    scale_sizes: tuple[tuple[int, int], ...]
    """(files, changed lines) of each synthetic pull request."""
    scale_repeats: int
    real_offline_sizes: tuple[tuple[int, int], ...]
    pragma_configs: tuple[str, ...]
    pragma_latency_runs: int
    pragma_batch: int
    pragma_rounds: int
    review_timeout: float
    scale_timeout: float
    model_prs: int = 55
    """Pull requests of the review-quality corpus the model measure reviews."""
    model_incremental: int = 5
    """Of those, how many get a push and an incremental review."""
    model_latency: str = "default"
    """The local Messages API's pace (``prsaga.local.llm_fake.Latency.parse``)."""
    backlog_prs: int = 1000
    """Pull requests opened at once in the backpressure measure."""
    backlog_workers: tuple[int, ...] = (1, 2, 4)
    """Worker processes of each backlog run (the first also measures the worker's RSS)."""
    backlog_timeout: float = 1800.0


FULL = Counts(
    warmup=3,
    latency_runs=30,
    batch=40,
    rounds=3,
    burst_prs=100,
    burst_per_pr=5,
    burst_repeat=5,
    burst_concurrency=50,
    burst_rounds=3,
    scale_sizes=((10, 333), (100, 3_333), (1_000, 33_333), (3_000, 100_000)),
    scale_repeats=3,
    real_offline_sizes=((10, 333), (100, 3_333)),
    pragma_configs=("default", "wal-normal", "wal-off"),
    pragma_latency_runs=10,
    pragma_batch=40,
    pragma_rounds=3,
    review_timeout=300.0,
    scale_timeout=1800.0,
)
QUICK = Counts(
    warmup=1,
    latency_runs=3,
    batch=4,
    rounds=1,
    burst_prs=6,
    burst_per_pr=5,
    burst_repeat=3,
    burst_concurrency=10,
    burst_rounds=1,
    scale_sizes=((10, 333), (100, 3_333)),
    scale_repeats=1,
    real_offline_sizes=(),
    pragma_configs=("default", "wal-off"),
    pragma_latency_runs=1,
    pragma_batch=4,
    pragma_rounds=1,
    review_timeout=60.0,
    scale_timeout=60.0,
    model_prs=2,
    model_incremental=1,
    model_latency="scale=0.05",
    backlog_prs=12,
    backlog_workers=(1, 2),
    backlog_timeout=120.0,
)


# -- one review, one baseline run --------------------------------------------------------------


@dataclass(frozen=True)
class Review:
    ack: float
    end_to_end: float
    review_posted: float | None
    final_state: str


async def review_one(driver: Driver, pr: SeededPullRequest, timeout: float) -> Review:
    """Deliver ``pr``'s ``opened`` webhook and wait for its final commit status."""
    delivery = driver.sign(pr.payload)
    started = time.monotonic()
    code, ack = await driver.deliver(delivery)
    if code != 202:
        raise BenchError(f"the webhook server answered {code} for {pr.key}")
    waited = await driver.wait_final([pr.head_sha], timeout)
    if waited["missing"]:
        raise BenchError(f"no final commit status on {pr.key} within {timeout:.0f} s")
    status = waited["statuses"][pr.head_sha]
    posted = (await driver.review_times({pr.key})).get(pr.key)
    return Review(
        ack=ack,
        end_to_end=status["at"] - started,
        review_posted=None if posted is None else posted - started,
        final_state=status["state"],
    )


def shape_of(counts: dict[str, int], claude_parallelism: int) -> BareShape:
    """The baseline with the same activities as a review's history: the agents in parallel,
    publish and the final status after them, everything else before."""
    offline = counts.get("offline_review", 0)
    claude = counts.get("claude_review", 0)
    after = counts.get("publish_review", 0) + max(0, counts.get("set_commit_status", 0) - 1)
    before = sum(counts.values()) - offline - claude - after
    return BareShape(
        before=before,
        offline=offline,
        claude=claude,
        claude_parallelism=claude_parallelism,
        after=after,
    )


# -- 1. orchestration overhead -----------------------------------------------------------------


async def _prsaga_batch(driver: Driver, size: int, timeout: float) -> dict[str, Any]:
    prs = [await driver.seed_demo() for _ in range(size)]
    deliveries = [driver.sign(pr.payload) for pr in prs]
    started = time.monotonic()
    answers = await asyncio.gather(*(driver.deliver(d) for d in deliveries))
    refused = [code for code, _ in answers if code != 202]
    if refused:
        raise BenchError(f"the webhook server refused {len(refused)} deliveries: {refused[:5]}")
    waited = await driver.wait_final([pr.head_sha for pr in prs], timeout)
    if waited["missing"]:
        raise BenchError(f"{len(waited['missing'])} reviews missing after {timeout:.0f} s")
    ends = [waited["statuses"][pr.head_sha]["at"] for pr in prs]
    wall = max(ends) - started
    return {"per_s": size / wall, "end_to_end": [end - started for end in ends]}


async def _bare_batch(driver: Driver, shape: BareShape, size: int) -> dict[str, Any]:
    started = time.monotonic()
    runs = await asyncio.gather(*(driver.run_bare(shape) for _ in range(size)))
    wall = max(run.finished for run in runs) - started
    return {"per_s": size / wall, "end_to_end": [run.finished - started for run in runs]}


async def _alternate(
    first: Callable[[], Awaitable[A]], second: Callable[[], Awaitable[B]], index: int
) -> tuple[A, B]:
    """Run both, one after the other, the order alternating with ``index`` (so that neither
    side always runs on a warmer or a busier system)."""
    if index % 2 == 0:
        a = await first()
        b = await second()
    else:
        b = await second()
        a = await first()
    return a, b


async def compare(
    driver: Driver, counts: Counts, latency_runs: int, batch: int, rounds: int
) -> dict[str, Any]:
    """prsaga against the baseline on the same stack, interleaved: sequential latency, then
    batches fired at once for throughput."""
    timeout = counts.review_timeout
    claude_parallelism = driver.stack.settings.llm_max_parallel_batches
    for _ in range(counts.warmup):
        await review_one(driver, await driver.seed_demo(), timeout)
    probe = await driver.seed_demo()
    await review_one(driver, probe, timeout)
    events = await driver.history(probe.ref.workflow_id)
    shape = shape_of(activity_counts(events), claude_parallelism)
    for _ in range(counts.warmup):
        await driver.run_bare(shape)
    log.info("warm; the baseline runs %s", shape)

    reviews: list[Review] = []
    bare_runs = []
    for index in range(latency_runs):
        pr = await driver.seed_demo()
        review, bare = await _alternate(
            functools.partial(review_one, driver, pr, timeout),
            functools.partial(driver.run_bare, shape),
            index,
        )
        reviews.append(review)
        bare_runs.append(bare)

    prsaga_batches: list[dict[str, Any]] = []
    bare_batches: list[dict[str, Any]] = []
    for index in range(rounds):
        prsaga_batch, bare_batch = await _alternate(
            functools.partial(_prsaga_batch, driver, batch, timeout),
            functools.partial(_bare_batch, driver, shape, batch),
            index,
        )
        prsaga_batches.append(prsaga_batch)
        bare_batches.append(bare_batch)

    prsaga_latency = summary_ms([r.end_to_end for r in reviews])
    bare_latency = summary_ms([r.end_to_end for r in bare_runs])
    prsaga_per_s = statistics.median(b["per_s"] for b in prsaga_batches)
    bare_per_s = statistics.median(b["per_s"] for b in bare_batches)
    return {
        "shape": {**shape.model_dump(), "activities": shape.activities},
        "activities_per_review": activity_counts(events),
        "prsaga": {
            "end_to_end": prsaga_latency,
            "review_posted": summary_ms([r.review_posted for r in reviews if r.review_posted]),
            "ack": summary_ms([r.ack for r in reviews]),
            "final_states": dict(Counter(r.final_state for r in reviews)),
            "throughput_per_s": round(prsaga_per_s, 2),
            "throughput_rounds": [round(b["per_s"], 2) for b in prsaga_batches],
            "end_to_end_under_load": summary_ms(
                [t for b in prsaga_batches for t in b["end_to_end"]]
            ),
        },
        "bare": {
            "end_to_end": bare_latency,
            "ack": summary_ms([r.ack for r in bare_runs]),
            "throughput_per_s": round(bare_per_s, 2),
            "throughput_rounds": [round(b["per_s"], 2) for b in bare_batches],
            "end_to_end_under_load": summary_ms([t for b in bare_batches for t in b["end_to_end"]]),
        },
        "ratios": {
            "p50": ratio(prsaga_latency["p50_ms"], bare_latency["p50_ms"]),
            "p95": ratio(prsaga_latency["p95_ms"], bare_latency["p95_ms"]),
            # Inverted, so that every ratio reads "times the baseline's cost" (goal <= 1.15).
            "throughput": ratio(bare_per_s, prsaga_per_s),
        },
        "batch": batch,
        "rounds": rounds,
        "timeline": timeline(events),
    }


async def measure_overhead(driver: Driver, counts: Counts) -> dict[str, Any]:
    return await compare(driver, counts, counts.latency_runs, counts.batch, counts.rounds)


# -- 2. webhook burst --------------------------------------------------------------------------


async def _fire(
    items: Sequence[T], concurrency: int, send: Callable[[T], Awaitable[str]]
) -> dict[str, Any]:
    """Send every item with ``concurrency`` senders: each one's latency, outcomes, wall time."""
    queue: asyncio.Queue[T] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()

    async def sender() -> None:
        while not queue.empty():
            item = queue.get_nowait()
            started = time.monotonic()
            try:
                outcome = await send(item)
            except Exception as err:  # counted, not fatal: a refused delivery is a result
                outcome = type(err).__name__
            latencies.append(time.monotonic() - started)
            outcomes[outcome] += 1

    started = time.monotonic()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    wall = time.monotonic() - started
    return {
        "sent": len(items),
        "wall_s": wall,
        "per_s": len(items) / wall,
        "latencies": latencies,
        "outcomes": outcomes,
    }


def burst_deliveries(
    driver: Driver, prs: list[SeededPullRequest], per_pr: int, repeat: int, seed: int
) -> list[Delivery]:
    """``per_pr`` distinct deliveries per pull request, each sent ``repeat`` times (a
    redelivery keeps its delivery id), shuffled as they would arrive from many pull requests."""
    distinct = [
        driver.sign({**pr.payload, "action": BURST_ACTIONS[i % len(BURST_ACTIONS)]})
        for pr in prs
        for i in range(per_pr)
    ]
    deliveries = [d for d in distinct for _ in range(repeat)]
    random.Random(seed).shuffle(deliveries)
    return deliveries


async def _burst(
    driver: Driver, counts: Counts, *, raw: bool, repeat: int, seed: int
) -> dict[str, Any]:
    prs = [await driver.seed_demo() for _ in range(counts.burst_prs)]
    deliveries = burst_deliveries(driver, prs, counts.burst_per_pr, repeat, seed)
    settings = driver.stack.settings
    started = time.monotonic()
    if raw:
        # The same signal-with-start the webhook server makes, from this one client.
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
        routed = [route(parse_delivery(d.headers, d.body, secret)) for d in deliveries]
        events = [r for r in routed if isinstance(r, Routed)]

        async def submit(item: Routed) -> str:
            assert isinstance(item.event, PullRequestEvent)
            await signal_pull_request(driver.client, settings, item.pr, item.event)
            return "ok"

        fired = await _fire(events, counts.burst_concurrency, submit)
    else:

        async def post(delivery: Delivery) -> str:
            code, _ = await driver.deliver(delivery)
            return str(code)

        fired = await _fire(deliveries, counts.burst_concurrency, post)
    settled = await driver.settle([pr.ref for pr in prs], counts.review_timeout)
    waited = await driver.wait_final([pr.head_sha for pr in prs], counts.review_timeout)
    finals = waited["statuses"].values()
    reviews = await driver.review_counts()
    per_pr = [reviews.get(pr.key, 0) for pr in prs]
    return {
        **fired,
        "path": "signal-with-start" if raw else "webhook",
        "pull_requests": len(prs),
        "repeat": repeat,
        "settled": settled,
        "reviews": sum(per_pr),
        "lost": sum(1 for n in per_pr if n == 0),
        "duplicates": sum(n - 1 for n in per_pr if n > 1),
        "all_reviewed_s": round(max(s["at"] for s in finals) - started, 2) if finals else None,
    }


def _pooled(runs: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    """Rounds of one burst path: rates by median, latencies pooled, reviews summed."""
    outcomes: Counter[str] = Counter()
    for run in runs:
        outcomes.update(run["outcomes"])
    reviewed = [run["all_reviewed_s"] for run in runs if run["all_reviewed_s"] is not None]
    return {
        "path": runs[0]["path"],
        "rounds": len(runs),
        "concurrency": concurrency,
        "repeat": runs[0]["repeat"],
        "sent": sum(run["sent"] for run in runs),
        "per_s": round(statistics.median(run["per_s"] for run in runs), 1),
        "per_s_rounds": [round(run["per_s"], 1) for run in runs],
        "latency": summary_ms([t for run in runs for t in run["latencies"]]),
        "outcomes": dict(outcomes),
        "pull_requests": sum(run["pull_requests"] for run in runs),
        "settled": sum(run["settled"] for run in runs),
        "reviews": sum(run["reviews"] for run in runs),
        "lost": sum(run["lost"] for run in runs),
        "duplicates": sum(run["duplicates"] for run in runs),
        "all_reviewed_s": round(statistics.median(reviewed), 2) if reviewed else None,
    }


async def measure_burst(driver: Driver, counts: Counts) -> dict[str, Any]:
    """Distinct deliveries, then every delivery repeated; each through the webhook server and
    as raw signal-with-start calls from one client, alternating, ``burst_rounds`` times."""
    results: dict[str, Any] = {}
    for name, repeat in (("distinct", 1), ("repeated", counts.burst_repeat)):
        raws: list[dict[str, Any]] = []
        webhooks: list[dict[str, Any]] = []
        for index in range(counts.burst_rounds):
            raw, webhook = await _alternate(
                functools.partial(_burst, driver, counts, raw=True, repeat=repeat, seed=index),
                functools.partial(_burst, driver, counts, raw=False, repeat=repeat, seed=index),
                index,
            )
            raws.append(raw)
            webhooks.append(webhook)
        pooled_raw = _pooled(raws, counts.burst_concurrency)
        pooled_webhook = _pooled(webhooks, counts.burst_concurrency)
        results[name] = {
            "webhook": pooled_webhook,
            "raw": pooled_raw,
            "throughput_vs_raw": ratio(pooled_webhook["per_s"], pooled_raw["per_s"]),
        }
    return results


# -- 3. scale ----------------------------------------------------------------------------------


async def _scale_run(driver: Driver, files: int, lines: int, timeout: float) -> dict[str, Any]:
    seeding = time.monotonic()
    pr = await driver.seed_synthetic(files, lines)
    seeded_s = time.monotonic() - seeding
    with PeakRss(driver.stack.worker_pid) as rss:
        review = await review_one(driver, pr, timeout)
    events = await driver.history(pr.ref.workflow_id)
    return {
        "files": pr.files,
        "changed_lines": pr.changed_lines,
        "seed_s": round(seeded_s, 2),
        "wall_s": round(review.end_to_end, 3),
        "review_posted_s": None if review.review_posted is None else round(review.review_posted, 3),
        "final_state": review.final_state,
        "worker_rss_before_mib": rss.baseline_mib,
        "worker_peak_rss_mib": rss.mib,
        "history": history_cost(events),
        "activities": activity_counts(events),
        "timeline": timeline(events),
    }


def _scale_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    walls = [run["wall_s"] for run in runs]
    last = runs[-1]
    wall = statistics.median(walls)
    return {
        "files": last["files"],
        "changed_lines": last["changed_lines"],
        "runs": len(runs),
        "wall_s": round(wall, 3),
        "wall_s_all": walls,
        "ms_per_1k_lines": round(wall * 1000 / (last["changed_lines"] / 1000), 1),
        "worker_peak_rss_mib": max((run["worker_peak_rss_mib"] or 0) for run in runs) or None,
        # The peak includes what earlier reviews left cached; the growth is this review's own.
        "worker_rss_growth_mib": max(
            round((run["worker_peak_rss_mib"] or 0) - (run["worker_rss_before_mib"] or 0), 1)
            for run in runs
        ),
        "largest_payload_bytes": max(run["history"]["largest_payload_bytes"] for run in runs),
        "largest_payload_event": last["history"]["largest_payload_event"],
        "history_events": max(run["history"]["events"] for run in runs),
        "history_bytes": max(run["history"]["bytes"] for run in runs),
        "activities": last["activities"],
        "detail": runs,
    }


def growth(sizes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """How wall time grows with changed lines: a straight-line fit, and the cost per changed
    line beyond the smallest pull request's (its time is the fixed cost) at each larger size;
    ``per_line_growth`` compares the largest size's with the size before (1.0: linear)."""
    if len(sizes) < 2:
        return None
    xs = [float(s["changed_lines"]) for s in sizes]
    ys = [float(s["wall_s"]) for s in sizes]
    fit = linear_fit(xs, ys)
    per_line = [(ys[i] - ys[0]) / (xs[i] - xs[0]) for i in range(1, len(xs))]
    return {
        "seconds_per_1k_lines": round(fit["slope"] * 1000, 4),
        "fixed_seconds": round(fit["intercept"], 3),
        "r_squared": fit["r_squared"],
        "ms_per_1k_lines_beyond_smallest": [round(m * 1e6, 2) for m in per_line],
        "per_line_growth": ratio(per_line[-1], per_line[-2]) if len(per_line) > 1 else None,
    }


async def measure_scale(
    driver: Driver, sizes: Sequence[tuple[int, int]], repeats: int, timeout: float
) -> dict[str, Any]:
    summaries = []
    for files, lines in sizes:
        runs = []
        for _ in range(repeats):
            runs.append(await _scale_run(driver, files, lines, timeout))
            log.info("scale %d files: %.2f s", files, runs[-1]["wall_s"])
        summaries.append(_scale_summary(runs))
    return {"sizes": summaries, "growth": growth(summaries)}


# -- 5. the dev server's SQLite pragmas -------------------------------------------------------


async def measure_pragmas(work_dir: Path, counts: Counts) -> dict[str, Any]:
    """The overhead comparison, smaller, on a fresh stack per storage configuration."""
    results: dict[str, Any] = {}
    for name in counts.pragma_configs:
        config = SERVER_CONFIGS[name]
        async with BenchStack(work_dir / f"pragmas-{name}-{uuid.uuid4().hex[:6]}", config) as stack:
            driver = Driver(stack)
            try:
                measured = await compare(
                    driver,
                    counts,
                    counts.pragma_latency_runs,
                    counts.pragma_batch,
                    counts.pragma_rounds,
                )
            finally:
                await driver.aclose()
        results[name] = {
            "pragmas": list(config.pragmas),
            "bare_per_s": measured["bare"]["throughput_per_s"],
            "prsaga_per_s": measured["prsaga"]["throughput_per_s"],
            "bare_p50_ms": measured["bare"]["end_to_end"]["p50_ms"],
            "prsaga_p50_ms": measured["prsaga"]["end_to_end"]["p50_ms"],
            "prsaga_p95_ms": measured["prsaga"]["end_to_end"]["p95_ms"],
        }
        log.info("pragmas %s: %s", name, results[name])
    base = results.get("default")
    if base is not None:
        for result in results.values():
            result["bare_speedup"] = ratio(result["bare_per_s"], base["bare_per_s"])
            result["prsaga_speedup"] = ratio(result["prsaga_per_s"], base["prsaga_per_s"])
    return results
