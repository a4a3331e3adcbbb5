"""The benchmark's smoke run (``python -m bench --quick``), so that it cannot rot.

It checks that every measure ran end to end and reported sane numbers, and that no review was
lost or duplicated; it never asserts a speed target (those depend on the machine).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.paths import REPO_ROOT

ROOT = REPO_ROOT
SMOKE_TIMEOUT_SECONDS = 300


def _positive(summary: dict[str, Any]) -> None:
    assert summary["n"] > 0
    for key in ("p50_ms", "p95_ms", "p99_ms"):
        assert summary[key] > 0, key


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    assert "cores" in done.stdout and "temporal_cli" in done.stdout  # machine facts printed
    return json.loads((out / "latest.json").read_text()), (out / "latest.md").read_text()


@pytest.mark.timeout(SMOKE_TIMEOUT_SECONDS + 30)
def test_quick_bench_reports_every_measure(quick_run: tuple[dict[str, Any], str]) -> None:
    results, page = quick_run
    machine = results["machine"]
    assert machine["cores"] > 0 and machine["python"] and machine["temporalio"]
    assert "temporal version" in machine["temporal_cli"]

    overhead = results["overhead"]
    for side in ("prsaga", "bare"):
        _positive(overhead[side]["end_to_end"])
        assert overhead[side]["throughput_per_s"] > 0
    assert overhead["prsaga"]["final_states"], "no review reached a final status"
    assert overhead["shape"]["activities"] == sum(overhead["activities_per_review"].values())
    assert all(value > 0 for value in overhead["ratios"].values())

    for scenario in ("distinct", "repeated"):
        burst = results["burst"][scenario]
        for path in ("webhook", "raw"):
            fired = burst[path]
            _positive(fired["latency"])
            assert fired["per_s"] > 0
            assert fired["reviews"] == fired["pull_requests"] > 0
            assert fired["lost"] == 0 and fired["duplicates"] == 0
        assert burst["webhook"]["outcomes"] == {"202": burst["webhook"]["sent"]}
        assert burst["raw"]["outcomes"] == {"ok": burst["raw"]["sent"]}
        assert burst["throughput_vs_raw"] > 0

    sizes = results["scale"]["sizes"]
    assert [size["files"] for size in sizes] == [10, 100]
    for size in sizes:
        assert size["wall_s"] > 0 and size["changed_lines"] >= size["files"]
        assert size["worker_peak_rss_mib"] > 0
        assert size["history_events"] > 0 and size["largest_payload_bytes"] > 0
        assert size["activities"]["parse_pull_request"] == 1
    assert results["scale"]["growth"]["r_squared"] is not None

    pragmas = results["pragmas"]
    assert set(pragmas) == {"default", "wal-off"}
    assert all(p["bare_per_s"] > 0 and p["prsaga_per_s"] > 0 for p in pragmas.values())

    model = results["model"]
    assert model["reviews"] == 2 and model["reviews_with_model_calls"] >= 1
    assert model["wall_over_critical_p50"] > 1  # the model's delay is part of the wall time
    assert model["input_tokens_per_review"] > 0 and model["cost_usd_per_review"] > 0
    assert all(item["only_the_pushed_file"] for item in model["incremental"])

    runs = results["backlog"]["runs"]
    assert [run["workers"] for run in runs] == [1, 2]
    for run in runs:
        assert run["completed"] == run["pull_requests"] == 12 and run["activities_timed_out"] == 0
        assert len(run["worker_peak_rss_mib"]) == run["workers"]
        assert sum(piece["activities"] for piece in run["drain"]) > 0

    assert {goal["goal"] for goal in results["goals"]} >= {
        "overhead: e2e p50 vs bare Temporal",
        "burst (distinct): lost reviews",
    }
    assert "## Goals" in page and "## Webhook burst" in page and "## Backlog" in page
