"""Just enough git for the local GitHub server: commits with file trees, ancestry and diffs.

A pull request's history is a chain of commits on top of its base commit. Each commit carries
the contents the server knows at that commit (its ``tree``: the base branch's seeded contents
plus every change pushed since), so that comparing two commits, and re-anchoring review comments
after a push, can be computed rather than seeded. Patches follow git's unified format with three
lines of context, as GitHub's ``patch`` fields do (hunks from the first ``@@`` with git's
function context, no trailing newline, ``\\ No newline at end of file`` markers). The lines are
matched with :mod:`difflib` rather than git's Myers algorithm: the hunks are valid and the same
for simple edits, but a change with several equally short diffs may be aligned differently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

CONTEXT_LINES = 3
FUNCTION_CONTEXT_CHARS = 80
_NO_NEWLINE = "\\ No newline at end of file"


@dataclass
class Commit:
    """One commit of a repository as the server knows it."""

    sha: str
    parents: tuple[str, ...]
    tree: dict[str, bytes]
    """Path to content, for every file the server knows at this commit."""
    message: str
    author: dict[str, Any]
    """The GitHub user who made the commit."""
    date: str
    files: list[dict[str, Any]] | None = None
    """Seeded ``files`` of the commit (its diff against its parent); computed when ``None``."""


def git_blob_sha(data: bytes) -> str:
    """The git object id of a blob with this content (what GitHub calls a file's ``sha``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def new_commit_sha(*parts: str) -> str:
    """A stable, unique-looking 40-hex commit id derived from what makes the commit."""
    return hashlib.sha1("\0".join(parts).encode(), usedforsecurity=False).hexdigest()


def is_binary(data: bytes) -> bool:
    """Whether git would call this content binary (a NUL byte, or not text at all)."""
    if b"\0" in data:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8").splitlines(keepends=True)


def _hunk_range(start: int, length: int) -> str:
    """git's ``start,length`` of a hunk header (``start`` alone for one line)."""
    if length == 1:
        return str(start + 1)
    if length == 0:  # git names the line *before* an empty range
        return f"{start},0"
    return f"{start + 1},{length}"


def _function_context(before: list[str]) -> str:
    """git's default hunk-header context: the nearest line above that starts with a letter,
    ``_`` or ``$`` (e.g. ``@@ -20,3 +21,3 @@ def main():``), cut at 80 characters."""
    for line in reversed(before):
        if line[:1].isalpha() or line[:1] in ("_", "$"):
            return " " + line.rstrip()[:FUNCTION_CONTEXT_CHARS].rstrip()
    return ""


def _emit(prefix: str, lines: list[str]) -> Iterator[str]:
    for line in lines:
        yield prefix + line.removesuffix("\n")
        if not line.endswith("\n"):
            yield _NO_NEWLINE


def unified_patch(old: bytes, new: bytes) -> str | None:
    """GitHub's ``patch`` between two text contents, or ``None`` when nothing differs."""
    a, b = _lines(old), _lines(new)
    out: list[str] = []
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(CONTEXT_LINES):
        if all(tag == "equal" for tag, *_ in group):
            continue
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        header = f"@@ -{_hunk_range(i1, i2 - i1)} +{_hunk_range(j1, j2 - j1)} @@"
        out.append(header + _function_context(a[:i1]))
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                out.extend(_emit(" ", a[a1:a2]))
                continue
            if tag in ("replace", "delete"):
                out.extend(_emit("-", a[a1:a2]))
            if tag in ("replace", "insert"):
                out.extend(_emit("+", b[b1:b2]))
    return "\n".join(out) if out else None


def file_change(path: str, old: bytes | None, new: bytes | None) -> dict[str, Any] | None:
    """The files-API entry (without URLs) of one path between two trees; ``None`` if unchanged."""
    if old == new:
        return None
    status = "added" if old is None else "removed" if new is None else "modified"
    before, after = old or b"", new or b""
    # A removed file keeps the id of the blob it was (the files API's ``sha`` is never null
    # in GitHub's published schema).
    entry: dict[str, Any] = {
        "sha": git_blob_sha(new if new is not None else before),
        "filename": path,
        "status": status,
    }
    patch = None if is_binary(before) or is_binary(after) else unified_patch(before, after)
    additions = deletions = 0
    if patch is not None:
        for line in patch.split("\n"):
            if line.startswith("+"):
                additions += 1
            elif line.startswith("-"):
                deletions += 1
        entry["patch"] = patch
    entry.update(additions=additions, deletions=deletions, changes=additions + deletions)
    return entry


def changed_files(
    old_tree: Mapping[str, bytes], new_tree: Mapping[str, bytes]
) -> list[dict[str, Any]]:
    """Every path that differs between two trees, sorted by path, as files-API entries."""
    entries = (
        file_change(path, old_tree.get(path), new_tree.get(path))
        for path in sorted(set(old_tree) | set(new_tree))
    )
    return [entry for entry in entries if entry is not None]


def map_line(old: bytes, new: bytes, line: int) -> int | None:
    """Where line ``line`` (1-based) of ``old`` is in ``new``, if the change left it untouched."""
    if is_binary(old) or is_binary(new):
        return None
    matcher = SequenceMatcher(None, _lines(old), _lines(new), autojunk=False)
    for tag, i1, i2, j1, _ in matcher.get_opcodes():
        if tag == "equal" and i1 <= line - 1 < i2:
            return j1 + (line - 1 - i1) + 1
    return None


def ancestry(commits: Mapping[str, Commit], sha: str) -> list[str]:
    """``sha`` and every commit it descends from that the server knows, nearest first."""
    seen: list[str] = []
    pending = [sha]
    while pending:
        current = pending.pop(0)
        if current in seen or current not in commits:
            continue
        seen.append(current)
        pending.extend(commits[current].parents)
    return seen


def merge_base(commits: Mapping[str, Commit], base: str, head: str) -> str | None:
    """The nearest common ancestor of two commits (what ``git merge-base`` answers)."""
    of_base = set(ancestry(commits, base))
    return next((sha for sha in ancestry(commits, head) if sha in of_base), None)


def commits_between(commits: Mapping[str, Commit], base: str, head: str) -> list[str]:
    """Commits reachable from ``head`` but not from ``base``, oldest first (``base..head``)."""
    excluded = set(ancestry(commits, base))
    return [sha for sha in reversed(ancestry(commits, head)) if sha not in excluded]
