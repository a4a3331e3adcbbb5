"""What reaches a pull request's workflow from outside: signals and updates (webhook deliveries,
``/agent`` commands, human decisions) and the names the starter uses to send them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from prsaga.schema.pull_request import GitHubTime

EventAction = Literal[
    "opened", "reopened", "synchronize", "ready_for_review", "closed", "labeled", "review"
]


Source = Literal["webhook", "cli", "temporal"]


class PullRequestEvent(BaseModel):
    """Something that happened to a pull request: the signal that wakes (or starts) its workflow.

    A webhook delivery becomes one of these; so does ``prsaga review`` from the command line.
    """

    delivery_id: str = Field(min_length=1, max_length=200)
    """``X-GitHub-Delivery`` (or a generated id for manual requests): the deduplication key."""
    action: EventAction
    """The ``pull_request`` action, or ``review`` for a manual request."""
    head_sha: str | None = Field(default=None, pattern=r"^[0-9a-f]{40}$")
    """The head commit the event is about; ``None`` means "whatever the head is now"."""
    sender: str = Field(min_length=1, max_length=100)
    source: Source = "webhook"
    full: bool = False
    """Review every file, not only those changed since the last reviewed head."""
    installation_id: int | None = None
    """The GitHub App installation the delivery came from (App authentication)."""
    received_at: datetime | None = None
    """When prsaga received it (the start of the end-to-end review latency)."""
    updated_at: GitHubTime | None = None
    """The pull request's ``updated_at`` in the delivery: when GitHub last changed it as of this
    event. GitHub does not deliver in order, so this (not arrival) tells a late delivery apart."""


MAX_COMMAND_ARGUMENT = 500
"""Characters of a command's argument kept (longer ones are clipped, with a note, not refused)."""

MAX_COMMAND_ARGUMENT = 500
"""A command's argument is clipped to this (with a note, see ``clip``), never refused."""

CommandName = Literal["review", "approve", "reject", "retry", "cancel", "status", "help", "unknown"]


class CommandEvent(BaseModel):
    """A ``/agent ...`` command typed in the pull request's conversation (or sent directly)."""

    delivery_id: str = Field(min_length=1, max_length=200)
    command: CommandName
    argument: str = Field(default="", max_length=MAX_COMMAND_ARGUMENT)
    """The rest of the line: a rejection reason, or the unknown command's text."""
    sender: str = Field(min_length=1, max_length=100)
    comment_id: int | None = None
    """The comment holding the command, which the reply refers to."""
    source: Source = "webhook"
    installation_id: int | None = None


ApprovalChannel = Literal["comment", "cli", "temporal-cli", "sdk", "timeout"]


class ApprovalDecision(BaseModel):
    """A human decision on the action a review proposes (the ``decide`` update's input)."""

    approve: bool
    decided_by: str = Field(min_length=1, max_length=100)
    channel: ApprovalChannel = "sdk"
    reason: str = Field(default="", max_length=1000)
    head_sha: str | None = Field(default=None, pattern=r"^[0-9a-f]{40}$")
    """When given, the decision only applies to the proposal for this head."""


class WaitForReviewInput(BaseModel):
    """Wait until every event received so far has been reviewed (or its review failed).

    No fields yet: the model exists so that options can be added without breaking callers.
    Signals and updates reach the workflow in the order they were sent, so an update sent after
    an event's signal was accepted waits for that event's review.
    """
