"""``/agent ...`` commands in pull request comments: parsing, who may run them, and the help text.

Pure functions: the webhook server parses, the workflow authorizes (asking GitHub for the
sender's permission through an activity), ``decide_command`` says what an authorized command
does, and the workflow applies that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import get_args

from prsaga.review.lifecycle import decision_record, decision_refusal
from prsaga.review.texts import describe_decision, status_text
from prsaga.schema import (
    MAX_COMMAND_ARGUMENT,
    ApprovalDecision,
    CommandEvent,
    CommandName,
    DecisionRecord,
    PullRequestEvent,
    PullRequestState,
    ReviewStep,
    clip,
)

WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})
"""Repository permissions that may steer a review (GitHub's ``permission`` field)."""

PRIVILEGED: frozenset[CommandName] = frozenset({"approve", "reject", "retry", "cancel"})
"""Commands only collaborators with write access may run."""

_KNOWN: frozenset[str] = frozenset(get_args(CommandName)) - {"unknown"}


@dataclass(frozen=True)
class ParsedCommand:
    command: CommandName
    argument: str


def parse_command(body: str, prefix: str = "/agent") -> ParsedCommand | None:
    """The command in a comment, or ``None`` when the comment holds none.

    The command is the first line that starts with ``prefix`` (outside quotes: a quoted line
    ``> /agent approve`` in a reply is someone else's words, not a command). A long argument
    (e.g. a pasted URL) is clipped with a note, which the reply quotes: any comment GitHub can
    deliver becomes a command, none is refused.
    """
    pattern = re.compile(rf"^{re.escape(prefix)}(?:\s+(\S+))?(?:\s+(.*))?$", re.IGNORECASE)
    for raw in body.splitlines():
        match = pattern.match(raw.strip())
        if match is None:
            continue
        word = (match[1] or "").lower()
        rest = (match[2] or "").strip()
        if word in _KNOWN:
            return ParsedCommand(
                command=word,  # type: ignore[arg-type]
                argument=clip(rest, MAX_COMMAND_ARGUMENT),
            )
        unknown = f"{match[1] or ''} {rest}".strip()
        return ParsedCommand(command="unknown", argument=clip(unknown, MAX_COMMAND_ARGUMENT))
    return None


def may_run(command: CommandName, permission: str, *, is_author: bool) -> bool:
    """Whether someone with ``permission`` on the repository may run ``command``.

    Anyone may ask for status or help; a full re-review costs money, so it is for the pull
    request's author and writers; decisions and cancellations are for writers only.
    """
    if command in PRIVILEGED:
        return permission in WRITE_PERMISSIONS
    if command == "review":
        return is_author or permission in WRITE_PERMISSIONS
    return True


def help_text(prefix: str = "/agent") -> str:
    return "\n".join(
        [
            "prsaga understands these commands (one per comment):",
            "",
            f"- `{prefix} review`: review the whole pull request again",
            f"- `{prefix} approve`: let the proposed action (e.g. requesting changes) go ahead",
            f"- `{prefix} reject [reason]`: post the findings as a plain comment instead",
            f"- `{prefix} retry`: retry the last failed review",
            f"- `{prefix} cancel`: stop the review in progress or awaiting approval",
            f"- `{prefix} status`: where the review of this pull request is",
            f"- `{prefix} help`: this message",
            "",
            "`approve`, `reject`, `retry` and `cancel` need write access to the repository.",
        ]
    )


@dataclass(frozen=True)
class CommandOutcome:
    """What an authorized command does to the workflow, and the reply to post."""

    reply: str
    replace_pending: bool = False
    """Replace the pending event with ``pending`` (``None``: drop it)."""
    pending: PullRequestEvent | None = None
    record: DecisionRecord | None = None
    """A decision on the pending proposal to keep."""
    cancel_review: bool = False
    """Cancel the review in flight (its compensations run)."""


def decide_command(
    command: CommandEvent,
    state: PullRequestState,
    *,
    review_in_flight: bool,
    decided: bool,
    prefix: str,
    now: datetime,
) -> CommandOutcome:
    """What the authorized ``command`` does given the workflow's ``state``; ``decided``: the
    pending proposal already has a decision; ``now``: the workflow's clock."""
    name = command.command
    if name == "review":
        full_review = PullRequestEvent(
            delivery_id=command.delivery_id,
            action="review",
            sender=command.sender,
            source=command.source,
            full=True,
        )
        return CommandOutcome(
            "a full review is on its way.", replace_pending=True, pending=full_review
        )
    if name in ("approve", "reject"):
        return _decide_proposal(command, state, decided=decided, now=now)
    if name == "retry":
        if state.failed_event is None or state.step != ReviewStep.FAILED:
            return CommandOutcome("there is no failed review to retry.")
        retry = state.failed_event.model_copy(update={"delivery_id": command.delivery_id})
        return CommandOutcome(
            f"retrying the review that failed with: {state.last_error}",
            replace_pending=True,
            pending=retry,
        )
    if name == "cancel":
        if not review_in_flight:
            return CommandOutcome("there is no review in progress to cancel.", replace_pending=True)
        return CommandOutcome(
            "the review in progress is cancelled.", replace_pending=True, cancel_review=True
        )
    if name == "status":
        return CommandOutcome(status_text(state))
    if name == "help":
        return CommandOutcome(help_text(prefix))
    return CommandOutcome(f"I don't know `{command.argument}`.\n\n{help_text(prefix)}")


def _decide_proposal(
    command: CommandEvent, state: PullRequestState, *, decided: bool, now: datetime
) -> CommandOutcome:
    decision = ApprovalDecision(
        approve=command.command == "approve",
        decided_by=command.sender,
        channel="comment",
        reason=command.argument,
    )
    refusal = decision_refusal(state, decision, decided=decided)
    if refusal is not None:
        return CommandOutcome(f"nothing to {command.command}: {refusal}.")
    assert state.approval is not None, "refused otherwise"
    record = decision_record(state.approval, decision, now)
    return CommandOutcome(f"noted: {describe_decision(record)}.", record=record)
