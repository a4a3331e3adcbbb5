# --- Unit tests: merging, placing and rendering findings (no Temporal, no network) ---
from __future__ import annotations

import json
from pathlib import Path

import pytest

from prsaga.diff import diff_file_from_github
from prsaga.models import Finding, Severity
from prsaga.review import (
    MAX_COMMENT_CHARS,
    AgentSummary,
    conclude,
    keep_worst,
    merge_findings,
    plan_review,
    render_summary,
    review_marker,
    status_description,
)

FIXTURES = Path(__file__).parent / "fixtures" / "diffs"


def finding(path: str, line: int | None, rule: str = "F401", **kw: object) -> Finding:
    values: dict[str, object] = {
        "agent": "offline",
        "tool": "ruff",
        "rule": rule,
        "path": path,
        "line": line,
        "severity": Severity.MEDIUM,
        "title": f"{rule} here",
        "message": "explanation",
    }
    values.update(kw)
    return Finding.model_validate(values)


@pytest.fixture(scope="module")
def files_02():
    """psf/requests 90fee0876aea: one file, four hunks."""
    items = json.loads((FIXTURES / "02-multi-hunk-single-file.pr-files.json").read_text())
    return {f.path: f for f in map(diff_file_from_github, items)}


def test_merge_is_deterministic_deduplicated_and_worst_first():
    batch_a = [finding("b.py", 3), finding("a.py", 9, severity=Severity.LOW)]
    batch_b = [finding("b.py", 3), finding("a.py", 1, rule="E999", severity=Severity.HIGH)]
    merged = merge_findings([batch_a, batch_b])
    assert [(f.path, f.line, f.rule) for f in merged] == [
        ("a.py", 1, "E999"),
        ("b.py", 3, "F401"),
        ("a.py", 9, "F401"),
    ]
    assert merge_findings([batch_b, batch_a]) == merged


def test_inline_only_on_commentable_lines(files_02):
    path = next(iter(files_02))
    diff_file = files_02[path]
    added = sorted(diff_file.added_lines())
    outside = max(diff_file.commentable_lines()) + 50
    plan = plan_review(
        [finding(path, added[0]), finding(path, outside), finding("not-in-pr.py", 1)],
        files_02,
        max_inline=10,
    )
    assert [(c.path, c.line, c.side) for _, c in plan.inline] == [(path, added[0], "RIGHT")]
    assert {(f.path, f.line) for f in plan.summary_only} == {(path, outside), ("not-in-pr.py", 1)}


def test_file_level_findings_and_the_cap_go_to_the_summary(files_02):
    path = next(iter(files_02))
    lines = sorted(files_02[path].commentable_lines())[:3]
    findings = [finding(path, n) for n in lines] + [finding(path, None, rule="swap")]
    plan = plan_review(findings, files_02, max_inline=2)
    assert len(plan.inline) == 2
    assert [f.line for f in plan.summary_only] == [lines[2], None]


def test_multi_line_range_only_when_every_line_is_commentable(files_02):
    path = next(iter(files_02))
    diff_file = files_02[path]
    hunk = diff_file.hunks[0]
    first, last = hunk.new_start, hunk.new_start + hunk.new_count - 1
    plan = plan_review(
        [finding(path, first, end_line=last), finding(path, last, rule="X", end_line=last + 500)],
        files_02,
        max_inline=10,
    )
    ranged, single = (c for _, c in plan.inline)
    assert (ranged.start_line, ranged.line) == (first, last)
    assert ranged.as_github()["start_side"] == "RIGHT"
    assert (single.start_line, single.line) == (None, last)


def test_summary_carries_marker_counts_and_coverage(files_02):
    path = next(iter(files_02))
    plan = plan_review(
        [finding(path, None, severity=Severity.CRITICAL, title="Private key committed")],
        files_02,
        max_inline=5,
    )
    body = render_summary(
        review_key="key-123456",
        head_sha="a" * 40,
        plan=plan,
        agents=[AgentSummary(agent="offline", files=1, findings=1, skipped=0)],
        workflow_url="http://ui/wf",
    )
    assert body.endswith(review_marker("key-123456"))
    assert "1 finding** (1 critical)" in body
    assert "Private key committed" in body
    assert "| offline | 1 | 1 | 0 | none |" in body


def test_huge_summary_is_truncated_but_keeps_its_marker(files_02):
    path = next(iter(files_02))
    many = [finding(path, None, rule=f"R{i}", message="x" * 3000) for i in range(40)]
    plan = plan_review(many, files_02, max_inline=0)
    body = render_summary(
        review_key="key-abcdefgh", head_sha="b" * 40, plan=plan, agents=[], workflow_url=None
    )
    assert len(body) <= MAX_COMMENT_CHARS
    assert "truncated" in body
    assert body.endswith(review_marker("key-abcdefgh"))


def test_conclusion_fails_only_on_high_or_worse():
    assert conclude([]) == ("success", "no findings")
    assert conclude([finding("a", 1, severity=Severity.MEDIUM)])[0] == "success"
    state, text = conclude([finding("a", 1), finding("b", 2, severity=Severity.CRITICAL)])
    assert (state, text) == ("failure", "2 findings; worst is critical")
    assert len(status_description("x" * 500)) == 140


def test_keep_worst_bounds_what_travels_in_history():
    findings = [finding("a.py", n, severity=Severity.LOW) for n in range(1, 11)]
    findings.append(finding("z.py", 99, severity=Severity.CRITICAL))
    kept, omitted = keep_worst(findings, limit=3)
    assert omitted == 8
    assert [(f.path, f.line) for f in kept] == [("z.py", 99), ("a.py", 1), ("a.py", 2)]


def test_folded_lines_beyond_the_cap_are_counted(files_02):
    path = next(iter(files_02))
    line = min(files_02[path].added_lines())
    folded = finding(path, line, also_on_lines=list(range(100, 150)), also_on_more=7)
    [(_, comment)] = plan_review([folded], files_02, max_inline=1).inline
    assert "Also on lines 100, 101" in comment.body
    assert "and 45 more." in comment.body  # 50 kept - 12 shown + 7 beyond the cap
    plan = plan_review([folded], files_02, max_inline=0)
    body = render_summary(
        review_key="key-omitted",
        head_sha="c" * 40,
        plan=plan,
        agents=[],
        workflow_url=None,
        omitted=4,
    )
    assert "4 lower-ranked findings were left out" in body
