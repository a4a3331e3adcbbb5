"""The goals and tables of issue #16 (CPU per review and delivery, memory, backpressure, the
model's critical path): appended to ``bench.report``'s goals and page."""

from __future__ import annotations

from typing import Any

from bench.report import GOAL_FILES, _at_goal_size, _get, _goal, _table

THROUGHPUT_GOAL = 1.10
DISTINCT_VS_RAW_GOAL = 0.90
REPEATED_VS_RAW_GOAL = 0.95
ACK_P99_VS_RAW_GOAL = 1.2
RSS_GOAL_MIB = 300.0
CRITICAL_PATH_GOAL = 1.15


def _ack_p99_ratio(results: dict[str, Any], scenario: str) -> float | None:
    webhook = _get(results, "burst", scenario, "webhook", "latency", "p99_ms")
    raw = _get(results, "burst", scenario, "raw", "latency", "p99_ms")
    return round(webhook / raw, 3) if webhook and raw else None


def perf_goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    below = lambda limit: lambda v: v <= limit  # noqa: E731
    at_least = lambda limit: lambda v: v >= limit  # noqa: E731
    runs = _get(results, "backlog", "runs") or []
    return [
        _goal(
            "#16 throughput, bare / prsaga",
            f"<= {THROUGHPUT_GOAL}",
            _get(results, "overhead", "ratios", "throughput"),
            below(THROUGHPUT_GOAL),
        ),
        _goal(
            "#16 burst (distinct): webhook / raw deliveries per s",
            f">= {DISTINCT_VS_RAW_GOAL}",
            _get(results, "burst", "distinct", "throughput_vs_raw"),
            at_least(DISTINCT_VS_RAW_GOAL),
        ),
        _goal(
            "#16 burst (repeated): webhook / raw deliveries per s",
            f">= {REPEATED_VS_RAW_GOAL}",
            _get(results, "burst", "repeated", "throughput_vs_raw"),
            at_least(REPEATED_VS_RAW_GOAL),
        ),
        _goal(
            "#16 burst (distinct): webhook ack p99 / raw p99",
            f"<= {ACK_P99_VS_RAW_GOAL}",
            _ack_p99_ratio(results, "distinct"),
            below(ACK_P99_VS_RAW_GOAL),
        ),
        _goal(
            f"#16 scale ({GOAL_FILES} files, after smaller ones): worker peak RSS (MiB)",
            f"< {RSS_GOAL_MIB:g}",
            _at_goal_size(results).get("worker_peak_rss_mib"),
            lambda v: v < RSS_GOAL_MIB,
        ),
        _goal(
            "#16 backlog: reviews not completed",
            "0",
            sum(run["missing"] for run in runs) if runs else None,
            lambda v: v == 0,
        ),
        _goal(
            "#16 backlog: activities timed out",
            "0",
            sum(run["activities_timed_out"] for run in runs) if runs else None,
            lambda v: v == 0,
        ),
        _goal(
            "#16 model: review wall / critical path (p50)",
            f"<= {CRITICAL_PATH_GOAL}",
            _get(results, "model", "wall_over_critical_p50"),
            below(CRITICAL_PATH_GOAL),
        ),
    ]


def perf_sections(results: dict[str, Any]) -> list[str]:
    out: list[str] = []
    backlog = results.get("backlog")
    if backlog:
        runs = backlog["runs"]
        out += [f"## Backlog ({runs[0]['pull_requests']:,} pull requests opened at once)", ""]
        out += _table(
            [
                "workers",
                "completed",
                "timed out",
                "wall (s)",
                "reviews/s",
                "speed-up",
                "schedule-to-start p50 (ms)",
                "max (ms)",
                "peak RSS per worker (MiB)",
            ],
            [
                [
                    run["workers"],
                    run["completed"],
                    ", ".join(f"{n} {kind}" for kind, n in run["timed_out"].items()) or "0",
                    run["wall_s"],
                    run["reviews_per_s"],
                    run["speedup"],
                    run["schedule_to_start_p50_ms"],
                    run["schedule_to_start_max_ms"],
                    ", ".join(str(mib) for mib in run["worker_peak_rss_mib"]),
                ]
                for run in runs
            ],
        )
        first = runs[0]
        out += [
            f"How the backlog drained with {first['workers']} worker(s): schedule-to-start "
            "latency of the activities scheduled in each tenth of the run.",
            "",
        ]
        out += _table(
            ["from (s)", "activities", "p50 (ms)", "max (ms)"],
            [[s["from_s"], s["activities"], s["p50_ms"], s["max_ms"]] for s in first["drain"]],
        )
    model = results.get("model")
    if model:
        out += [
            f"## The model's critical path and cost ({model['reviews']} corpus pull requests, "
            f"latency {model['latency']}, {model['model']})",
            "",
        ]
        out += _table(
            ["figure", "value"],
            [
                ["reviews with model calls", model["reviews_with_model_calls"]],
                ["wall / critical path, p50", model["wall_over_critical_p50"]],
                ["wall / critical path, max", model["wall_over_critical_max"]],
                ["wall / parallel-limit bound, p50", model["wall_over_scheduled_p50"]],
                ["wall p50 (s)", model["wall_s_p50"]],
                ["critical path p50 (s)", model["critical_path_s_p50"]],
                ["input tokens per review", model["input_tokens_per_review"]],
                ["output tokens per review", model["output_tokens_per_review"]],
                ["prompt-cache share of input tokens", model["cache_read_share"]],
                ["estimated cost per review (USD)", model["cost_usd_per_review"]],
                [
                    "estimated cost per 1,000 changed lines (USD)",
                    round(model["cost_usd_per_changed_line"] * 1000, 3)
                    if model["cost_usd_per_changed_line"] is not None
                    else None,
                ],
            ],
        )
        if model["incremental"]:
            out += ["Incremental reviews (a push changing one file after the first review):", ""]
            out += _table(
                ["pull request", "pushed", "sent", "only the pushed file", "input tokens"],
                [
                    [
                        item["pr"],
                        item["pushed"],
                        ", ".join(item["paths_sent"]) or "(nothing)",
                        item["only_the_pushed_file"],
                        item["input_tokens"],
                    ]
                    for item in model["incremental"]
                ],
            )
    return out
