"""Unified-diff parsing: which lines of a pull request a review comment may target.

GitHub accepts a review comment on ``side: "RIGHT"`` only on a line of the new file that the diff
shows (an added or a context line), and on ``side: "LEFT"`` only on a removed or context line of
the old file; anything else is rejected with a 422. Findings are grounded against this module, so
it is strict: a hunk that does not hold exactly the lines its header announces is an error, never a
guess.

Its input is what production reads: the items of ``GET /repos/{owner}/{repo}/pulls/{number}/files``
(:func:`diff_file_from_github`), whose ``patch`` is one file's hunks (:func:`parse_patch`). The
tests read whole ``git diff`` texts with the same hunk parser (``tests/git_diff.py``).

Only the standard library and pydantic are used, so workflows may import this module.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from prsaga.schema import DiffRef, GitHubTime

logger = logging.getLogger(__name__)

__all__ = [
    "DiffFile",
    "DiffLine",
    "DiffParseError",
    "FileStatus",
    "Hunk",
    "LineKind",
    "PatchMissing",
    "diff_file_from_github",
    "parse_hunks",
    "parse_patch",
    "split_lines",
    "unexpected_after_hunks",
]

PatchMissing = Literal["no_textual_change", "too_large"]

_HUNK_HEADER = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)", re.DOTALL)
COMBINED_DIFF_HINT = (
    "combined diff (diff --cc / @@@, as git shows merge commits) is not a pull-request format; "
    "diff the merge against its first parent, or the pull request's base...head"
)


class DiffParseError(ValueError):
    """A diff that cannot be parsed exactly; the message names the file and the line."""

    def __init__(self, path: str, line_number: int | None, problem: str) -> None:
        self.path = path
        self.line_number = line_number
        self.problem = problem
        where = f"{path}: line {line_number}" if line_number is not None else path
        super().__init__(f"{where}: {problem}")


class LineKind(StrEnum):
    """What a line of a hunk does."""

    ADDED = "added"
    REMOVED = "removed"
    CONTEXT = "context"


# A hunk line's first character and what it makes the line.
_LINE_KINDS = {" ": LineKind.CONTEXT, "-": LineKind.REMOVED, "+": LineKind.ADDED}


class FileStatus(StrEnum):
    """The ``status`` of a pull-request file, as GitHub spells it."""

    ADDED = "added"
    REMOVED = "removed"
    MODIFIED = "modified"
    RENAMED = "renamed"
    COPIED = "copied"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of a hunk, numbered on the side(s) it belongs to: a view built on demand from
    the hunk's compact storage (see :class:`Hunk`)."""

    kind: LineKind
    old_line: int | None
    """Line number in the old file (removed and context lines)."""
    new_line: int | None
    """Line number in the new file (added and context lines)."""
    text: str
    """The line without its ``+``/``-``/space prefix and without the ``\\r`` of a CRLF ending."""
    crlf: bool = False
    """The line ended in ``\\r\\n`` (kept out of ``text``: CRLF files compare like others)."""


_MARKER_OF_KIND = {kind: marker for marker, kind in _LINE_KINDS.items()}


class Hunk(BaseModel):
    """One ``@@ -a,b +c,d @@`` block and its lines.

    The lines are stored compactly, as two strings per hunk (``kinds`` and ``body``) instead of
    one object per line: a 100k-line pull request is a few thousand strings in memory and in its
    stored JSON, not a hundred thousand models. ``lines`` (and :class:`DiffFile`'s line sets)
    read them; ``Hunk(..., lines=[DiffLine, ...])`` still builds one.
    """

    model_config = ConfigDict(frozen=True)

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    section: str
    """The text after the second ``@@`` (git's function context); may be empty."""
    kinds: str
    """One character per line, in order: ``+`` added, ``-`` removed, space for context."""
    body: str
    """The lines without their prefix, joined by ``\\n`` (a CRLF line keeps its ``\\r``)."""
    old_no_newline_at_eof: bool = False
    """The old file's last line, shown in this hunk, has no final newline."""
    new_no_newline_at_eof: bool = False
    """The new file's last line, shown in this hunk, has no final newline."""

    @model_validator(mode="before")
    @classmethod
    def _from_lines(cls, data: Any) -> Any:
        if isinstance(data, dict) and "lines" in data:
            data = dict(data)
            lines: list[DiffLine] = data.pop("lines")
            data["kinds"] = "".join(_MARKER_OF_KIND[line.kind] for line in lines)
            data["body"] = "\n".join(line.text + ("\r" if line.crlf else "") for line in lines)
        return data

    @model_validator(mode="after")
    def _one_kind_per_line(self) -> Hunk:
        if self.kinds.strip(" +-"):
            raise ValueError(f"hunk line kinds must be ' ', '+' or '-': {self.kinds[:20]!r}")
        texts = self.body.count("\n") + 1 if self.kinds else 0
        if texts != len(self.kinds) or (not self.kinds and self.body):
            raise ValueError(f"hunk has {len(self.kinds)} line kinds but {texts} lines of text")
        return self

    @property
    def lines(self) -> list[DiffLine]:
        """The hunk's lines, numbered (built on each access: prefer the file's line sets)."""
        return list(self.iter_lines())

    def iter_lines(self) -> Iterator[DiffLine]:
        if not self.kinds:
            return
        old_line, new_line = self.old_start, self.new_start
        for marker, raw in zip(self.kinds, self.body.split("\n"), strict=True):
            crlf = raw.endswith("\r")
            text = raw[:-1] if crlf else raw
            if marker == "+":
                yield DiffLine(LineKind.ADDED, None, new_line, text, crlf)
                new_line += 1
            elif marker == "-":
                yield DiffLine(LineKind.REMOVED, old_line, None, text, crlf)
                old_line += 1
            else:
                yield DiffLine(LineKind.CONTEXT, old_line, new_line, text, crlf)
                old_line, new_line = old_line + 1, new_line + 1

    def new_side(self) -> Iterator[tuple[int, str]]:
        """(new-file line, text) of the added and context lines, without building line views."""
        if not self.kinds:
            return
        texts = self.body.split("\n")
        number = self.new_start
        for marker, raw in zip(self.kinds, texts, strict=True):
            if marker != "-":
                yield number, raw.removesuffix("\r")
                number += 1

    def added_numbers(self) -> Iterator[int]:
        number = self.new_start
        for marker in self.kinds:
            if marker == "+":
                yield number
            if marker != "-":
                number += 1

    def old_numbers(self) -> range:
        """Old-file lines the hunk shows (removed and context): its whole old range."""
        return range(self.old_start, self.old_start + self.kinds.count("-") + self.kinds.count(" "))

    def new_numbers(self) -> range:
        """New-file lines the hunk shows (added and context): its whole new range."""
        return range(self.new_start, self.new_start + self.kinds.count("+") + self.kinds.count(" "))

    def approx_bytes(self) -> int:
        """Roughly what the hunk holds in memory (its strings and the model around them)."""
        return len(self.body) + len(self.kinds) + len(self.section) + 400


class DiffFile(BaseModel):
    """One changed file of a pull request: its hunks and the lines a comment may target.

    ``patch_missing`` says why there are no hunks. GitHub omits ``patch`` when nothing textual
    changed (binary files, pure renames, mode-only changes, empty files: ``changes == 0``) and for
    very large per-file diffs (``changes > 0``). Without a patch no line is known to be in the diff,
    so no line is commentable.

    ``is_binary`` is true only on evidence: a ``Binary files ... differ`` or ``GIT binary patch``
    in a git diff; for a GitHub item, a *modified* file with no patch and no changed lines (a text
    change always has changed lines, a mode-only change is ``changed``). An added, removed or
    renamed binary file looks exactly like an empty or unchanged one in GitHub's answer, so it
    comes out as ``False``: read ``False`` as "not known to be binary".
    """

    model_config = ConfigDict(frozen=True)

    path: str
    previous_path: str | None = None
    """The old path of a renamed or copied file."""
    status: FileStatus
    additions: int
    deletions: int
    hunks: list[Hunk]
    patch_missing: PatchMissing | None = None
    is_binary: bool = False

    @model_validator(mode="after")
    def _hunks_only_with_a_patch(self) -> DiffFile:
        if self.patch_missing is not None and self.hunks:
            raise ValueError(f"{self.path}: hunks given but patch_missing={self.patch_missing!r}")
        return self

    def added_lines(self) -> frozenset[int]:
        """New-file line numbers of the added lines."""
        return frozenset(number for hunk in self.hunks for number in hunk.added_numbers())

    def commentable_lines(self) -> frozenset[int]:
        """New-file lines GitHub accepts a ``side: "RIGHT"`` comment on: added and context."""
        return frozenset(number for hunk in self.hunks for number in hunk.new_numbers())

    def commentable_old_lines(self) -> frozenset[int]:
        """Old-file lines GitHub accepts a ``side: "LEFT"`` comment on: removed and context."""
        return frozenset(number for hunk in self.hunks for number in hunk.old_numbers())

    def new_line_text(self, line: int) -> str | None:
        """Text of new-file line ``line`` if the diff shows it (added or context), else ``None``."""
        for hunk in self.hunks:
            if line in hunk.new_numbers():
                for number, text in hunk.new_side():
                    if number == line:
                        return text
        return None

    def approx_bytes(self) -> int:
        """Roughly what the file holds in memory."""
        return len(self.path) + 600 + sum(hunk.approx_bytes() for hunk in self.hunks)


# --- public entry points ---------------------------------------------------------------------


def parse_patch(patch: str, *, path: str = "<patch>") -> list[Hunk]:
    """Parse one file's hunks: GitHub's per-file ``patch`` (from the first ``@@``).

    A final newline is optional (GitHub sends none). Raises :class:`DiffParseError` on anything that
    is not a well-formed sequence of hunks.
    """
    lines = split_lines(patch)
    hunks, end = parse_hunks(lines, 0, path)
    if end < len(lines):
        raise unexpected_after_hunks(lines, end, path, expected="a hunk header '@@ -a,b +c,d @@'")
    return hunks


def diff_file_from_github(item: Mapping[str, Any]) -> DiffFile:
    """Build a :class:`DiffFile` from one item of GitHub's ``/pulls/{n}/files`` response."""
    path = item.get("filename")
    if not isinstance(path, str) or not path:
        raise DiffParseError("<github file item>", None, "item has no 'filename'")
    try:
        status = FileStatus(str(item.get("status")))
    except ValueError:
        raise DiffParseError(path, None, f"unknown file status {item.get('status')!r}") from None
    additions = _count(item, "additions", path)
    deletions = _count(item, "deletions", path)
    changes = item.get("changes", additions + deletions)
    previous_path = item.get("previous_filename") or None

    patch = item.get("patch")
    hunks = parse_patch(patch, path=path) if patch else []
    if patch:
        _warn_on_count_mismatch(path, hunks, additions, deletions)
    return DiffFile(
        path=path,
        previous_path=previous_path,
        status=status,
        additions=additions,
        deletions=deletions,
        hunks=hunks,
        patch_missing=None if patch else ("too_large" if changes else "no_textual_change"),
        is_binary=not patch and status is FileStatus.MODIFIED and not changes,
    )


# --- hunks ------------------------------------------------------------------------------------


def split_lines(text: str) -> list[str]:
    # str.splitlines() would also split on \r, \f, \x1c, U+2028... that can sit inside a line.
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def parse_hunks(lines: list[str], index: int, path: str) -> tuple[list[Hunk], int]:
    """Parse consecutive hunks from ``lines[index]``; return them and the index after them."""
    hunks: list[Hunk] = []
    while index < len(lines) and lines[index].startswith("@@"):
        header_number = index + 1
        hunk, index = _parse_hunk(lines, index, path)
        if hunks:
            _check_order(hunks[-1], hunk, path, header_number)
        hunks.append(hunk)
    return hunks, index


def _parse_hunk(lines: list[str], index: int, path: str) -> tuple[Hunk, int]:
    header = lines[index].removesuffix("\r")
    header_number = index + 1
    if header.startswith("@@@"):
        raise DiffParseError(path, header_number, COMBINED_DIFF_HINT)
    match = _HUNK_HEADER.fullmatch(header)
    if match is None:
        raise DiffParseError(path, header_number, f"malformed hunk header {header!r}")
    old_start, new_start = int(match[1]), int(match[3])
    old_count = 1 if match[2] is None else int(match[2])
    new_count = 1 if match[4] is None else int(match[4])
    for side, start, count in (("old", old_start, old_count), ("new", new_start, new_count)):
        if count and not start:
            raise DiffParseError(path, header_number, f"{side} range starts at line 0: {header!r}")
    section = match[5].removeprefix(" ")

    kinds: list[str] = []
    texts: list[str] = []
    old_left, new_left = old_count, new_count
    old_eof = new_eof = False
    index += 1
    while True:
        raw = lines[index] if index < len(lines) else None
        tag = raw[:1] if raw is not None else ""
        if tag == "\\":
            # "\ No newline at end of file" belongs to the line just before it.
            if not kinds:
                raise DiffParseError(path, index + 1, "'\\' marker before any line of the hunk")
            old_eof = old_eof or kinds[-1] != "+"
            new_eof = new_eof or kinds[-1] != "-"
            index += 1
            continue
        if not old_left and not new_left:
            break
        if raw is None or tag not in _LINE_KINDS:
            found = "the end of the patch" if raw is None else repr(raw)
            raise DiffParseError(
                path,
                index + 1 if raw is not None else header_number,
                f"hunk {header!r} is short: it still needs {old_left} old and {new_left} new "
                f"line(s), found {found}"
                + (" (an empty context line must be a single space)" if raw == "" else ""),
            )
        on_old, on_new = tag != "+", tag != "-"
        if (on_old and not old_left) or (on_new and not new_left):
            raise _overflow(path, index, header, _LINE_KINDS[tag])
        if (on_old and old_eof) or (on_new and new_eof):
            raise _after_eof(path, index)
        kinds.append(tag)
        texts.append(raw[1:])
        if on_old:
            old_left -= 1
        if on_new:
            new_left -= 1
        index += 1

    hunk = Hunk(
        old_start=old_start,
        old_count=old_count,
        new_start=new_start,
        new_count=new_count,
        section=section,
        kinds="".join(kinds),
        body="\n".join(texts),
        old_no_newline_at_eof=old_eof,
        new_no_newline_at_eof=new_eof,
    )
    return hunk, index


def unexpected_after_hunks(
    lines: list[str], index: int, path: str, expected: str
) -> DiffParseError:
    line = lines[index]
    if index and line[:1] in (" ", "-", "+"):
        return DiffParseError(
            path,
            index + 1,
            f"{line!r} is beyond the line counts of the hunk before it"
            " (the hunk is longer than its header says)",
        )
    return DiffParseError(path, index + 1, f"expected {expected}, found {line!r}")


def _overflow(path: str, index: int, header: str, kind: LineKind) -> DiffParseError:
    return DiffParseError(
        path,
        index + 1,
        f"{kind.value} line beyond the line counts of hunk {header!r} (the hunk is too long)",
    )


def _after_eof(path: str, index: int) -> DiffParseError:
    return DiffParseError(path, index + 1, "line after '\\ No newline at end of file' on its side")


def _check_order(previous: Hunk, hunk: Hunk, path: str, header_number: int) -> None:
    if previous.old_no_newline_at_eof or previous.new_no_newline_at_eof:
        raise DiffParseError(path, header_number, "hunk after the end of the file")
    old_end = previous.old_start + previous.old_count - 1
    new_end = previous.new_start + previous.new_count - 1
    if hunk.old_start <= old_end or hunk.new_start <= new_end:
        raise DiffParseError(
            path,
            header_number,
            f"hunk at -{hunk.old_start} +{hunk.new_start} overlaps or precedes the hunk before it",
        )


def _count(item: Mapping[str, Any], key: str, path: str) -> int:
    value = item.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DiffParseError(path, None, f"item has no valid {key!r}: {value!r}")
    return value


def _warn_on_count_mismatch(path: str, hunks: list[Hunk], additions: int, deletions: int) -> None:
    added = sum(hunk.kinds.count("+") for hunk in hunks)
    removed = sum(hunk.kinds.count("-") for hunk in hunks)
    if (added, removed) != (additions, deletions):
        # GitHub's counts are kept (they are what GitHub shows); the hunks stay the truth for lines.
        logger.warning(
            "%s: patch has +%d/-%d lines but GitHub counts +%d/-%d",
            path,
            added,
            removed,
            additions,
            deletions,
        )


class ParsedPullRequest(BaseModel):
    """A pull request at one head SHA with its whole parsed diff."""

    ref: DiffRef
    base_sha: str
    title: str
    body: str = ""
    html_url: str
    author: str
    state: str
    draft: bool
    labels: list[str] = []
    updated_at: GitHubTime | None = None
    files: list[DiffFile]

    def files_by_path(self) -> dict[str, DiffFile]:
        return {f.path: f for f in self.files}

    def approx_bytes(self) -> int:
        """Roughly what the parsed diff holds in memory (the worker's cache is bounded by it)."""
        return len(self.body) + len(self.title) + sum(f.approx_bytes() for f in self.files)

    def analyzable_files(self) -> list[DiffFile]:
        """Files present at the head, in a fixed order so that batches are stable across retries."""
        return sorted((f for f in self.files if f.status != "removed"), key=lambda f: f.path)
