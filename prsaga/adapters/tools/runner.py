"""What every offline tool shares: the scanned files, running a tool as a subprocess, reading
its output, finding its binary.

Tools run on a private temporary directory that holds the pull request's changed files at their
repository paths; each runs as its own process group with a timeout, so a tool that hangs is
killed with everything it started, and a tool that fails is recorded, never fatal.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict

from prsaga.review.offline_policy import Candidate
from prsaga.review.repo_config import ToolSettings
from prsaga.review.texts import truncate
from prsaga.schema import Confidence, Finding, Severity

logger = logging.getLogger(__name__)

TITLE_MAX = 200
MESSAGE_MAX = 4000
EVIDENCE_MAX = 500
SUGGESTION_MAX = 4000


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


@dataclass(frozen=True)
class Prepared:
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
        return line_count(self.content)

    def line_text(self, number: int) -> str:
        """Line ``number`` (1-based), without its line ending."""
        lines = self.lines
        return lines[number - 1].removesuffix("\r") if 0 < number <= len(lines) else ""

    @property
    def path(self) -> str:
        return self.file.path

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.file.path).suffix


@dataclass(frozen=True)
class ToolResult:
    """What one tool reported, before the repository's settings and the added lines apply."""

    candidates: list[Candidate]
    files: int
    error: str | None = None
    hidden_secrets: frozenset[str] = field(default_factory=frozenset)
    """Paths of files holding something secret-like: no finding may quote their lines."""


class ToolFailure(Exception):
    """A tool did not produce a usable result; the message is safe to record."""


def line_count(content: str) -> int:
    """Lines as git counts them (split on "\\n"), at least 1."""
    count = content.count("\n") + (0 if content.endswith("\n") else 1)
    return max(count, 1)


def run(argv: Sequence[str], cwd: Path, timeout: float, *, ok_codes: Sequence[int] = (0,)) -> str:
    """Run a tool and return its standard output.

    Raises:
        ToolFailure: It could not start, timed out or exited with a status not in ``ok_codes``.
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
        raise ToolFailure(f"could not start ({type(error).__name__})") from error
    try:
        stdout, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise ToolFailure(f"timed out after {timeout:g} s") from None
    if process.returncode not in ok_codes:
        # stderr is neither recorded nor logged: a scanner may echo the text it was scanning.
        logger.warning("%s exited with status %s", argv[0], process.returncode)
        raise ToolFailure(f"exited with status {process.returncode}")
    return stdout.decode("utf-8", "replace")


def parse_json(output: str) -> Any:
    try:
        return json.loads(output)
    except json.JSONDecodeError as error:
        raise ToolFailure("unreadable output (not JSON)") from error


def find_binary(name: str) -> str | None:
    """A tool's binary as its wheel installs it (beside this Python), else on ``PATH``."""
    scripts = Path(sysconfig.get_path("scripts"))
    for folder in (scripts, Path(sys.executable).parent):
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def package_version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def source_lookup(root: Path, files: Sequence[Prepared]) -> Callable[[str], Prepared | None]:
    """The scanned file a tool's reported path (relative to ``root`` or absolute) names."""
    by_disk_path = {(root / p.relative_path).resolve(): p for p in files}
    return lambda reported: by_disk_path.get((root / reported).resolve())


def failed(files: Sequence[Prepared], failure: ToolFailure | str) -> ToolResult:
    return ToolResult(candidates=[], files=len(files), error=str(failure))


@dataclass(frozen=True)
class Scan:
    """Where and how one batch of files is scanned."""

    root: Path
    """The pull request's files, at their repository paths."""
    scratch: Path
    """Our own files (tool configuration), where no path of the pull request reaches."""
    agent: str
    timeout: float
    base_files: Mapping[str, str]
    """The repository's tool configuration files at the base commit (path -> text)."""
    tools: Mapping[str, ToolSettings]
    """The repository's ``tools:`` settings (``.github/prsaga.yml`` over server defaults)."""


@dataclass(frozen=True)
class Tool:
    """One offline tool: which files it reads, whether it runs by default, how to run it."""

    name: str
    package: str
    """The PyPI package that ships it (its version is reported)."""
    wants: Callable[[Prepared], bool]
    run: Callable[[Scan, list[Prepared]], ToolResult]
    on_by_default: Callable[[Mapping[str, str]], bool] = lambda base_files: True


def make_finding(
    source: Prepared,
    *,
    agent: str,
    tool: str,
    rule: str,
    line: int,
    end_line: int | None = None,
    severity: Severity,
    confidence: Confidence,
    title: str,
    message: str,
    category: str,
    suggestion: str | None = None,
    evidence: str | None = None,
) -> Finding:
    """A tool's finding on ``source``: lines clamped to the file (tools may point one past the
    end), the title one line without a final period, title and message within their bounds."""
    line = max(min(line, source.line_count), 1)
    end = max(min(end_line or line, source.line_count), line)
    return Finding(
        agent=agent,
        tool=tool,
        rule=rule,
        path=source.path,
        line=line,
        end_line=end if end > line else None,
        severity=severity,
        confidence=confidence,
        title=truncate((title.splitlines() or [rule])[0].rstrip("."), TITLE_MAX),
        message=truncate(message, MESSAGE_MAX),
        category=category,
        suggestion=suggestion,
        evidence=evidence,
    )
