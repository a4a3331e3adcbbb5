"""detect-secrets on every text file, graded by evidence.

Its default plugins and filters run (the filters only drop false positives of the keyword and
entropy detectors; they never hide what a provider-format plugin recognises). ``--no-verify`` is
always passed: verifying a candidate means sending it to a third party. Its findings are graded
by :func:`~prsaga.review.offline_policy.secret_grade`: provider-format credentials are critical
(lower in docs and tests), entropy and keyword guesses low and never blocking, pinned commits and
checksums not secrets at all. A secret in the project's ``.secrets.baseline`` (base commit) or on
a line with ``pragma: allowlist secret`` is not reported.

detect-secrets never reads some suffixes it takes for binary (``.svg``, ``.css``, ``.lock``...):
their text is scanned through a copy with a ``.txt`` suffix, in our scratch directory (a name
such as ``x.svg.txt`` of the pull request's cannot collide: the copies live outside ``scan/``).
"""

from __future__ import annotations

import re
import sys
from pathlib import PurePosixPath

from prsaga.review.offline_policy import Candidate, secret_grade
from prsaga.review.tool_config import secrets_baseline
from prsaga.schema import Confidence, Finding, Severity

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
)

NAME = "detect-secrets"
ALLOWLIST_PRAGMA = re.compile(r"pragma: ?(?:allow|white)list secret")
# detect_secrets.filters.heuristic.is_non_text_file: a default filter that cannot be disabled.
_COPIES = "secrets-copies"
_SKIPPED_SUFFIXES = frozenset({".css", ".iml", ".lock", ".map", ".prefs", ".sum", ".svg"})


def _run(scan: Scan, files: list[Prepared]) -> ToolResult:
    # detect-secrets only scans files under its working directory: it runs in the scratch
    # directory, and files it would not read get a .txt copy of their own there.
    scanned: dict[str, Prepared] = {}
    for prepared in files:
        if PurePosixPath(prepared.relative_path).suffix.lower() in _SKIPPED_SUFFIXES:
            copy = f"{_COPIES}/{prepared.relative_path}.txt"
            (scan.scratch / copy).parent.mkdir(parents=True, exist_ok=True)
            (scan.scratch / copy).write_text(prepared.content, encoding="utf-8")
        else:
            copy = scan.root.relative_to(scan.scratch).joinpath(prepared.relative_path).as_posix()
        scanned[copy] = prepared
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
        *scanned,
    ]
    try:
        report = parse_json(run(argv, scan.scratch, scan.timeout))
        results = report["results"] if isinstance(report, dict) else None
        if not isinstance(results, dict):
            raise ToolFailure("unexpected output (no results)")
    except ToolFailure as failure:
        return failed(files, failure)

    by_disk_path = {(scan.scratch / path).resolve(): source for path, source in scanned.items()}
    baseline = secrets_baseline(scan.base_files)
    candidates: list[Candidate] = []
    hidden = {p.path for p in files if ALLOWLIST_PRAGMA.search(p.content)}
    for reported_path, secrets in results.items():
        source = by_disk_path.get((scan.scratch / reported_path).resolve())
        if source is None:
            continue
        hidden.add(source.path)  # whatever it is, no finding quotes this file's lines
        for secret in secrets:
            # Only the type, line and hash are read: the report never carries the value.
            if (source.path, str(secret.get("hashed_secret"))) in baseline:
                continue
            line = int(secret["line_number"])
            grade = secret_grade(str(secret["type"]), source.path, source.line_text(line))
            if grade is not None:
                finding = _finding(str(secret["type"]), source, line, grade, scan.agent)
                candidates.append(Candidate(finding, default=True))
    # An entropy guess on a line where a provider's format was recognised says it twice.
    sure = {(c.finding.path, c.finding.line) for c in candidates if c.finding.confidence != "low"}
    candidates = [
        c
        for c in candidates
        if c.finding.confidence != "low" or (c.finding.path, c.finding.line) not in sure
    ]
    return ToolResult(candidates=candidates, files=len(files), hidden_secrets=frozenset(hidden))


def _finding(
    secret_type: str,
    source: Prepared,
    line: int,
    grade: tuple[Severity, Confidence],
    agent: str,
) -> Finding:
    severity, confidence = grade
    if confidence == "high":
        title = f"{secret_type} committed"
        advice = (
            "If it is real, treat it as leaked: revoke or rotate it now, then remove it from "
            "the branch and its history (deleting it in a later commit leaves it in the history)."
        )
    else:
        title = f"Possible secret: {secret_type}"
        advice = "If it is a real credential, rotate it and load it from the environment instead."
    message = (
        f"detect-secrets found what looks like a {secret_type} here. {advice} If it is a test "
        "value, mark the line with `pragma: allowlist secret` or add it to the project's "
        "`.secrets.baseline`."
    )
    return make_finding(
        source,
        agent=agent,
        tool=NAME,
        rule=secret_type,
        line=line,
        severity=severity,
        confidence=confidence,
        title=title,
        message=message,
        category="secrets",
    )


TOOL = Tool(name=NAME, package="detect-secrets", wants=lambda p: True, run=_run)
