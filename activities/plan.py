"""The plan agent: what to review at a head, by which agents, in which batches.

The decision is ``prsaga.review.planning.decide_plan``; this module does its I/O: the
repository's configuration read at the base commit, the paths changed since the last reviewed
head, and the store. The plan itself (batches of paths, chunks of hunks) stays in the store; the
workflow gets its summary, and analyze activities load it by its input, which pins everything it
depends on, so a worker that misses the store rebuilds the same plan.
"""

from __future__ import annotations

import hashlib

from github import GithubException, UnknownObjectException
from github.Repository import Repository
from temporalio import activity
from temporalio.exceptions import ApplicationError

from prsaga.adapters.diffstore import BlobStore, SharedCache
from prsaga.adapters.github_client import github_errors, make_github
from prsaga.adapters.llm.prices import estimate_cost_usd
from prsaga.review.diff import ParsedPullRequest
from prsaga.review.models import ModelSpec
from prsaga.review.planning import PlanOptions, StoredPlan, decide_plan
from prsaga.review.repo_config import load_repo_config
from prsaga.runtime.config import Settings, server_repo_config
from prsaga.schema import PlanInput, ReviewPlan, TokenUsage

from .heartbeat import heartbeats
from .parse import ParsedDiffs

MILLION_INPUT_TOKENS = TokenUsage(input_tokens=1_000_000)


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


def plan_options(settings: Settings) -> PlanOptions:
    """The server settings a plan depends on."""
    return PlanOptions(
        analyze_batch_files=settings.analyze_batch_files,
        llm_batch_tokens=settings.llm_batch_tokens,
        llm_available=settings.llm_configured(),
        server_models=settings.llm_models,
        default_models=[ModelSpec(provider="anthropic", model=settings.anthropic_model)],
        usd_per_input_token=_usd_per_input_token,
        verify_findings=settings.verify_findings,
        verify_threshold=settings.verify_threshold,
        verify_max_findings=settings.verify_max_findings,
        review_drafts=settings.review_drafts,
        llm_parallelism=settings.llm_max_parallel_batches,
        llm_task_queue=settings.llm_task_queue,
    )


def _usd_per_input_token(spec: ModelSpec) -> float:
    return estimate_cost_usd(spec.provider, spec.model, MILLION_INPUT_TOKENS) / 1e6


def build_plan(
    settings: Settings, repo: Repository, parsed: ParsedPullRequest, input: PlanInput
) -> StoredPlan:
    """Read what the plan depends on from GitHub and the server's settings, then decide it."""
    text, unreadable = read_repo_config(repo, settings.repo_config_path, input.base_sha)
    try:
        defaults = server_repo_config(settings)
    except ValueError as err:  # the operator's own file: nothing a retry can fix
        raise ApplicationError(str(err), type="InvalidServerConfig", non_retryable=True) from err
    loaded = load_repo_config(text, defaults)
    changed = (
        changed_since(repo, input.since_sha, input.diff.head_sha)
        if input.since_sha is not None
        else None
    )
    return decide_plan(
        input,
        parsed,
        loaded.config,
        plan_options(settings),
        config_error=unreadable or loaded.error,
        changed=changed,
    )


class ReviewPlans:
    """The plans of a worker's activities: the few this process used last (shared by its
    activity threads), else the store, else rebuilt (the input pins everything a plan depends
    on, so a rebuilt plan is the same)."""

    def __init__(self, settings: Settings, diffs: ParsedDiffs) -> None:
        self._settings = settings
        self._diffs = diffs
        self._store = BlobStore(settings.blob_dir)
        self._recent: SharedCache[StoredPlan] = SharedCache(size=8)

    def load(self, input: PlanInput) -> tuple[StoredPlan, ParsedPullRequest]:
        """The plan an input pins, with its parsed diff."""
        parsed = self._diffs.load(input.diff, input.installation_id)
        key = f"plans/{plan_key(input)}"
        return self._recent.get(key, lambda: self._load_or_build(key, parsed, input)), parsed

    def _load_or_build(self, key: str, parsed: ParsedPullRequest, input: PlanInput) -> StoredPlan:
        plan = self._store.load(key, StoredPlan)
        if plan is None:
            repo = make_github(
                self._settings,
                installation_id=input.installation_id,
                repo_full_name=input.diff.pr.full_name,
            ).get_repo(input.diff.pr.full_name)
            plan = build_plan(self._settings, repo, parsed, input)
            self._store.save(key, plan)
        return plan


class PlanAgent:
    """The plan activity, bound to the worker's plans."""

    def __init__(self, plans: ReviewPlans) -> None:
        self._plans = plans

    @activity.defn(name="plan_review")
    @heartbeats
    def plan_review(self, input: PlanInput) -> ReviewPlan:
        plan, _ = self._plans.load(input)
        activity.logger.info(
            "plan for %s: %d files, %d offline batches, specialists %s",
            input.diff.head_sha[:12],
            plan.summary.files,
            plan.summary.offline_batches,
            plan.summary.specialists,
        )
        return plan.summary
