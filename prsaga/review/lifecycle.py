"""The pull request workflow's state machine (which step may follow which) and its verdicts.

The workflow moves only through ``advance``, so an impossible move (a bug) fails the workflow
task loudly instead of leaving a pull request in a state nobody can explain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from prsaga.schema import (
    ApprovalDecision,
    DecisionRecord,
    Finding,
    PendingApproval,
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
    """The review event the findings call for under the repository's policy."""
    threshold = policy.request_changes_at
    if threshold is not None and any(f.severity.rank >= threshold.rank for f in findings):
        return "REQUEST_CHANGES"
    return "APPROVE" if policy.approve_when_clean else "COMMENT"


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
