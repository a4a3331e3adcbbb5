"""What the pull request workflow says to people: its status lines, proposals and decisions.

Pure functions of the workflow's state, so the wording is tested without Temporal and the
workflow only decides when to say it.
"""

from __future__ import annotations

from datetime import datetime

from prsaga.schema import (
    ApprovalTimeoutDefault,
    DecisionRecord,
    PullRequestState,
    ReviewEvent,
    ReviewStep,
)

_INTERRUPTION_REASONS = {
    ReviewStep.SUPERSEDED: "superseded by a newer push",
    ReviewStep.CANCELLED: "cancelled on request",
    ReviewStep.CLOSED: "the pull request was closed",
}

_PROPOSAL_ACTIONS: dict[ReviewEvent, str] = {
    "REQUEST_CHANGES": "request changes",
    "APPROVE": "approve the pull request",
    "COMMENT": "comment",
}


def truncate(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def counted(count: int, noun: str) -> str:
    """``count`` and ``noun``, plural unless one: "1 finding", "2 findings"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def reviewing_text(files: int) -> str:
    """The pending status while the agents look at ``files`` changed files."""
    if files == 0:
        return "No changed file to review (binary, removed or skipped files only)"
    return f"Reviewing {counted(files, 'changed file')}"


def interruption_reason(why: ReviewStep) -> str:
    """Why a review in flight stopped, for ``last_error`` and the error status."""
    return _INTERRUPTION_REASONS[why]


def proposal_text(proposal: ReviewEvent) -> str:
    """The action a review proposes, as the end of "prsaga proposes to ..."."""
    return _PROPOSAL_ACTIONS[proposal]


def utc_minute(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def describe_decision(record: DecisionRecord) -> str:
    """Who decided what, how and when: for the log, the review's notes and the reply."""
    verdict = "approved" if record.approved else "declined"
    who = "the approval timeout" if record.channel == "timeout" else f"@{record.decided_by}"
    reason = f" ({record.reason})" if record.reason else ""
    return (
        f"{who} {verdict} the proposal to {proposal_text(record.proposal)} via {record.channel}"
        f" at {utc_minute(record.at)}{reason}"
    )


def approval_request(
    *,
    head_sha: str,
    proposal: ReviewEvent,
    findings: int,
    deadline: datetime,
    on_timeout: ApprovalTimeoutDefault,
    command_prefix: str,
) -> str:
    """The comment asking a maintainer to approve or reject what the review proposes."""
    fallback = "go ahead" if on_timeout == "proceed" else "post a comment"
    return (
        f"prsaga proposes to **{proposal_text(proposal)}** ({counted(findings, 'finding')} on "
        f"{head_sha[:12]}). A maintainer can reply `{command_prefix} approve` to go ahead or "
        f"`{command_prefix} reject [reason]` to post the findings as a plain comment. Without a "
        f"decision by {utc_minute(deadline)}, prsaga will {fallback}."
    )


def status_text(state: PullRequestState) -> str:
    """The answer to ``/agent status``: a markdown list of where the review is."""
    lines = [f"review state: **{state.step}**"]
    if state.head_sha:
        lines.append(f"head: {state.head_sha[:12]}")
    if state.last_reviewed_sha:
        lines.append(f"last reviewed head: {state.last_reviewed_sha[:12]}")
    if state.approval is not None:
        lines.append(
            f"awaiting approval to {proposal_text(state.approval.proposal)} until "
            f"{utc_minute(state.approval.deadline)}"
        )
    if state.last_error:
        lines.append(f"last error: {state.last_error}")
    return "\n".join(["", *(f"- {line}" for line in lines)])
