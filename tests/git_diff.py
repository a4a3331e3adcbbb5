"""Whole ``git diff`` texts (and GitHub's ``.diff``) as `DiffFile`s, for the tests.

Production reads GitHub's per-file patches only (``prsaga.review.diff``); the tests' fixtures
and generated cases are git diffs, read here with the same hunk parser, so that a fixture's
files compare with what GitHub's files API makes of the same pull request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prsaga.review.diff import (
    COMBINED_DIFF_HINT,
    DiffFile,
    DiffParseError,
    FileStatus,
    Hunk,
    LineKind,
    ParsedPullRequest,
    parse_hunks,
    split_lines,
    unexpected_after_hunks,
)
from prsaga.schema import DiffRef, PullRequestRef

_DEV_NULL = "/dev/null"
# The escapes git's quote_c_style() writes; any other byte it escapes as three octal digits.
_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def parsed_pull_request(*files: DiffFile, head_sha: str = "b" * 40) -> ParsedPullRequest:
    """``o/r#1`` at ``head_sha`` with ``files``, as the parse agent stores it."""
    return ParsedPullRequest(
        ref=DiffRef(pr=PullRequestRef(owner="o", repo="r", number=1), head_sha=head_sha),
        base_sha="a" * 40,
        title="t",
        html_url="https://github.com/o/r/pull/1",
        author="octocat",
        state="open",
        draft=False,
        files=list(files),
    )


def parse_unified_diff(text: str) -> list[DiffFile]:
    """Parse a whole ``git diff`` (or GitHub ``.diff``) into its files, in order.

    Text before the first ``diff --git`` (a commit message from ``git show``, mail headers) is
    skipped. Combined diffs of merge commits (``diff --cc``) are rejected: GitHub never serves them
    for a pull request.
    """
    lines = split_lines(text)
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
        raise DiffParseError(first.split(" ", 2)[2], index + 1, COMBINED_DIFF_HINT)
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
    hunks, index = parse_hunks(lines, index, path)
    if index < len(lines) and not lines[index].startswith("diff "):
        raise unexpected_after_hunks(lines, index, path, expected="a hunk header or 'diff --git'")
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
