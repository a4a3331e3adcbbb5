"""The pull request workflow's state machine (which step may follow which) and its verdicts.

The workflow moves only through ``advance``, so an impossible move (a bug) fails the workflow
task loudly instead of leaving a pull request in a state nobody can explain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from prsaga.schema import (
    ApprovalDecision,
    DecisionRecord,
    Finding,
    PendingApproval,
    PullRequestEvent,
    PullRequestState,
    ReviewEvent,
    ReviewPolicy,
    ReviewStep,
    StatusState,
)

S = ReviewStep
_ENDED = frozenset({S.COMPLETED, S.FAILED, S.SUPERSEDED, S.CANCELLED})
# A step in flight can always be superseded (newer push), cancelled (/agent cancel), fail, or be
# ended by the pull request closing.
_INTERRUPTIONS = frozenset({S.FAILED, S.SUPERSEDED, S.CANCELLED, S.CLOSED})

TRANSITIONS: Mapping[ReviewStep, frozenset[ReviewStep]] = {
    S.IDLE: frozenset({S.PARSING, S.CLOSED}),
    # Parsing may find nothing to review (a draft, an already reviewed head): back to idle.
    S.PARSING: frozenset({S.ANALYZING, S.IDLE}) | _INTERRUPTIONS,
    S.ANALYZING: frozenset({S.AWAITING_APPROVAL, S.COMMENTING}) | _INTERRUPTIONS,
    S.AWAITING_APPROVAL: frozenset({S.COMMENTING}) | _INTERRUPTIONS,
    S.COMMENTING: frozenset({S.COMPLETED}) | _INTERRUPTIONS,
    **{ended: frozenset({S.PARSING, S.CLOSED}) for ended in _ENDED},
    S.CLOSED: frozenset(),
}

ACTIVE_STEPS = frozenset({S.PARSING, S.ANALYZING, S.AWAITING_APPROVAL, S.COMMENTING})
"""Steps during which a review is in flight."""


class IllegalTransition(RuntimeError):
    """A move the state machine does not allow: a bug in the workflow, never bad input."""


def advance(current: ReviewStep, to: ReviewStep) -> ReviewStep:
    """The step after moving from ``current`` to ``to``, or ``IllegalTransition``."""
    if to not in TRANSITIONS[current]:
        raise IllegalTransition(f"a pull request cannot go from {current} to {to}")
    return to


def propose(findings: Sequence[Finding], policy: ReviewPolicy) -> ReviewEvent:
    """The review event the findings call for under the repository's policy.

    The default posture is to comment. A review requests changes (and the status fails) only
    for a finding that is both severe enough (``request_changes_at``, high by default) and sure
    enough (``request_changes_confidence``, high by default): a syntax error, a provider-format
    credential, a conflict marker block; an entropy guess or a model's claim never does.
    Approving a clean pull request is opt-in (``approve_when_clean``).
    """
    if any(blocks(f, policy) for f in findings):
        return "REQUEST_CHANGES"
    return "APPROVE" if policy.approve_when_clean else "COMMENT"


def blocks(finding: Finding, policy: ReviewPolicy) -> bool:
    """Whether one finding, alone, makes the review request changes under ``policy``."""
    threshold = policy.request_changes_at
    return (
        threshold is not None
        and finding.severity.rank >= threshold.rank
        and finding.confidence.rank >= policy.request_changes_confidence.rank
    )


def needs_approval(proposal: ReviewEvent, policy: ReviewPolicy) -> bool:
    """Whether a human must approve before the review is posted as ``proposal``."""
    return policy.require_approval and proposal != "COMMENT"


def final_status(
    findings: Sequence[Finding], posted_as: ReviewEvent, decision: DecisionRecord | None
) -> tuple[StatusState, str]:
    """The commit status once the review is posted: failure only when it requests changes."""
    count = f"{len(findings)} finding{'s' if len(findings) != 1 else ''}" if findings else ""
    worst = max((f.severity for f in findings), key=lambda s: s.rank, default=None)
    text = f"{count}; worst is {worst.value}" if worst is not None else "no findings"
    if decision is not None and not decision.approved:
        by = "timeout" if decision.channel == "timeout" else f"@{decision.decided_by}"
        text = f"{text}; {decision.proposal.lower().replace('_', ' ')} declined by {by}"
    return ("failure" if posted_as == "REQUEST_CHANGES" else "success"), text


def decision_refusal(
    state: PullRequestState, decision: ApprovalDecision, *, decided: bool
) -> str | None:
    """Why ``decision`` cannot settle the pending proposal (``None``: it can). ``decided``: a
    decision on this proposal was already taken."""
    approval = state.approval
    if approval is None or decided:
        return f"{state.pr} has no proposal awaiting a decision"
    if decision.head_sha is not None and decision.head_sha != approval.head_sha:
        return f"the pending proposal is for {approval.head_sha[:12]}, not {decision.head_sha[:12]}"
    return None


def decision_record(
    approval: PendingApproval, decision: ApprovalDecision, at: datetime
) -> DecisionRecord:
    """The record kept of ``decision`` on ``approval``, taken at ``at``."""
    return DecisionRecord(
        head_sha=approval.head_sha,
        proposal=approval.proposal,
        approved=decision.approve,
        decided_by=decision.decided_by,
        channel=decision.channel,
        reason=decision.reason,
        at=at,
    )


class Admission(StrEnum):
    """What a delivery does to a pull request's workflow."""

    IGNORE = "ignore"
    """Late or already reviewed: nothing to do."""
    QUEUE = "queue"
    """Review it once nothing is in flight (it replaces the pending event)."""
    SUPERSEDE = "supersede"
    """Queue it and cancel the review in flight: it is about a newer head."""


MANUAL_ACTIONS = frozenset({"review", "labeled"})
"""Requests that review a head again even if it was reviewed (a label can route specialists)."""


@dataclass(frozen=True)
class HeadEvidence:
    """What the workflow knows about the order of a pull request's heads."""

    reviewing_head: str | None
    """The head under review (past planning), if any."""
    current_head: str | None
    """The head GitHub reported at the latest parse."""
    current_update: datetime | None
    """The ``updated_at`` GitHub reported with it: changes up to then were seen by that parse."""
    reviewed_heads: Sequence[str]
    retired_heads: Sequence[str]
    """Heads a later parse found replaced."""
    newest_update: datetime | None
    """The newest ``updated_at`` known: from the deliveries received before this one and the
    parses (which also say which head was current then)."""

    def is_older(self, head: str, updated_at: datetime | None) -> bool:
        """Whether ``head`` is older than what the workflow knows, by evidence: a strictly older
        ``updated_at``, else (no timestamps, or equal ones: GitHub counts seconds) a head that a
        parse found replaced or that was reviewed and is no longer current."""
        if head in (self.current_head, self.reviewing_head):
            return False  # what GitHub reported last, or what is under review
        if updated_at is not None and self.newest_update is not None:
            if updated_at != self.newest_update:
                return updated_at < self.newest_update
        return head in self.retired_heads or head in self.reviewed_heads

    def is_covered(self, head: str, updated_at: datetime | None) -> bool:
        """Whether the review of ``head`` (done or in flight) already saw this change: the
        parse that started it reported ``head`` at or after ``updated_at``."""
        if head != self.current_head or updated_at is None or self.current_update is None:
            return False
        reviewed = head in self.reviewed_heads or head == self.reviewing_head
        return reviewed and updated_at <= self.current_update


def admit_event(event: PullRequestEvent, evidence: HeadEvidence) -> Admission:
    """What a (not yet seen, not ``closed``) delivery does. It supersedes the review in flight
    only when it is really about a newer head; a late delivery about an older head is ignored,
    so it can neither cancel the newer review nor make the newer head be reviewed twice."""
    head = event.head_sha
    if head is None:
        return Admission.QUEUE  # a request about whatever the head is now
    if evidence.is_older(head, event.updated_at) or evidence.is_covered(head, event.updated_at):
        return Admission.IGNORE
    if event.action not in MANUAL_ACTIONS and head in evidence.reviewed_heads:
        return Admission.IGNORE
    if evidence.reviewing_head is not None and head != evidence.reviewing_head:
        return Admission.SUPERSEDE
    return Admission.QUEUE


def admit_event_by_arrival(
    event: PullRequestEvent, reviewing_head: str | None, reviewed_heads: Sequence[str]
) -> Admission:
    """The rule before ``admit_event``, kept so that histories recorded with it replay: any
    head other than the one under review superseded it, whenever it arrived."""
    manual = event.action in MANUAL_ACTIONS
    if not manual and event.head_sha in reviewed_heads:
        return Admission.IGNORE
    if event.head_sha not in (None, reviewing_head) and reviewing_head:
        return Admission.SUPERSEDE
    return Admission.QUEUE


def newer(known: datetime | None, seen: datetime | None) -> datetime | None:
    """The newest ``updated_at`` known once ``seen`` is seen."""
    if known is None or (seen is not None and seen > known):
        return seen
    return known


def retire(retired: Sequence[str], previous: str | None, current: str, limit: int) -> list[str]:
    """The retired heads once a parse reports ``current`` where ``previous`` was (newest last,
    at most ``limit``): a head pushed again (a force-push back) is current, not retired."""
    kept = [sha for sha in retired if sha != current]
    if previous is None or previous == current:
        return kept[-limit:]
    return [*(sha for sha in kept if sha != previous), previous][-limit:]
