"""What a review says and where: plain functions over findings and the parsed diff.

The workflow merges the agents' reports with ``merge_findings`` (deterministic, so it may run in
workflow code); the comment agent places findings with ``plan_review`` and renders them. Nothing
here does I/O or imports Temporal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel

from prsaga.diff import DiffFile
from prsaga.models import Finding, Severity

MAX_COMMENT_CHARS = 65_536
"""GitHub rejects review and comment bodies longer than this (422)."""
MAX_STATUS_DESCRIPTION = 140
"""GitHub truncates commit status descriptions at 140 characters."""
MAX_FINDINGS = 300
"""Findings one agent batch, and one review, carry through the workflow history (worst first);
more than that could not be read in a review anyway, and would bloat the history."""

_SEVERITY_ICON = {
    Severity.CRITICAL: "🛑",
    Severity.HIGH: "🔴",
    Severity.MEDIUM: "🟠",
    Severity.LOW: "🟡",
    Severity.INFO: "🔵",
}


def review_marker(review_key: str) -> str:
    """The hidden marker that makes posting idempotent: a retry finds it instead of reposting."""
    return f"<!-- prsaga:review key={review_key} -->"


def merge_findings(reports: Iterable[Sequence[Finding]]) -> list[Finding]:
    """Merge agents' findings in a stable order: worst first, then by file and line.

    Two findings of the same tool and rule on the same line are one finding (batches and agents
    can overlap); the first reported wins, so the result does not depend on arrival order as long
    as ``reports`` is given in a fixed order.
    """
    seen: set[tuple[str, int | None, str, str]] = set()
    merged: list[Finding] = []
    for findings in reports:
        for finding in findings:
            key = (finding.path, finding.line, finding.tool, finding.rule)
            if key not in seen:
                seen.add(key)
                merged.append(finding)
    return sorted(
        merged,
        key=lambda f: (-f.severity.rank, f.path, f.line or 0, f.tool, f.rule),
    )


def keep_worst(findings: Sequence[Finding], limit: int = MAX_FINDINGS) -> tuple[list[Finding], int]:
    """The ``limit`` worst findings (ranked like ``merge_findings``) and how many were left out."""
    ranked = merge_findings([findings])
    return ranked[:limit], max(0, len(ranked) - limit)


class InlineComment(BaseModel):
    """One review comment as GitHub's create-review API takes it."""

    path: str
    line: int
    side: Literal["RIGHT"] = "RIGHT"
    start_line: int | None = None
    body: str

    def as_github(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "path": self.path,
            "line": self.line,
            "side": self.side,
            "body": self.body,
        }
        if self.start_line is not None:
            payload["start_line"] = self.start_line
            payload["start_side"] = self.side
        return payload


class ReviewPlan(BaseModel):
    """Which findings go inline (on a line GitHub accepts) and which only in the summary."""

    inline: list[tuple[Finding, InlineComment]]
    summary_only: list[Finding]


def plan_review(
    findings: Sequence[Finding], files: Mapping[str, DiffFile], *, max_inline: int
) -> ReviewPlan:
    """Place each finding on a commentable line of the diff, or keep it for the summary.

    A finding goes inline only when its file is in the pull request and its line is one GitHub
    accepts a comment on (an added or context line of the new file); otherwise GitHub would answer
    422. A multi-line finding becomes a range comment only when every line of the range is
    commentable. At most ``max_inline`` findings go inline, worst first (``findings`` is already
    ranked); the rest are listed in the summary so that nothing is lost.
    """
    inline: list[tuple[Finding, InlineComment]] = []
    summary_only: list[Finding] = []
    for finding in findings:
        diff_file = files.get(finding.path)
        commentable = diff_file.commentable_lines() if diff_file else frozenset()
        if finding.line is None or finding.line not in commentable or len(inline) >= max_inline:
            summary_only.append(finding)
            continue
        start_line = None
        end = finding.end_line
        if (
            end
            and end > finding.line
            and all(n in commentable for n in range(finding.line, end + 1))
        ):
            start_line, anchor = finding.line, end
        else:
            anchor = finding.line
        comment = InlineComment(
            path=finding.path, line=anchor, start_line=start_line, body=render_comment(finding)
        )
        inline.append((finding, comment))
    return ReviewPlan(inline=inline, summary_only=summary_only)


def render_comment(finding: Finding) -> str:
    """The markdown body of one inline comment."""
    lines = [
        f"{_SEVERITY_ICON[finding.severity]} **{finding.title}** "
        f"(`{finding.tool}` {finding.rule}, {finding.severity.value})",
        "",
        finding.message,
    ]
    if finding.also_on_lines:
        lines += ["", f"Also on lines {_line_list(finding)}."]
    return truncate_body("\n".join(lines))


class AgentSummary(BaseModel):
    """One line of the review's coverage table: what an agent looked at and what it concluded."""

    agent: str
    files: int
    findings: int
    skipped: int
    errors: list[str] = []


def render_summary(
    *,
    review_key: str,
    head_sha: str,
    plan: ReviewPlan,
    agents: Sequence[AgentSummary],
    workflow_url: str | None,
    omitted: int = 0,
) -> str:
    """The review body: verdict, findings not placed inline, coverage, and the hidden marker."""
    total = len(plan.inline) + len(plan.summary_only)
    counts = _severity_counts([f for f, _ in plan.inline] + plan.summary_only)
    parts = [f"### prsaga review of `{head_sha[:12]}`", ""]
    if total == 0:
        parts.append("No findings on the lines this pull request changes.")
    else:
        breakdown = ", ".join(
            f"{counts[s]} {s.value}" for s in sorted(counts, key=lambda s: -s.rank)
        )
        parts.append(
            f"**{total} finding{'s' if total != 1 else ''}** ({breakdown}): "
            f"{len(plan.inline)} inline, {len(plan.summary_only)} below."
        )
    if omitted:
        parts += [
            "",
            f"{omitted} lower-ranked finding{'s were' if omitted != 1 else ' was'} left out "
            f"(at most {MAX_FINDINGS} per review).",
        ]
    if plan.summary_only:
        parts += ["", "#### Not on a diff line (or over the inline cap)", ""]
        for finding in plan.summary_only:
            where = f"`{finding.path}`" + (f" line {finding.line}" if finding.line else "")
            also = f" (also lines {_line_list(finding)})" if finding.also_on_lines else ""
            parts.append(
                f"- {_SEVERITY_ICON[finding.severity]} {where}{also}: **{finding.title}** "
                f"(`{finding.tool}` {finding.rule}) — {finding.message}"
            )
    parts += ["", "<details><summary>Coverage</summary>", ""]
    parts += ["| agent | files | findings | skipped | errors |", "|---|---|---|---|---|"]
    for agent in agents:
        errors = "; ".join(agent.errors) or "none"
        parts.append(
            f"| {agent.agent} | {agent.files} | {agent.findings} | {agent.skipped} | {errors} |"
        )
    parts += ["", "</details>"]
    if workflow_url:
        parts += ["", f"Audit trail: [Temporal workflow]({workflow_url})"]
    parts += ["", review_marker(review_key)]
    # The marker must survive truncation, or a retry could not find this review.
    return truncate_body("\n".join(parts[:-1]), reserve=len(parts[-1]) + 1) + "\n" + parts[-1]


def conclude(findings: Sequence[Finding]) -> tuple[Literal["success", "failure"], str]:
    """The commit status for a finished review: failure when anything high or critical is found."""
    worst = max((f.severity for f in findings), key=lambda s: s.rank, default=None)
    count = f"{len(findings)} finding{'s' if len(findings) != 1 else ''}"
    if worst is not None and worst.rank >= Severity.HIGH.rank:
        return "failure", status_description(f"{count}; worst is {worst.value}")
    return "success", status_description(count if findings else "no findings")


def status_description(text: str) -> str:
    """A commit status description within GitHub's length limit."""
    if len(text) <= MAX_STATUS_DESCRIPTION:
        return text
    return text[: MAX_STATUS_DESCRIPTION - 1] + "…"


def truncate_body(text: str, *, reserve: int = 0) -> str:
    """A comment body within GitHub's limit, saying so when it had to cut."""
    limit = MAX_COMMENT_CHARS - reserve
    if len(text) <= limit:
        return text
    note = "\n\n… (truncated: the full list is in the Temporal workflow history)"
    return text[: limit - len(note)] + note


def _severity_counts(findings: Iterable[Finding]) -> dict[Severity, int]:
    counts: dict[Severity, int] = {}
    for finding in findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    return counts


def _line_list(finding: Finding, limit: int = 12) -> str:
    lines = finding.also_on_lines
    more = max(0, len(lines) - limit) + finding.also_on_more
    shown = ", ".join(str(n) for n in lines[:limit])
    return shown + (f" and {more} more" if more else "")
