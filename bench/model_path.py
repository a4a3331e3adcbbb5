"""The model's part of a review: wall time against the critical path, tokens and cost.

A stack of its own runs real Claude specialists (``bench.agents.LlmAgents``) against the local
Messages API, which answers after a delay in proportion to the tokens
(``prsaga.local.llm_fake.latency``); the offline reviewer stays instant. Each pull request of
the review-quality corpus (``bench/quality/corpus``) is seeded at the local GitHub and reviewed
end to end, one at a time, from the signed delivery to the final commit status.

The critical path of a review is its longest chain of dependent model calls: every specialist
chunk is one call (the local reviewer always answers validly), and the chunks run in parallel,
so it is the slowest call's delay. ``scheduled_bound_s`` also honours the workflow's per-PR
limit of parallel Claude calls (list scheduling in the workflow's order): a review with more
chunks than the limit cannot be faster than that.

Incremental reviews: for the first few pull requests, a push that changes one file follows the
first review; the second review must send that file only.
"""

from __future__ import annotations

import copy
import json
import logging
import statistics
import uuid
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from bench.driver import Driver, SeededPullRequest
from bench.measures import BenchError, Counts, review_one
from bench.quality.corpus import CorpusPullRequest, load_corpus
from bench.stack import BenchStack, ServerConfig
from bench.stats import ratio
from prsaga.adapters.llm.prices import estimate_cost_usd
from prsaga.local.llm_fake import Latency
from prsaga.schema import TokenUsage

log = logging.getLogger("bench")


def claude_reports(events: list[HistoryEvent]) -> list[dict[str, Any]]:
    """The results of a history's ``claude_review`` activities, in scheduling order."""
    names: dict[int, str] = {}
    order: dict[int, int] = {}
    found: dict[int, dict[str, Any]] = {}
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            names[event.event_id] = attributes.activity_type.name
            order[event.event_id] = len(order)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attributes = event.activity_task_completed_event_attributes
            if names.get(attributes.scheduled_event_id) == "claude_review":
                payload = attributes.result.payloads[0]
                found[attributes.scheduled_event_id] = json.loads(payload.data)
    return [found[key] for key in sorted(found, key=order.__getitem__)]


def scheduled_bound(delays: list[float], lanes: int) -> float:
    """The fastest the calls can finish, started in order on ``lanes`` parallel slots."""
    finish = [0.0] * max(1, lanes)
    for delay in delays:
        slot = finish.index(min(finish))
        finish[slot] += delay
    return max(finish, default=0.0)


def _usage(report: dict[str, Any]) -> TokenUsage:
    return TokenUsage.model_validate(report.get("usage") or {})


def _pull(corpus_pr: CorpusPullRequest, number: int) -> dict[str, Any]:
    return {
        "number": number,
        "title": corpus_pr.title,
        "body": "",
        "user": {"login": corpus_pr.author},
        "head": {"sha": corpus_pr.head_sha, "ref": f"corpus-{number}"},
        "base": {"sha": corpus_pr.base_sha, "ref": "main", "repo": {"full_name": corpus_pr.repo}},
    }


async def _seed(driver: Driver, corpus_pr: CorpusPullRequest, number: int) -> SeededPullRequest:
    files = [f.model_dump(exclude_none=True) for f in corpus_pr.files]
    seeded = await driver._seed(
        _pull(corpus_pr, number), files, corpus_pr.head_contents, corpus_pr.base_contents
    )
    return driver._seeded(seeded, files)


def _review_figures(
    reports: list[dict[str, Any]], latency: Latency, lanes: int, wall_s: float
) -> dict[str, Any]:
    usages = [_usage(report) for report in reports]
    delays = [latency.seconds(usage.model_dump()) for usage in usages]
    total = sum(usages, TokenUsage())
    critical = max(delays, default=0.0)
    bound = scheduled_bound(delays, lanes)
    prompt = total.input_tokens + total.cache_creation_input_tokens + total.cache_read_input_tokens
    return {
        "calls": len(reports),
        "wall_s": round(wall_s, 3),
        "critical_path_s": round(critical, 3),
        "scheduled_bound_s": round(bound, 3),
        "wall_over_critical": ratio(wall_s, critical) if critical else None,
        "wall_over_scheduled": ratio(wall_s, bound) if bound else None,
        "input_tokens": prompt,
        "output_tokens": total.output_tokens,
        "cache_read_tokens": total.cache_read_input_tokens,
        "cost_usd": round(sum(float(r.get("cost_usd") or 0.0) for r in reports), 6),
        "paths_sent": sorted({path for report in reports for path in report.get("paths", [])}),
    }


async def _incremental(
    driver: Driver, pr: SeededPullRequest, corpus_pr: CorpusPullRequest, timeout: float
) -> dict[str, Any] | None:
    """Push a one-line change to one file of the pull request and review it again."""
    candidates = [f.filename for f in corpus_pr.files if f.filename in corpus_pr.head_contents]
    if not candidates:
        return None
    path = min(candidates, key=lambda name: (not name.endswith(".py"), name))
    content = corpus_pr.head_contents[path].rstrip("\n") + "\n# bench: one more line\n"
    response = await driver.http.post(
        f"{driver.stack.github_url}/_fake/pulls/{pr.ref.owner}/{pr.ref.repo}/{pr.ref.number}/push",
        json={"contents": {path: content}},
    )
    response.raise_for_status()
    new_head = response.json()["sha"]
    payload = copy.deepcopy(pr.payload)
    payload["action"] = "synchronize"
    payload["pull_request"]["head"]["sha"] = new_head
    pushed = SeededPullRequest(pr.ref, new_head, payload, pr.files, pr.changed_lines)
    review = await review_one(driver, pushed, timeout)
    return {"pushed": path, "wall_s": review.end_to_end}


async def measure_model(work_dir: Path, config: ServerConfig, counts: Counts) -> dict[str, Any]:
    # Sonnet-class pace (Latency's defaults). A scale below 1 runs faster but shrinks only the
    # model's time, not prsaga's, so it inflates wall / critical path: keep 1 for the figure.
    latency_spec = counts.model_latency
    latency = Latency.parse(latency_spec)
    corpus = load_corpus()[: counts.model_prs]
    reviews: list[dict[str, Any]] = []
    incremental: list[dict[str, Any]] = []
    stack = BenchStack(
        work_dir / f"model-{uuid.uuid4().hex[:6]}", config, agents="llm", llm_latency=latency_spec
    )
    async with stack:
        driver = Driver(stack)
        lanes = stack.settings.llm_max_parallel_batches
        model = stack.settings.anthropic_model
        try:
            for index, corpus_pr in enumerate(corpus):
                pr = await _seed(driver, corpus_pr, 5000 + index)
                review = await review_one(driver, pr, counts.review_timeout)
                events = await driver.history(pr.ref.workflow_id)
                reports = claude_reports(events)
                figures = _review_figures(reports, latency, lanes, review.end_to_end)
                figures.update(pr=corpus_pr.key, changed_lines=pr.changed_lines)
                reviews.append(figures)
                log.info(
                    "model %s: %.2f s wall, %.2f s critical path",
                    corpus_pr.key,
                    figures["wall_s"],
                    figures["critical_path_s"],
                )
                if index < counts.model_incremental and figures["calls"]:
                    again = await _incremental(driver, pr, corpus_pr, counts.review_timeout)
                    if again is not None:
                        later = claude_reports(await driver.history(pr.ref.workflow_id))
                        second = later[len(reports) :]
                        sent = _review_figures(second, latency, lanes, again["wall_s"])
                        pushed_only = sent["paths_sent"] in ([], [again["pushed"]])
                        incremental.append(
                            {
                                "pr": corpus_pr.key,
                                "pushed": again["pushed"],
                                "paths_sent": sent["paths_sent"],
                                "only_the_pushed_file": pushed_only,
                                "input_tokens": sent["input_tokens"],
                                "first_review_input_tokens": figures["input_tokens"],
                            }
                        )
        finally:
            await driver.aclose()
    if not reviews:
        raise BenchError("the model measure reviewed nothing")
    return _summary(reviews, incremental, latency_spec, model)


def _summary(
    reviews: list[dict[str, Any]],
    incremental: list[dict[str, Any]],
    latency_spec: str,
    model: str,
) -> dict[str, Any]:
    with_calls = [r for r in reviews if r["calls"]]
    ratios = [r["wall_over_critical"] for r in with_calls if r["wall_over_critical"]]
    scheduled = [r["wall_over_scheduled"] for r in with_calls if r["wall_over_scheduled"]]
    prompt = sum(r["input_tokens"] for r in reviews)
    output = sum(r["output_tokens"] for r in reviews)
    cached = sum(r["cache_read_tokens"] for r in reviews)
    cost = sum(r["cost_usd"] for r in reviews)
    lines = sum(r["changed_lines"] for r in reviews)
    return {
        "latency": latency_spec,
        "model": model,
        "reviews": len(reviews),
        "reviews_with_model_calls": len(with_calls),
        "wall_over_critical_p50": round(statistics.median(ratios), 3) if ratios else None,
        "wall_over_critical_max": round(max(ratios), 3) if ratios else None,
        "wall_over_scheduled_p50": round(statistics.median(scheduled), 3) if scheduled else None,
        "wall_s_p50": round(statistics.median(r["wall_s"] for r in with_calls), 3)
        if with_calls
        else None,
        "critical_path_s_p50": round(statistics.median(r["critical_path_s"] for r in with_calls), 3)
        if with_calls
        else None,
        "input_tokens_per_review": round(prompt / len(reviews)),
        "output_tokens_per_review": round(output / len(reviews)),
        "cache_read_share": round(cached / prompt, 3) if prompt else None,
        "cost_usd_per_review": round(cost / len(reviews), 5),
        "cost_usd_per_changed_line": round(cost / lines, 7) if lines else None,
        "cost_usd_per_million_input_tokens": estimate_cost_usd(
            "anthropic", model, TokenUsage(input_tokens=1_000_000)
        ),
        "changed_lines": lines,
        "incremental": incremental,
        "detail": reviews,
    }
