"""The guardian's decisions: which model findings to verify, and what the verdicts leave.

After the fan-in, every model finding that would be posted is checked by an independent
verification call (see ``activities.analyze``). These pure functions pick the findings (one per
problem, worst first, at most the plan's allowance) and apply the verdicts: a finding is kept
only when the verifier confirmed it (or a duplicate of it) with at least the threshold's
confidence; every other model finding is dropped and counted, with its reason, in its agent's
decision record, and the verifier's own report lists every verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prsaga.review.findings import merge_findings, same_problem
from prsaga.review.texts import truncate
from prsaga.schema import MAX_VERIFY_REASON_CHARS, AgentReport, Finding, TokenUsage, Verification

VERIFIER_AGENT = "verifier"


def is_model_report(report: AgentReport) -> bool:
    return report.model is not None and report.agent != VERIFIER_AGENT


@dataclass(frozen=True)
class Selection:
    to_verify: list[Finding]
    """One finding per problem, worst first, at most the allowance."""
    over_allowance: list[Finding]
    """Findings the budget leaves unverified (they are dropped)."""


def select_for_verification(reports: Sequence[AgentReport], allowance: int) -> Selection:
    """The model findings of ``reports`` to verify (duplicates across agents verified once)."""
    ranked = merge_findings([r.findings for r in reports if is_model_report(r)])
    return Selection(to_verify=ranked[:allowance], over_allowance=ranked[allowance:])


def unverified(finding: Finding, reason: str) -> Verification:
    """The record of a finding that got no verdict."""
    return Verification(
        agent=finding.agent,
        path=finding.path,
        line=finding.line,
        rule=finding.rule,
        title=finding.title,
        verdict="unverified",
        reason=one_line(reason),
    )


def judged(finding: Finding, verification: Verification, threshold: int) -> Verification:
    """``verification`` with ``kept`` decided by ``threshold``."""
    kept = verification.verdict == "confirmed" and verification.confidence >= threshold
    return verification.model_copy(update={"kept": kept})


def drop_reason(verification: Verification, threshold: int) -> str:
    """How a dropped finding is counted in its agent's ``dropped``."""
    if verification.verdict == "refuted":
        return "refuted by the verifier"
    if verification.verdict == "unverified":
        return "not verified"
    return f"verifier confidence under {threshold}"


def apply_verifications(
    reports: Sequence[AgentReport],
    verifications: Sequence[Verification],
    selection: Selection,
    threshold: int,
) -> list[AgentReport]:
    """``reports`` without the model findings the verifier did not confirm, and the verifier's
    report (its verdicts, usage and cost) appended. ``verifications`` are in the order of
    ``selection.to_verify``."""
    records = [
        judged(finding, verification, threshold)
        for finding, verification in zip(selection.to_verify, verifications, strict=True)
    ]
    records += [
        unverified(f, "over the review's verification allowance") for f in selection.over_allowance
    ]
    verdicts = list(zip([*selection.to_verify, *selection.over_allowance], records, strict=True))

    def verdict_for(finding: Finding) -> Verification | None:
        for verified, record in verdicts:
            if verified == finding or same_problem(verified, finding):
                return record
        return None

    updated: list[AgentReport] = []
    for report in reports:
        if not is_model_report(report) or not report.findings:
            updated.append(report)
            continue
        kept: list[Finding] = []
        dropped = dict(report.dropped)
        for finding in report.findings:
            record = verdict_for(finding)
            if record is not None and record.kept:
                kept.append(finding)
                continue
            reason = drop_reason(record, threshold) if record else "not verified"
            dropped[reason] = dropped.get(reason, 0) + 1
        updated.append(report.model_copy(update={"findings": kept, "dropped": dropped}))
    updated.append(verifier_report(records, threshold))
    return updated


def verifier_report(records: Sequence[Verification], threshold: int) -> AgentReport:
    """The verifier's decision record: every verdict, and what it dropped by reason."""
    dropped: dict[str, int] = {}
    for record in records:
        if not record.kept:
            reason = drop_reason(record, threshold)
            dropped[reason] = dropped.get(reason, 0) + 1
    usage = TokenUsage()
    for record in records:
        if record.usage is not None:
            usage += record.usage
    models = sorted({r.model for r in records if r.model})
    return AgentReport(
        agent=VERIFIER_AGENT,
        batch=0,
        files=len({r.path for r in records}),
        paths=list(dict.fromkeys(r.path for r in records)),
        findings=[],
        duration_ms=0,
        model=", ".join(models) or None,
        usage=usage,
        cost_usd=sum(r.cost_usd for r in records),
        dropped=dropped,
        verifications=list(records),
    )


def one_line(text: str, limit: int = MAX_VERIFY_REASON_CHARS) -> str:
    """``text`` on one line, bounded for the decision record."""
    line = " ".join(text.split())
    return truncate(line, limit)
