"""The plan agent: what to review at a head, by which agents, in which batches.

The plan itself (batches of paths, chunks of hunks) stays in the store; the workflow gets its
summary, and analyze activities load it by its input, which pins everything it depends on (the
configuration is read at the base commit, the incremental range between two commits), so a
worker that misses the store rebuilds the same plan.
"""

from __future__ import annotations

import hashlib

from github import GithubException, UnknownObjectException
from github.Repository import Repository
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from prsaga.adapters.claude import estimate_cost_usd
from prsaga.adapters.diffstore import BlobStore, SharedCache
from prsaga.adapters.github_client import github_errors, make_github
from prsaga.review.chunking import Chunk, chunk_files
from prsaga.review.diff import ParsedPullRequest
from prsaga.review.repo_config import ToolSettings, load_repo_config
from prsaga.review.routing import PullRequestFacts, apply_budget, route
from prsaga.runtime.config import Settings, server_repo_config
from prsaga.schema import PlanInput, ReviewPlan, ReviewPolicy, TokenUsage, clip

from .parse import load_parsed

MILLION_INPUT_TOKENS = TokenUsage(input_tokens=1_000_000)
MAX_CONFIG_ERROR_CHARS = 4_000
REQUEST_OVERHEAD_TOKENS = 3_000
"""Per Claude request beyond the diff: the system prompt, the pull request's context and the
answer (a rough allowance so that the budget is not spent on diffs alone)."""


class StoredPlan(BaseModel):
    """The whole plan, as analyze activities need it."""

    summary: ReviewPlan
    offline_batches: list[list[str]]
    """Paths per offline batch."""
    chunks: dict[str, list[Chunk]]
    """Claude specialist -> its chunks."""
    tools: dict[str, ToolSettings] = {}
    """The repository's ``tools:`` settings, for the offline reviewer."""


PLANS: SharedCache[StoredPlan] = SharedCache(size=8)
"""Plans this worker process uses now, keyed by (blob folder, plan key)."""


def plan_key(input: PlanInput) -> str:
    return hashlib.sha256(input.model_dump_json().encode()).hexdigest()[:32]


def read_repo_config(repo: Repository, path: str, base_sha: str) -> tuple[str | None, str | None]:
    """(the configuration file's text at the base commit or ``None``, why it is unreadable)."""
    with github_errors(f"reading {path}@{base_sha[:12]}"):
        try:
            item = repo.get_contents(path, ref=base_sha)
        except UnknownObjectException:
            return None, None
    if isinstance(item, list) or item.type != "file":
        return None, f"{path} is not a file"
    try:
        return item.decoded_content.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, f"{path} is not UTF-8 text"


def changed_since(repo: Repository, since_sha: str, head_sha: str) -> set[str] | None:
    """Paths changed between two commits, or ``None`` when ``since_sha`` is not an ancestor of
    the head any more (a force-push rewrote the history): then everything is reviewed again."""
    with github_errors(f"comparing {since_sha[:12]}...{head_sha[:12]}"):
        try:
            comparison = repo.compare(since_sha, head_sha)
        except GithubException as err:
            if err.status in (404, 422):  # the old head is gone from the repository
                return None
            raise
        if comparison.status not in ("ahead", "identical"):
            return None
        paths = set()
        for item in comparison.files:
            paths.add(item.filename)
            if item.previous_filename:
                paths.add(item.previous_filename)
        return paths


def _skipped_notes(skipped: list[tuple[str, str]], shown: int = 10) -> list[str]:
    notes = [f"Skipped `{path}`: {reason}." for path, reason in skipped[:shown]]
    if len(skipped) > shown:
        notes.append(f"… and {len(skipped) - shown} more skipped files.")
    return notes


def build_plan(
    settings: Settings, repo: Repository, parsed: ParsedPullRequest, input: PlanInput
) -> StoredPlan:
    notes: list[str] = []
    text, unreadable = read_repo_config(repo, settings.repo_config_path, input.base_sha)
    try:
        defaults = server_repo_config(settings)
    except ValueError as err:  # the operator's own file: nothing a retry can fix
        raise ApplicationError(str(err), type="InvalidServerConfig", non_retryable=True) from err
    loaded = load_repo_config(text, defaults)
    config = loaded.config
    config_error = unreadable or loaded.error
    if config_error is not None:  # bounded: it rides in the history and in a comment
        config_error = clip(config_error, MAX_CONFIG_ERROR_CHARS)

    files = parsed.analyzable_files()
    incremental = False
    if input.since_sha is not None:
        changed = changed_since(repo, input.since_sha, input.diff.head_sha)
        if changed is None:
            notes.append(
                f"{input.since_sha[:12]} is no longer in the branch's history (force-push?): "
                "every file was reviewed again."
            )
        else:
            incremental = True
            files = [f for f in files if f.path in changed or f.previous_path in changed]
            notes.append(f"Incremental review: files changed since {input.since_sha[:12]}.")

    # Drafts are gated by the workflow (which knows the server's setting), not here.
    facts = PullRequestFacts.from_diff(
        files, action="review", labels=input.labels, author=parsed.author
    )
    routing = route(facts, config, llm_available=settings.anthropic_api_key is not None)
    notes.extend(_skipped_notes(routing.skipped_files))

    batch = settings.analyze_batch_files
    paths = routing.paths
    offline_batches = (
        [paths[i : i + batch] for i in range(0, len(paths), batch)] if routing.offline else []
    )
    by_path = parsed.files_by_path()
    chunks = {
        name: chunk_files([by_path[p] for p in routing.paths_for(name)], settings.llm_batch_tokens)
        for name in routing.specialists
    }
    per_token = estimate_cost_usd(settings.anthropic_model, MILLION_INPUT_TOKENS) / 1e6
    chunks, budget_notes = apply_budget(
        chunks,
        config.budget.tokens,
        budget_usd=config.budget.usd,
        usd_per_token=per_token,
        overhead_tokens=REQUEST_OVERHEAD_TOKENS,
    )
    notes.extend(budget_notes)

    summary = ReviewPlan(
        input=input,
        files=len(paths),
        routing=routing.reasons,
        incremental=incremental,
        offline_batches=len(offline_batches),
        specialists={name: len(c) for name, c in chunks.items() if c},
        notes=notes,
        config_error=config_error,
        policy=ReviewPolicy(
            request_changes_at=config.request_changes_at,
            request_changes_confidence=config.request_changes_confidence,
            quiet=config.quiet,
            approve_when_clean=config.approve_when_clean,
            require_approval=config.require_approval,
            approval_timeout_seconds=config.approval_timeout_hours * 3600,
            on_approval_timeout=config.on_approval_timeout,
            review_drafts=(
                settings.review_drafts if config.review_drafts is None else config.review_drafts
            ),
            max_inline_comments=config.max_inline_comments,
        ),
        llm_parallelism=settings.llm_max_parallel_batches,
        llm_task_queue=settings.llm_task_queue,
    )
    return StoredPlan(
        summary=summary,
        offline_batches=offline_batches,
        chunks=chunks,
        tools={str(name): settings for name, settings in config.tools.items()},
    )


def load_plan(settings: Settings, input: PlanInput) -> tuple[StoredPlan, ParsedPullRequest]:
    """The plan an input pins, from the store or rebuilt, with its parsed diff."""
    parsed = load_parsed(settings, input.diff, input.installation_id)
    key = f"plans/{plan_key(input)}"

    def load_or_build() -> StoredPlan:
        store = BlobStore(settings.blob_dir)
        plan = store.load(key, StoredPlan)
        if plan is None:
            repo = make_github(
                settings,
                installation_id=input.installation_id,
                repo_full_name=input.diff.pr.full_name,
            ).get_repo(input.diff.pr.full_name)
            plan = build_plan(settings, repo, parsed, input)
            store.save(key, plan)
        return plan

    return PLANS.get((settings.blob_dir, key), load_or_build), parsed


class PlanAgent:
    """The plan activity, bound to the worker's settings."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @activity.defn(name="plan_review")
    def plan_review(self, input: PlanInput) -> ReviewPlan:
        plan, _ = load_plan(self._settings, input)
        activity.logger.info(
            "plan for %s: %d files, %d offline batches, specialists %s",
            input.diff.head_sha[:12],
            plan.summary.files,
            plan.summary.offline_batches,
            plan.summary.specialists,
        )
        return plan.summary
