"""Where a review comment may go: a file's diff lines, and GitHub's rules (and messages) for
anchoring a comment on them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prsaga.local.github_fake.objects import invalid_request, unprocessable

SIDES = ("LEFT", "RIGHT")

_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@dataclass(frozen=True)
class DiffLine:
    """One commentable line of a file's patch."""

    position: int
    """GitHub's ``position``: lines below the file's first ``@@`` header (hunk headers count)."""
    kind: str
    """``" "`` context, ``"+"`` added, ``"-"`` removed."""
    old_line: int | None
    new_line: int | None
    hunk: int
    """Position of the ``@@`` header of the hunk this line belongs to."""


@dataclass(frozen=True)
class FileDiff:
    """The parsed ``patch`` of one changed file."""

    patch_lines: tuple[str, ...]
    lines: tuple[DiffLine, ...]

    @classmethod
    def parse(cls, patch: str | None) -> FileDiff:
        """Parse a files-API ``patch`` (hunks from the first ``@@``); ``None`` has no lines."""
        if not patch:
            return cls((), ())
        patch_lines = tuple(patch.split("\n"))
        lines: list[DiffLine] = []
        old_line = new_line = hunk = 0
        for position, text in enumerate(patch_lines):
            header = _HUNK_HEADER.match(text)
            if header:
                old_line, new_line, hunk = int(header[1]), int(header[2]), position
            elif text.startswith("+"):
                lines.append(DiffLine(position, "+", None, new_line, hunk))
                new_line += 1
            elif text.startswith("-"):
                lines.append(DiffLine(position, "-", old_line, None, hunk))
                old_line += 1
            elif text.startswith(" ") or text == "":
                lines.append(DiffLine(position, " ", old_line, new_line, hunk))
                old_line += 1
                new_line += 1
            # "\ No newline at end of file" takes a position but is not a line of either side.
        return cls(patch_lines, tuple(lines))

    def find(self, side: str, number: int) -> DiffLine | None:
        """The diff line showing line ``number`` of the new (RIGHT) or old (LEFT) file."""
        for line in self.lines:
            if side == "RIGHT" and line.kind != "-" and line.new_line == number:
                return line
            if side == "LEFT" and line.kind != "+" and line.old_line == number:
                return line
        return None

    def at_position(self, position: int) -> DiffLine | None:
        """The diff line at a (legacy) ``position``."""
        return next((line for line in self.lines if line.position == position), None)

    def hunk_through(self, line: DiffLine) -> str:
        """GitHub's ``diff_hunk`` of a comment: its hunk from the header down to the line."""
        return "\n".join(self.patch_lines[line.hunk : line.position + 1])


@dataclass(frozen=True)
class ResolvedComment:
    """A review comment whose anchor was found in the diff."""

    path: str
    body: str
    end: DiffLine
    side: str
    start: DiffLine | None
    start_side: str | None
    diff_hunk: str

    @property
    def line(self) -> int | None:
        return self.end.new_line if self.side == "RIGHT" else self.end.old_line

    @property
    def start_line(self) -> int | None:
        if self.start is None:
            return None
        return self.start.new_line if self.start_side == "RIGHT" else self.start.old_line


_PATH_INVALID = "Pull request review thread path is invalid"

_POSITION_INVALID = "Pull request review thread position is invalid"

_LINE_NOT_IN_DIFF = "Pull request review thread line must be part of the diff"

_START_NOT_BEFORE_END = "Pull request review thread start line must precede the end line."

_START_OTHER_HUNK = (
    "Pull request review thread start line must be part of the same hunk as the line."
)

_HUNK_BLANK = "Pull request review thread diff hunk can't be blank"


def resolve_review_comment(
    diffs: Mapping[str, FileDiff], comment: Mapping[str, Any]
) -> ResolvedComment:
    """Anchor one ``comments[]`` item of a review to the diff, or raise GitHub's 422.

    GitHub accepts a comment only on a line its patch shows: RIGHT lines are added or context
    lines, LEFT lines are removed or context lines; a multi-line comment must stay in one hunk.
    """
    path = comment.get("path")
    body = comment.get("body")
    if not isinstance(path, str) or not isinstance(body, str):
        missing = "path" if not isinstance(path, str) else "body"
        raise invalid_request(f'"{missing}" wasn\'t supplied.')
    diff = diffs.get(path)
    if diff is None:
        raise unprocessable(_PATH_INVALID, _HUNK_BLANK)
    side = comment.get("side") or "RIGHT"
    start_side = comment.get("start_side") or side
    if side not in SIDES or start_side not in SIDES:
        raise invalid_request(f'"{side if side not in SIDES else start_side}" is not a side.')

    line_number = _optional_int(comment, "line")
    position = _optional_int(comment, "position")
    if line_number is None and position is not None:
        end = diff.at_position(position)
        if end is None:
            raise unprocessable(_POSITION_INVALID, _HUNK_BLANK)
        side = "LEFT" if end.kind == "-" else "RIGHT"
        return ResolvedComment(path, body, end, side, None, None, diff.hunk_through(end))
    if line_number is None:
        raise unprocessable(_LINE_NOT_IN_DIFF, _HUNK_BLANK)

    errors: list[str] = []
    end = diff.find(side, line_number)
    if end is None:
        errors.append(_LINE_NOT_IN_DIFF)
    start: DiffLine | None = None
    start_line = _optional_int(comment, "start_line")
    if start_line is not None:
        start = diff.find(start_side, start_line)
        if start_side == side and start_line >= line_number:
            errors.append(_START_NOT_BEFORE_END)
        elif start is not None and end is not None and start.position >= end.position:
            errors.append(_START_NOT_BEFORE_END)
        if start is None or end is None or start.hunk != end.hunk:
            errors.append(_START_OTHER_HUNK)
    if end is None:
        errors.append(_HUNK_BLANK)
    if errors:
        raise unprocessable(*errors)
    assert end is not None  # for the type checker: errors is empty
    return ResolvedComment(
        path,
        body,
        end,
        side,
        start,
        start_side if start is not None else None,
        diff.hunk_through(end),
    )


def _optional_int(comment: Mapping[str, Any], key: str) -> int | None:
    value = comment.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_request(f"For 'items/{key}', {json.dumps(value)} is not an integer.")
    return value
