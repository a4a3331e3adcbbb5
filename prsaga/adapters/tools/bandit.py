"""bandit on Python files, for security problems.

Run as ``python -I -m bandit`` with the files (never a directory) as targets, so that its
configuration comes only from us: ``--ini`` names an ini file of ours (so bandit never looks for
a ``.bandit`` file among the pull request's files), no ``-c`` (so no ``pyproject.toml`` or YAML
configuration is read), and an empty ``--exclude`` (bandit's default exclusions match
substrings, so ".git" would silently skip every file under ``.github/``).

Bandit runs by default only where the project uses it (a bandit file or ``[tool.bandit]`` at the
base commit); ``tools.bandit.enabled`` turns it on or off. Measured on the corpus, bandit run
uninvited and limited to high severity and high confidence outside tests still posted 7 findings
on 55 merged pull requests, none right in context (``autoescape=False`` in a template engine's
own examples, SHA-1 for cache keys), so it is not run uninvited. ``assert`` (B101) is never
reported in test files, and the tests that flag every use of ``subprocess`` are not run.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from prsaga.review.offline_policy import Candidate, bandit_grade, is_test_path
from prsaga.review.tool_config import bandit_configured
from prsaga.schema import Finding

from .runner import (
    Prepared,
    Scan,
    Tool,
    ToolFailure,
    ToolResult,
    failed,
    make_finding,
    parse_json,
    run,
    source_lookup,
)

NAME = "bandit"
SKIPS = ("B404", "B603")
"""Tests not run: they fire on every use of ``subprocess``, safe or not. The dangerous forms
(``shell=True``: B602, B604, B605; a partial executable path: B607) are still reported."""
PASSWORD_TESTS = frozenset({"B105", "B106", "B107"})
"""Bandit's hardcoded-password tests put the password itself in their message."""
_ASSERT_USED = "B101"
_SYNTAX_ERROR = "syntax error while parsing AST from file"
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")


def _run(scan: Scan, files: list[Prepared]) -> ToolResult:
    # An ini file of ours stops bandit from looking for a ".bandit" file under its targets; an
    # empty section means "no options from the ini file".
    ini = scan.scratch / "bandit.ini"
    ini.write_text("[bandit]\n", encoding="utf-8")
    argv = [
        # -I keeps the scan directory off sys.path: a pull request that adds "json.py" must not
        # get its code imported.
        sys.executable,
        "-I",
        "-m",
        "bandit",
        "--quiet",
        "--format=json",
        "--exit-zero",
        f"--ini={ini}",
        "--exclude=",
        f"--skip={','.join(SKIPS)}",
        "--",
        # "./" so that a file named "-" is not read as standard input.
        *(f"./{p.relative_path}" for p in files),
    ]
    try:
        report = parse_json(run(argv, scan.root, scan.timeout))
        issues = report.get("results") if isinstance(report, dict) else None
        errors = report.get("errors") if isinstance(report, dict) else None
        if not isinstance(issues, list) or not isinstance(errors, list):
            raise ToolFailure("unexpected output (no results)")
    except ToolFailure as failure:
        return failed(files, failure)

    source_of = source_lookup(scan.root, files)
    candidates: list[Candidate] = []
    hidden: set[str] = set()
    for issue in issues:
        source = source_of(str(issue.get("filename", "")))
        if source is None or not isinstance(issue.get("line_number"), int):
            continue
        if issue.get("test_id") == _ASSERT_USED and is_test_path(source.path):
            continue
        finding = _finding(issue, source, scan.agent)
        if finding.rule in PASSWORD_TESTS:
            hidden.add(source.path)
        candidates.append(Candidate(finding, default=True))
    # Files that do not parse are left to ruff, which reports syntax errors on their lines.
    unscanned = sum(
        1 for e in errors if not isinstance(e, dict) or e.get("reason") != _SYNTAX_ERROR
    )
    error = f"could not scan {unscanned} of {len(files)} files" if unscanned else None
    return ToolResult(
        candidates=candidates, files=len(files), error=error, hidden_secrets=frozenset(hidden)
    )


def _finding(issue: dict[str, Any], source: Prepared, agent: str) -> Finding:
    """A finding from one issue of bandit's JSON output (its ``code`` excerpt is never read)."""
    rule = str(issue.get("test_id") or NAME)
    name = str(issue.get("test_name") or rule)
    text = _text(rule, str(issue.get("issue_text") or name))
    severity = str(issue.get("issue_severity") or "UNDEFINED").upper()
    confidence = str(issue.get("issue_confidence") or "UNDEFINED").upper()
    line = issue["line_number"]
    line_range = [n for n in issue.get("line_range") or [] if isinstance(n, int)]
    details = [
        f"Rule {rule} ({name}); bandit rates it {severity.lower()} severity, "
        f"{confidence.lower()} confidence."
    ]
    cwe = issue.get("issue_cwe") or {}
    if cwe.get("id"):
        details.append(f"CWE-{cwe['id']}.")
    if issue.get("more_info"):
        details.append(f"See {issue['more_info']}")
    graded_severity, graded_confidence = bandit_grade(severity, confidence)
    return make_finding(
        source,
        agent=agent,
        tool=NAME,
        rule=rule,
        line=line,
        end_line=max(line_range, default=line),
        severity=graded_severity,
        confidence=graded_confidence,
        title=text,
        message=" ".join(details),
        category="security",
    )


def _text(rule: str, text: str) -> str:
    """Bandit's message without any value it quotes: for hardcoded passwords, the password."""
    if rule in PASSWORD_TESTS:
        # "Possible hardcoded password: '<the password>'": the value may itself hold quotes or
        # newlines, so everything after the colon goes.
        text = text.partition(":")[0]
    return _QUOTED.sub("'***'", text).strip()


TOOL = Tool(
    name=NAME,
    package="bandit",
    wants=lambda p: p.suffix == ".py",
    run=_run,
    on_by_default=bandit_configured,
)
