"""The offline reviewer: real linters and scanners on a pull request's changed files, no LLM.

An activity fetches the changed files at the head commit, and the repository's tool
configuration at the base commit, and calls :func:`review_files`. Each tool
(``prsaga.adapters.tools``: ruff, bandit, detect-secrets, hygiene, shellcheck, zizmor,
hadolint) runs as a subprocess on a private temporary directory, side by side, each with a
timeout; a tool that is missing, crashes or times out is recorded in :class:`ToolRun` and the
others still report. Then the pure policy (``prsaga.review.offline_policy``) applies the
repository's ``tools:`` settings, keeps what is on lines the pull request added, and folds
repeats of one rule in one file into one finding.

No finding repeats a secret: detect-secrets findings name the kind of secret only, bandit's
hardcoded-password messages lose the quoted value, and findings quote a line (``evidence``,
``suggestion``) only in files that detect-secrets scanned and found clean.
"""

from __future__ import annotations

import errno
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from pydantic import BaseModel

from prsaga.adapters.tools import bandit, hadolint, hygiene, ruff, secrets, shellcheck, zizmor
from prsaga.adapters.tools.runner import (
    ChangedFile,
    Prepared,
    Scan,
    Tool,
    ToolResult,
    package_version,
)
from prsaga.review.offline_policy import (
    RUFF_SYNTAX_ERROR,
    configured,
    distinct_skipped,
    fold,
    on_added_lines,
    sort_key,
)
from prsaga.review.repo_config import ToolSettings
from prsaga.schema import Finding, SkippedFile, ToolRun

__all__ = ["TOOLS", "ChangedFile", "OfflineReview", "SkippedFile", "review_files"]

TOOLS: tuple[Tool, ...] = (
    ruff.TOOL,
    bandit.TOOL,
    secrets.TOOL,
    shellcheck.TOOL,
    zizmor.TOOL,
    hadolint.TOOL,
)
"""The tools that read files' content (hygiene also checks names, so it runs apart)."""
_RUFF_DUPLICATES = {"trailing-whitespace": ("W291", "W293"), "missing-final-newline": ("W292",)}
"""Hygiene rules ruff also reports on Python files (with the same suggestion): ruff's win."""


class OfflineReview(BaseModel):
    """The offline reviewer's result for a batch of changed files."""

    findings: list[Finding]
    tools: list[ToolRun]
    skipped: list[SkippedFile]


def review_files(
    files: Sequence[ChangedFile],
    *,
    base_files: Mapping[str, str] | None = None,
    tools: Mapping[str, ToolSettings] | None = None,
    agent: str = "offline",
    timeout_seconds: float = 60,
) -> OfflineReview:
    """Run the offline tools on a pull request's changed files.

    Args:
        files: The changed files at the head commit (deleted files excluded).
        base_files: The repository's tool configuration files at the base commit (path ->
            text; see ``prsaga.review.tool_config.TOOL_CONFIG_PATHS``).
        tools: The repository's ``tools:`` settings.
        agent: The agent name put on every finding.
        timeout_seconds: Time limit for each tool's subprocess.

    Returns:
        Findings on added lines (plus file-level hygiene findings), folded per file and rule and
        sorted by path, line, tool and rule; what each tool did; the files that were skipped
        (each once).
    """
    settings = dict(tools or {})
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
        scan = Scan(
            root=root,
            scratch=scratch,
            agent=agent,
            timeout=timeout_seconds,
            base_files=dict(base_files or {}),
            tools=settings,
        )
        # Each tool is its own process: run them side by side (the slowest sets the pace).
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="offline-tool") as pool:
            jobs: dict[str, Future[ToolResult]] = {}
            for tool in TOOLS:
                wanted = [p for p in prepared if tool.wants(p)]
                enabled = settings.get(tool.name, ToolSettings()).enabled
                if enabled is None:
                    enabled = tool.on_by_default(scan.base_files)
                if wanted and enabled:
                    jobs[tool.name] = pool.submit(tool.run, scan, wanted)
            results = {name: job.result() for name, job in jobs.items()}
    if settings.get(hygiene.NAME, ToolSettings()).enabled is not False:
        results[hygiene.NAME] = hygiene.review(name_checked, scannable, agent)
    quotable = _quotable_paths(prepared, results)

    reported: dict[str, list[Finding]] = {}
    for name, result in results.items():
        kept = configured(result.candidates, settings.get(name))
        reported[name] = fold(on_added_lines(kept, added_by_path, file_level=name == hygiene.NAME))
    if hygiene.NAME in reported and ruff.NAME in reported:
        reported[hygiene.NAME] = _without_ruff_duplicates(
            reported[hygiene.NAME], reported[ruff.NAME]
        )
        reported[ruff.NAME] = _without_conflict_syntax_errors(
            reported[ruff.NAME], reported[hygiene.NAME]
        )
    findings = [
        f if f.path in quotable else _without_quotes(f)
        for found in reported.values()
        for f in found
    ]
    findings.sort(key=sort_key)
    runs = [
        ToolRun(
            tool=name,
            version=hygiene.VERSION if name == hygiene.NAME else _version(name),
            files=result.files,
            findings=len(reported[name]),
            error=result.error,
        )
        for name, result in results.items()
    ]
    return OfflineReview(findings=findings, tools=runs, skipped=distinct_skipped(skipped))


def _version(name: str) -> str:
    return package_version(next(tool.package for tool in TOOLS if tool.name == name))


def _without_ruff_duplicates(
    hygiene_findings: list[Finding], ruff_findings: list[Finding]
) -> list[Finding]:
    ruff_lines = {
        (f.path, f.rule, line) for f in ruff_findings for line in (f.line, *f.also_on_lines)
    }

    def said_by_ruff(finding: Finding) -> bool:
        return any(
            (finding.path, rule, finding.line) in ruff_lines
            for rule in _RUFF_DUPLICATES.get(finding.rule, ())
        )

    return [f for f in hygiene_findings if not said_by_ruff(f)]


def _without_conflict_syntax_errors(
    ruff_findings: list[Finding], hygiene_findings: list[Finding]
) -> list[Finding]:
    """Ruff's syntax errors inside an unresolved conflict (its markers and the lines between
    them) say the same thing as the conflict finding, worse."""
    conflicts: set[tuple[str, int]] = set()
    for finding in hygiene_findings:
        if finding.rule == hygiene.CONFLICT_RULE and finding.line is not None:
            markers = (finding.line, *finding.also_on_lines)
            conflicts |= {(finding.path, n) for n in range(min(markers), max(markers) + 1)}

    def in_conflict(finding: Finding) -> bool:
        lines = (finding.line, *finding.also_on_lines)
        return finding.rule == RUFF_SYNTAX_ERROR and all(
            n is not None and (finding.path, n) in conflicts for n in lines
        )

    return [f for f in ruff_findings if not in_conflict(f)]


def _quotable_paths(prepared: Sequence[Prepared], results: Mapping[str, ToolResult]) -> set[str]:
    """Files whose lines findings may quote: detect-secrets scanned them and found nothing.

    A file with a secret anywhere quotes nothing (detect-secrets reports a private key on its
    first line only), nor does a file with an allowlisted secret or a hardcoded password bandit
    found; when detect-secrets failed or did not run, no file does.
    """
    scanned = results.get(secrets.NAME)
    if scanned is None or scanned.error is not None:
        return set()
    unsafe = {path for result in results.values() for path in result.hidden_secrets}
    return {p.path for p in prepared if p.path not in unsafe}


def _without_quotes(finding: Finding) -> Finding:
    if finding.evidence is None and finding.suggestion is None:
        return finding
    return finding.model_copy(update={"evidence": None, "suggestion": None})


def _unsafe_path_reason(path: str) -> str | None:
    """Why a path from GitHub must not be written under the scan directory, if it must not."""
    if not path or "\x00" in path:
        return "unsafe path: empty or contains NUL"
    if path.startswith("/"):
        return "unsafe path: absolute"
    # Checked on the raw segments: PurePosixPath would silently collapse "a//b" and "./a".
    if any(part in ("", ".", "..") for part in path.split("/")):
        return "unsafe path: empty, '.' or '..' segment"
    if "\n" in path or "\r" in path:
        return "unsafe path: contains a line break"
    return None


def _write_files(
    root: Path, files: Iterable[ChangedFile]
) -> tuple[list[Prepared], list[SkippedFile]]:
    """Write files under ``root`` at their repository paths, byte for byte (line endings kept)."""
    prepared: list[Prepared] = []
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
            if error.errno == errno.ENAMETOOLONG:
                reason = "name too long for the filesystem"
            failures.append(SkippedFile(path=file.path, reason=reason))
            continue
        relative = target.relative_to(root).as_posix()
        prepared.append(Prepared(file=file, content=file.content, relative_path=relative))
    return prepared, failures
