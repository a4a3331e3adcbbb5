"""The review-quality benchmark's smoke run (``python -m bench quality --quick``), so that it
cannot rot: it reviews a few corpus pull requests through the real activities and the local
GitHub, clean and seeded, and writes its report. It checks the harness, never a figure."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.quality.corpus import load_corpus
from bench.quality.run import QUICK_PRS
from bench.quality.seeds import DEFECTS, seed
from tests.paths import REPO_ROOT

SMOKE_TIMEOUT_SECONDS = 240


@pytest.mark.timeout(SMOKE_TIMEOUT_SECONDS + 30)
def test_quick_quality_bench_reviews_clean_and_seeded_pull_requests(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "quality", "--quick", "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    results = json.loads((tmp_path / "quality-latest.json").read_text())
    page = (tmp_path / "quality-latest.md").read_text()

    assert results["clean"]["prs"] == len(QUICK_PRS)
    assert {row["pr"] for row in results["clean"]["rows"]} == set(QUICK_PRS)
    seeded = results["seeded"]
    assert seeded["prs"] == len(QUICK_PRS) and seeded["defects"] >= len(QUICK_PRS)
    assert all(c["seeded"] >= c["caught"] >= c["on_line"] for c in seeded["classes"].values())
    # Every tool that had files to read reported on them, with no error.
    assert {"ruff", "detect-secrets", "hygiene", "shellcheck", "zizmor"} <= set(results["tools"])
    assert all(not tool["errors"] for tool in results["tools"].values())
    assert {goal["goal"] for goal in results["goals"]} >= {"clean PRs blocked"}
    assert "| defect class |" in page and results["machine"]["cores"] > 0


def test_seeds_are_deterministic_and_land_on_added_lines() -> None:
    prs = {pr.key: pr for pr in load_corpus() if pr.key in QUICK_PRS}
    for pr in prs.values():
        first, again = seed(pr), seed(pr)
        assert first.seeds == again.seeds and first.pr.files == again.pr.files
        for planted in first.seeds:
            file = next(f for f in first.pr.files if f.filename == planted.path)
            lines = first.pr.head_contents[planted.path].split("\n")
            assert planted.line <= len(lines)
            assert file.patch is not None and f"+{lines[planted.line - 1]}" in file.patch
    seeded_classes = {s.defect for pr in prs.values() for s in seed(pr).seeds}
    assert seeded_classes <= {d.name for d in DEFECTS}
