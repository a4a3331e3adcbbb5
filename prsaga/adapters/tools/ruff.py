"""ruff on Python files, with the project's own configuration from the base commit.

The project's ``.ruff.toml``, ``ruff.toml`` or ``pyproject.toml`` ``[tool.ruff]`` (read at the
base commit, never the pull request's head) is rewritten without the settings that point outside
the project (``extend``, ``cache-dir``...) into our scratch directory and passed with
``--config``, so ruff reads no configuration file among the pull request's files; ruff runs in
the scan directory, where the project's ``per-file-ignores`` globs resolve. Whatever the project
selects, ruff also checks :data:`~prsaga.review.offline_policy.RUFF_DEFAULT_SELECT` (errors
Python raises, undefined names, debugger calls); a project without ruff configuration gets only
those.
"""

from __future__ import annotations

import re
from typing import Any

from ruff.__main__ import find_ruff_bin

from prsaga.review.offline_policy import (
    RUFF_DEFAULT_SELECT,
    RUFF_SYNTAX_ERROR,
    Candidate,
    ruff_default,
    ruff_grade,
)
from prsaga.review.tool_config import ruff_config
from prsaga.schema import Finding

from .hygiene import whitespace_fix
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

NAME = "ruff"
# What precedes a name in an annotation: "x: ", "-> ", or inside "list[" of one.
_ANNOTATION_BEFORE = re.compile(r"(?:^\s*\w+\s*:|->)\s*[\w\[\], .|\"']*$")
PYTHON_SUFFIXES = frozenset({".py", ".pyi"})
WHITESPACE_RULES = ("W291", "W293")


def _run(scan: Scan, files: list[Prepared]) -> ToolResult:
    try:
        binary = find_ruff_bin()
    except FileNotFoundError:
        return failed(files, "ruff binary not found")
    project, problem = ruff_config(scan.base_files)
    settings = scan.tools.get(NAME)
    extra = ",".join([*RUFF_DEFAULT_SELECT, *(settings.select if settings else [])])
    # --isolated: no configuration file at all (none of the pull request's).
    defaults_only = ["--isolated", f"--select={extra}"]
    try:
        if project is None:
            diagnostics = _check(binary, scan, files, defaults_only)
        else:
            config = scan.scratch / "ruff.toml"
            config.write_text(project.toml, encoding="utf-8")
            try:
                diagnostics = _check(
                    binary, scan, files, [f"--config={config}", f"--extend-select={extra}"]
                )
            except ToolFailure as failure:
                # Settings this ruff does not understand: check with the defaults alone.
                problem = f"{project.source} not usable by ruff ({failure}): defaults used"
                diagnostics = _check(binary, scan, files, defaults_only)
    except ToolFailure as failure:
        return failed(files, failure)

    source_of = source_lookup(scan.root, files)
    candidates: list[Candidate] = []
    for diagnostic in diagnostics:
        source = source_of(str(diagnostic["filename"]))
        if source is None or not diagnostic.get("location"):
            continue
        finding, in_annotation = _finding(diagnostic, source, scan.agent)
        default = ruff_default(
            finding.rule, project_configured=project is not None, in_annotation=in_annotation
        )
        candidates.append(Candidate(finding, default=default))
    return ToolResult(candidates=candidates, files=len(files), error=problem)


def _check(binary: str, scan: Scan, files: list[Prepared], selection: list[str]) -> list[Any]:
    argv = [
        binary,
        "check",
        *selection,
        "--no-cache",
        "--exit-zero",
        "--output-format=json",
        "--",
        *(p.relative_path for p in files),
    ]
    diagnostics = parse_json(run(argv, scan.root, scan.timeout))
    if not isinstance(diagnostics, list):
        raise ToolFailure("unexpected output (not a list)")
    return diagnostics


def _finding(diagnostic: dict[str, Any], source: Prepared, agent: str) -> tuple[Finding, bool]:
    """A finding from one diagnostic of ruff's JSON output, and whether it is in an
    annotation."""
    rule = diagnostic.get("code") or RUFF_SYNTAX_ERROR
    name = diagnostic.get("name") or rule
    text = (diagnostic.get("message") or name).strip()
    last_line = source.line_count
    # Ruff may point one past the last line (unexpected end of file): clamp to a real line.
    line = min(diagnostic["location"]["row"], last_line)
    end = diagnostic.get("end_location") or diagnostic["location"]
    end_line = end["row"]
    if end["column"] == 1 and end_line > line:
        end_line -= 1  # a range ending at column 1 ends with the previous line's newline
    end_line = max(min(end_line, last_line), line)

    details = [f"Rule {rule} ({name})." if name != rule else f"Rule {rule}."]
    fix = diagnostic.get("fix") or {}
    if fix.get("message"):
        details.append(f"Suggested fix: {fix['message']}.")
    if diagnostic.get("url"):
        details.append(f"See {diagnostic['url']}")
    suggestion = evidence = None
    # Ruff marks the fix unsafe when the whitespace is inside a string, where it is content.
    if rule in WHITESPACE_RULES and fix.get("applicability") == "safe":
        suggestion, evidence = whitespace_fix(source.line_text(line))
    column = int(diagnostic["location"].get("column") or 1)
    in_annotation = bool(_ANNOTATION_BEFORE.search(source.line_text(line)[: column - 1]))
    severity, confidence = ruff_grade(rule, in_annotation=in_annotation)
    finding = make_finding(
        source,
        agent=agent,
        tool=NAME,
        rule=rule,
        line=line,
        end_line=end_line,
        severity=severity,
        confidence=confidence,
        title=text,
        message=" ".join(details),
        category=_category(rule),
        suggestion=suggestion,
        evidence=evidence,
    )
    return finding, in_annotation


def _category(rule: str) -> str:
    """Errors Python raises, pyflakes (F) and bugbear (B) rules point at code that misbehaves;
    the flake8-bandit port (S) is security; everything else (and unused names) is style."""
    if rule == RUFF_SYNTAX_ERROR or rule.startswith(("E9", "F82", "F63", "F7", "B", "T10")):
        return "correctness"
    if rule.startswith("S"):
        return "security"
    return "style"


TOOL = Tool(
    name=NAME,
    package="ruff",
    wants=lambda p: p.suffix in PYTHON_SUFFIXES,
    run=_run,
)
