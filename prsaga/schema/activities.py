"""Inputs and results of the review activities (one model each).

They ride in the workflow history, so each is a bounded summary or a reference: the parsed diff
stays in the diff store and travels as a ``DiffRef``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from prsaga.schema.findings import MAX_FINDINGS, AgentSummary, Confidence, Finding, Severity
from prsaga.schema.pull_request import (
    MAX_REASON_CHARS,
    MAX_REPLY_CHARS,
    SHA,
    DiffRef,
    GitHubTime,
    PullRequestRef,
)


class ParseInput(BaseModel):
    """Fetch a pull request and its files at its current head, parse the diff and store it."""

    pr: PullRequestRef
    installation_id: int | None = None


class ParsedSummary(BaseModel):
    """What the workflow needs to know about a parsed pull request (the diff stays in the store)."""

    diff: DiffRef
    base_sha: str
    title: str
    html_url: str
    author: str
    state: Literal["open", "closed"]
    draft: bool
    files: int
    additions: int
    deletions: int
    labels: list[str] = []
    updated_at: GitHubTime | None = None
    """The pull request's ``updated_at`` as fetched: the age of the head GitHub reports now."""


class PlanInput(BaseModel):
    """Decide what to review at a head: the repository's configuration (read at the base
    commit), the files to look at (all, or those changed since ``since_sha``), and which agents
    run over which batches. Everything it depends on is pinned here, so any worker can rebuild
    the same plan from it; it doubles as the reference analyze activities load the plan by."""

    diff: DiffRef
    base_sha: str = SHA
    since_sha: str | None = None
    """The last reviewed head: review only what changed since (unless a force-push lost it)."""
    labels: list[str] = Field(default=[], max_length=100)
    installation_id: int | None = None


ApprovalTimeoutDefault = Literal["comment", "proceed"]


class ReviewPolicy(BaseModel):
    """What the repository's configuration asks of the review (with the server's defaults)."""

    request_changes_at: Severity | None = Severity.HIGH
    """Findings this severe (or worse) make the review request changes; ``None``: never."""
    request_changes_confidence: Confidence = Confidence.HIGH
    """...and at least this sure: a heuristic never blocks a pull request by default."""
    quiet: bool = True
    """Post no review when it would say nothing new (the commit status still reports)."""
    approve_when_clean: bool = False
    """Approve the pull request when nothing reaches ``request_changes_at``."""
    require_approval: bool = False
    """A human must approve consequential actions (requesting changes, approving)."""
    approval_timeout_seconds: float = 24 * 3600
    on_approval_timeout: ApprovalTimeoutDefault = "comment"
    """Without a decision in time: post as a plain comment, or go ahead as proposed."""
    review_drafts: bool = False
    max_inline_comments: int = 20


class ReviewPlan(BaseModel):
    """The plan's summary (the plan itself stays in the store, referenced by ``input``)."""

    input: PlanInput
    files: int
    """Files the agents look at (changed since ``since_sha`` when incremental)."""
    incremental: bool
    """Whether only files changed since ``input.since_sha`` are reviewed."""
    offline_batches: int
    specialists: dict[str, int] = {}
    """Claude specialist -> number of chunks it reviews."""
    notes: list[str] = []
    """What was skipped and why (generated files, budget, force-push...), for the summary."""
    routing: list[str] = []
    """Why each agent runs or does not (the routing decision, for the history)."""
    config_error: str | None = None
    """Why the repository's configuration file was ignored, if it was."""
    policy: ReviewPolicy
    llm_parallelism: int = Field(default=4, ge=1)
    """Claude chunks of this pull request reviewed at once."""
    llm_task_queue: str | None = None
    """Where Claude activities run (``None``: the workflow's own task queue)."""
    verify_threshold: int | None = Field(default=None, ge=0, le=100)
    """Model findings the verifier confirms with less confidence are dropped; ``None``: model
    findings are posted without verification."""
    verify_max_findings: int = Field(default=0, ge=0)
    """Model findings the budget lets the verifier check (worst first); the rest are dropped."""


class AnalyzeInput(BaseModel):
    """The offline reviewer over one batch of the plan's files."""

    plan: PlanInput
    batch: int = Field(ge=0)


class SpecialistInput(BaseModel):
    """One Claude specialist over one chunk of the plan's diff."""

    plan: PlanInput
    specialist: str
    chunk: int = Field(ge=0)


class VerifyInput(BaseModel):
    """The verifier over one model finding, with the head code around it."""

    plan: PlanInput
    finding: Finding


StatusState = Literal["pending", "success", "failure", "error"]


MAX_STATUS_SUMMARY = 10_000
"""Characters of ``CommitStatusInput.summary`` kept (GitHub takes 65,535 in a check run)."""


ReviewEvent = Literal["COMMENT", "REQUEST_CHANGES", "APPROVE"]


class CommitStatusInput(BaseModel):
    """Report the review's state on a head SHA: a check run when prsaga is a GitHub App, else a
    commit status (which shows only ``state`` and ``description``)."""

    pr: PullRequestRef
    head_sha: str = SHA
    state: StatusState
    description: str = Field(max_length=140)
    """The status description, and the check run's title."""
    installation_id: int | None = None
    summary: str = ""
    """More for the check run's summary (markdown): the scope, the proposal, why it stopped.
    Cut to ``MAX_STATUS_SUMMARY`` characters: it rides in the workflow history."""
    findings: list[Finding] = Field(default=[], max_length=MAX_FINDINGS)
    """The posted review's findings, on the final state: the check run's annotations (those
    on a line) and its summary (those about a whole file)."""
    omitted_findings: int = Field(default=0, ge=0)
    """Lower-ranked findings the review left out of ``findings``."""

    @field_validator("summary")
    @classmethod
    def _bounded_summary(cls, summary: str) -> str:
        if len(summary) <= MAX_STATUS_SUMMARY:
            return summary
        return summary[: MAX_STATUS_SUMMARY - 1] + "…"


class PublishReviewInput(BaseModel):
    """Post one review (summary + inline comments) for the head SHA, at most once per key."""

    diff: DiffRef
    review_key: str = Field(min_length=8, max_length=100)
    findings: list[Finding]
    omitted_findings: int = 0
    """Lower-ranked findings left out of ``findings`` to keep the history bounded."""
    agents: list[AgentSummary]
    event: ReviewEvent = "COMMENT"
    max_inline_comments: int = 20
    notes: list[str] = []
    """Lines for the summary: what was skipped, the human decision, the config error."""
    installation_id: int | None = None
    quiet: bool = True
    """Post nothing when there is nothing new to say and the event is a plain comment."""


class PublishedReview(BaseModel):
    """The review on GitHub, or (``posted`` false) why none was needed."""

    review_id: int | None = None
    html_url: str | None = None
    inline_comments: int = 0
    summary_findings: int = 0
    reused: bool = False
    """True when a retry found the review already posted (and posted nothing)."""
    posted: bool = True
    """False when quiet mode posted nothing: no finding, or none that was not said before."""


class WithdrawReviewInput(BaseModel):
    """Compensation: mark the review posted under ``review_key`` withdrawn, remove its comments."""

    pr: PullRequestRef
    review_key: str
    reason: str = Field(max_length=MAX_REASON_CHARS)
    installation_id: int | None = None


class ReplyInput(BaseModel):
    """Post a comment in the pull request's conversation, at most once per ``key``."""

    pr: PullRequestRef
    key: str = Field(min_length=1, max_length=200)
    body: str = Field(max_length=MAX_REPLY_CHARS)
    installation_id: int | None = None


class PermissionInput(BaseModel):
    """Ask GitHub what ``login`` may do on the pull request's repository."""

    pr: PullRequestRef
    login: str
    installation_id: int | None = None
