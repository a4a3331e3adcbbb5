"""hygiene: cheap checks for any language, by file name and on added lines.

By default: committed editor swap, backup and OS junk files (by name), unresolved merge-conflict
markers, trailing whitespace (never in Markdown, where two trailing spaces are a line break, or
in patches) and very large additions. Opt-in (``tools.hygiene.select``), because on the corpus
they were nits nobody acts on: ``todo-comment`` (TODO/FIXME/XXX markers) and
``missing-final-newline``. Ruff's own whitespace findings win over these on Python files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from prsaga.review.offline_policy import Candidate
from prsaga.review.texts import truncate
from prsaga.schema import Finding, Severity

from .runner import (
    EVIDENCE_MAX,
    MESSAGE_MAX,
    SUGGESTION_MAX,
    ChangedFile,
    ToolResult,
    line_count,
)

NAME = "hygiene"
CONFLICT_RULE = "merge-conflict-marker"
VERSION = "3"
"""Version of the hygiene rule set: bump it when its rules change."""
LARGE_ADDITION_LINES = 2000
LARGE_ADDITION_BYTES = 256 * 1024
"""A file to which a pull request adds this many lines or bytes gets a file-level finding:
nobody reviews that much of one file line by line, and it is often generated or vendored."""

_CONFLICT_MARKER = re.compile(r"^(?P<marker><{7}|>{7}|\|{7})(?: |$)")
_CONFLICT_SEPARATOR = "======="
_TODO_MARKER = re.compile(r"\b(?P<marker>TODO|FIXME|XXX)\b")
# Two trailing spaces are a Markdown line break; context lines of a patch may be a lone space.
_TRAILING_WHITESPACE_EXEMPT = frozenset({".md", ".markdown", ".diff", ".patch"})


def review(
    name_checked: Sequence[ChangedFile], scannable: Sequence[ChangedFile], agent: str
) -> ToolResult:
    """Junk-file checks on every file's name; content checks on the files with text."""
    candidates = [
        Candidate(finding, True)
        for file in name_checked
        if (finding := _junk_file_finding(file, agent)) is not None
    ]
    for file in scannable:
        candidates.extend(_content_findings(file, agent))
    return ToolResult(candidates=candidates, files=len(name_checked))


@dataclass(frozen=True)
class _JunkKind:
    rule: str
    title: str
    what: str


_SWAP_FILE = _JunkKind("editor-swap-file", "Editor swap file committed", "an editor swap file")
_BACKUP_FILE = _JunkKind("backup-file", "Backup file committed", "a backup or leftover file")
_OS_FILE = _JunkKind("os-metadata-file", "OS metadata file committed", "an OS metadata file")


def _junk_kind(name: str) -> _JunkKind | None:
    """What kind of junk a file name denotes, if any."""
    if name.endswith((".swp", ".swo", ".swn")):
        return _SWAP_FILE
    if name.endswith(("~", ".orig", ".rej")):
        return _BACKUP_FILE
    if name == ".DS_Store" or name.lower() == "thumbs.db":  # Windows names ignore case
        return _OS_FILE
    return None


def _junk_file_finding(file: ChangedFile, agent: str) -> Finding | None:
    kind = _junk_kind(PurePosixPath(file.path).name)
    if kind is None:
        return None
    return _hygiene_finding(
        file.path,
        None,
        kind.rule,
        Severity.MEDIUM,
        kind.title,
        f"`{file.path}` looks like {kind.what}, not part of the project. Remove it from the "
        "pull request (`git rm --cached`) and add its pattern to `.gitignore`.",
        agent,
    )


def _content_findings(file: ChangedFile, agent: str) -> list[Candidate]:
    """The checks that read a file's added lines."""
    lines = [line.removesuffix("\r") for line in (file.content or "").split("\n")]
    added = [(n, lines[n - 1]) for n in sorted(file.added_lines) if n <= len(lines)]
    candidates = [Candidate(f, True) for f in _conflict_marker_findings(file.path, added, agent)]
    candidates += [Candidate(f, False) for f in _todo_findings(file.path, added, agent)]
    if PurePosixPath(file.path).suffix not in _TRAILING_WHITESPACE_EXEMPT:
        whitespace = _trailing_whitespace_findings(file.path, added, agent)
        candidates += [Candidate(f, True) for f in whitespace]
    count = line_count(file.content or "")
    newline = _missing_final_newline_findings(file, count, agent)
    candidates += [Candidate(f, False) for f in newline]
    candidates += [Candidate(f, True) for f in _large_addition_findings(file, added, count, agent)]
    return candidates


def _conflict_marker_findings(
    path: str, added: Sequence[tuple[int, str]], agent: str
) -> list[Finding]:
    """Merge-conflict markers on added lines.

    A bare ``=======`` is also a reStructuredText or Markdown underline, so it only counts when
    the file also gained a ``<<<<<<<``, ``|||||||`` or ``>>>>>>>`` marker.
    """
    markers: list[tuple[int, str]] = []
    separators: list[int] = []
    for number, line in added:
        if match := _CONFLICT_MARKER.match(line):
            markers.append((number, match["marker"]))
        elif line == _CONFLICT_SEPARATOR:
            separators.append(number)
    if not markers:
        return []
    found = sorted([*markers, *((number, _CONFLICT_SEPARATOR) for number in separators)])
    return [
        _hygiene_finding(
            path,
            number,
            CONFLICT_RULE,
            Severity.HIGH,
            "Unresolved merge conflict",
            f"Line {number} starts with the merge-conflict marker `{marker}`: a conflict was "
            "committed unresolved. Resolve it and delete the marker lines.",
            agent,
            evidence=marker,
        )
        for number, marker in found
    ]


def _todo_findings(path: str, added: Sequence[tuple[int, str]], agent: str) -> list[Finding]:
    """TODO, FIXME and XXX markers on added lines: work the pull request leaves for later.

    Only the marker is quoted: the rest of the line is the author's text, and could hold
    anything.
    """
    findings: list[Finding] = []
    for number, line in added:
        if match := _TODO_MARKER.search(line):
            marker = match["marker"]
            findings.append(
                _hygiene_finding(
                    path,
                    number,
                    "todo-comment",
                    Severity.INFO,
                    f"{marker} added",
                    f"Line {number} adds a `{marker}`: work left for later. Finish it in this "
                    "pull request, or track it in an issue and name the issue here.",
                    agent,
                    evidence=marker,
                )
            )
    return findings


def _trailing_whitespace_findings(
    path: str, added: Sequence[tuple[int, str]], agent: str
) -> list[Finding]:
    findings: list[Finding] = []
    for number, line in added:
        if line == line.rstrip(" \t"):
            continue
        blank = not line.strip(" \t")
        suggestion, evidence = whitespace_fix(line)
        what = "is blank but holds spaces or tabs" if blank else "ends with spaces or tabs"
        findings.append(
            _hygiene_finding(
                path,
                number,
                "trailing-whitespace",
                Severity.LOW,
                "Trailing whitespace",
                f"Line {number} {what}. Remove them (most editors can do it on save).",
                agent,
                suggestion=suggestion,
                evidence=evidence,
            )
        )
    return findings


def _missing_final_newline_findings(
    file: ChangedFile, line_count: int, agent: str
) -> list[Finding]:
    """A file that does not end with a newline, when the pull request added its last line."""
    content = file.content or ""
    if not content or content.endswith("\n") or line_count not in file.added_lines:
        return []
    return [
        _hygiene_finding(
            file.path,
            line_count,
            "missing-final-newline",
            Severity.LOW,
            "No newline at end of file",
            "The file does not end with a newline. POSIX tools expect one, and without it the "
            "next line added to the file shows this line as changed too. Add a newline at the "
            "end.",
            agent,
        )
    ]


def _large_addition_findings(
    file: ChangedFile, added: Sequence[tuple[int, str]], line_count: int, agent: str
) -> list[Finding]:
    """A file-level finding when the pull request adds a very large amount to one file.

    Only what the pull request added is measured, so editing a large file is not a problem.
    """
    added_bytes = sum(len(line.encode("utf-8")) + 1 for _, line in added)
    if len(added) < LARGE_ADDITION_LINES and added_bytes < LARGE_ADDITION_BYTES:
        return []
    new_file = len(added) == line_count
    size = f"{len(added):,} lines, {added_bytes / 1024:,.0f} KiB"
    return [
        _hygiene_finding(
            file.path,
            None,
            "large-file",
            Severity.LOW,
            "Very large file added" if new_file else "Very large addition to a file",
            f"This pull request adds {size} to `{file.path}`, too much to review line by "
            "line. If the file is generated or vendored, mark it so (for example "
            "`linguist-generated` in `.gitattributes`) and exclude it from review with an "
            "ignore glob in the repository's prsaga configuration; otherwise consider "
            "splitting the change.",
            agent,
        )
    ]


def _hygiene_finding(
    path: str,
    line: int | None,
    rule: str,
    severity: Severity,
    title: str,
    message: str,
    agent: str,
    *,
    suggestion: str | None = None,
    evidence: str | None = None,
) -> Finding:
    return Finding(
        agent=agent,
        tool=NAME,
        rule=rule,
        path=path,
        line=line,
        severity=severity,
        title=title,
        message=truncate(message, MESSAGE_MAX),
        category="hygiene",
        suggestion=suggestion,
        evidence=evidence,
    )


def whitespace_fix(line: str) -> tuple[str | None, str | None]:
    """(suggestion, evidence) for a line with trailing whitespace: the line without it, and the
    text it ends with (none for a blank line). No suggestion for a line too long to post."""
    fixed = line.rstrip(" \t")
    suggestion = fixed if len(fixed) <= SUGGESTION_MAX else None
    evidence = fixed.strip()[-EVIDENCE_MAX:] or None
    return suggestion, evidence
