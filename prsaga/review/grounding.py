"""The grounding verifier (the "guardian"): no finding is posted unless the diff backs it.

Models cite wrong lines and, now and then, code that does not exist. Every finding from every
agent passes :func:`verify` before it can be posted:

* its file must be in the pull request, or it is dropped;
* a quoted ``evidence`` fragment must really be in the file's diff (added or context lines,
  whitespace-insensitive): on the cited lines, or within a few lines of them (the finding is then
  moved onto the lines that hold it); a quote found only farther away moves the finding to the
  summary, and a quote found nowhere drops it;
* its line must be one GitHub accepts a comment on (an added or context line of the new file),
  or the finding is kept for the summary as a file-level finding;
* a range (``end_line``) must stay within the line's hunk, and is clamped to it;
* a ``suggestion`` is kept only when it replaces exactly the lines it was written for, all of
  them in one hunk, and changes something.

Pure and deterministic; only the standard library and pydantic are used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from prsaga.review.diff import DiffFile
from prsaga.schema import Finding

__all__ = ["EVIDENCE_WINDOW", "GroundingResult", "verify"]

EVIDENCE_WINDOW = 3
"""How many lines away from the cited line a quoted fragment may be and still re-anchor it."""

FILE_NOT_IN_PR = "file not in pull request"
QUOTE_NOT_FOUND = "quoted code not found"
LINE_NOT_IN_DIFF = "line not in diff"
QUOTE_FAR_AWAY = "quoted code not near the cited line"
REANCHORED = "moved to the line holding the quoted code"
RANGE_CLAMPED = "end_line clamped to the hunk"
RANGE_INVALID = "end_line before line ignored"
SUGGESTION_DROPPED = "suggestion removed (its line range changed)"
SUGGESTION_NO_OP = "suggestion removed (identical to the code)"
SUGGESTION_OFF_LINE = "suggestion removed (no line to apply it to)"

_WHITESPACE = re.compile(r"\s+")


class GroundingResult(BaseModel):
    """What survived grounding, and counts of what did not (for the agent's decision record)."""

    kept: list[Finding]
    """Grounded findings, possibly moved to the lines that hold their quote."""
    moved_to_summary: list[Finding]
    """Findings whose file is real but whose line is not in the diff: file-level now."""
    dropped: dict[str, int] = {}
    """Findings removed, counted by reason."""
    adjusted: dict[str, int] = {}
    """Findings changed on the way (re-anchored, range clamped, suggestion removed, moved to the
    summary), by reason."""


def verify(findings: Sequence[Finding], files: Mapping[str, DiffFile]) -> GroundingResult:
    """Check each finding against the parsed diff (see the module's docstring for the rules)."""
    result = GroundingResult(kept=[], moved_to_summary=[])
    views: dict[str, _FileView] = {}
    for finding in findings:
        diff_file = files.get(finding.path)
        if diff_file is None:
            _count(result.dropped, FILE_NOT_IN_PR)
            continue
        view = views.get(finding.path)
        if view is None:
            view = views[finding.path] = _FileView.of(diff_file)
        _verify_one(finding, view, result)
    return result


def _verify_one(finding: Finding, view: _FileView, result: GroundingResult) -> None:
    adjusted: list[str] = []
    if finding.evidence is not None and _normalise(finding.evidence):
        quote = _normalise_lines(finding.evidence)
        start = view.find(quote, finding.line, finding.end_line)
        if start is None:
            _count(result.dropped, QUOTE_NOT_FOUND)
            return
        if finding.line is not None and start.far:
            _summarise(finding, QUOTE_FAR_AWAY, result)
            return
        if finding.line is not None and start.line != finding.line:
            shift = start.line - finding.line
            end_line = finding.end_line + shift if finding.end_line is not None else None
            if end_line is not None and end_line < 1:
                end_line = None  # an end before the start; the range check below drops it too
            finding = finding.model_copy(update={"line": start.line, "end_line": end_line})
            adjusted.append(REANCHORED)

    if finding.line is None:
        if finding.suggestion is not None:
            finding = finding.model_copy(update={"suggestion": None})
            adjusted.append(SUGGESTION_OFF_LINE)
        _keep(finding, adjusted, result)
        return
    if finding.line not in view.commentable:
        _summarise(finding, LINE_NOT_IN_DIFF, result)
        return

    update: dict[str, object] = {}
    end_line = finding.end_line
    range_changed = False
    if end_line is not None and end_line <= finding.line:
        if end_line < finding.line:
            adjusted.append(RANGE_INVALID)
            range_changed = True
        end_line = None  # a range of one line is just the line
    elif end_line is not None and end_line > view.hunk_end[finding.line]:
        end_line = view.hunk_end[finding.line]
        adjusted.append(RANGE_CLAMPED)
        range_changed = True
    if end_line != finding.end_line:
        update["end_line"] = end_line
    if finding.suggestion is not None:
        if range_changed:
            update["suggestion"] = None
            adjusted.append(SUGGESTION_DROPPED)
        elif _same_code(finding.suggestion, view, finding.line, end_line or finding.line):
            update["suggestion"] = None
            adjusted.append(SUGGESTION_NO_OP)
    if update:
        finding = finding.model_copy(update=update)
    _keep(finding, adjusted, result)


def _keep(finding: Finding, adjusted: list[str], result: GroundingResult) -> None:
    for reason in adjusted:
        _count(result.adjusted, reason)
    result.kept.append(finding)


def _summarise(finding: Finding, reason: str, result: GroundingResult) -> None:
    _count(result.adjusted, reason)
    result.moved_to_summary.append(
        finding.model_copy(update={"line": None, "end_line": None, "suggestion": None})
    )


def _count(counts: dict[str, int], reason: str) -> None:
    counts[reason] = counts.get(reason, 0) + 1


def _same_code(suggestion: str, view: _FileView, first: int, last: int) -> bool:
    current = [view.text[n] for n in range(first, last + 1)]
    return suggestion.removesuffix("\n").split("\n") == current


def _normalise(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _normalise_lines(text: str) -> list[str]:
    """A quote as its non-blank lines, whitespace-normalised."""
    return [line for line in map(_normalise, text.split("\n")) if line]


@dataclass(frozen=True)
class _Match:
    line: int
    far: bool
    """Found only beyond :data:`EVIDENCE_WINDOW` of the cited line."""


@dataclass(frozen=True)
class _FileView:
    """A file's diff as the verifier reads it: the new-file lines it shows."""

    text: dict[int, str]
    """New-file line → its text, for added and context lines."""
    normalised: dict[int, str]
    hunk_end: dict[int, int]
    """New-file line → the last new-file line of its hunk."""
    commentable: frozenset[int]

    @classmethod
    def of(cls, diff_file: DiffFile) -> _FileView:
        text: dict[int, str] = {}
        hunk_end: dict[int, int] = {}
        for hunk in diff_file.hunks:
            last = hunk.new_start + hunk.new_count - 1
            for line in hunk.lines:
                if line.new_line is not None:
                    text[line.new_line] = line.text
                    hunk_end[line.new_line] = last
        return cls(
            text=text,
            normalised={n: _normalise(t) for n, t in text.items()},
            hunk_end=hunk_end,
            commentable=frozenset(text),
        )

    def find(self, quote: list[str], line: int | None, end_line: int | None) -> _Match | None:
        """Where ``quote`` starts: on the cited lines, else the nearest start within the window,
        else anywhere in the diff (``far``); ``None`` when the diff does not hold it."""
        if line is not None:
            last = max(end_line or line, line)
            for start in range(line, last + 1):
                if self._holds(quote, start):
                    return _Match(start, far=False)
            nearby = sorted(
                range(line - EVIDENCE_WINDOW, last + EVIDENCE_WINDOW + 1),
                key=lambda n: (abs(n - line), n),
            )
            for start in nearby:
                if self._holds(quote, start):
                    return _Match(start, far=False)
        for start in sorted(self.normalised):
            if self._holds(quote, start):
                return _Match(start, far=line is not None)
        return None

    def _holds(self, quote: list[str], start: int) -> bool:
        """Whether the quote's lines appear from line ``start`` on.

        One line must be a substring of that line. Several lines must be consecutive lines of
        the diff (blank lines aside): the first ending line ``start``, the last starting its line,
        the middle ones whole.
        """
        text = self.normalised.get(start)
        if not text:
            return False
        if len(quote) == 1:
            return quote[0] in text
        texts = [text]
        line = start + 1
        while len(texts) < len(quote) and line in self.normalised:
            if self.normalised[line]:
                texts.append(self.normalised[line])
            line += 1
        if len(texts) < len(quote):
            return False
        first, *middle, last = quote
        return texts[0].endswith(first) and texts[-1].startswith(last) and middle == texts[1:-1]
