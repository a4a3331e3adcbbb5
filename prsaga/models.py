"""The typed contracts between the webhook server, the workflow and its activities.

Every workflow, activity, signal and query takes or returns one of these models (Temporal's pydantic
data converter carries them). They are kept small on purpose: they are recorded in the workflow
history, so they carry references and bounded summaries, never a pull request's patches.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# GitHub's rules: owners are alphanumerics and single hyphens; repositories add "." and "_".
_OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"
_REPO = r"[A-Za-z0-9._-]{1,100}"
_PR_SPEC = re.compile(rf"^(?P<owner>{_OWNER})/(?P<repo>{_REPO})#(?P<number>[1-9][0-9]*)$")


class PullRequestRef(BaseModel):
    """Which pull request: the business key of its workflow."""

    model_config = ConfigDict(frozen=True)

    owner: str = Field(pattern=rf"^{_OWNER}$")
    repo: str = Field(pattern=rf"^{_REPO}$")
    number: int = Field(gt=0)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"

    @property
    def workflow_id(self) -> str:
        """``pr-OWNER/REPO-N``: readable, and unambiguous because "/" is in no owner or repo name
        (``pr-OWNER-REPO-N`` would give ``a-b/c`` and ``a/b-c`` the same id)."""
        return f"pr-{self.owner}/{self.repo}-{self.number}"

    def __str__(self) -> str:
        return f"{self.full_name}#{self.number}"

    @classmethod
    def parse(cls, spec: str) -> PullRequestRef:
        """Parse ``OWNER/REPO#N``."""
        match = _PR_SPEC.match(spec.strip())
        if match is None:
            raise ValueError(f"expected OWNER/REPO#NUMBER, got {spec!r}")
        return cls(owner=match["owner"], repo=match["repo"], number=int(match["number"]))


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
    label: str | None = Field(default=None, max_length=100)
    """The label added (``labeled`` events): labels can route extra specialists."""
    full: bool = False
    """Review every file, not only those changed since the last reviewed head."""
    installation_id: int | None = None
    """The GitHub App installation the delivery came from (App authentication)."""
    received_at: datetime | None = None
    """When prsaga received it (the start of the end-to-end review latency)."""


CommandName = Literal["review", "approve", "reject", "retry", "cancel", "status", "help", "unknown"]


class CommandEvent(BaseModel):
    """A ``/agent ...`` command typed in the pull request's conversation (or sent directly)."""

    delivery_id: str = Field(min_length=1, max_length=200)
    command: CommandName
    argument: str = Field(default="", max_length=500)
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


MAX_ALSO_ON_LINES = 50
"""Folded lines kept per finding: enough to read, bounded for the workflow history."""


class Severity(StrEnum):
    """How much a finding matters, lowest first."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class Finding(BaseModel):
    """One problem an agent reports, anchored to a file and (optionally) a line of the new file."""

    agent: str
    """The agent that produced it (e.g. ``offline``)."""
    tool: str
    """The tool behind it (e.g. ``ruff``, ``detect-secrets``, ``hygiene``, a model name)."""
    rule: str
    """A stable rule id within the tool (``W291``, ``Private Key``, ``editor-swap-file``)."""
    path: str
    line: int | None = Field(default=None, gt=0)
    """Line in the new (RIGHT side) file; ``None`` for a finding about the whole file."""
    end_line: int | None = Field(default=None, gt=0)
    severity: Severity
    title: str = Field(max_length=200)
    message: str = Field(max_length=4000)
    """Never holds a secret's value: agents describe what they found, not the secret."""
    category: str | None = Field(default=None, max_length=40)
    """What kind of problem (``security``, ``correctness``, ``performance``, ``style``,
    ``tests``, ``docs``, ``secrets``, ``hygiene``)."""
    suggestion: str | None = Field(default=None, max_length=4000)
    """Replacement text for ``line``..``end_line``, posted as a GitHub ``suggestion`` block."""
    evidence: str | None = Field(default=None, max_length=500)
    """A code fragment the finding quotes; the grounding verifier checks it is really there."""
    also_on_lines: list[int] = Field(default=[], max_length=MAX_ALSO_ON_LINES)
    """Further lines where the same rule fired in the same file (folded into one comment)."""
    also_on_more: int = Field(default=0, ge=0)
    """How many more such lines there are beyond ``also_on_lines`` (which is capped)."""


class TokenUsage(BaseModel):
    """Tokens one or more Messages API calls used, as the API reports them."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens
            + other.cache_creation_input_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
        )

    @property
    def total(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
        )


class DiffRef(BaseModel):
    """A reference to a parsed diff, so that activities exchange ids and not patches.

    The parsed diff of a pull request at a head SHA never changes, so (pull request, head SHA) is
    its identity: any worker can load it from the shared cache, or rebuild it from GitHub.
    """

    model_config = ConfigDict(frozen=True)

    pr: PullRequestRef
    head_sha: str = Field(pattern=r"^[0-9a-f]{40}$")


class ReviewStep(StrEnum):
    """Where a pull request's workflow is (``prsaga.lifecycle`` holds the allowed moves)."""

    IDLE = "idle"
    PARSING = "parsing"
    ANALYZING = "analyzing"
    AWAITING_APPROVAL = "awaiting_approval"
    COMMENTING = "commenting"
    COMPLETED = "completed"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    CANCELLED = "cancelled"
    CLOSED = "closed"
