"""The audit trail of one pull request, read from its workflow's history: ``prsaga audit``'s
JSON form, for compliance exports.

Stable: fields are only ever added (with defaults); a change that removes, renames or retypes a
field bumps ``AUDIT_SCHEMA_VERSION``. Every entry has ``kind`` (which model it is), ``at`` (when
Temporal recorded it, UTC) and ``run_id`` (the workflow run whose history holds it: a pull
request's workflow continues as new when its history grows long). Entries are in time order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from prsaga.schema.findings import SkippedFile, TokenUsage
from prsaga.schema.pull_request import PullRequestRef
from prsaga.schema.signals import ApprovalChannel

AUDIT_SCHEMA_VERSION: Literal[1] = 1


class _Entry(BaseModel):
    at: datetime
    run_id: str


class DeliveryEntry(_Entry):
    """Something that reached the workflow from outside: a webhook delivery or a manual review
    request (``event``), an ``/agent`` command (``command``) or an approval decision sent as a
    signal or an update (``decision``: whether it applied is in the ``human`` entries)."""

    kind: Literal["delivery"] = "delivery"
    channel: Literal["event", "command", "decision"]
    action: str
    """The ``pull_request`` action (or ``review``), the command, or ``approve``/``reject``."""
    sender: str
    source: str
    """``webhook``, ``cli``, ``temporal`` (events and commands), or the decision's channel."""
    delivery_id: str | None = None
    head_sha: str | None = None
    detail: str = ""
    """The command's argument or the decision's reason (as received, bounded by its schema)."""


class PlanEntry(_Entry):
    """What the review of a head was planned to cover, and why each agent runs or not."""

    kind: Literal["plan"] = "plan"
    head_sha: str
    files: int
    incremental: bool
    since_sha: str | None = None
    specialists: dict[str, int] = {}
    """Claude specialist -> chunks it reviews."""
    routing: list[str] = []
    notes: list[str] = []
    """What was skipped and why."""
    config_error: str | None = None


class AuditFinding(BaseModel):
    """A finding in brief (its full text is in the posted review)."""

    path: str
    line: int | None
    severity: str
    tool: str
    rule: str
    title: str


class AgentInputs(BaseModel):
    """What an agent was given."""

    batch: int
    files: int
    paths: list[str]
    input_tokens_estimate: int = 0


class AgentEntry(_Entry):
    """One agent's decision on one batch (or chunk): its inputs in brief, what it found, what it
    cost, and what was dropped and why; ``error`` when it gave no usable answer."""

    kind: Literal["agent"] = "agent"
    head_sha: str
    agent: str
    model: str | None = None
    inputs: AgentInputs
    findings: list[AuditFinding] = []
    omitted_findings: int = 0
    dropped: dict[str, int] = {}
    """Findings produced but not kept, by reason (e.g. "line not in diff")."""
    skipped: list[SkippedFile] = []
    """Files the agent could not review, and why."""
    tool_errors: list[str] = []
    tokens: TokenUsage | None = None
    cost_usd: float = 0.0
    duration_ms: int = 0
    error: str | None = None


class HumanDecisionEntry(_Entry):
    """A decision on the action a review proposed: who, through which channel, when (the
    approval timeout's default appears with channel ``timeout``)."""

    kind: Literal["human"] = "human"
    head_sha: str
    proposal: str
    approved: bool
    decided_by: str
    channel: ApprovalChannel
    reason: str = ""


class ReviewEntry(_Entry):
    """The review posted on GitHub (or, in quiet mode, the decision to post nothing)."""

    kind: Literal["review"] = "review"
    head_sha: str
    event: str
    """``COMMENT``, ``REQUEST_CHANGES`` or ``APPROVE``."""
    findings: int
    inline_comments: int
    html_url: str | None
    """``None`` when nothing was posted."""
    reused: bool
    """A retry found the review already posted."""
    posted: bool = True
    """False when quiet mode had nothing (new) to say and posted no review."""


AuditEntry = Annotated[
    DeliveryEntry | PlanEntry | AgentEntry | HumanDecisionEntry | ReviewEntry,
    Field(discriminator="kind"),
]


class AuditTrail(BaseModel):
    """Everything a pull request's workflow recorded, for people and compliance exports."""

    schema_version: Literal[1] = AUDIT_SCHEMA_VERSION
    pr: PullRequestRef
    workflow_id: str
    runs: list[str]
    """The runs read, oldest first (each continued as new into the next)."""
    entries: list[AuditEntry]
