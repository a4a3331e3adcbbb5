"""Inputs and results of the pull-request workflow and its activities (one model each).

They ride in the workflow history, so each is a bounded summary or a reference: the parsed diff
stays in the diff store and travels as a ``DiffRef``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from prsaga.models import DiffRef, Finding, PullRequestEvent, PullRequestRef, ReviewStep
from prsaga.offline import SkippedFile, ToolRun
from prsaga.review import AgentSummary

SHA = Field(pattern=r"^[0-9a-f]{40}$")


class ParseInput(BaseModel):
    """Fetch a pull request and its files at its current head, parse the diff and store it."""

    pr: PullRequestRef


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
    analyzable_files: int
    """Files still present at the head (not removed): what the analyze agents look at."""
    batch_size: int
    """Files per analyze activity, fixed here so that every worker cuts the same batches."""


class AnalyzeInput(BaseModel):
    """One analyze agent over one batch of a pull request's files."""

    diff: DiffRef
    batch: int = Field(ge=0)
    batch_size: int = Field(ge=1)


class AgentReport(BaseModel):
    """An agent's decision on one batch: its inputs in brief, its findings, and why it skipped."""

    agent: str
    batch: int
    files: int
    paths: list[str]
    """The batch's files (bounded by the batch size): what the agent was given."""
    findings: list[Finding]
    """The batch's worst findings, at most ``prsaga.review.MAX_FINDINGS``."""
    omitted_findings: int = 0
    tools: list[ToolRun]
    skipped: list[SkippedFile]
    duration_ms: int

    def summary(self) -> AgentSummary:
        return AgentSummary(
            agent=self.agent,
            files=self.files,
            findings=len(self.findings),
            skipped=len(self.skipped),
            errors=[f"{t.tool}: {t.error}" for t in self.tools if t.error],
        )


StatusState = Literal["pending", "success", "failure", "error"]


class CommitStatusInput(BaseModel):
    """Set prsaga's commit status on a head SHA."""

    pr: PullRequestRef
    head_sha: str = SHA
    state: StatusState
    description: str = Field(max_length=140)


class PublishReviewInput(BaseModel):
    """Post one review (summary + inline comments) for the head SHA, at most once per key."""

    diff: DiffRef
    review_key: str = Field(min_length=8, max_length=100)
    findings: list[Finding]
    omitted_findings: int = 0
    """Lower-ranked findings left out of ``findings`` to keep the history bounded."""
    agents: list[AgentSummary]


class PublishedReview(BaseModel):
    """The review on GitHub."""

    review_id: int
    html_url: str
    inline_comments: int
    summary_findings: int
    reused: bool
    """True when a retry found the review already posted (and posted nothing)."""


class WithdrawReviewInput(BaseModel):
    """Compensation: mark the review posted under ``review_key`` withdrawn, remove its comments."""

    pr: PullRequestRef
    review_key: str
    reason: str = Field(max_length=1000)


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


class PullRequestWorkflowInput(BaseModel):
    """Start (or continue-as-new) a pull request's workflow."""

    pr: PullRequestRef
    state: PullRequestState | None = None


class WaitForReviewInput(BaseModel):
    """Wait until every event received so far has been reviewed (or its review failed).

    No fields yet: the model exists so that options can be added without breaking callers.
    Signals and updates reach the workflow in the order they were sent, so an update sent after
    an event's signal was accepted waits for that event's review.
    """
