"""The review plan: which files each agent reviews at a head, in which batches and chunks.

A pure function of the pull request's parsed diff, the repository's configuration, the paths
changed since the last reviewed head and the server's options; the plan activity
(``activities.plan``) does the I/O around it (reading the configuration file at the base commit,
comparing commits) and stores the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass

from pydantic import BaseModel

from prsaga.review.chunking import Chunk, chunk_files
from prsaga.review.diff import DiffFile, ParsedPullRequest
from prsaga.review.models import ModelSpec, chain_for
from prsaga.review.repo_config import RepoConfig, ToolSettings
from prsaga.review.routing import PullRequestFacts, apply_budget, route
from prsaga.schema import PlanInput, ReviewPlan, ReviewPolicy, clip

__all__ = [
    "MAX_CONFIG_ERROR_CHARS",
    "REQUEST_OVERHEAD_TOKENS",
    "PlanOptions",
    "StoredPlan",
    "decide_plan",
]

MAX_CONFIG_ERROR_CHARS = 4_000
REQUEST_OVERHEAD_TOKENS = 3_000
"""Per Claude request beyond the diff: the system prompt, the pull request's context and the
answer (a rough allowance so that the budget is not spent on diffs alone)."""
VERIFICATION_TOKENS = 4_000
"""Per verification: the prompt, the pull request's context, the code around the finding and
the answer (a rough allowance, like ``REQUEST_OVERHEAD_TOKENS``)."""
MAX_SKIPPED_NOTES = 10


class StoredPlan(BaseModel):
    """The whole plan, as analyze activities need it."""

    summary: ReviewPlan
    offline_batches: list[list[str]]
    """Paths per offline batch."""
    chunks: dict[str, list[Chunk]]
    """Claude specialist -> its chunks."""
    models: dict[str, list[ModelSpec]] = {}
    """Model agent (each specialist, ``verifier``) -> its fallback chain."""
    tools: dict[str, ToolSettings] = {}
    """The repository's ``tools:`` settings, for the offline reviewer."""


@dataclass(frozen=True)
class PlanOptions:
    """The server settings planning needs, passed in rather than read from globals."""

    analyze_batch_files: int
    llm_batch_tokens: int
    llm_available: bool
    server_models: Mapping[str, str]
    """Agent -> ``provider:model`` chain text from the server's settings (validated)."""
    default_models: list[ModelSpec]
    usd_per_input_token: Callable[[ModelSpec], float]
    """A model's price of one input token (the price table is an adapter's), for the budget."""
    verify_findings: bool
    verify_threshold: int
    verify_max_findings: int
    review_drafts: bool
    """The server's default when the repository's configuration does not say."""
    llm_parallelism: int
    llm_task_queue: str | None


def decide_plan(
    input: PlanInput,
    parsed: ParsedPullRequest,
    config: RepoConfig,
    options: PlanOptions,
    *,
    config_error: str | None = None,
    changed: Set[str] | None = None,
) -> StoredPlan:
    """Route the pull request's files to agents, batch them and fit the specialists' chunks in
    the budget.

    Args:
        config_error: Why the repository's configuration could not be used (clipped here: it
            rides in the history and in a comment).
        changed: The paths changed since ``input.since_sha``; ``None`` when that commit is no
            longer in the branch's history (force-push), so that every file is reviewed again.
    """
    notes: list[str] = []
    files, incremental = _files_to_review(input, parsed, changed, notes)
    # Drafts are gated by the workflow (which knows the server's setting), not here.
    facts = PullRequestFacts.from_diff(
        files, action="review", labels=input.labels, author=parsed.author
    )
    routing = route(facts, config, llm_available=options.llm_available)
    notes.extend(_skipped_notes(routing.skipped_files))

    batch = options.analyze_batch_files
    paths = routing.paths
    offline_batches = (
        [paths[i : i + batch] for i in range(0, len(paths), batch)] if routing.offline else []
    )
    by_path = parsed.files_by_path()
    chunks = {
        name: chunk_files([by_path[p] for p in routing.paths_for(name)], options.llm_batch_tokens)
        for name in routing.specialists
    }
    configured = {**options.server_models, **config.models}
    models = {
        agent: chain_for(agent, configured, options.default_models)
        for agent in [*routing.specialists, "verifier"]
    }
    # The dearest first model prices the budget: an estimate that errs on the safe side.
    per_token = max(options.usd_per_input_token(chain[0]) for chain in models.values())
    chunks, budget_notes = apply_budget(
        chunks,
        config.budget.tokens,
        budget_usd=config.budget.usd,
        usd_per_token=per_token,
        overhead_tokens=REQUEST_OVERHEAD_TOKENS,
    )
    notes.extend(budget_notes)
    verify_threshold, verify_max = _verification(chunks, config, options, per_token)

    summary = ReviewPlan(
        input=input,
        files=len(paths),
        routing=routing.reasons,
        incremental=incremental,
        offline_batches=len(offline_batches),
        specialists={name: len(c) for name, c in chunks.items() if c},
        notes=notes,
        config_error=(
            clip(config_error, MAX_CONFIG_ERROR_CHARS) if config_error is not None else None
        ),
        policy=_policy(config, options),
        llm_parallelism=options.llm_parallelism,
        llm_task_queue=options.llm_task_queue,
        verify_threshold=verify_threshold,
        verify_max_findings=verify_max,
    )
    return StoredPlan(
        summary=summary,
        offline_batches=offline_batches,
        chunks=chunks,
        models=models,
        tools={str(name): settings for name, settings in config.tools.items()},
    )


def _verification(
    chunks: Mapping[str, list[Chunk]], config: RepoConfig, options: PlanOptions, per_token: float
) -> tuple[int | None, int]:
    """The verifier's threshold (``None``: no verification) and how many findings the budget
    the specialists leave can verify."""
    if not (options.verify_findings and any(chunks.values())):
        return None, 0
    spent = sum(c.tokens + REQUEST_OVERHEAD_TOKENS for kept in chunks.values() for c in kept)
    left_tokens = max(0, config.budget.tokens - spent)
    left_usd = max(0.0, config.budget.usd - spent * per_token)
    affordable = min(
        left_tokens // VERIFICATION_TOKENS,
        int(left_usd / (VERIFICATION_TOKENS * per_token)) if per_token > 0 else left_tokens,
    )
    threshold = (
        options.verify_threshold if config.verify_threshold is None else config.verify_threshold
    )
    return threshold, min(options.verify_max_findings, affordable)


def _files_to_review(
    input: PlanInput, parsed: ParsedPullRequest, changed: Set[str] | None, notes: list[str]
) -> tuple[list[DiffFile], bool]:
    """The files to route, and whether the review is incremental (only what changed since the
    last reviewed head)."""
    files = parsed.analyzable_files()
    if input.since_sha is None:
        return files, False
    if changed is None:
        notes.append(
            f"{input.since_sha[:12]} is no longer in the branch's history (force-push?): "
            "every file was reviewed again."
        )
        return files, False
    notes.append(f"Incremental review: files changed since {input.since_sha[:12]}.")
    return [f for f in files if f.path in changed or f.previous_path in changed], True


def _policy(config: RepoConfig, options: PlanOptions) -> ReviewPolicy:
    return ReviewPolicy(
        request_changes_at=config.request_changes_at,
        request_changes_confidence=config.request_changes_confidence,
        quiet=config.quiet,
        approve_when_clean=config.approve_when_clean,
        require_approval=config.require_approval,
        approval_timeout_seconds=config.approval_timeout_hours * 3600,
        on_approval_timeout=config.on_approval_timeout,
        review_drafts=(
            options.review_drafts if config.review_drafts is None else config.review_drafts
        ),
        max_inline_comments=config.max_inline_comments,
    )


def _skipped_notes(skipped: list[tuple[str, str]], shown: int = MAX_SKIPPED_NOTES) -> list[str]:
    notes = [f"Skipped `{path}`: {reason}." for path, reason in skipped[:shown]]
    if len(skipped) > shown:
        notes.append(f"… and {len(skipped) - shown} more skipped files.")
    return notes
