"""zizmor on GitHub Actions workflows, from the ``zizmor`` wheel, offline.

``--offline`` (no GitHub API calls) and ``--no-config`` (a ``zizmor.yml`` among the pull
request's files must not silence it). Reported by default: template injection (an attacker's
``${{ github.event.* }}`` expanded into a ``run:`` script), the top supply-chain risk of
workflows. Its other audits (unpinned actions, permissions, credentials persisted by checkout)
are policies a project chooses: they are reported only when selected, since every dependency
bot's tag bump would trip ``unpinned-uses``.
"""

from __future__ import annotations

from typing import Any

from prsaga.review.offline_policy import Candidate, rule_matches
from prsaga.schema import Confidence, Severity

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

NAME = "zizmor"
DEFAULT_AUDITS = ("template-injection",)
# zizmor exits 10 + the highest severity it found (11..14) when it has findings.
_OK_CODES = (0, 10, 11, 12, 13, 14)
_LEVELS = {"high": (Severity.HIGH, Confidence.HIGH), "medium": (Severity.MEDIUM, Confidence.MEDIUM)}


def is_workflow(prepared: Prepared) -> bool:
    return prepared.path.startswith(".github/workflows/") and prepared.suffix in (".yml", ".yaml")


def _run(scan: Scan, files: list[Prepared]) -> ToolResult:
    binary = find_binary("zizmor")
    if binary is None:
        return failed(files, "not installed (pip install zizmor)")
    argv = [
        binary,
        "--offline",
        "--no-config",
        "--no-progress",
        "--format=json",
        "--",
        *(p.relative_path for p in files),
    ]
    try:
        findings = parse_json(run(argv, scan.root, scan.timeout, ok_codes=_OK_CODES))
        if not isinstance(findings, list):
            raise ToolFailure("unexpected output (not a list)")
    except ToolFailure as failure:
        return failed(files, failure)
    source_of = source_lookup(scan.root, files)
    candidates: list[Candidate] = []
    for item in findings:
        located = _location(item)
        if located is None:
            continue
        reported, start, end = located
        source = source_of(reported)
        if source is not None:
            candidates.append(_candidate(item, source, start, end, scan.agent))
    return ToolResult(candidates=candidates, files=len(files))


def _location(item: dict[str, Any]) -> tuple[str, int, int] | None:
    """(path, first line, last line) of a finding's primary location (1-based)."""
    locations = item.get("locations") or []
    primary = next((x for x in locations if x.get("symbolic", {}).get("kind") == "Primary"), None)
    chosen = primary or (locations[0] if locations else None)
    if not isinstance(chosen, dict):
        return None
    try:
        path = chosen["symbolic"]["key"]["Local"]["verbatim_path"]
        span = chosen["concrete"]["location"]
        start = int(span["start_point"]["row"]) + 1
        end_point = span["end_point"]
        end = int(end_point["row"]) + (1 if int(end_point["column"]) > 0 else 0)
    except (KeyError, TypeError, ValueError):
        return None
    return str(path), start, max(end, start)


def _candidate(
    item: dict[str, Any], source: Prepared, start: int, end: int, agent: str
) -> Candidate:
    audit = str(item.get("ident") or NAME)
    determinations = item.get("determinations") or {}
    zizmor_severity = str(determinations.get("severity") or "unknown").lower()
    zizmor_confidence = str(determinations.get("confidence") or "unknown").lower()
    severity = _LEVELS.get(zizmor_severity, (Severity.LOW, Confidence.LOW))[0]
    confidence = _LEVELS.get(zizmor_confidence, (Severity.LOW, Confidence.LOW))[1]
    finding = make_finding(
        source,
        agent=agent,
        tool=NAME,
        rule=audit,
        line=start,
        end_line=end,
        severity=severity,
        confidence=confidence,
        title=str(item.get("desc") or audit).strip(),
        message=f"zizmor `{audit}` ({zizmor_severity} severity, {zizmor_confidence} "
        f"confidence). See {item.get('url') or 'https://docs.zizmor.sh/audits/'}",
        category="security",
    )
    return Candidate(finding, rule_matches(audit, DEFAULT_AUDITS))


TOOL = Tool(name=NAME, package="zizmor", wants=is_workflow, run=_run)
