"""Unified-diff parsing: which lines of a pull request a review comment may target.

GitHub accepts a review comment on ``side: "RIGHT"`` only on a line of the new file that the diff
shows (an added or a context line), and on ``side: "LEFT"`` only on a removed or context line of
the old file; anything else is rejected with a 422. Findings are grounded against this module, so
it is strict: a hunk that does not hold exactly the lines its header announces is an error, never a
guess.

Two inputs are understood:

* the items of ``GET /repos/{owner}/{repo}/pulls/{number}/files`` (:func:`diff_file_from_github`),
  whose ``patch`` is one file's hunks (:func:`parse_patch`);
* a whole ``git diff`` / GitHub ``.diff`` (:func:`parse_unified_diff`), for tests, the command
  line and cross-checks.

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
    "parse_patch",
    "parse_unified_diff",
]

PatchMissing = Literal["no_textual_change", "too_large"]

_HUNK_HEADER = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)", re.DOTALL)
_DEV_NULL = "/dev/null"
_SYMLINK_MODE = "120000"
# The escapes git's quote_c_style() writes; any other byte it escapes as three octal digits.
_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}
_COMBINED_DIFF_HINT = (
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


class DiffLine(BaseModel):
    """One line of a hunk, numbered on the side(s) it belongs to."""

    model_config = ConfigDict(frozen=True)

    kind: LineKind
    old_line: int | None
    """Line number in the old file (removed and context lines)."""
    new_line: int | None
    """Line number in the new file (added and context lines)."""
    text: str
    """The line without its ``+``/``-``/space prefix and without the ``\\r`` of a CRLF ending."""
    crlf: bool = False
    """The line ended in ``\\r\\n`` (kept out of ``text``: CRLF files compare like others)."""


class Hunk(BaseModel):
    """One ``@@ -a,b +c,d @@`` block and its lines."""

    model_config = ConfigDict(frozen=True)

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    section: str
    """The text after the second ``@@`` (git's function context); may be empty."""
    lines: list[DiffLine]
    old_no_newline_at_eof: bool = False
    """The old file's last line, shown in this hunk, has no final newline."""
    new_no_newline_at_eof: bool = False
    """The new file's last line, shown in this hunk, has no final newline."""


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
    old_mode: str | None = None
    """Octal git mode of the old file (``100644``, ``120000``...), known from a git diff only."""
    new_mode: str | None = None
    """Octal git mode of the new file, from a git diff only (GitHub's file items carry no mode)."""

    @model_validator(mode="after")
    def _hunks_only_with_a_patch(self) -> DiffFile:
        if self.patch_missing is not None and self.hunks:
            raise ValueError(f"{self.path}: hunks given but patch_missing={self.patch_missing!r}")
        return self

    @property
    def is_symlink(self) -> bool:
        """The new file (or the removed one) is a symbolic link; known from a git diff only."""
        return _SYMLINK_MODE in (self.new_mode, self.old_mode)

    def added_lines(self) -> frozenset[int]:
        """New-file line numbers of the added lines."""
        return frozenset(
            line.new_line
            for hunk in self.hunks
            for line in hunk.lines
            if line.kind is LineKind.ADDED and line.new_line is not None
        )

    def commentable_lines(self) -> frozenset[int]:
        """New-file lines GitHub accepts a ``side: "RIGHT"`` comment on: added and context."""
        return frozenset(line.new_line for line in self._lines() if line.new_line is not None)

    def commentable_old_lines(self) -> frozenset[int]:
        """Old-file lines GitHub accepts a ``side: "LEFT"`` comment on: removed and context."""
        return frozenset(line.old_line for line in self._lines() if line.old_line is not None)

    def new_line_text(self, line: int) -> str | None:
        """Text of new-file line ``line`` if the diff shows it (added or context), else ``None``."""
        for hunk in self.hunks:
            if hunk.new_start <= line < hunk.new_start + hunk.new_count:
                for diff_line in hunk.lines:
                    if diff_line.new_line == line:
                        return diff_line.text
        return None

    def _lines(self) -> Iterator[DiffLine]:
        for hunk in self.hunks:
            yield from hunk.lines


# --- public entry points ---------------------------------------------------------------------


def parse_patch(patch: str, *, path: str = "<patch>") -> list[Hunk]:
    """Parse one file's hunks: GitHub's per-file ``patch`` (from the first ``@@``).

    A final newline is optional (GitHub sends none). Raises :class:`DiffParseError` on anything that
    is not a well-formed sequence of hunks.
    """
    lines = _split_lines(patch)
    hunks, end = _parse_hunks(lines, 0, path)
    if end < len(lines):
        raise _unexpected_after_hunks(lines, end, path, expected="a hunk header '@@ -a,b +c,d @@'")
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


def parse_unified_diff(text: str) -> list[DiffFile]:
    """Parse a whole ``git diff`` (or GitHub ``.diff``) into its files, in order.

    Text before the first ``diff --git`` (a commit message from ``git show``, mail headers) is
    skipped. Combined diffs of merge commits (``diff --cc``) are rejected: GitHub never serves them
    for a pull request.
    """
    lines = _split_lines(text)
    index = 0
    while index < len(lines) and not lines[index].startswith("diff "):
        if lines[index].startswith(("--- ", "+++ ", "@@ ")):
            raise DiffParseError(
                "<diff>", index + 1, "expected a git diff: file content before any 'diff --git'"
            )
        index += 1
    files: list[DiffFile] = []
    while index < len(lines):
        diff_file, index = _parse_file(lines, index)
        files.append(diff_file)
    return files


# --- hunks ------------------------------------------------------------------------------------


def _split_lines(text: str) -> list[str]:
    # str.splitlines() would also split on \r, \f, \x1c, U+2028... that can sit inside a line.
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def _parse_hunks(lines: list[str], index: int, path: str) -> tuple[list[Hunk], int]:
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
        raise DiffParseError(path, header_number, _COMBINED_DIFF_HINT)
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

    body: list[DiffLine] = []
    old_line, new_line = old_start, new_start
    old_left, new_left = old_count, new_count
    old_eof = new_eof = False
    index += 1
    while True:
        raw = lines[index] if index < len(lines) else None
        tag = raw[:1] if raw is not None else ""
        if tag == "\\":
            # "\ No newline at end of file" belongs to the line just before it.
            if not body:
                raise DiffParseError(path, index + 1, "'\\' marker before any line of the hunk")
            old_eof = old_eof or body[-1].old_line is not None
            new_eof = new_eof or body[-1].new_line is not None
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
        kind = _LINE_KINDS[tag]
        on_old, on_new = kind is not LineKind.ADDED, kind is not LineKind.REMOVED
        if (on_old and not old_left) or (on_new and not new_left):
            raise _overflow(path, index, header, kind)
        if (on_old and old_eof) or (on_new and new_eof):
            raise _after_eof(path, index)
        crlf = raw.endswith("\r")
        body.append(
            DiffLine(
                kind=kind,
                old_line=old_line if on_old else None,
                new_line=new_line if on_new else None,
                text=raw[1:-1] if crlf else raw[1:],
                crlf=crlf,
            )
        )
        if on_old:
            old_line, old_left = old_line + 1, old_left - 1
        if on_new:
            new_line, new_left = new_line + 1, new_left - 1
        index += 1

    hunk = Hunk(
        old_start=old_start,
        old_count=old_count,
        new_start=new_start,
        new_count=new_count,
        section=section,
        lines=body,
        old_no_newline_at_eof=old_eof,
        new_no_newline_at_eof=new_eof,
    )
    return hunk, index


def _unexpected_after_hunks(
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
    added = sum(line.kind is LineKind.ADDED for hunk in hunks for line in hunk.lines)
    removed = sum(line.kind is LineKind.REMOVED for hunk in hunks for line in hunk.lines)
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


# --- git diff file headers -------------------------------------------------------------------


@dataclass
class _FileHeader:
    """What the extended header lines of one ``diff --git`` entry said."""

    old_name: str
    new_name: str
    minus_path: str | None = None
    plus_path: str | None = None
    old_mode: str | None = None
    new_mode: str | None = None
    is_new: bool = False
    is_deleted: bool = False
    renamed_from: str | None = None
    renamed_to: str | None = None
    copied_from: str | None = None
    copied_to: str | None = None
    is_binary: bool = False


def _parse_file(lines: list[str], index: int) -> tuple[DiffFile, int]:
    first = lines[index].removesuffix("\r")
    if first.startswith(("diff --cc ", "diff --combined ")):
        raise DiffParseError(first.split(" ", 2)[2], index + 1, _COMBINED_DIFF_HINT)
    if not first.startswith("diff --git "):
        raise DiffParseError("<diff>", index + 1, f"expected 'diff --git', found {first!r}")
    old_name, new_name = _split_git_header(first.removeprefix("diff --git "), index + 1)
    header = _FileHeader(old_name, new_name)
    index += 1

    while index < len(lines) and not lines[index].startswith(("@@", "diff ")):
        line = lines[index].removesuffix("\r")
        _read_header_line(header, line, index + 1)
        index += 1
        if line.startswith("GIT binary patch"):
            # Base85 data lines never contain a space, so the next "diff " line ends the blob.
            while index < len(lines) and not lines[index].startswith("diff "):
                index += 1

    path = _final_path(header)
    hunks, index = _parse_hunks(lines, index, path)
    if index < len(lines) and not lines[index].startswith("diff "):
        raise _unexpected_after_hunks(lines, index, path, expected="a hunk header or 'diff --git'")
    return _build_file(header, path, hunks), index


def _read_header_line(header: _FileHeader, line: str, number: int) -> None:
    path = header.new_name
    key, _, value = line.partition(" ")
    if line.startswith("--- "):
        header.minus_path = _diff_path(line[4:], "a/", number, path)
    elif line.startswith("+++ "):
        header.plus_path = _diff_path(line[4:], "b/", number, path)
    elif line.startswith("Binary files ") or line.startswith("GIT binary patch"):
        header.is_binary = True
    elif line.startswith("old mode "):
        header.old_mode = line.removeprefix("old mode ")
    elif line.startswith("new mode "):
        header.new_mode = line.removeprefix("new mode ")
    elif line.startswith("new file mode "):
        header.is_new = True
        header.new_mode = line.removeprefix("new file mode ")
    elif line.startswith("deleted file mode "):
        header.is_deleted = True
        header.old_mode = line.removeprefix("deleted file mode ")
    elif line.startswith("rename from "):
        header.renamed_from = _header_value(line.removeprefix("rename from "), number, path)
    elif line.startswith("rename to "):
        header.renamed_to = _header_value(line.removeprefix("rename to "), number, path)
    elif line.startswith("copy from "):
        header.copied_from = _header_value(line.removeprefix("copy from "), number, path)
    elif line.startswith("copy to "):
        header.copied_to = _header_value(line.removeprefix("copy to "), number, path)
    elif key == "index":
        # "index abc..def 100644": the trailing mode is only given when it did not change.
        _, _, mode = value.partition(" ")
        if mode:
            header.old_mode = header.old_mode or mode
            header.new_mode = header.new_mode or mode
    elif not line.startswith(("similarity index ", "dissimilarity index ")):
        raise DiffParseError(path, number, f"unexpected line in the file header: {line!r}")


def _final_path(header: _FileHeader) -> str:
    if header.is_deleted:
        return header.minus_path or header.old_name
    return header.renamed_to or header.copied_to or header.plus_path or header.new_name


def _build_file(header: _FileHeader, path: str, hunks: list[Hunk]) -> DiffFile:
    previous_path = header.renamed_from or header.copied_from
    if header.is_new or header.minus_path == _DEV_NULL:
        status = FileStatus.ADDED
    elif header.is_deleted or header.plus_path == _DEV_NULL:
        status = FileStatus.REMOVED
    elif header.renamed_from is not None:
        status = FileStatus.RENAMED
    elif header.copied_from is not None:
        status = FileStatus.COPIED
    elif not hunks and not header.is_binary and header.old_mode != header.new_mode:
        # A mode-only change. Assumed to be GitHub's "changed" (as the fixtures assume; GitHub does
        # not document it). Only this function guesses: GitHub items carry their own status.
        status = FileStatus.CHANGED
    else:
        status = FileStatus.MODIFIED
    return DiffFile(
        path=path,
        previous_path=previous_path if status in (FileStatus.RENAMED, FileStatus.COPIED) else None,
        status=status,
        additions=sum(line.kind is LineKind.ADDED for hunk in hunks for line in hunk.lines),
        deletions=sum(line.kind is LineKind.REMOVED for hunk in hunks for line in hunk.lines),
        hunks=hunks,
        # GitHub would send no patch for such an entry either: nothing textual changed.
        patch_missing=None if hunks else "no_textual_change",
        is_binary=header.is_binary,
        old_mode=None if status is FileStatus.ADDED else header.old_mode,
        new_mode=None if status is FileStatus.REMOVED else header.new_mode,
    )


# --- path quoting --------------------------------------------------------------------------------


def _split_git_header(rest: str, number: int) -> tuple[str, str]:
    """Split ``a/OLD b/NEW`` of a ``diff --git`` line into the two names, prefixes removed.

    git quotes a name holding unusual characters; an unquoted pair is ambiguous when the names
    contain spaces, but this line is only relied on when the names are equal (otherwise git also
    writes ``rename from``/``rename to`` or ``---``/``+++`` lines), so equal halves are looked for.
    """
    where = "<diff>"
    if rest.startswith('"'):
        old, end = _unquote(rest, number, where)
        new = rest[end:].removeprefix(" ")
        if new.startswith('"'):
            new = _unquote(new, number, where)[0]
        return old.removeprefix("a/"), new.removeprefix("b/")
    if rest.endswith('"') and ' "' in rest:
        # Unquoted old name, quoted new name: the old one cannot hold '"', or git had quoted it.
        old, _, quoted = rest.partition(' "')
        return old.removeprefix("a/"), _unquote('"' + quoted, number, where)[0].removeprefix("b/")
    middle = len(rest) // 2
    if len(rest) % 2 == 1 and rest[middle] == " ":
        old, new = rest[:middle].removeprefix("a/"), rest[middle + 1 :].removeprefix("b/")
        if old == new:
            return old, new
    old, sep, new = rest.partition(" b/")
    if not sep:
        raise DiffParseError(where, number, f"cannot read the file names of 'diff --git {rest}'")
    return old.removeprefix("a/"), new


def _diff_path(value: str, prefix: str, number: int, path: str) -> str:
    """The name on a ``---``/``+++`` line: quoted or not, without ``a/``/``b/`` or a timestamp."""
    if value.startswith('"'):
        name = _unquote(value, number, path)[0]
    else:
        # git ends a name holding a space with a tab; other diff tools put a timestamp after it.
        name = value.split("\t", 1)[0]
    return name if name == _DEV_NULL else name.removeprefix(prefix)


def _header_value(value: str, number: int, path: str) -> str:
    return _unquote(value, number, path)[0] if value.startswith('"') else value


def _unquote(text: str, number: int, path: str) -> tuple[str, int]:
    """Decode the C-style quoted name ``text`` starts with (git's quote_c_style).

    Returns the name and the index after its closing quote; octal escapes are UTF-8 bytes.
    """
    out = bytearray()
    index = 1
    while index < len(text):
        char = text[index]
        if char == '"':
            return out.decode("utf-8", errors="replace"), index + 1
        if char != "\\":
            out += char.encode("utf-8")
            index += 1
            continue
        escape = text[index + 1 : index + 2]
        if escape in _C_ESCAPES:
            out.append(_C_ESCAPES[escape])
            index += 2
        elif re.fullmatch(r"[0-3][0-7]{2}", text[index + 1 : index + 4]):
            out.append(int(text[index + 1 : index + 4], 8))
            index += 4
        else:
            raise DiffParseError(path, number, f"bad escape in quoted name {text!r}")
    raise DiffParseError(path, number, f"unterminated quoted name {text!r}")


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

    def analyzable_files(self) -> list[DiffFile]:
        """Files present at the head, in a fixed order so that batches are stable across retries."""
        return sorted((f for f in self.files if f.status != "removed"), key=lambda f: f.path)
