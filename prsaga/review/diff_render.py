"""The diff as the model sees it, and what it costs in tokens.

One rendering serves both sides of a chunk: :mod:`prsaga.review.chunking` measures it to pack
files and hunks into token budgets, and :mod:`prsaga.adapters.claude` sends it. A chunk's size is
therefore the size of the text the model receives, not of some other layout.

The rendering is additive: a file is its header line followed by its hunks, each hunk laid out on
its own (its number column is as wide as the hunk needs), so the cost of any selection of hunks
is the sum of their costs plus the header's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from prsaga.review.diff import DiffFile, Hunk, LineKind
from prsaga.review.redact import redact

__all__ = [
    "CHARS_PER_TOKEN",
    "estimate_tokens",
    "file_header",
    "render_chunk",
    "render_file",
    "render_hunk",
    "truncate_to_budget",
]

CHARS_PER_TOKEN = 3
"""Source code runs at about three characters per token for Claude's tokenizer (prose at about
four): counting three keeps chunks under their budget rather than over it."""

_MARKERS = {LineKind.ADDED: "+", LineKind.REMOVED: "-", LineKind.CONTEXT: " "}
_MISSING_PATCH = {
    "no_textual_change": "no textual change (binary, empty, or renamed only)",
    "too_large": "diff too large to show",
}


def estimate_tokens(text: str) -> int:
    """A cheap, deliberately pessimistic token count: one token per :data:`CHARS_PER_TOKEN`
    characters, rounded up."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def render_chunk(files: Sequence[DiffFile], budget_tokens: int | None = None) -> str:
    """The diff as the model sees it, secrets masked, cut to ``budget_tokens`` when given.

    Per file a ``file: "PATH" (STATUS)`` header (the path JSON-quoted, so no file name can break
    the layout), then per hunk its ``@@`` header and one line per diff line::

        file: "src/app.py" (modified)
        @@ -10,3 +10,4 @@ def load():
        10   unchanged line
        11 + added line
           - removed line

    The number column is as wide as the hunk's largest new-file line number; it holds the
    new-file line number of added and unchanged lines (the lines a review comment can target)
    and is blank for removed lines. Then one space, the marker (``+``, ``-`` or space), one
    space, and the line's text. A file without hunks gets a note saying why.

    Args:
        files: The files to show, each with the hunks to show (see
            ``prsaga.review.chunking.select``).
        budget_tokens: When given, the text is cut to this many tokens (as
            :func:`estimate_tokens` counts) by :func:`truncate_to_budget`.
    """
    text = "\n".join(render_file(diff_file) for diff_file in files)
    return text if budget_tokens is None else truncate_to_budget(text, budget_tokens)


def file_header(diff_file: DiffFile) -> str:
    """The line that opens a file: ``file: "PATH" (STATUS)``, with ``from "OLD"`` for a rename."""
    status = diff_file.status.value
    if diff_file.previous_path is not None:
        status += f", from {json.dumps(diff_file.previous_path)}"
    return f"file: {json.dumps(diff_file.path)} ({status})"


def render_file(diff_file: DiffFile) -> str:
    """One file of :func:`render_chunk`: its header, then its hunks (or why it has none).

    Secrets are masked over all of the file's lines at once, so that a value found in one hunk is
    also masked where it recurs in another. Such a value is 8 characters or more and its mask
    keeps at most a third of it plus 4 characters, so this only shortens the text:
    ``render_file`` is never longer than ``file_header`` and each :func:`render_hunk` joined by
    newlines, and equal to it when no secret recurs across hunks.
    """
    header = file_header(diff_file)
    if not diff_file.hunks:
        reason = _MISSING_PATCH.get(diff_file.patch_missing or "", "no textual change")
        return f"{header}\n({reason})"
    texts = _redact_lines([line.text for hunk in diff_file.hunks for line in hunk.lines])
    parts = [header]
    start = 0
    for hunk in diff_file.hunks:
        end = start + len(hunk.lines)
        parts.append(_hunk_text(hunk, texts[start:end]))
        start = end
    return "\n".join(parts)


def render_hunk(hunk: Hunk) -> str:
    """One hunk as :func:`render_file` lays it out: its ``@@`` line and its numbered lines."""
    return _hunk_text(hunk, _redact_lines([line.text for line in hunk.lines]))


def _hunk_text(hunk: Hunk, texts: Sequence[str]) -> str:
    """The hunk laid out with ``texts`` (its lines' masked texts) in place of the lines' own."""
    header = f"@@ -{hunk.old_start},{hunk.old_count} +{hunk.new_start},{hunk.new_count} @@"
    width = len(str(hunk.new_start + hunk.new_count))
    lines = [f"{header} {redact(hunk.section)}".rstrip()]
    for line, text in zip(hunk.lines, texts, strict=True):
        number = "" if line.new_line is None else str(line.new_line)
        lines.append(f"{number:>{width}} {_MARKERS[line.kind]} {text}")
    return "\n".join(lines)


def _redact_lines(texts: list[str]) -> list[str]:
    """The lines with secrets masked, masked as one text so that multi-line private keys are
    recognised."""
    masked = redact("\n".join(texts)).split("\n")
    # redact() keeps the lines; should that ever change, line numbers must still be right.
    return masked if len(masked) == len(texts) else [redact(text) for text in texts]


def truncate_to_budget(text: str, budget_tokens: int) -> str:
    """``text`` cut at a line boundary to fit ``budget_tokens``, ending with a note of how many
    lines were cut: ``(N more lines not shown: over the token budget)``.

    The note is always kept, so a budget too small even for it gives just the note.
    """
    if estimate_tokens(text) <= budget_tokens:
        return text
    lines = text.split("\n")
    low, high = 0, len(lines) - 1
    # The most lines that fit together with the note (the estimate grows with the lines kept).
    while low < high:
        middle = (low + high + 1) // 2
        if estimate_tokens(_cut(lines, middle)) <= budget_tokens:
            low = middle
        else:
            high = middle - 1
    return _cut(lines, low)


def _cut(lines: list[str], keep: int) -> str:
    # In parentheses like the missing-patch note: it cannot be mistaken for a diff line.
    note = f"({len(lines) - keep} more lines not shown: over the token budget)"
    return "\n".join([*lines[:keep], note])
