"""The pull-request workflow's own input and state: what its query answers and what
continue-as-new carries. Bounded: memories are capped and findings are counted, not kept."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from prsaga.schema.activities import PublishedReview, ReviewEvent
from prsaga.schema.pull_request import PullRequestRef, ReviewStep
from prsaga.schema.signals import ApprovalChannel, PullRequestEvent


class PendingApproval(BaseModel):
    """A consequential action the review proposes, waiting for a human."""

    head_sha: str
    proposal: ReviewEvent
    findings: int
    requested_at: datetime
    deadline: datetime


class DecisionRecord(BaseModel):
    """Who decided what, through which channel, and when (kept in the state and the history)."""

    head_sha: str
    proposal: ReviewEvent
    approved: bool
    decided_by: str
    channel: ApprovalChannel
    reason: str = ""
    at: datetime


class PullRequestState(BaseModel):
    """A pull request's state as its workflow keeps it (the query answer, the continue-as-new
    payload). Bounded: the deduplication memory is capped and findings are counted, not kept."""

    pr: PullRequestRef
    step: ReviewStep = ReviewStep.IDLE
    head_sha: str | None = None
    """The head currently (or last) under review."""
    title: str | None = None
    reviewed_shas: list[str] = []
    recent_deliveries: list[str] = []
    """Delivery ids already handled, newest last, so redeliveries do nothing."""
    pending: PullRequestEvent | None = None
    """The newest event still waiting to be reviewed (newer pushes replace older ones)."""
    findings_count: int = 0
    last_review: PublishedReview | None = None
    last_error: str | None = None
    reviews_started: int = 0
    closed: bool = False
    author: str | None = None
    html_url: str | None = None
    installation_id: int | None = None
    labels: list[str] = []
    last_reviewed_sha: str | None = None
    """The newest head reviewed to the end: the base of the next incremental review."""
    failed_event: PullRequestEvent | None = None
    """The event whose review failed last, for ``/agent retry``."""
    approval: PendingApproval | None = None
    decisions: list[DecisionRecord] = []
    """The latest human decisions, newest last (bounded)."""
    recent_commands: list[str] = []
    """Command delivery ids already handled."""
    retired_heads: list[str] = []
    """Heads GitHub has since replaced (a later parse reported another head), newest last: a
    delivery about one of them is late. Bounded."""
    newest_update: datetime | None = None
    """The newest ``updated_at`` known (deliveries and parses): a delivery older than this
    about another head than ``head_sha`` is late."""
    head_updated_at: datetime | None = None
    """The ``updated_at`` GitHub reported with ``head_sha``: what that parse already saw."""


class WorkflowOptions(BaseModel):
    """Server settings the workflow needs (the starter passes them; workflows read no files)."""

    debounce_seconds: float = Field(default=5.0, ge=0)
    review_drafts: bool = False
    approval_timeout_seconds: float | None = None
    """Overrides the repository's setting (tests use short timeouts)."""
    command_prefix: str = "/agent"


class PullRequestWorkflowInput(BaseModel):
    """Start (or continue-as-new) a pull request's workflow."""

    pr: PullRequestRef
    state: PullRequestState | None = None
    options: WorkflowOptions = WorkflowOptions()


# The names other processes reach the workflow by. The workflow declares its handlers with these
# names, and the starter sends them, so neither imports the other.
WORKFLOW_TYPE = "PullRequestWorkflow"
EVENT_SIGNAL = "on_event"
COMMAND_SIGNAL = "on_command"
DECISION_SIGNAL = "decision"
DECIDE_UPDATE = "decide"
WAIT_FOR_REVIEW_UPDATE = "wait_for_review"
STATE_QUERY = "get_state"
