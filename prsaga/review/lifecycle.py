"""The pull request workflow's state machine (which step may follow which) and its verdicts.

The workflow moves only through ``advance``, so an impossible move (a bug) fails the workflow
task loudly instead of leaving a pull request in a state nobody can explain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from prsaga.schema import (
    DecisionRecord,
    Finding,
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
