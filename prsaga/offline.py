"""The offline reviewer: real linters and scanners on a pull request's changed files, no LLM.

An activity fetches the changed files at the head commit and calls :func:`review_files`, which
runs three tools and reports only what they find on lines the pull request added, so a review
never nags about code the author did not touch:

* **ruff** on Python files: the binary shipped by the ``ruff`` wheel, run with ``--isolated`` so
  that configuration files in the pull request (which anyone can write) are never read.
* **detect-secrets** on every text file, with its default plugins and default filters. The
  filters (sequential strings, UUIDs, templated values, lock files, ...) only drop false
  positives of the keyword and entropy detectors; they do not hide keys that a regex plugin
  recognises (private keys, cloud and SaaS tokens). ``--no-verify`` is always passed, because
  verifying a candidate secret means sending it to a third-party API. An inline
  ``pragma: allowlist secret`` is honoured, like ruff's ``noqa``: it is visible in the diff.
* **hygiene**: committed editor swap, backup and OS junk files (by name) and unresolved
  merge-conflict markers.

Tools run as subprocesses on a private temporary directory, each with a timeout; a tool that
crashes or times out is recorded in :class:`ToolRun` and the other tools still report.
Repeated findings of one rule in one file are folded into a single finding, so reviews stay
short.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict
from ruff.__main__ import find_ruff_bin

from prsaga.models import MAX_ALSO_ON_LINES, Finding, Severity

logger = logging.getLogger(__name__)

RUFF = "ruff"
DETECT_SECRETS = "detect-secrets"
HYGIENE = "hygiene"
HYGIENE_VERSION = "1"
"""Version of the hygiene rule set: bump it when its rules change."""

PYTHON_SUFFIXES = frozenset({".py", ".pyi"})

_TITLE_MAX = 200
_MESSAGE_MAX = 4000

# Ruff's rule codes are a linter prefix and digits ("F401", "E999"); syntax errors have no code
# in current releases and are reported as "invalid-syntax".
_RUFF_CODE = re.compile(r"^(?P<linter>[A-Z]+)(?P<number>[0-9]+)$")
_RUFF_SYNTAX_ERROR = "invalid-syntax"
_RUFF_UNUSED_RULES = frozenset({"F401", "F841", "F842"})

_CONFLICT_MARKER = re.compile(r"^(?P<marker><{7}|>{7}|\|{7})(?: |$)")
_CONFLICT_SEPARATOR = "======="


class ChangedFile(BaseModel):
    """One file a pull request changed, as it is at the head commit.

    Files the pull request deleted must not be passed: they do not exist at the head commit, and
    a deleted junk file is a fix, not a problem.
    """

    model_config = ConfigDict(frozen=True)

    path: str
    """Repository-relative path as GitHub gives it (untrusted: checked before it touches disk)."""
    content: str | None
    """The file's text at the head commit; ``None`` when it could not be fetched (binary, too
    large)."""
    added_lines: frozenset[int]
    """New-file line numbers the pull request added."""


class ToolRun(BaseModel):
    """What one tool did in a review: how many files it looked at and findings it reported."""

    tool: str
    version: str
    files: int
    findings: int
    """Findings reported on added lines, after folding."""
    error: str | None = None
    """Why the tool failed (crash, timeout, unreadable output); never holds file content."""


class SkippedFile(BaseModel):
    """A changed file the content tools could not review, and why."""

    path: str
    reason: str


class OfflineReview(BaseModel):
    """The offline reviewer's result for a batch of changed files."""

    findings: list[Finding]
    tools: list[ToolRun]
    skipped: list[SkippedFile]


@dataclass(frozen=True)
class _ToolResult:
    """Findings of one tool before they are restricted to added lines and folded."""

    findings: list[Finding]
    files: int
    error: str | None = None


@dataclass(frozen=True)
class _Prepared:
    """A changed file whose content the tools can scan, and where it was written."""

    file: ChangedFile
    content: str
    relative_path: str


def review_files(
    files: Sequence[ChangedFile],
    *,
    ruff_select: Sequence[str],
    agent: str = "offline",
    timeout_seconds: float = 60,
) -> OfflineReview:
    """Run the offline tools on a pull request's changed files.

    Args:
        files: The changed files at the head commit (deleted files excluded).
        ruff_select: Ruff rule codes or prefixes to check (``--select``); empty disables ruff.
        agent: The agent name put on every finding.
        timeout_seconds: Time limit for each tool's subprocess.

    Returns:
        Findings on added lines (plus file-level hygiene findings), folded per file and rule and
        sorted by path, line, tool and rule; what each tool did; the files that were skipped.
    """
    skipped: list[SkippedFile] = []
    name_checked: list[ChangedFile] = []
    scannable: list[ChangedFile] = []
    seen: set[str] = set()
    for file in files:
        problem = _unsafe_path_reason(file.path)
        if problem is None and file.path in seen:
            problem = "duplicate path in this batch"
        if problem is not None:
            skipped.append(SkippedFile(path=file.path, reason=problem))
            continue
        seen.add(file.path)
        name_checked.append(file)
        if not file.added_lines:
            continue  # rename, mode change, empty or binary file: no content check applies
        if file.content is None:
            reason = "content not available at the head commit (binary or too large)"
            skipped.append(SkippedFile(path=file.path, reason=reason))
        elif "\x00" in file.content:
            skipped.append(SkippedFile(path=file.path, reason="binary content"))
        else:
            scannable.append(file)

    added_by_path = {file.path: file.added_lines for file in name_checked}
    results: dict[str, _ToolResult] = {}
    with tempfile.TemporaryDirectory(prefix="prsaga-offline-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp).resolve()
        prepared, write_failures = _write_files(root, scannable)
        skipped.extend(write_failures)
        python_files = [p for p in prepared if PurePosixPath(p.file.path).suffix in PYTHON_SUFFIXES]
        if python_files and ruff_select:
            results[RUFF] = _run_ruff(root, python_files, ruff_select, agent, timeout_seconds)
        if prepared:
            results[DETECT_SECRETS] = _run_detect_secrets(root, prepared, agent, timeout_seconds)
    results[HYGIENE] = _ToolResult(
        findings=[
            *(f for file in name_checked if (f := _junk_file_finding(file, agent)) is not None),
            *(f for file in scannable for f in _conflict_marker_findings(file, agent)),
        ],
        files=len(name_checked),
    )

    findings: list[Finding] = []
    tools: list[ToolRun] = []
    for tool, result in results.items():
        reported = _fold(_on_added_lines(result.findings, added_by_path, tool))
        findings.extend(reported)
        tools.append(
            ToolRun(
                tool=tool,
                version=_tool_version(tool),
                files=result.files,
                findings=len(reported),
                error=result.error,
            )
        )
    findings.sort(key=_sort_key)
    skipped.sort(key=lambda s: s.path)
    return OfflineReview(findings=findings, tools=tools, skipped=skipped)


# --- paths and files ---------------------------------------------------------------------------


def _unsafe_path_reason(path: str) -> str | None:
    """Why a path from GitHub must not be written under the scan directory, if it must not."""
    if not path or "\x00" in path:
        return "unsafe path: empty or contains NUL"
    if path.startswith("/"):
        return "unsafe path: absolute"
    # Checked on the raw segments: PurePosixPath would silently collapse "a//b" and "./a".
    if any(part in ("", ".", "..") for part in path.split("/")):
        return "unsafe path: empty, '.' or '..' segment"
    return None


def _write_files(
    root: Path, files: Iterable[ChangedFile]
) -> tuple[list[_Prepared], list[SkippedFile]]:
    """Write files under ``root`` at their repository paths, byte for byte (line endings kept)."""
    prepared: list[_Prepared] = []
    failures: list[SkippedFile] = []
    for file in files:
        assert file.content is not None  # only scannable files get here
        target = (root / file.path).resolve()
        if not target.is_relative_to(root) or target == root:
            failures.append(SkippedFile(path=file.path, reason="unsafe path: escapes scan dir"))
            continue
        try:
            data = file.content.encode("utf-8")
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("xb") as stream:  # "x": never follow or overwrite anything
                stream.write(data)
        except UnicodeEncodeError:
            failures.append(SkippedFile(path=file.path, reason="content is not valid UTF-8"))
            continue
        except OSError as error:
            reason = f"could not be written for scanning ({type(error).__name__})"
            failures.append(SkippedFile(path=file.path, reason=reason))
            continue
        relative = target.relative_to(root).as_posix()
        prepared.append(_Prepared(file=file, content=file.content, relative_path=relative))
    return prepared, failures


def _line_count(content: str) -> int:
    """Lines as git counts them (split on "\\n"), at least 1."""
    count = content.count("\n") + (0 if content.endswith("\n") else 1)
    return max(count, 1)


# --- subprocesses --------------------------------------------------------------------------------


class _ToolFailure(Exception):
    """A tool did not produce a usable result; the message is safe to record."""


def _run(argv: Sequence[str], cwd: Path, timeout: float) -> str:
    """Run a tool and return its standard output.

    The tool gets its own process group so that a timeout kills it and anything it started.

    Raises:
        _ToolFailure: It could not start, timed out or exited with a non-zero status.
    """
    try:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as error:
        raise _ToolFailure(f"could not start ({type(error).__name__})") from error
    try:
        stdout, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise _ToolFailure(f"timed out after {timeout:g} s") from None
    if process.returncode != 0:
        # stderr is neither recorded nor logged: a scanner may echo the text it was scanning.
        logger.warning("%s exited with status %s", argv[0], process.returncode)
        raise _ToolFailure(f"exited with status {process.returncode}")
    return stdout.decode("utf-8", "replace")


def _parse_json(output: str) -> Any:
    try:
        return json.loads(output)
    except json.JSONDecodeError as error:
        raise _ToolFailure("unreadable output (not JSON)") from error


def _tool_version(tool: str) -> str:
    if tool == HYGIENE:
        return HYGIENE_VERSION
    try:
        return version(tool)
    except PackageNotFoundError:
        return "unknown"


# --- ruff ---------------------------------------------------------------------------------------


def _run_ruff(
    root: Path,
    files: Sequence[_Prepared],
    select: Sequence[str],
    agent: str,
    timeout: float,
) -> _ToolResult:
    try:
        binary = find_ruff_bin()
    except FileNotFoundError:
        return _ToolResult(findings=[], files=len(files), error="ruff binary not found")
    argv = [
        binary,
        "check",
        "--isolated",
        "--no-cache",
        "--exit-zero",
        "--output-format=json",
        f"--select={','.join(select)}",
        "--",
        *(p.relative_path for p in files),
    ]
    try:
        diagnostics = _parse_json(_run(argv, root, timeout))
        if not isinstance(diagnostics, list):
            raise _ToolFailure("unexpected output (not a list)")
    except _ToolFailure as failure:
        return _ToolResult(findings=[], files=len(files), error=str(failure))

    by_disk_path = {(root / p.relative_path).resolve(): p for p in files}
    findings: list[Finding] = []
    for diagnostic in diagnostics:
        source = by_disk_path.get((root / diagnostic["filename"]).resolve())
        location = diagnostic.get("location")
        if source is None or not location:
            continue
        findings.append(_ruff_finding(diagnostic, source, agent))
    return _ToolResult(findings=findings, files=len(files))


def _ruff_finding(diagnostic: dict[str, Any], source: _Prepared, agent: str) -> Finding:
    """A finding from one diagnostic of ruff's JSON output."""
    rule = diagnostic.get("code") or _RUFF_SYNTAX_ERROR
    name = diagnostic.get("name") or rule
    text = (diagnostic.get("message") or name).strip()
    last_line = _line_count(source.content)
    # Ruff may point one past the last line (unexpected end of file): clamp to a real line.
    line = min(diagnostic["location"]["row"], last_line)
    end = diagnostic.get("end_location") or diagnostic["location"]
    end_line = end["row"]
    if end["column"] == 1 and end_line > line:
        # A range ending at column 1 ends with the previous line's newline.
        end_line -= 1
    end_line = max(min(end_line, last_line), line)

    rule_text = f"Rule: {rule} ({name})." if name != rule else f"Rule: {rule}."
    details = [text if text.endswith(".") else f"{text}.", rule_text]
    fix = diagnostic.get("fix") or {}
    if fix.get("message"):
        details.append(f"Suggested fix: {fix['message']}.")
    if diagnostic.get("url"):
        details.append(f"See {diagnostic['url']}")
    return Finding(
        agent=agent,
        tool=RUFF,
        rule=rule,
        path=source.file.path,
        line=line,
        end_line=end_line if end_line > line else None,
        severity=ruff_severity(rule),
        title=_truncate(text.splitlines()[0], _TITLE_MAX),
        message=_truncate("\n".join(details), _MESSAGE_MAX),
    )


def ruff_severity(rule: str) -> Severity:
    """How much a ruff rule matters: syntax errors high, likely bugs medium, style low."""
    if rule == _RUFF_SYNTAX_ERROR:
        return Severity.HIGH
    match = _RUFF_CODE.match(rule)
    if match is None:
        return Severity.LOW
    linter, number = match["linter"], match["number"]
    if linter == "E" and number.startswith("9"):
        return Severity.HIGH
    if rule in _RUFF_UNUSED_RULES:
        return Severity.LOW
    if linter in ("F", "B"):
        return Severity.MEDIUM
    return Severity.LOW


# --- detect-secrets -----------------------------------------------------------------------------


def _run_detect_secrets(
    root: Path, files: Sequence[_Prepared], agent: str, timeout: float
) -> _ToolResult:
    argv = [
        # -I (isolated mode) keeps the scan directory off sys.path: a pull request that adds
        # "json.py" or "detect_secrets/__init__.py" must not get its code imported.
        sys.executable,
        "-I",
        "-m",
        "detect_secrets",
        "scan",
        "--no-verify",
        "--",
        *(p.relative_path for p in files),
    ]
    try:
        report = _parse_json(_run(argv, root, timeout))
        results = report["results"] if isinstance(report, dict) else None
        if not isinstance(results, dict):
            raise _ToolFailure("unexpected output (no results)")
    except _ToolFailure as failure:
        return _ToolResult(findings=[], files=len(files), error=str(failure))

    by_relative_path = {p.relative_path: p for p in files}
    findings: list[Finding] = []
    for relative_path, secrets in results.items():
        source = by_relative_path.get(relative_path)
        if source is None:
            continue
        for secret in secrets:
            # Only the type and line are read: the report never carries the value, and
            # neither does the finding.
            secret_type = str(secret["type"])
            findings.append(_secret_finding(secret_type, source, secret["line_number"], agent))
    return _ToolResult(findings=findings, files=len(files))


def _secret_finding(secret_type: str, source: _Prepared, line: int, agent: str) -> Finding:
    path = source.file.path
    message = (
        f"detect-secrets found what looks like a {secret_type} on line {line} of `{path}`. "
        "If it is real, treat it as leaked: revoke or rotate it now, then remove it from the "
        "branch and its history (deleting it in a later commit leaves it in the history). "
        "If it is a test value, build it at run time instead, or mark the line with "
        "`pragma: allowlist secret`."
    )
    return Finding(
        agent=agent,
        tool=DETECT_SECRETS,
        rule=secret_type,
        path=path,
        line=line,
        severity=Severity.CRITICAL,
        title=_truncate(f"Possible secret committed: {secret_type}", _TITLE_MAX),
        message=_truncate(message, _MESSAGE_MAX),
    )


# --- hygiene ------------------------------------------------------------------------------------


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
    return Finding(
        agent=agent,
        tool=HYGIENE,
        rule=kind.rule,
        path=file.path,
        severity=Severity.MEDIUM,
        title=kind.title,
        message=_truncate(
            f"`{file.path}` looks like {kind.what}, not part of the project. Remove it from the "
            "pull request (`git rm --cached`) and add its pattern to `.gitignore`.",
            _MESSAGE_MAX,
        ),
    )


def _conflict_marker_findings(file: ChangedFile, agent: str) -> list[Finding]:
    """Merge-conflict markers on added lines.

    A bare ``=======`` is also a reStructuredText or Markdown underline, so it only counts when
    the file also gained a ``<<<<<<<``, ``|||||||`` or ``>>>>>>>`` marker.
    """
    markers: list[tuple[int, str]] = []
    separators: list[int] = []
    for number, line in enumerate((file.content or "").split("\n"), start=1):
        if number not in file.added_lines:
            continue
        line = line.removesuffix("\r")
        if match := _CONFLICT_MARKER.match(line):
            markers.append((number, match["marker"]))
        elif line == _CONFLICT_SEPARATOR:
            separators.append(number)
    if not markers:
        return []
    found = sorted([*markers, *((number, _CONFLICT_SEPARATOR) for number in separators)])
    return [
        Finding(
            agent=agent,
            tool=HYGIENE,
            rule="merge-conflict-marker",
            path=file.path,
            line=number,
            severity=Severity.HIGH,
            title="Unresolved merge conflict",
            message=(
                f"Line {number} starts with the merge-conflict marker `{marker}`: a conflict was "
                "committed unresolved. Resolve it and delete the marker lines."
            ),
        )
        for number, marker in found
    ]


# --- selection, folding, ordering ---------------------------------------------------------------


def _on_added_lines(
    findings: Iterable[Finding], added_by_path: dict[str, frozenset[int]], tool: str
) -> list[Finding]:
    """Keep findings that touch added lines, anchored on the first added line they cover.

    A finding whose range starts on an unchanged line but covers added lines is about the pull
    request's code, so it is kept and moved onto the added line, where a review comment can go.
    Its range is cut to the run of consecutive added lines it starts with, so that a multi-line
    comment never spans code the pull request did not add. File-level findings are only
    expected from hygiene and are kept.
    """
    kept: list[Finding] = []
    for finding in findings:
        if finding.line is None:
            if tool == HYGIENE:
                kept.append(finding)
            continue
        added = added_by_path.get(finding.path, frozenset())
        last = finding.end_line or finding.line
        first_added = next((n for n in range(finding.line, last + 1) if n in added), None)
        if first_added is None:
            continue
        end = first_added
        while end + 1 <= last and end + 1 in added:
            end += 1
        kept.append(
            finding.model_copy(
                update={"line": first_added, "end_line": end if end > first_added else None}
            )
        )
    return kept


def _fold(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (file, tool, rule): the first, with the other lines in ``also_on_lines``."""
    groups: dict[tuple[str, str, str], list[Finding]] = {}
    # A stable sort keeps the tool's own order (ruff's columns) among findings on one line.
    for finding in sorted(findings, key=_sort_key):
        groups.setdefault((finding.path, finding.tool, finding.rule), []).append(finding)
    folded: list[Finding] = []
    for first, *rest in groups.values():
        also = sorted({f.line for f in rest if f.line is not None and f.line != first.line})
        if also:
            first = first.model_copy(
                update={
                    "also_on_lines": also[:MAX_ALSO_ON_LINES],
                    "also_on_more": max(0, len(also) - MAX_ALSO_ON_LINES),
                }
            )
        folded.append(first)
    return folded


def _sort_key(finding: Finding) -> tuple[str, int, str, str]:
    return finding.path, finding.line or 0, finding.tool, finding.rule


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
