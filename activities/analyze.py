"""The analyze agents: the offline reviewer (real linters and scanners) and Claude specialists.

Each activity call reviews one batch (or chunk) of the plan, so a large pull request fans out over
several activities and a retry repeats one batch, not the whole pull request. Every finding passes
the grounding verifier before it leaves the activity.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

import anthropic
from github import Github, UnknownObjectException
from github.Repository import Repository
from temporalio import activity

from prsaga.adapters.claude import (
    SPECIALISTS,
    ClaudeOptions,
    PullRequestContext,
    classify_anthropic_error,
    make_client,
    review_chunk,
)
from prsaga.adapters.diffstore import SharedCache
from prsaga.adapters.github_client import github_errors, make_github
from prsaga.adapters.offline import ChangedFile, SkippedFile, review_files
from prsaga.review.chunking import select
from prsaga.review.diff import DiffFile, ParsedPullRequest
from prsaga.review.findings import keep_worst
from prsaga.review.grounding import verify
from prsaga.review.offline_policy import distinct_skipped
from prsaga.review.tool_config import MAX_TOOL_CONFIG_BYTES, TOOL_CONFIG_PATHS
from prsaga.runtime.config import Settings
from prsaga.runtime.telemetry import record_llm_usage
from prsaga.schema import AgentReport, AnalyzeInput, DiffRef, Finding, SpecialistInput

from .plan import load_plan, read_repo_config

OFFLINE_AGENT = "offline"
TOOL_CONFIGS: SharedCache[dict[str, str]] = SharedCache(size=16)
"""The repositories' tool configuration files, keyed by (GitHub server, repository, base SHA): a
commit's files never change, and every batch of a review reads the same ones."""
HEARTBEAT_EVERY_SECONDS = 10.0
T = TypeVar("T")


def fetch_changed_files(
    gh: Github, ref: DiffRef, files: list[DiffFile]
) -> tuple[list[ChangedFile], list[SkippedFile]]:
    """The head-commit content of each file that has added lines (nothing else can have findings
    on added lines; name-based checks still see every file, with ``content=None``)."""
    repo = gh.get_repo(ref.pr.full_name)
    changed: list[ChangedFile] = []
    skipped: list[SkippedFile] = []
    for diff_file in files:
        activity.heartbeat(diff_file.path)
        added = diff_file.added_lines()
        content: str | None = None
        # A symlink's "content" would be its target file: nothing of it was added here.
        if added and not diff_file.is_binary and not diff_file.is_symlink:
            content, reason = _file_text(repo, diff_file.path, ref.head_sha)
            if reason:
                skipped.append(SkippedFile(path=diff_file.path, reason=reason))
        changed.append(ChangedFile(path=diff_file.path, content=content, added_lines=added))
    return changed, skipped


def fetch_tool_configs(gh: Github, server: str, ref: DiffRef, base_sha: str) -> dict[str, str]:
    """The repository's tool configuration files at the base commit (never the head: a pull
    request must not configure its own review), each at most ``MAX_TOOL_CONFIG_BYTES``."""

    def fetch() -> dict[str, str]:
        repo = gh.get_repo(ref.pr.full_name)
        found: dict[str, str] = {}
        for path in TOOL_CONFIG_PATHS:
            activity.heartbeat(path)
            text, _ = read_repo_config(repo, path, base_sha)
            if text is not None and len(text.encode("utf-8")) <= MAX_TOOL_CONFIG_BYTES:
                found[path] = text
        return found

    return TOOL_CONFIGS.get((server, ref.pr.full_name, base_sha), fetch)


def _file_text(repo: Repository, path: str, sha: str) -> tuple[str | None, str | None]:
    """(text, None), or (None, why it cannot be analysed)."""
    with github_errors(f"fetching {path}@{sha[:12]}"):
        try:
            item = repo.get_contents(path, ref=sha)
        except UnknownObjectException:  # e.g. a submodule: skip the file; other errors retry
            return None, "not found at the head commit"
    if isinstance(item, list) or item.type != "file":
        return None, "not a regular file"
    if item.encoding != "base64":
        return None, "too large for the contents API"
    try:
        return item.decoded_content.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, "not UTF-8 text"


def _heartbeating(work: Callable[[], T]) -> T:
    """Run ``work`` (the linters, which may take a while) on a helper thread and heartbeat
    meanwhile, so the heartbeat timeout catches a dead worker, not a slow linter."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(work)
        while True:
            try:
                return future.result(timeout=HEARTBEAT_EVERY_SECONDS)
            except FutureTimeout:
                activity.heartbeat("running the tools")


def grounded_report(
    *,
    agent: str,
    batch: int,
    files: list[DiffFile],
    findings: list[Finding],
    parsed: ParsedPullRequest,
    started: float,
    dropped: dict[str, int] | None = None,
    **details: Any,
) -> AgentReport:
    """An agent's decision record: its findings after the grounding verifier (worst first,
    bounded), what it was given, and what was dropped and why (``dropped`` adds the agent's own
    reasons to the verifier's)."""
    grounding = verify(findings, parsed.files_by_path())
    kept, omitted = keep_worst([*grounding.kept, *grounding.moved_to_summary])
    reasons = dict(grounding.dropped)
    for reason, count in (dropped or {}).items():
        reasons[reason] = reasons.get(reason, 0) + count
    return AgentReport(
        agent=agent,
        batch=batch,
        files=len(files),
        paths=[f.path for f in files],
        findings=kept,
        omitted_findings=omitted,
        duration_ms=int((time.monotonic() - started) * 1000),
        dropped=reasons,
        **details,
    )


class AnalyzeAgents:
    """Activities of the analyze agents, bound to the worker's settings."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @activity.defn(name="offline_review")
    def offline_review(self, input: AnalyzeInput) -> AgentReport:
        started = time.monotonic()
        plan, parsed = load_plan(self._settings, input.plan)
        by_path = parsed.files_by_path()
        batch = [by_path[path] for path in plan.offline_batches[input.batch]]
        gh = make_github(
            self._settings,
            installation_id=input.plan.installation_id,
            repo_full_name=input.plan.diff.pr.full_name,
        )
        changed, skipped = fetch_changed_files(gh, input.plan.diff, batch)
        base_files = fetch_tool_configs(
            gh, self._settings.github_api_url, input.plan.diff, input.plan.base_sha
        )
        review = _heartbeating(
            lambda: review_files(
                changed, base_files=base_files, tools=plan.tools, agent=OFFLINE_AGENT
            )
        )
        return grounded_report(
            agent=OFFLINE_AGENT,
            batch=input.batch,
            files=batch,
            findings=review.findings,
            parsed=parsed,
            started=started,
            tools=review.tools,
            skipped=distinct_skipped([*skipped, *review.skipped]),
        )

    @activity.defn(name="claude_review")
    def claude_review(self, input: SpecialistInput) -> AgentReport:
        """One Claude specialist over one chunk. API failures are classified (rate limits and
        overload retry after the delay the API asks for); an unusable answer is recorded as the
        agent's failed decision, and the review goes on without it."""
        started = time.monotonic()
        plan, parsed = load_plan(self._settings, input.plan)
        chunk = plan.chunks[input.specialist][input.chunk]
        files = select(parsed.files, chunk)
        specialist = SPECIALISTS[input.specialist]
        agent = f"claude-{specialist.name}"
        context = PullRequestContext(
            repository=parsed.ref.pr.full_name,
            number=parsed.ref.pr.number,
            title=parsed.title,
            body=parsed.body,
            author=parsed.author,
            base_ref=parsed.base_sha,
            head_sha=parsed.ref.head_sha,
        )
        options = ClaudeOptions.from_settings(self._settings)
        client = make_client(self._settings)
        try:
            result = _heartbeating(
                lambda: review_chunk(
                    client,
                    options,
                    specialist,
                    context,
                    files,
                    agent=agent,
                    budget_tokens=chunk.tokens if chunk.truncated else None,
                )
            )
        except anthropic.APIError as err:
            raise classify_anthropic_error(err) from err
        record_llm_usage(activity.metric_meter(), agent, result.usage, result.cost_usd)
        return grounded_report(
            agent=agent,
            batch=input.chunk,
            files=files,
            findings=result.findings,
            parsed=parsed,
            started=started,
            dropped=result.dropped,
            model=options.model,
            input_tokens_estimate=chunk.tokens,
            usage=result.usage,
            cost_usd=result.cost_usd,
            error=result.error,
        )
