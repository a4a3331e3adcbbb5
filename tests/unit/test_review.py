# --- Unit tests: merging, placing and rendering findings (no Temporal, no network) ---
from __future__ import annotations

import json
import time

import pytest

from prsaga.review.diff import diff_file_from_github
from prsaga.review.findings import (
    MAX_COMMENT_CHARS,
    AgentSummary,
    finding_marker,
    keep_worst,
    merge_findings,
    plan_review,
    render_comment,
    render_summary,
    review_marker,
    status_description,
)
from prsaga.schema import Finding, Severity
from tests.paths import TESTS_DIR

FIXTURES = TESTS_DIR / "fixtures" / "diffs"


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


def test_a_review_no_agent_ran_for_has_no_empty_coverage_table(files_02):
    """A binary-only pull request: every file skipped, no agent ran."""
    body = render_summary(
        review_key="key-binary01",
        head_sha="c" * 40,
        plan=plan_review([], files_02, max_inline=5),
        agents=[],
        workflow_url=None,
        notes=["no file to review: every changed file is removed or skipped"],
    )
    assert "| agent |" not in body and "Coverage" not in body
    assert "No agent ran: no changed file could be reviewed." in body
    assert body.endswith(review_marker("key-binary01"))


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


def test_status_descriptions_fit_githubs_limit():
    assert len(status_description("x" * 500)) == 140
    assert status_description("short") == "short"


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


# --- cross-agent deduplication, ranking, suggestions, masking ---


def claude(path: str, line: int | None, title: str, **kw: object) -> Finding:
    values: dict[str, object] = {
        "agent": "claude-correctness",
        "tool": "claude-sonnet-4-5",
        "rule": "correctness/correctness",
        "category": "correctness",
        "severity": Severity.LOW,
        "message": "model explanation",
    }
    values.update(kw)
    return finding(path, line, title=title, **values)


def test_the_same_problem_from_two_agents_is_one_finding_with_a_note():
    ruff = finding("app.py", 3, severity=Severity.LOW, title="`os` imported but unused")
    model = claude("app.py", 3, "Unused import `os`", suggestion="")
    for order in ([ruff, model], [model, ruff]):
        [merged] = merge_findings([order])
        # Same severity: the one with a suggestion speaks for both.
        assert (merged.agent, merged.suggestion) == ("claude-correctness", "")
        assert merged.message == "model explanation\n\nAlso reported by offline (`ruff` F401)."


def test_the_more_severe_duplicate_wins_whatever_the_order():
    scanner = finding(
        "cfg.py",
        8,
        rule="AWS Access Key",
        tool="detect-secrets",
        severity=Severity.CRITICAL,
        title="Possible secret committed: AWS Access Key",
    )
    model = claude(
        "cfg.py",
        7,
        "Hardcoded AWS access key",
        end_line=9,
        category="security",
        severity=Severity.HIGH,
        suggestion="KEY = os.environ['AWS_ACCESS_KEY_ID']",
    )
    assert merge_findings([[scanner], [model]]) == merge_findings([[model], [scanner]])
    [merged] = merge_findings([[model], [scanner]])
    assert (merged.tool, merged.severity) == ("detect-secrets", Severity.CRITICAL)
    assert "Also reported by claude-correctness (`claude-sonnet-4-5` correctness/correctness)" in (
        merged.message
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # Same line, different problems (ruff gives no category: only the titles can tell).
        (
            claude(
                "db.py",
                4,
                "SQL injection via string formatting",
                agent="claude-security",
                rule="security/security",
                category="security",
            ),
            finding(
                "db.py",
                4,
                rule="F841",
                title="Local variable `query` is assigned to but never used",
            ),
        ),
        # Similar titles, lines apart.
        (claude("a.py", 10, "Missing await on coroutine"), claude("a.py", 30, "Missing await")),
        # Similar titles, different kinds of problem.
        (
            claude(
                "a.py",
                5,
                "Slow loop over rows",
                agent="claude-performance",
                rule="performance/performance",
                category="performance",
            ),
            claude("a.py", 5, "Loop over rows skips the last", category="correctness"),
        ),
        # Two rules of one tool are two problems, however alike their titles.
        (
            finding("a.py", 1, rule="E711", title="Comparison to `None` should be `is`"),
            finding("a.py", 1, rule="E712", title="Comparison to `True` should be `is`"),
        ),
        # A file-level finding and a line finding.
        (finding("a.py", None), finding("a.py", 1)),
    ],
)
def test_different_problems_are_all_kept(a, b):
    assert len(merge_findings([[a, b]])) == 2


def test_folded_lines_and_ranges_count_as_overlap():
    folded = finding(
        "a.py",
        3,
        rule="F841",
        title="Local variable `x` is assigned to but never used",
        also_on_lines=[40, 41],
    )
    model = claude("a.py", 38, "Variable `x` assigned but never used", end_line=41)
    [merged] = merge_findings([[folded, model]])
    assert merged.rule == "F841" and "Also reported by claude-correctness" in merged.message


def test_exact_duplicates_from_overlapping_batches_add_no_note():
    a = claude("a.py", 5, "Off-by-one in range")
    [merged] = merge_findings([[a], [a.model_copy()]])
    assert merged == a


def test_the_note_fits_the_message_limit():
    long = claude("a.py", 5, "Off-by-one in range", message="x" * 4000, severity=Severity.HIGH)
    other = finding("a.py", 5, title="Off by one in range")
    [merged] = merge_findings([[long, other]])
    assert len(merged.message) <= 4000
    assert merged.message.endswith("Also reported by offline (`ruff` F401).")


def test_ranking_is_by_severity_then_file_and_line():
    findings = [
        claude("b.py", 1, "One", severity=Severity.LOW),
        claude("a.py", 9, "Two", severity=Severity.HIGH),
        claude("a.py", 2, "Three", severity=Severity.HIGH),
        claude("a.py", None, "Four", severity=Severity.CRITICAL),
    ]
    assert [f.title for f in merge_findings([findings])] == ["Four", "Three", "Two", "One"]


def test_a_suggestion_renders_as_a_github_suggestion_block(files_02):
    path = next(iter(files_02))
    hunk = files_02[path].hunks[-1]
    first = hunk.new_start
    plain = claude(path, first, "Simplify", end_line=first + 1, suggestion="a = 1\nb = 2\n")
    fenced = claude(path, first + 5, "Doc", suggestion="```python\nx\n```")
    blank = claude(path, first + 8, "Whitespace-only line", suggestion="")
    plan = plan_review([plain, fenced, blank], files_02, max_inline=5)
    bodies = [comment.body.rsplit("\n\n<!-- prsaga:finding ", 1)[0] for _, comment in plan.inline]
    assert bodies[0].endswith("\n\n```suggestion\na = 1\nb = 2\n```")
    assert plan.inline[0][1].start_line == first  # the block replaces exactly that range
    assert bodies[1].endswith("\n\n````suggestion\n```python\nx\n```\n````")
    # An empty replacement is one empty line, not a deletion of the line.
    assert bodies[2].endswith("\n\n```suggestion\n\n```")
    assert all(comment.body.endswith(finding_marker(finding)) for finding, comment in plan.inline)


def test_no_suggestion_block_when_the_range_cannot_be_kept(files_02):
    path = next(iter(files_02))
    last = max(files_02[path].commentable_lines())
    too_long = claude(path, last, "Rewrite", end_line=last + 5, suggestion="new code")
    [(_, comment)] = plan_review([too_long], files_02, max_inline=5).inline
    assert (comment.start_line, comment.line) == (None, last)
    assert "suggestion" not in comment.body
    assert "suggestion" not in render_comment(claude(path, None, "File-level", suggestion="x"))


def test_rendered_comments_and_summaries_never_echo_a_secret(files_02):
    token = "ghp" + "_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
    path = next(iter(files_02))
    line = min(files_02[path].added_lines())
    leaky = claude(
        path,
        line,
        "Token committed",
        message=f"The token {token} is committed.",
        suggestion=f'TOKEN = "{token}"',
    )
    body = render_comment(leaky)
    assert token not in body and "ghp_aB****" in body
    plan = plan_review([leaky.model_copy(update={"line": None})], files_02, max_inline=5)
    summary = render_summary(
        review_key="key-secret", head_sha="d" * 40, plan=plan, agents=[], workflow_url=None
    )
    assert token not in summary and "ghp_aB****" in summary
    assert summary.endswith(review_marker("key-secret"))


def test_merging_many_findings_stays_fast():
    findings = [
        finding("big.py", n, rule=f"R{n % 7}", agent=f"agent-{n % 3}", title=f"Issue {n}")
        for n in range(1, 3001)
    ]
    started = time.perf_counter()
    merged = merge_findings([findings])
    assert len(merged) == 3000  # different lines: nothing to fold
    assert time.perf_counter() - started < 2


# --- compact reviews: grouped by rule, titles once, details folded, skipped files named ---


def test_summary_groups_findings_by_rule_with_each_title_once(files_02):
    path = next(iter(files_02))
    same_rule = [
        finding(path, None, rule="large-file", tool="hygiene", title="Very large file added"),
        finding(
            "other.csv", None, rule="large-file", tool="hygiene", title="Very large file added"
        ),
    ]
    plan = plan_review(same_rule, files_02, max_inline=5)
    body = render_summary(
        review_key="key-grouped", head_sha="d" * 40, plan=plan, agents=[], workflow_url=None
    )
    assert body.count("Very large file added") == 1
    assert f"`{path}`, `other.csv`" in body
    assert body.count("<details><summary>Details</summary>") == 1
    # Each summary finding leaves a marker, so that a later review does not repeat it.
    assert all(finding_marker(f) in body for f in same_rule)


def test_inline_comments_do_not_repeat_the_title_as_their_first_sentence(files_02):
    path = next(iter(files_02))
    line = min(files_02[path].added_lines())
    repeated = finding(
        path, line, "F821", title="Undefined name `x`", message="Undefined name `x`. Rule F821."
    )
    [(_, comment)] = plan_review([repeated], files_02, max_inline=1).inline
    first, *rest = comment.body.split("\n")
    assert "**Undefined name `x`** · `ruff` F821" in first
    assert comment.body.count("Undefined name `x`") == 1
    assert "Rule F821." in "\n".join(rest)


def test_summary_names_skipped_files_once_and_bounded():
    from prsaga.schema import SkippedFile

    named = [SkippedFile(path=f"dir/file-{n}.bin", reason="not UTF-8 text") for n in range(12)]
    agents = [
        AgentSummary(agent="offline", files=3, findings=0, skipped=12, skipped_files=named[:6]),
        AgentSummary(agent="offline", files=3, findings=0, skipped=0, skipped_files=[]),
    ]
    body = render_summary(
        review_key="key-skipped",
        head_sha="e" * 40,
        plan=plan_review([], {}, max_inline=5),
        agents=agents,
        workflow_url=None,
    )
    assert "Skipped 12 files:" in body
    assert "- `dir/file-0.bin`: not UTF-8 text" in body
    assert "… and 6 more" in body
    assert "| offline | 6 | 0 | 12 | none |" in body
