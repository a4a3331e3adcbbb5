"""What a review says and where: plain functions over findings and the parsed diff.

The workflow merges the agents' reports with ``merge_findings`` (deterministic, so it may run in
workflow code); the comment agent places findings with ``plan_review`` and renders them. Nothing
here does I/O or imports Temporal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from prsaga.review.diff import DiffFile
from prsaga.review.redact import redact
from prsaga.review.texts import truncate
from prsaga.schema import MAX_FINDINGS, AgentSummary, Finding, Severity
from prsaga.schema.findings import MAX_SKIPPED_NAMED

MAX_COMMENT_CHARS = 65_536
"""GitHub rejects review and comment bodies longer than this (422)."""
MAX_STATUS_DESCRIPTION = 140
"""GitHub truncates commit status descriptions at 140 characters."""

_MESSAGE_LIMIT = 4000
"""``Finding.message``'s maximum length."""
_BACKTICKS = re.compile(r"`+")

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
    """Merge agents' findings: duplicates folded into one, then worst first, by file and line.

    Two findings are duplicates when they are on the same file, their lines overlap (folded
    ``also_on_lines`` included; two file-level findings overlap) and they mean the same thing
    (see :func:`same_problem`). Of duplicates the most severe is kept, then one with a suggestion,
    then the first reported; its message says which other agents reported it too. The result
    depends only on the findings and the order of ``reports``, so workflow code may call it.
    """
    return rank(deduplicate(finding for findings in reports for finding in findings))


def rank(findings: Iterable[Finding]) -> list[Finding]:
    """Worst first, then by file, line, tool and rule (a total, stable order)."""
    return sorted(findings, key=lambda f: (-f.severity.rank, f.path, f.line or 0, f.tool, f.rule))


def deduplicate(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per problem (see :func:`merge_findings`), in first-reported order."""
    groups: list[list[_Facts]] = []
    # (path, line) -> the groups with a finding on that line (line None: file-level findings),
    # so that a finding is only compared with findings it overlaps.
    by_line: dict[tuple[str, int | None], list[int]] = {}
    for finding in findings:
        facts = _Facts.of(finding)
        keys: list[tuple[str, int | None]] = [(finding.path, n) for n in facts.lines]
        keys = keys or [(finding.path, None)]
        candidates = sorted({index for key in keys for index in by_line.get(key, [])})
        for index in candidates:
            if any(_same(member, facts) for member in groups[index]):
                groups[index].append(facts)
                break
        else:
            index = len(groups)
            groups.append([facts])
        for key in keys:
            if index not in by_line.setdefault(key, []):
                by_line[key].append(index)
    return [_keep_one([facts.finding for facts in group]) for group in groups]


def same_problem(a: Finding, b: Finding) -> bool:
    """Whether two findings report the same problem at the same place.

    Same file and overlapping lines, and: the same tool and rule on the same line; or, unless
    they are different rules of one agent's tool, compatible categories and titles with a word
    similarity of at least :data:`TITLE_SIMILARITY` (``F401 `os` imported but unused`` from ruff
    and ``Unused import `os``` from a model). A model's rule is only its specialist and category,
    so one rule alone does not make two of its findings on different lines the same.
    """
    return _same(_Facts.of(a), _Facts.of(b))


@dataclass(frozen=True)
class _Facts:
    """A finding with what comparing it needs, computed once."""

    finding: Finding
    lines: frozenset[int]
    stems: frozenset[str]

    @classmethod
    def of(cls, finding: Finding) -> _Facts:
        return cls(finding, frozenset(_lines(finding)), frozenset(_stems(finding.title)))


def _same(a: _Facts, b: _Facts) -> bool:
    x, y = a.finding, b.finding
    if x.path != y.path:
        return False
    if x.line is None or y.line is None:
        if not (x.line is None and y.line is None):
            return False  # a file-level finding and a line finding
    elif a.lines.isdisjoint(b.lines):
        return False
    if (x.tool, x.rule) == (y.tool, y.rule) and x.line == y.line:
        return True
    if (x.agent, x.tool) == (y.agent, y.tool) and x.rule != y.rule:
        return False  # one tool's different rules are different problems by definition
    return (
        _compatible_categories(x.category, y.category)
        and _jaccard(a.stems, b.stems) >= TITLE_SIMILARITY
    )


TITLE_SIMILARITY = 0.5
"""Jaccard similarity of normalised title words from which two findings mean the same."""

_WORD = re.compile(r"[a-z0-9]+")
_STOP_WORDS = frozenset(
    "a an the is are be been of in on at to for from by with and or but this that it its "
    "possible potential potentially likely may might could should here".split()
)
_SUFFIXES = ("ing", "ed", "es", "s")
# Agents name the same kind of problem differently ("secrets" from a scanner, "security" from a
# model; "tests" and "docs" from a model, "tests_docs" from the specialist).
_CATEGORY_FAMILY = {"secrets": "security", "tests": "tests_docs", "docs": "tests_docs"}


def title_similarity(a: str, b: str) -> float:
    """Jaccard similarity of the titles' word stems, ignoring case, punctuation and filler."""
    return _jaccard(_stems(a), _stems(b))


def _jaccard(a: AbstractSet[str], b: AbstractSet[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def _stems(title: str) -> set[str]:
    stems = set()
    for word in _WORD.findall(title.lower()):
        if word in _STOP_WORDS:
            continue
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 2:
                word = word[: -len(suffix)]
                break
        stems.add(word)
    return stems


def _compatible_categories(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return True  # the offline tools do not always say
    return _CATEGORY_FAMILY.get(a, a) == _CATEGORY_FAMILY.get(b, b)


def _lines(finding: Finding) -> set[int]:
    if finding.line is None:
        return set()
    end = finding.end_line if finding.end_line and finding.end_line > finding.line else finding.line
    return {*range(finding.line, end + 1), *finding.also_on_lines}


def _keep_one(group: list[Finding]) -> Finding:
    """The finding that speaks for its duplicates, naming the other agents that reported it."""
    best = max(
        enumerate(group),
        key=lambda item: (item[1].severity.rank, item[1].suggestion is not None, -item[0]),
    )[1]
    others = list(
        dict.fromkeys(
            f"{f.agent} (`{f.tool}` {f.rule})"
            for f in group
            if (f.agent, f.tool, f.rule) != (best.agent, best.tool, best.rule)
        )
    )
    if not others:
        return best
    note = f"\n\nAlso reported by {', '.join(others)}."
    limit = _MESSAGE_LIMIT - len(note)
    if limit < 100:
        return best  # no room to say so without cutting the explanation to nothing
    message = truncate(best.message, limit)
    return best.model_copy(update={"message": message + note})


def keep_worst(findings: Sequence[Finding], limit: int = MAX_FINDINGS) -> tuple[list[Finding], int]:
    """The ``limit`` worst findings (merged like ``merge_findings``) and how many were left out."""
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
        start_line, anchor = None, finding.line
        end = finding.end_line
        ranged = (
            end is not None
            and end > finding.line
            and all(n in commentable for n in range(finding.line, end + 1))
        )
        if ranged and end is not None:
            start_line, anchor = finding.line, end
        # A suggestion replaces exactly the commented lines: not if its range had to shrink.
        keeps_range = ranged or end is None or end == finding.line
        comment = InlineComment(
            path=finding.path,
            line=anchor,
            start_line=start_line,
            body=render_comment(finding, suggestion=keeps_range),
        )
        inline.append((finding, comment))
    return ReviewPlan(inline=inline, summary_only=summary_only)


def render_comment(finding: Finding, *, suggestion: bool = True) -> str:
    """The markdown body of one inline comment, secrets masked.

    The title leads, with the rule beside it; the message follows without repeating the title.
    A finding's ``suggestion`` becomes a GitHub suggestion block (which replaces the comment's
    line range when applied) unless ``suggestion`` is false or the finding has no line.
    """
    lines = [
        f"{_SEVERITY_ICON[finding.severity]} **{finding.title}** · {_rule_of(finding)} · "
        f"{finding.severity.value}"
    ]
    if details := _details(finding):
        lines += ["", details]
    if finding.also_on_lines:
        lines += ["", f"Also on lines {_line_list(finding)}."]
    if suggestion and finding.suggestion is not None and finding.line is not None:
        lines += ["", suggestion_block(finding.suggestion)]
    marker = finding_marker(finding)
    return truncate_body(redact("\n".join(lines)), reserve=len(marker) + 2) + "\n\n" + marker


def _rule_of(finding: Finding) -> str:
    return f"`{finding.tool}` {finding.rule}"


def _details(finding: Finding) -> str:
    """The message, without a first sentence that only repeats the title."""
    message = finding.message.strip()
    title = finding.title.strip().rstrip(".")
    if title and message.lower().startswith(title.lower()):
        message = message[len(title) :].lstrip(" .:;-—\n")
    return message


def finding_key(finding: Finding) -> str:
    """What makes two findings the same comment: file, line and rule."""
    return f"{finding.path}:{finding.line}:{finding.tool}:{finding.rule}"


def finding_marker(finding: Finding) -> str:
    """The hidden mark on each inline comment, so a later review does not say it twice."""
    key = finding_key(finding).replace("--", "- -")  # "--" would end the HTML comment
    return f"<!-- prsaga:finding {key} -->"


def suggestion_block(replacement: str) -> str:
    """A GitHub ```` ```suggestion ```` block; its fence is longer than any backtick run inside.

    The replacement is the new text of the line range: an empty replacement is one empty line
    (e.g. a whitespace-only line cleaned), never a deletion.
    """
    longest = max((len(run) for run in _BACKTICKS.findall(replacement)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}suggestion\n{replacement.removesuffix(chr(10))}\n{fence}"


MAX_SUMMARY_LOCATIONS = 10
"""Places listed per rule in the summary (the count covers the rest)."""
MAX_SKIPPED_LISTED = 10
"""Skipped files named in the summary's coverage section (the count covers the rest)."""


def render_summary(
    *,
    review_key: str,
    head_sha: str,
    plan: ReviewPlan,
    agents: Sequence[AgentSummary],
    workflow_url: str | None,
    omitted: int = 0,
    notes: Sequence[str] = (),
) -> str:
    """The review body, compact: the count, then the findings not placed inline grouped by rule
    (each title once, places listed, details folded), then notes and coverage folded, and the
    hidden markers (this review's, and one per summary finding so a later review does not
    repeat it)."""
    total = len(plan.inline) + len(plan.summary_only)
    counts = _severity_counts([f for f, _ in plan.inline] + plan.summary_only)
    parts = [f"### prsaga review of `{head_sha[:12]}`", ""]
    if total == 0:
        parts.append("No findings on the lines this pull request changes.")
    else:
        breakdown = ", ".join(
            f"{counts[s]} {s.value}" for s in sorted(counts, key=lambda s: -s.rank)
        )
        placed = f"{len(plan.inline)} inline" + (
            f", {len(plan.summary_only)} below" if plan.summary_only else ""
        )
        parts.append(f"**{total} finding{'s' if total != 1 else ''}** ({breakdown}): {placed}.")
    if omitted:
        parts += [
            "",
            f"{omitted} lower-ranked finding{'s were' if omitted != 1 else ' was'} left out "
            f"(at most {MAX_FINDINGS} per review).",
        ]
    if plan.summary_only:
        parts.append("")
        for group in _by_rule(plan.summary_only):
            parts += _summary_group(group)
    if notes:
        parts += ["", f"<details><summary>Notes ({len(notes)})</summary>", ""]
        parts += [*(f"- {note}" for note in notes), "", "</details>"]
    merged = _per_agent(agents)
    if not merged:
        parts += ["", "No agent ran: no changed file could be reviewed."]
    else:
        parts += ["", "<details><summary>Coverage</summary>", ""]
        parts += ["| agent | files | findings | skipped | errors |", "|---|---|---|---|---|"]
        for agent in merged:
            errors = "; ".join(agent.errors) or "none"
            parts.append(
                f"| {agent.agent} | {agent.files} | {agent.findings} | {agent.skipped} | {errors} |"
            )
        parts += _skipped_lines(merged)
        parts += ["", "</details>"]
    if workflow_url:
        parts += ["", f"Audit trail: [Temporal workflow]({workflow_url})"]
    trailer = "\n".join(
        [*(finding_marker(f) for f in plan.summary_only), review_marker(review_key)]
    )
    # The markers must survive truncation, or a retry could not find this review.
    body = redact("\n".join(parts))
    return truncate_body(body, reserve=len(trailer) + 1) + "\n" + trailer


def _by_rule(findings: Sequence[Finding]) -> list[list[Finding]]:
    """Findings grouped by tool and rule, in the order of each group's worst (first) member."""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        groups.setdefault((finding.tool, finding.rule), []).append(finding)
    return list(groups.values())


def _summary_group(group: Sequence[Finding]) -> list[str]:
    first = group[0]
    places = [_place(f) for f in group[:MAX_SUMMARY_LOCATIONS]]
    more = len(group) - len(places)
    where = ", ".join(places) + (f" and {more} more" if more else "")
    lines = [f"- {_SEVERITY_ICON[first.severity]} **{first.title}** · {_rule_of(first)}: {where}"]
    if details := _details(first):
        lines += [
            "  <details><summary>Details</summary>",
            "",
            *(f"  {line}" if line else "" for line in details.split("\n")),
            "",
            "  </details>",
        ]
    return lines


def _place(finding: Finding) -> str:
    if finding.line is None:
        return f"`{finding.path}`"
    also = f" (also {_line_list(finding)})" if finding.also_on_lines else ""
    return f"`{finding.path}` line {finding.line}{also}"


def _skipped_lines(agents: Sequence[AgentSummary]) -> list[str]:
    """The skipped files by name and why, each once, bounded."""
    named: dict[str, str] = {}
    for agent in agents:
        for item in agent.skipped_files:
            named.setdefault(item.path, item.reason)
    total = max(sum(agent.skipped for agent in agents), len(named))
    if not total:
        return []
    lines = ["", f"Skipped {total} file{'s' if total != 1 else ''}:"]
    shown = sorted(named.items())[:MAX_SKIPPED_LISTED]
    lines += [f"- `{_inline_code(path)}`: {reason}" for path, reason in shown]
    if total > len(shown):
        lines.append(f"- … and {total - len(shown)} more")
    return lines


def _inline_code(text: str) -> str:
    """A path fit for inline code: one line, no backticks to break out of it."""
    return text.replace("`", "'").replace("\n", "\\n").replace("\r", "\\r")[:200]


def _per_agent(summaries: Sequence[AgentSummary]) -> list[AgentSummary]:
    """One coverage row per agent, however many batches or chunks it reviewed."""
    merged: dict[str, AgentSummary] = {}
    for summary in summaries:
        seen = merged.get(summary.agent)
        merged[summary.agent] = (
            summary
            if seen is None
            else AgentSummary(
                agent=summary.agent,
                files=seen.files + summary.files,
                findings=seen.findings + summary.findings,
                skipped=seen.skipped + summary.skipped,
                errors=[*seen.errors, *summary.errors],
                skipped_files=[*seen.skipped_files, *summary.skipped_files][:MAX_SKIPPED_NAMED],
            )
        )
    return list(merged.values())


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
