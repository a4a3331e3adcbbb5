"""Instant agents: the analyze activities under their real names, answering at once.

They skip what a review itself costs (fetching file contents, running the linters, calling
Claude) and keep what prsaga's plumbing costs: each loads its batch from the stored plan (the
claim check every real agent loads too) and returns canned findings on lines the diff added, so
the fan-in, the grounding of inline comments and the publishing run as they would.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from temporalio import activity

from activities.analyze import OFFLINE_AGENT, AnalyzeAgents, grounded_report
from activities.plan import ReviewPlans
from prsaga.review.diff import DiffFile, ParsedPullRequest
from prsaga.review.verification import unverified
from prsaga.schema import (
    AgentReport,
    AnalyzeInput,
    Finding,
    Severity,
    SpecialistInput,
    Verification,
    VerifyInput,
)

FINDINGS_PER_BATCH = 3
"""Canned findings per agent call: a few, like a real agent on ordinary code."""
INSTANT_MODEL = "bench-instant"
_SEVERITIES = (Severity.LOW, Severity.MEDIUM, Severity.INFO)


def canned_findings(agent: str, paths: Sequence[str], parsed: ParsedPullRequest) -> list[Finding]:
    """One finding on the first added line of each of the first few ``paths`` that add lines."""
    files = parsed.files_by_path()
    findings: list[Finding] = []
    for path in paths:
        diff_file = files.get(path)
        added = diff_file.added_lines() if diff_file is not None else frozenset()
        if not added:
            continue
        severity = _SEVERITIES[len(findings) % len(_SEVERITIES)]
        findings.append(
            Finding(
                agent=agent,
                tool="bench",
                rule="BENCH001",
                path=path,
                line=min(added),
                severity=severity,
                title="Canned finding of the benchmark's instant agent",
                message="The benchmark's instant agent reports this on the first added line.",
                category="style",
            )
        )
        if len(findings) == FINDINGS_PER_BATCH:
            break
    return findings


def _instant_offline(plans: ReviewPlans, input: AnalyzeInput) -> AgentReport:
    started = time.monotonic()
    plan, parsed = plans.load(input.plan)
    paths = plan.offline_batches[input.batch]
    return grounded_report(
        agent=OFFLINE_AGENT,
        batch=input.batch,
        files=_files(parsed, paths),
        findings=canned_findings(OFFLINE_AGENT, paths, parsed),
        parsed=parsed,
        started=started,
    )


def _instant_claude(plans: ReviewPlans, input: SpecialistInput) -> AgentReport:
    started = time.monotonic()
    plan, parsed = plans.load(input.plan)
    paths = plan.chunks[input.specialist][input.chunk].paths
    agent = f"claude-{input.specialist}"
    return grounded_report(
        agent=agent,
        batch=input.chunk,
        files=_files(parsed, paths),
        findings=canned_findings(agent, paths, parsed),
        parsed=parsed,
        started=started,
        model=INSTANT_MODEL,
    )


def _instant_verdict(input: VerifyInput) -> Verification:
    """The verifier confirming at once: every canned finding is posted, as before it existed."""
    return unverified(input.finding, "instant").model_copy(
        update={"verdict": "confirmed", "confidence": 100, "model": INSTANT_MODEL}
    )


def _files(parsed: ParsedPullRequest, paths: list[str]) -> list[DiffFile]:
    by_path = parsed.files_by_path()
    return [by_path[path] for path in paths]


class InstantAgents(AnalyzeAgents):
    """Drop-in for ``activities.analyze.AnalyzeAgents`` (built the same way, from the worker's
    settings and plans): both agents instant."""

    @activity.defn(name="offline_review")
    def offline_review(self, input: AnalyzeInput) -> AgentReport:
        return _instant_offline(self._plans, input)

    @activity.defn(name="claude_review")
    def claude_review(self, input: SpecialistInput) -> AgentReport:
        return _instant_claude(self._plans, input)

    @activity.defn(name="verify_finding")
    def verify_finding(self, input: VerifyInput) -> Verification:
        return _instant_verdict(input)


class RealOfflineAgents(AnalyzeAgents):
    """The real offline reviewer (contents fetched, linters run) with instant Claude
    specialists: what a review without an LLM costs."""

    @activity.defn(name="claude_review")
    def claude_review(self, input: SpecialistInput) -> AgentReport:
        return _instant_claude(self._plans, input)

    @activity.defn(name="verify_finding")
    def verify_finding(self, input: VerifyInput) -> Verification:
        return _instant_verdict(input)


class LlmAgents(AnalyzeAgents):
    """Real Claude specialists (against the local Messages API, answering at a model's pace)
    with an instant offline reviewer: what the model's part of a review costs."""

    @activity.defn(name="offline_review")
    def offline_review(self, input: AnalyzeInput) -> AgentReport:
        return _instant_offline(self._plans, input)
