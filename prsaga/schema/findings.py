"""What agents report: findings, token usage, and each agent's decision on its batch.

These ride in the workflow history, so each is bounded: an agent keeps its worst findings."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

MAX_FINDINGS = 300
"""Findings one agent batch, and one review, carry through the workflow history (worst first);
more than that could not be read in a review anyway, and would bloat the history."""


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


class Confidence(StrEnum):
    """How sure the agent is that a finding is real, lowest first."""

    LOW = "low"
    """A heuristic (an entropy or keyword guess, a pattern that is often intended)."""
    MEDIUM = "medium"
    """Usually right, but often fine in context (a model's claim, a lint rule with exceptions)."""
    HIGH = "high"
    """Deterministic evidence (a syntax error, a provider-format credential, a conflict marker)."""

    @property
    def rank(self) -> int:
        return list(Confidence).index(self)


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
    confidence: Confidence = Confidence.HIGH
    """How sure the agent is; only sure and severe findings can block (the verdict policy).
    Findings recorded before this field existed decode as ``high``, as they were treated."""
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


class ToolRun(BaseModel):
    """What one tool did in a review: how many files it looked at and findings it reported."""

    tool: str
    version: str
    files: int
    findings: int
    """Findings reported on added lines, after folding."""
    error: str | None = None
    """Why the tool failed (crash, timeout, unreadable output); never holds file content."""


class SkippedFile(BaseModel):
    """A changed file the content tools could not review, and why."""

    path: str
    reason: str


MAX_SKIPPED_NAMED = 20
"""Skipped files an agent's summary names (the count covers the rest)."""


class AgentSummary(BaseModel):
    """One line of the review's coverage table: what an agent looked at and what it concluded."""

    agent: str
    files: int
    findings: int
    skipped: int
    errors: list[str] = []
    skipped_files: list[SkippedFile] = Field(default=[], max_length=MAX_SKIPPED_NAMED)
    """The first skipped files by name, with why (``skipped`` counts them all)."""


MAX_VERIFY_REASON_CHARS = 300


class Verification(BaseModel):
    """The verifier's judgement of one model finding before it is posted (the decision record:
    which finding, what the verifier said, and whether the finding was kept)."""

    agent: str
    """The agent that reported the finding."""
    path: str
    line: int | None = None
    rule: str
    title: str = Field(max_length=200)
    verdict: Literal["confirmed", "refuted", "unverified"]
    """``unverified``: no verdict could be had (the call failed, or over the budget)."""
    confidence: int = Field(default=0, ge=0, le=100)
    reason: str = Field(max_length=MAX_VERIFY_REASON_CHARS)
    """One line: why the verifier confirmed or refuted it, or why there is no verdict."""
    kept: bool = False
    model: str | None = None
    usage: TokenUsage | None = None
    cost_usd: float = 0.0


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
    tools: list[ToolRun] = []
    skipped: list[SkippedFile] = []
    duration_ms: int
    model: str | None = None
    input_tokens_estimate: int = 0
    usage: TokenUsage | None = None
    cost_usd: float = 0.0
    dropped: dict[str, int] = {}
    """Findings the agent produced that were not kept, by reason (e.g. the grounding verifier's
    "line not in diff", or "outside the specialist's focus")."""
    error: str | None = None
    """Why the agent gave no usable answer (the review goes on without it)."""
    verifications: list[Verification] = Field(default=[], max_length=MAX_FINDINGS)
    """The verifier's report: its judgement of each model finding (see ``Verification``)."""

    def summary(self) -> AgentSummary:
        errors = [f"{t.tool}: {t.error}" for t in self.tools if t.error]
        return AgentSummary(
            agent=self.agent,
            files=self.files,
            findings=len(self.findings),
            skipped=len(self.skipped),
            errors=[*errors, self.error] if self.error else errors,
            skipped_files=self.skipped[:MAX_SKIPPED_NAMED],
        )
