"""The model reviewer's quality harness end to end, on the local Messages API server: the
specialists, grounding, the verifier and the judge all go through the provider layer, and the
scoring follows the public benchmark's method. The local servers make it measure the plumbing,
not a model: the figures below are what the pattern-matching reviewer and the word-overlap judge
must give on the fixture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.quality import models as quality
from prsaga.schema import Finding, Severity
from tests.paths import TESTS_DIR

FIXTURES = TESTS_DIR / "fixtures" / "quality"


def test_the_harness_scores_the_model_reviewer_against_golden_comments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "models.json"
    status = quality.main(
        [
            "--local",
            "--golden",
            str(FIXTURES / "golden.json"),
            "--code",
            str(FIXTURES / "code"),
            "--out",
            str(out),
        ]
    )
    assert status == 0
    result = json.loads(out.read_text())
    # eval() and the bare except are found, verified and matched; the missing test is not found;
    # the pull request without code is left out (with a warning), not counted.
    assert result["total"] == {"tp": 2, "fp": 0, "fn": 1}
    [pull] = result["pull_requests"]
    assert pull["url"] == "https://github.com/octo/widgets/pull/7"
    assert pull["candidates"] == 2 and pull["verified_out"] == 0 and pull["errors"] == []
    assert result["cost_usd"] > 0
    table = capsys.readouterr().out
    assert "| Augment | 0.47 | 0.63 | 0.54 |" in table
    assert "| **prsaga (local servers: plumbing, not a model)** | 1.00 | 0.67 | 0.80 |" in table


def finding(line: int, title: str) -> Finding:
    return Finding(
        agent="claude-correctness",
        tool="m",
        rule="correctness/correctness",
        path="app.py",
        line=line,
        severity=Severity.HIGH,
        title=title,
        message="Because.",
        category="correctness",
    )


def test_duplicates_are_grouped_and_scores_are_micro_averaged() -> None:
    golden = [quality.GoldenComment(comment=text) for text in ("race", "leak", "typo")]
    candidates = [
        finding(3, "Race on the shared cache"),
        finding(3, "Race on the shared cache"),  # the same thing twice costs nothing
        finding(9, "Unrelated nit"),
    ]

    def judge(title: str, candidate: Finding, comments: object) -> set[int]:
        return {0} if "Race" in candidate.title else set()

    one = quality.score_pull_request("t", candidates, golden, judge)
    assert one == quality.Score(tp=1, fp=1, fn=2)
    total = one + quality.Score(tp=3, fp=0, fn=0)
    assert (total.precision, total.recall) == (0.8, 4 / 6)
    assert total.f1 == pytest.approx(2 * 0.8 * (4 / 6) / (0.8 + 4 / 6))
    assert quality.score_pull_request("t", candidates, [], judge) == quality.Score(0, 2, 0)
