"""The bench's results as JSON and as a markdown page, with each goal met or missed by how much."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OVERHEAD_GOAL = 1.15
ACK_P99_GOAL_MS = 25.0
RAW_THROUGHPUT_GOAL = 0.90
PAYLOAD_GOAL_BYTES = 256 * 1024
HISTORY_EVENTS_GOAL = 5_000
RSS_GOAL_MIB = 400.0
LINEAR_GOAL = 1.25
"""Cost per changed line (beyond the smallest PR's) at the largest size over the size before."""
GOAL_FILES = 3_000


def _goal(
    name: str, target: str, measured: float | None, met: Callable[[float], bool]
) -> dict[str, Any]:
    return {
        "goal": name,
        "target": target,
        "measured": measured,
        "met": None if measured is None else met(measured),
    }


def _get(data: dict[str, Any], *path: str | int) -> Any:
    value: Any = data
    for key in path:
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and isinstance(key, int) and -len(value) <= key < len(value):
            value = value[key]
        else:
            return None
    return value


def _at_goal_size(results: dict[str, Any]) -> dict[str, Any]:
    sizes = _get(results, "scale", "sizes") or []
    return next((s for s in sizes if s["files"] == GOAL_FILES), {})


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every goal of issue #7 with what was measured (``None``: not measured in this run)."""
    top = _at_goal_size(results)
    below = lambda limit: lambda v: v <= limit  # noqa: E731
    items = [
        _goal(
            "overhead: e2e p50 vs bare Temporal",
            f"<= {OVERHEAD_GOAL}",
            _get(results, "overhead", "ratios", "p50"),
            below(OVERHEAD_GOAL),
        ),
        _goal(
            "overhead: e2e p95 vs bare Temporal",
            f"<= {OVERHEAD_GOAL}",
            _get(results, "overhead", "ratios", "p95"),
            below(OVERHEAD_GOAL),
        ),
        _goal(
            "overhead: throughput, bare / prsaga",
            f"<= {OVERHEAD_GOAL}",
            _get(results, "overhead", "ratios", "throughput"),
            below(OVERHEAD_GOAL),
        ),
    ]
    for scenario in ("distinct", "repeated"):
        burst = _get(results, "burst", scenario) or {}
        items += [
            _goal(
                f"burst ({scenario}): webhook ack p99 (ms)",
                f"< {ACK_P99_GOAL_MS:g}",
                _get(burst, "webhook", "latency", "p99_ms"),
                lambda v: v < ACK_P99_GOAL_MS,
            ),
            _goal(
                f"burst ({scenario}): webhook / raw signal-with-start",
                f">= {RAW_THROUGHPUT_GOAL}",
                burst.get("throughput_vs_raw"),
                lambda v: v >= RAW_THROUGHPUT_GOAL,
            ),
            _goal(
                f"burst ({scenario}): lost reviews",
                "0",
                _get(burst, "webhook", "lost"),
                lambda v: v == 0,
            ),
            _goal(
                f"burst ({scenario}): duplicate reviews",
                "0",
                _get(burst, "webhook", "duplicates"),
                lambda v: v == 0,
            ),
        ]
    items += [
        _goal(
            f"scale ({GOAL_FILES} files): largest payload (bytes)",
            f"<= {PAYLOAD_GOAL_BYTES}",
            top.get("largest_payload_bytes"),
            below(PAYLOAD_GOAL_BYTES),
        ),
        _goal(
            f"scale ({GOAL_FILES} files): history events",
            f"< {HISTORY_EVENTS_GOAL}",
            top.get("history_events"),
            lambda v: v < HISTORY_EVENTS_GOAL,
        ),
        _goal(
            f"scale ({GOAL_FILES} files): worker peak RSS (MiB)",
            f"< {RSS_GOAL_MIB:g}",
            top.get("worker_peak_rss_mib"),
            lambda v: v < RSS_GOAL_MIB,
        ),
        _goal(
            "scale: cost per changed line, largest size / the size before",
            f"<= {LINEAR_GOAL}",
            _get(results, "scale", "growth", "per_line_growth") if top else None,
            below(LINEAR_GOAL),
        ),
    ]
    from bench.report_perf import perf_goals  # it builds on this module's helpers

    return items + perf_goals(results)


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        if abs(value) < 10:  # ratios are read against goals like 1.15: 2 or 3 decimals
            text = f"{value:.3f}"
            return text[:-1] if text.endswith("0") else text
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def markdown(results: dict[str, Any]) -> str:
    """The results page: machine, one table per measure, and the goals."""
    machine = results["machine"]
    dirty = " with uncommitted changes" if machine.get("uncommitted_changes") else ""
    out = [
        f"# prsaga benchmark ({results['mode']} run, {results['finished_at']})",
        "",
        f"Machine: {machine['cores']} cores, {machine['cpu_model']}, {machine['memory_gib']} GiB "
        f"RAM, {machine['os']}; Python {machine['python']}, temporalio {machine['temporalio']}, "
        f"{machine['temporal_cli']}; dev server storage: {results['server_config']}; "
        f"commit {machine['commit']}{dirty}. Total {results['duration_s']:.0f} s; 1-minute load "
        f"average {results['load_average']['before']:.1f} before, "
        f"{results['load_average']['after']:.1f} after.",
        "",
    ]
    overhead = results.get("overhead")
    if overhead:
        p, b, r = overhead["prsaga"], overhead["bare"], overhead["ratios"]
        out += [
            f"## Orchestration overhead ({p['end_to_end']['n']} reviews each, interleaved; "
            f"{overhead['rounds']} batches of {overhead['batch']})",
            "",
            f"Baseline: {overhead['shape']['activities']} no-op activities per run, in the "
            "review's shape. Ratios are prsaga's cost over the baseline's (for throughput, the "
            "baseline's rate over prsaga's): 1.00 is no overhead.",
            "",
        ]
        out += _table(
            ["", "prsaga (webhook → final status)", "bare Temporal", "ratio"],
            [
                ["e2e p50 (ms)", p["end_to_end"]["p50_ms"], b["end_to_end"]["p50_ms"], r["p50"]],
                ["e2e p95 (ms)", p["end_to_end"]["p95_ms"], b["end_to_end"]["p95_ms"], r["p95"]],
                [
                    "throughput (reviews/s)",
                    p["throughput_per_s"],
                    b["throughput_per_s"],
                    r["throughput"],
                ],
                ["review posted p50 (ms)", p["review_posted"]["p50_ms"], None, None],
                ["ack p50 (ms)", p["ack"]["p50_ms"], b["ack"]["p50_ms"], None],
                [
                    "e2e p50 under load (ms)",
                    p["end_to_end_under_load"]["p50_ms"],
                    b["end_to_end_under_load"]["p50_ms"],
                    None,
                ],
            ],
        )
    burst = results.get("burst")
    if burst:
        out += ["## Webhook burst", ""]
        rows = []
        for scenario, data in burst.items():
            for path in ("webhook", "raw"):
                d = data[path]
                rows.append(
                    [
                        f"{scenario}, {d['path']}",
                        d["sent"],
                        d["concurrency"],
                        d["latency"]["p50_ms"],
                        d["latency"]["p99_ms"],
                        d["per_s"],
                        data["throughput_vs_raw"] if path == "webhook" else None,
                        d["reviews"],
                        d["lost"],
                        d["duplicates"],
                    ]
                )
        out += _table(
            [
                "scenario",
                "sent",
                "concurrency",
                "ack p50 (ms)",
                "ack p99 (ms)",
                "per s",
                "vs raw",
                "reviews",
                "lost",
                "duplicates",
            ],
            rows,
        )
    scales = {"scale": "instant agents", "scale_real_offline": "real offline reviewer"}
    for key, agents in scales.items():
        title = f"Scale ({agents})"
        scale = results.get(key)
        if not scale:
            continue
        out += [f"## {title}", ""]
        out += _table(
            [
                "files",
                "changed lines",
                "wall (s)",
                "ms per 1k lines",
                "worker peak RSS (MiB)",
                "RSS growth (MiB)",
                "largest payload (KiB)",
                "history events",
                "activities",
            ],
            [
                [
                    s["files"],
                    s["changed_lines"],
                    s["wall_s"],
                    s["ms_per_1k_lines"],
                    s["worker_peak_rss_mib"],
                    s.get("worker_rss_growth_mib"),
                    round(s["largest_payload_bytes"] / 1024, 1),
                    s["history_events"],
                    sum(s["activities"].values()),
                ]
                for s in scale["sizes"]
            ],
        )
        grown = scale.get("growth")
        if grown:
            out += [
                f"Fit: {grown['fixed_seconds']:.2f} s + {grown['seconds_per_1k_lines']:.3f} s per "
                f"1k changed lines (R² {grown['r_squared']}); ms per 1k changed lines beyond the "
                f"smallest PR's time, by size: {grown['ms_per_1k_lines_beyond_smallest']}.",
                "",
            ]
    pragmas = results.get("pragmas")
    if pragmas:
        out += ["## Dev server SQLite pragmas", ""]
        out += _table(
            [
                "storage",
                "pragmas",
                "bare wf/s",
                "prsaga reviews/s",
                "prsaga p50 (ms)",
                "bare speed-up",
                "prsaga speed-up",
            ],
            [
                [
                    name,
                    ", ".join(p["pragmas"]) or "(SQLite defaults)",
                    p["bare_per_s"],
                    p["prsaga_per_s"],
                    p["prsaga_p50_ms"],
                    p.get("bare_speedup"),
                    p.get("prsaga_speedup"),
                ]
                for name, p in pragmas.items()
            ],
        )
    from bench.report_perf import perf_sections

    out += perf_sections(results)
    out += ["## Goals", ""]
    out += _table(
        ["goal", "target", "measured", "met"],
        [[g["goal"], g["target"], g["measured"], g["met"]] for g in results["goals"]],
    )
    return "\n".join(out)
