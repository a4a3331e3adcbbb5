"""The offline reviewer: real linters and scanners on a pull request's changed files, no LLM.

An activity fetches the changed files at the head commit and calls :func:`review_files`, which
runs four tools and reports only what they find on lines the pull request added, so a review
never nags about code the author did not touch:

* **ruff** on Python files: the binary shipped by the ``ruff`` wheel, run with ``--isolated`` so
  that configuration files in the pull request (which anyone can write) are never read.
* **bandit** on Python files, for security problems, run as ``python -I -m bandit`` with the
  files (never a directory) as targets, so that its configuration comes only from us: ``--ini``
  names an ini file of ours (so bandit never looks for a ``.bandit`` file among the pull
  request's files), no ``-c`` (so no ``pyproject.toml`` or YAML configuration is read), and an
  empty ``--exclude`` (bandit's default exclusions match substrings, so ".git" would silently
  skip every file under ``.github/``). ``assert`` (B101) is not reported in test files, where
  asserts are how tests check, and the two tests that flag every use of ``subprocess`` are not
  run (:data:`BANDIT_SKIPS`).
* **detect-secrets** on every text file, with its default plugins and default filters. The
  filters (sequential strings, UUIDs, templated values, lock files, ...) only drop false
  positives of the keyword and entropy detectors; they do not hide keys that a regex plugin
  recognises (private keys, cloud and SaaS tokens). ``--no-verify`` is always passed, because
  verifying a candidate secret means sending it to a third-party API.
* **hygiene**, cheap checks for any language: committed editor swap, backup and OS junk files
  (by name), unresolved merge-conflict markers, TODO/FIXME/XXX markers, trailing whitespace
  (where ruff does not already check it; never in Markdown, where two trailing spaces are a line
  break, or in patches), a missing newline at the end of the file, and very large additions.

Inline suppressions that are visible in the diff are honoured, like ruff's ``noqa``: bandit's
``nosec`` and detect-secrets' ``pragma: allowlist secret``.

Every finding has a ``category`` (``style``, ``correctness``, ``security``, ``secrets``,
``hygiene``). No finding repeats a secret: detect-secrets findings name the kind of secret only,
bandit's hardcoded-password messages lose the quoted value, and findings quote a line
(``evidence``, ``suggestion``) only in files that detect-secrets scanned and found clean.

Tools run side by side as subprocesses on a private temporary directory, each with a timeout;
a tool that crashes or times out is recorded in :class:`ToolRun` and the other tools still
report. Repeated findings of one rule in one file are folded into a single finding, so reviews
stay short.
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
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict
from ruff.__main__ import find_ruff_bin

from prsaga.schema import MAX_ALSO_ON_LINES, Finding, Severity, SkippedFile, ToolRun

logger = logging.getLogger(__name__)

RUFF = "ruff"
BANDIT = "bandit"
DETECT_SECRETS = "detect-secrets"
HYGIENE = "hygiene"
HYGIENE_VERSION = "2"
"""Version of the hygiene rule set: bump it when its rules change."""

PYTHON_SUFFIXES = frozenset({".py", ".pyi"})
BANDIT_SUFFIXES = frozenset({".py"})
"""Stubs (``.pyi``) are never run, so bandit has nothing to say about them."""

BANDIT_SKIPS = ("B404", "B603")
"""Bandit tests not run: they fire on every use of ``subprocess``, safe or not. The dangerous
forms (``shell=True``: B602, B604, B605; a partial executable path: B607) are still reported."""

LARGE_ADDITION_LINES = 2000
LARGE_ADDITION_BYTES = 256 * 1024
"""A file to which a pull request adds this many lines or bytes gets a file-level finding:
nobody reviews that much of one file line by line, and it is often generated or vendored."""

_TITLE_MAX = 200
_MESSAGE_MAX = 4000
_EVIDENCE_MAX = 500
_SUGGESTION_MAX = 4000

# Ruff's rule codes are a linter prefix and digits ("F401", "E999"); syntax errors have no code
# in current releases and are reported as "invalid-syntax".
_RUFF_CODE = re.compile(r"^(?P<linter>[A-Z]+)(?P<number>[0-9]+)$")
_RUFF_SYNTAX_ERROR = "invalid-syntax"
_RUFF_UNUSED_RULES = frozenset({"F401", "F841", "F842"})
_RUFF_TRAILING_WHITESPACE = "W291"
_RUFF_BLANK_LINE_WHITESPACE = "W293"
_RUFF_MISSING_FINAL_NEWLINE = "W292"
_RUFF_HYGIENE_RULES = (
    _RUFF_TRAILING_WHITESPACE,
    _RUFF_BLANK_LINE_WHITESPACE,
    _RUFF_MISSING_FINAL_NEWLINE,
)

# Bandit's hardcoded-password tests put the password itself in their message.
_BANDIT_PASSWORD_TESTS = frozenset({"B105", "B106", "B107"})
_BANDIT_ASSERT_USED = "B101"
_BANDIT_SYNTAX_ERROR = "syntax error while parsing AST from file"
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
_TEST_FILE_NAME = re.compile(r"^(test_.*|.*_test|conftest)\.py$")

_CONFLICT_MARKER = re.compile(r"^(?P<marker><{7}|>{7}|\|{7})(?: |$)")
_CONFLICT_SEPARATOR = "======="
_TODO_MARKER = re.compile(r"\b(?P<marker>TODO|FIXME|XXX)\b")
_ALLOWLIST_PRAGMA = re.compile(r"pragma: ?(?:allow|white)list secret")
# Two trailing spaces are a Markdown line break; context lines of a patch may be a lone space.
_TRAILING_WHITESPACE_EXEMPT = frozenset({".md", ".markdown", ".diff", ".patch"})


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

    @cached_property
    def lines(self) -> list[str]:
        """The content split once (a file can have thousands of diagnostics)."""
        return self.content.split("\n")

    @cached_property
    def line_count(self) -> int:
        return _line_count(self.content)

    def line_text(self, number: int) -> str:
        """Line ``number`` (1-based), without its line ending."""
        lines = self.lines
        return lines[number - 1].removesuffix("\r") if number <= len(lines) else ""


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
    with tempfile.TemporaryDirectory(prefix="prsaga-offline-", ignore_cleanup_errors=True) as tmp:
        # The pull request's files go under scan/; our own tool configuration lives beside it,
        # where no path from the pull request can reach.
        scratch = Path(tmp).resolve()
        root = scratch / "scan"
        root.mkdir()
        prepared, write_failures = _write_files(root, scannable)
        skipped.extend(write_failures)
        python_files = [p for p in prepared if _suffix(p.file.path) in PYTHON_SUFFIXES]
        bandit_files = [p for p in python_files if _suffix(p.file.path) in BANDIT_SUFFIXES]
        # Each tool is its own process: run them side by side (the slowest sets the pace).
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="offline-tool") as pool:
            jobs: dict[str, Future[_ToolResult]] = {}
            if python_files and ruff_select:
                jobs[RUFF] = pool.submit(
                    _run_ruff, root, python_files, ruff_select, agent, timeout_seconds
                )
            if bandit_files:
                jobs[BANDIT] = pool.submit(
                    _run_bandit, root, scratch, bandit_files, agent, timeout_seconds
                )
            if prepared:
                jobs[DETECT_SECRETS] = pool.submit(
                    _run_detect_secrets, root, prepared, agent, timeout_seconds
                )
            results = {tool: job.result() for tool, job in jobs.items()}
    results[HYGIENE] = _ToolResult(
        findings=[
            *(f for file in name_checked if (f := _junk_file_finding(file, agent)) is not None),
            *(f for file in scannable for f in _content_findings(file, ruff_select, agent)),
        ],
        files=len(name_checked),
    )
    quotable = _quotable_paths(prepared, results)

    findings: list[Finding] = []
    tools: list[ToolRun] = []
    for tool, result in results.items():
        reported = _fold(_on_added_lines(result.findings, added_by_path, tool))
        findings.extend(f if f.path in quotable else _without_quotes(f) for f in reported)
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


def _quotable_paths(prepared: Sequence[_Prepared], results: dict[str, _ToolResult]) -> set[str]:
    """Files whose lines findings may quote: detect-secrets scanned them and found nothing.

    A file with a secret anywhere quotes nothing (detect-secrets reports a private key on its
    first line only), nor does a file with an allowlisted secret or a hardcoded password bandit
    found; when detect-secrets failed, no file does.
    """
    secrets = results.get(DETECT_SECRETS)
    if secrets is None or secrets.error is not None:
        return set()
    bandit = results.get(BANDIT)
    passwords = bandit.findings if bandit is not None else []
    unsafe = {f.path for f in secrets.findings} | {
        f.path for f in passwords if f.rule in _BANDIT_PASSWORD_TESTS
    }
    return {
        p.file.path
        for p in prepared
        if p.file.path not in unsafe and not _ALLOWLIST_PRAGMA.search(p.content)
    }


def _without_quotes(finding: Finding) -> Finding:
    if finding.evidence is None and finding.suggestion is None:
        return finding
    return finding.model_copy(update={"evidence": None, "suggestion": None})


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

    source_of = _source_lookup(root, files)
    findings: list[Finding] = []
    for diagnostic in diagnostics:
        source = source_of(str(diagnostic["filename"]))
        location = diagnostic.get("location")
        if source is None or not location:
            continue
        findings.append(_ruff_finding(diagnostic, source, agent))
    return _ToolResult(findings=findings, files=len(files))


def _source_lookup(root: Path, files: Sequence[_Prepared]) -> Callable[[str], _Prepared | None]:
    """The scanned file a tool's reported path (relative to ``root`` or absolute) names."""
    by_disk_path = {(root / p.relative_path).resolve(): p for p in files}
    return lambda reported: by_disk_path.get((root / reported).resolve())


def _ruff_finding(diagnostic: dict[str, Any], source: _Prepared, agent: str) -> Finding:
    """A finding from one diagnostic of ruff's JSON output."""
    rule = diagnostic.get("code") or _RUFF_SYNTAX_ERROR
    name = diagnostic.get("name") or rule
    text = (diagnostic.get("message") or name).strip()
    last_line = source.line_count
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
    suggestion = evidence = None
    # Ruff marks the fix unsafe when the whitespace is inside a string, where it is content.
    whitespace_rules = (_RUFF_TRAILING_WHITESPACE, _RUFF_BLANK_LINE_WHITESPACE)
    if rule in whitespace_rules and fix.get("applicability") == "safe":
        suggestion, evidence = _whitespace_fix(source.line_text(line))
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
        category=ruff_category(rule),
        suggestion=suggestion,
        evidence=evidence,
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


def ruff_category(rule: str) -> str:
    """What kind of problem a ruff rule reports.

    Syntax errors, runtime errors (E9), pyflakes (F) and bugbear (B) rules point at code that
    misbehaves: ``correctness``; pyflakes' unused-name rules are clutter, not bugs: ``style``,
    like every other linter's rules (pycodestyle, imports, naming, ...). The flake8-bandit port
    (S), when selected, is ``security``.
    """
    if rule == _RUFF_SYNTAX_ERROR:
        return "correctness"
    match = _RUFF_CODE.match(rule)
    if match is None or rule in _RUFF_UNUSED_RULES:
        return "style"
    linter, number = match["linter"], match["number"]
    if linter in ("F", "B") or (linter == "E" and number.startswith("9")):
        return "correctness"
    if linter == "S":
        return "security"
    return "style"


def _ruff_selects(select: Sequence[str], rule: str) -> bool:
    """Whether ``--select`` with these codes or prefixes checks ``rule``."""
    return any(code == "ALL" or rule.startswith(code) for code in select)


# --- bandit -------------------------------------------------------------------------------------


def _run_bandit(
    root: Path, config_dir: Path, files: Sequence[_Prepared], agent: str, timeout: float
) -> _ToolResult:
    # An ini file of ours stops bandit from looking for a ".bandit" file under its targets; an
    # empty section means "no options from the ini file".
    ini = config_dir / "bandit.ini"
    ini.write_text("[bandit]\n", encoding="utf-8")
    argv = [
        # -I keeps the scan directory off sys.path (see detect-secrets below).
        sys.executable,
        "-I",
        "-m",
        "bandit",
        "--quiet",
        "--format=json",
        "--exit-zero",
        f"--ini={ini}",
        "--exclude=",
        f"--skip={','.join(BANDIT_SKIPS)}",
        "--",
        # "./" so that a file named "-" is not read as standard input.
        *(f"./{p.relative_path}" for p in files),
    ]
    try:
        report = _parse_json(_run(argv, root, timeout))
        issues = report.get("results") if isinstance(report, dict) else None
        errors = report.get("errors") if isinstance(report, dict) else None
        if not isinstance(issues, list) or not isinstance(errors, list):
            raise _ToolFailure("unexpected output (no results)")
    except _ToolFailure as failure:
        return _ToolResult(findings=[], files=len(files), error=str(failure))

    source_of = _source_lookup(root, files)
    findings: list[Finding] = []
    for issue in issues:
        source = source_of(str(issue.get("filename", "")))
        if source is None or not isinstance(issue.get("line_number"), int):
            continue
        if issue.get("test_id") == _BANDIT_ASSERT_USED and _is_test_path(source.file.path):
            continue
        findings.append(_bandit_finding(issue, source, agent))
    # Files that do not parse are left to ruff, which reports syntax errors on their lines.
    unscanned = sum(
        1 for e in errors if not isinstance(e, dict) or e.get("reason") != _BANDIT_SYNTAX_ERROR
    )
    error = f"could not scan {unscanned} of {len(files)} files" if unscanned else None
    return _ToolResult(findings=findings, files=len(files), error=error)


def _bandit_finding(issue: dict[str, Any], source: _Prepared, agent: str) -> Finding:
    """A finding from one issue of bandit's JSON output (its ``code`` excerpt is never read)."""
    rule = str(issue.get("test_id") or BANDIT)
    name = str(issue.get("test_name") or rule)
    text = _bandit_text(rule, str(issue.get("issue_text") or name))
    severity = str(issue.get("issue_severity") or "UNDEFINED").upper()
    confidence = str(issue.get("issue_confidence") or "UNDEFINED").upper()
    last_line = source.line_count
    line = max(min(issue["line_number"], last_line), 1)
    line_range = [n for n in issue.get("line_range") or [] if isinstance(n, int)]
    end_line = max(min(max(line_range, default=line), last_line), line)

    details = [
        text if text.endswith(".") else f"{text}.",
        f"Rule: {rule} ({name}); bandit rates it {severity.lower()} severity, "
        f"{confidence.lower()} confidence.",
    ]
    cwe = issue.get("issue_cwe") or {}
    if cwe.get("id"):
        details.append(f"CWE-{cwe['id']}: {cwe.get('link') or ''}".rstrip(": "))
    if issue.get("more_info"):
        details.append(f"See {issue['more_info']}")
    return Finding(
        agent=agent,
        tool=BANDIT,
        rule=rule,
        path=source.file.path,
        line=line,
        end_line=end_line if end_line > line else None,
        severity=bandit_severity(severity, confidence),
        title=_truncate(text.splitlines()[0], _TITLE_MAX),
        message=_truncate("\n".join(details), _MESSAGE_MAX),
        category="security",
    )


def _bandit_text(rule: str, text: str) -> str:
    """Bandit's message without any value it quotes: for hardcoded passwords, the password."""
    if rule in _BANDIT_PASSWORD_TESTS:
        # "Possible hardcoded password: '<the password>'": the value may itself hold quotes or
        # newlines, so everything after the colon goes.
        text = text.partition(":")[0]
    return _QUOTED.sub("'***'", text).strip()


def bandit_severity(severity: str, confidence: str) -> Severity:
    """How much a bandit issue matters, from its severity and its confidence.

    Bandit's severity is kept when it is sure or fairly sure of the issue; a low-confidence
    issue goes one step down (high to medium, medium to low). Low and undefined severities are
    low.
    """
    sure = confidence.upper() in ("HIGH", "MEDIUM")
    match severity.upper():
        case "HIGH":
            return Severity.HIGH if sure else Severity.MEDIUM
        case "MEDIUM":
            return Severity.MEDIUM if sure else Severity.LOW
        case _:
            return Severity.LOW


def _is_test_path(path: str) -> bool:
    """Whether a file is test code, by the conventions pytest and unittest projects follow."""
    posix = PurePosixPath(path)
    return bool(_TEST_FILE_NAME.match(posix.name)) or any(
        part in ("test", "tests", "testing") for part in posix.parts[:-1]
    )


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
        category="secrets",
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


def _content_findings(file: ChangedFile, ruff_select: Sequence[str], agent: str) -> list[Finding]:
    """The hygiene checks that read a file's added lines."""
    lines = [line.removesuffix("\r") for line in (file.content or "").split("\n")]
    added = [(n, lines[n - 1]) for n in sorted(file.added_lines) if n <= len(lines)]
    suffix = _suffix(file.path)
    # Ruff reports these itself on the Python files it checks (with the same suggestion).
    ruff_checks = {
        rule
        for rule in _RUFF_HYGIENE_RULES
        if suffix in PYTHON_SUFFIXES and _ruff_selects(ruff_select, rule)
    }
    findings = _conflict_marker_findings(file.path, added, agent)
    findings.extend(_todo_findings(file.path, added, agent))
    if suffix not in _TRAILING_WHITESPACE_EXEMPT:
        findings.extend(_trailing_whitespace_findings(file.path, added, ruff_checks, agent))
    line_count = _line_count(file.content or "")
    if _RUFF_MISSING_FINAL_NEWLINE not in ruff_checks:
        findings.extend(_missing_final_newline_findings(file, line_count, agent))
    findings.extend(_large_addition_findings(file, added, line_count, agent))
    return findings


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
            "merge-conflict-marker",
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
    path: str, added: Sequence[tuple[int, str]], ruff_checks: set[str], agent: str
) -> list[Finding]:
    findings: list[Finding] = []
    for number, line in added:
        if line == line.rstrip(" \t"):
            continue
        blank = not line.strip(" \t")
        if (_RUFF_BLANK_LINE_WHITESPACE if blank else _RUFF_TRAILING_WHITESPACE) in ruff_checks:
            continue
        suggestion, evidence = _whitespace_fix(line)
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
        tool=HYGIENE,
        rule=rule,
        path=path,
        line=line,
        severity=severity,
        title=title,
        message=_truncate(message, _MESSAGE_MAX),
        category="hygiene",
        suggestion=suggestion,
        evidence=evidence,
    )


def _whitespace_fix(line: str) -> tuple[str | None, str | None]:
    """(suggestion, evidence) for a line with trailing whitespace: the line without it, and the
    text it ends with (none for a blank line). No suggestion for a line too long to post."""
    fixed = line.rstrip(" \t")
    suggestion = fixed if len(fixed) <= _SUGGESTION_MAX else None
    evidence = fixed.strip()[-_EVIDENCE_MAX:] or None
    return suggestion, evidence


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


def _suffix(path: str) -> str:
    return PurePosixPath(path).suffix


def _sort_key(finding: Finding) -> tuple[str, int, str, str]:
    return finding.path, finding.line or 0, finding.tool, finding.rule


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
