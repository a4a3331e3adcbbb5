"""What the offline reviewer reports of what its tools say: pure decisions, no I/O.

The tools (``prsaga.adapters.tools``) turn each diagnostic into a :class:`Candidate`: a finding
with the tool's own severity and confidence graded here, and whether the tool's conservative
default reports it. Then, per tool, the repository's ``tools:`` settings select or ignore rules
(per path glob) and set severities; findings are kept on the lines the pull request added and
folded per file and rule.

The defaults were chosen by measuring them on the review-quality corpus (``python -m bench
quality``, ``docs/quality.md``): what a project has not configured is reported only when it is
almost never wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from prsaga.review.chunking import match_globs
from prsaga.review.repo_config import ToolSettings
from prsaga.schema import MAX_ALSO_ON_LINES, Confidence, Finding, Severity, SkippedFile

__all__ = [
    "Candidate",
    "bandit_grade",
    "configured",
    "distinct_skipped",
    "fold",
    "is_doc_path",
    "is_test_path",
    "on_added_lines",
    "rule_matches",
    "ruff_default",
    "ruff_grade",
    "secret_grade",
    "shellcheck_grade",
    "sort_key",
]

S, C = Severity, Confidence


@dataclass(frozen=True)
class Candidate:
    """A tool's finding before the repository's settings apply."""

    finding: Finding
    default: bool
    """Whether the tool's conservative default reports it (else only when selected)."""


# --- the repository's settings ------------------------------------------------------------------


def rule_matches(rule: str, codes: Iterable[str]) -> bool:
    """Whether ``rule`` is one of ``codes`` or starts with one (``F`` matches ``F821``)."""
    return any(code == "ALL" or rule == code or rule.startswith(code) for code in codes)


def configured(candidates: Iterable[Candidate], settings: ToolSettings | None) -> list[Finding]:
    """The candidates the tool's settings report, with the severities they set."""
    settings = settings or ToolSettings()
    kept: list[Finding] = []
    for candidate in candidates:
        finding = candidate.finding
        selected = candidate.default or rule_matches(finding.rule, settings.select)
        if rule_matches(finding.rule, settings.ignore):
            selected = False
        for scoped in settings.per_path:
            if match_globs(finding.path, scoped.paths) is None:
                continue
            if rule_matches(finding.rule, scoped.select):
                selected = True
            if rule_matches(finding.rule, scoped.ignore):
                selected = False
        if not selected:
            continue
        severity = _severity_override(finding.rule, settings.severity)
        kept.append(
            finding if severity is None else finding.model_copy(update={"severity": severity})
        )
    return kept


def _severity_override(rule: str, severities: Mapping[str, Severity]) -> Severity | None:
    matching = [code for code in severities if rule_matches(rule, [code])]
    return severities[max(matching, key=len)] if matching else None


# --- grading ------------------------------------------------------------------------------------

RUFF_SYNTAX_ERROR = "invalid-syntax"
RUFF_DEFAULT_SELECT = ("E9", "F63", "F7", "F82", "T10")
"""What ruff reports where the project has no ruff configuration: errors Python itself raises
(syntax, ``break`` outside a loop, comparisons that are always wrong), undefined names and
debugger calls. Measured on the corpus: none fired on a merged pull request."""
_RUFF_UNDEFINED = ("F821", "F822", "F823")
RUFF_PROJECT_DEFAULT = ("F", "B", "PLE")
"""Rules that point at bugs (pyflakes, bugbear, pylint's errors), reported by default where the
project's own configuration selects them. The project's style rules (imports order, pyupgrade,
docstrings...) are its CI's job and drift with ruff's version: measured on the corpus, they were
all wrong on merged code (the project's CI ran another ruff), so they are reported only when
selected in ``tools.ruff.select``."""


def ruff_default(rule: str, *, project_configured: bool, in_annotation: bool = False) -> bool:
    """Whether a ruff finding is reported without being selected in ``tools.ruff``.

    An undefined name in an annotation is not: it is usually a forward reference, which Python
    3.14 and ``from __future__ import annotations`` never evaluate (the one undefined name on the
    corpus's merged code was such, in a test of PEP 749), and type checkers report the others.
    """
    if in_annotation and rule in _RUFF_UNDEFINED:
        return False
    if rule == RUFF_SYNTAX_ERROR or rule_matches(rule, RUFF_DEFAULT_SELECT):
        return True
    return project_configured and rule_matches(rule, RUFF_PROJECT_DEFAULT)


def ruff_grade(rule: str, *, in_annotation: bool = False) -> tuple[Severity, Confidence]:
    """Syntax errors and undefined names break at run time: high and sure (an undefined name in
    an annotation only fairly sure: it is often a forward reference that Python 3.14, or
    ``from __future__ import annotations``, never evaluates). The other errors of the default set
    are medium; a project's own rules are low (its CI enforces them)."""
    if rule in _RUFF_UNDEFINED:
        return S.HIGH, C.MEDIUM if in_annotation else C.HIGH
    if rule == RUFF_SYNTAX_ERROR or rule.startswith("E9"):
        return S.HIGH, C.HIGH
    if rule_matches(rule, RUFF_DEFAULT_SELECT):
        return S.MEDIUM, C.HIGH
    if rule.startswith("S"):
        return S.MEDIUM, C.MEDIUM
    return S.LOW, C.HIGH


def bandit_grade(severity: str, confidence: str) -> tuple[Severity, Confidence]:
    """Bandit's own severity and confidence (``UNDEFINED`` is low)."""
    grades = {"HIGH": (S.HIGH, C.HIGH), "MEDIUM": (S.MEDIUM, C.MEDIUM)}
    return grades.get(severity.upper(), (S.LOW, C.LOW))[0], grades.get(
        confidence.upper(), (S.LOW, C.LOW)
    )[1]


PROVIDER_SECRETS = frozenset(
    {
        "Artifactory Credentials",
        "AWS Access Key",
        "Azure Storage Account access key",
        "Cloudant Credentials",
        "Discord Bot Token",
        "GitHub Token",
        "GitLab Token",
        "IBM Cloud IAM Key",
        "IBM COS HMAC Credentials",
        "Mailchimp Access Key",
        "NPM tokens",
        "OpenAI Token",
        "PyPI upload token",
        "Private Key",
        "SendGrid API Key",
        "Slack Token",
        "SoftLayer Credentials",
        "Square OAuth Secret",
        "Stripe Access Key",
        "Telegram Bot Token",
        "Twilio API Key",
    }
)
"""detect-secrets types that recognise a provider's credential format (not a guess)."""
_HEURISTIC_SECRETS = frozenset(
    {"Base64 High Entropy String", "Hex High Entropy String", "Secret Keyword"}
)
# A 40- or 64-hex value named as a pin or a checksum is not a secret: a pre-commit `rev:`, an
# action pinned by SHA (`uses: owner/action@<sha>`), a `sha256`, a lock file's hash.
_PIN_OR_CHECKSUM = re.compile(
    r"(?i)(\brev\b|(?<![a-z])sha\d*(?![a-z])|checksum|digest|integrity|\bhash|\bcommit"
    r"|@[0-9a-f]{40}\b)"
)
_LOCK_OR_SUMS = re.compile(r"(?i)(\.lock$|lock\.(json|yaml)$|sums?(\.txt)?$|\.sha\d+$)")


def secret_grade(secret_type: str, path: str, line_text: str) -> tuple[Severity, Confidence] | None:
    """How much a detect-secrets hit matters, by evidence; ``None``: it is not a secret.

    A provider-format credential is critical and sure, but in documentation, tests and examples
    (where fake keys live) it is high and only fairly sure, so it comments without blocking.
    Entropy and keyword hits are guesses: low, never blocking, and dropped where the value is a
    pinned commit, a checksum or a lock file's hash.
    """
    if secret_type in PROVIDER_SECRETS:
        if is_doc_path(path) or is_test_path(path):
            return S.HIGH, C.MEDIUM
        return S.CRITICAL, C.HIGH
    if _LOCK_OR_SUMS.search(PurePosixPath(path).name):
        return None
    if secret_type == "Hex High Entropy String" and _PIN_OR_CHECKSUM.search(line_text):
        return None
    if secret_type in _HEURISTIC_SECRETS or secret_type == "Basic Auth Credentials":
        return S.LOW, C.LOW
    return S.MEDIUM, C.MEDIUM


SHELLCHECK_DEFAULT = ("SC2086",)
"""Besides shellcheck's errors and warnings: an unquoted variable (word splitting and globbing
of a path is how scripts delete the wrong files)."""


def shellcheck_grade(level: str, code: str) -> tuple[Severity, Confidence, bool]:
    """(severity, confidence, reported by default) of a shellcheck diagnostic."""
    if level == "error":
        return S.HIGH, C.HIGH, True
    if level == "warning":
        return S.MEDIUM, C.MEDIUM, True
    return S.LOW, C.MEDIUM, rule_matches(code, SHELLCHECK_DEFAULT)


_TEST_FILE_NAME = re.compile(r"^(test_.*|.*_test|conftest)\.py$")
_DOC_SUFFIXES = frozenset({".md", ".markdown", ".rst", ".txt", ".adoc", ".ipynb"})


def is_test_path(path: str) -> bool:
    """Whether a file is test code, by the conventions most projects follow."""
    posix = PurePosixPath(path)
    return bool(_TEST_FILE_NAME.match(posix.name)) or any(
        part in ("test", "tests", "testing", "__tests__", "fixtures") for part in posix.parts[:-1]
    )


def is_doc_path(path: str) -> bool:
    """Documentation and examples: where sample keys and passwords are expected."""
    posix = PurePosixPath(path)
    return posix.suffix.lower() in _DOC_SUFFIXES or any(
        part in ("docs", "doc", "examples", "example", "samples") for part in posix.parts[:-1]
    )


# --- where findings go -------------------------------------------------------------------------


def on_added_lines(
    findings: Iterable[Finding], added_by_path: Mapping[str, frozenset[int]], *, file_level: bool
) -> list[Finding]:
    """Keep findings that touch added lines, anchored on the first added line they cover.

    A finding whose range starts on an unchanged line but covers added lines is about the pull
    request's code, so it is kept and moved onto the added line, where a review comment can go.
    Its range is cut to the run of consecutive added lines it starts with, so that a multi-line
    comment never spans code the pull request did not add. File-level findings are kept only
    when ``file_level`` (the checks that make them look at what the pull request added).
    """
    kept: list[Finding] = []
    for finding in findings:
        if finding.line is None:
            if file_level:
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
        end_line = end if end > first_added else None
        if (first_added, end_line) == (finding.line, finding.end_line):
            kept.append(finding)  # already where it belongs (the common case): no copy
            continue
        kept.append(finding.model_copy(update={"line": first_added, "end_line": end_line}))
    return kept


def fold(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (file, tool, rule): the first, with the other lines in ``also_on_lines``."""
    groups: dict[tuple[str, str, str], list[Finding]] = {}
    # A stable sort keeps the tool's own order (ruff's columns) among findings on one line.
    for finding in sorted(findings, key=sort_key):
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


def sort_key(finding: Finding) -> tuple[str, int, str, str]:
    return finding.path, finding.line or 0, finding.tool, finding.rule


def distinct_skipped(skipped: Iterable[SkippedFile]) -> list[SkippedFile]:
    """Each skipped file once, with the first reason given for it (several stages may skip
    the same file: fetching it, then scanning it), by path."""
    first: dict[str, SkippedFile] = {}
    for item in skipped:
        first.setdefault(item.path, item)
    return [first[path] for path in sorted(first)]
