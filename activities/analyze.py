"""The analyze agents: the offline reviewer (real linters and scanners), the model specialists, and
the verifier that checks each model finding before it is posted.

Each activity call reviews one batch (or chunk) of the plan, so a large pull request fans out over
several activities and a retry repeats one batch, not the whole pull request. Every finding passes
the grounding verifier before it leaves the activity.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

from github import Github, UnknownObjectException
from github.Repository import Repository
from temporalio import activity

from prsaga.adapters.claude import SPECIALISTS, PullRequestContext, review_chunk
from prsaga.adapters.diffstore import SharedCache
from prsaga.adapters.github_client import github_errors, make_github
from prsaga.adapters.llm import BreakerPolicy, Breakers, Models, Transition
from prsaga.adapters.offline import ChangedFile, SkippedFile, review_files
from prsaga.adapters.verifier import verify_finding
from prsaga.review.chunking import select
from prsaga.review.context import render_scopes, render_window
from prsaga.review.diff import DiffFile, ParsedPullRequest
from prsaga.review.findings import keep_worst
from prsaga.review.grounding import verify
from prsaga.review.offline_policy import distinct_skipped
from prsaga.review.tool_config import MAX_TOOL_CONFIG_BYTES, TOOL_CONFIG_PATHS
from prsaga.review.verification import unverified
from prsaga.runtime.config import Settings
from prsaga.runtime.telemetry import (
    process_meter,
    record_circuit_transition,
    record_llm_usage,
    record_verification,
)
from prsaga.schema import (
    AgentReport,
    AnalyzeInput,
    DiffRef,
    Finding,
    SpecialistInput,
    TokenUsage,
    Verification,
    VerifyInput,
)

from .heartbeat import heartbeats
from .parse import ParsedDiffs
from .plan import ReviewPlans, read_repo_config

OFFLINE_AGENT = "offline"
VERIFIER_MAX_TOKENS = 1024
"""A verdict is a few dozen tokens; this leaves room for a model that explains at length."""
logger = logging.getLogger(__name__)


def fetch_changed_files(
    gh: Github, ref: DiffRef, files: list[DiffFile]
) -> tuple[list[ChangedFile], list[SkippedFile]]:
    """The head-commit content of each file that has added lines (nothing else can have findings
    on added lines; name-based checks still see every file, with ``content=None``)."""
    repo = gh.get_repo(ref.pr.full_name)
    changed: list[ChangedFile] = []
    skipped: list[SkippedFile] = []
    for diff_file in files:
        added = diff_file.added_lines()
        content: str | None = None
        if added and not diff_file.is_binary:
            content, reason = _file_text(repo, diff_file.path, ref.head_sha)
            if reason:
                skipped.append(SkippedFile(path=diff_file.path, reason=reason))
        changed.append(ChangedFile(path=diff_file.path, content=content, added_lines=added))
    return changed, skipped


def fetch_tool_configs(
    cache: SharedCache[dict[str, str]], gh: Github, server: str, ref: DiffRef, base_sha: str
) -> dict[str, str]:
    """The repository's tool configuration files at the base commit (never the head: a pull
    request must not configure its own review), each at most ``MAX_TOOL_CONFIG_BYTES``, cached
    per (GitHub server, repository, base SHA): a commit's files never change."""

    def fetch() -> dict[str, str]:
        repo = gh.get_repo(ref.pr.full_name)
        found: dict[str, str] = {}
        for path in TOOL_CONFIG_PATHS:
            activity.heartbeat(path)
            text, _ = read_repo_config(repo, path, base_sha)
            if text is not None and len(text.encode("utf-8")) <= MAX_TOOL_CONFIG_BYTES:
                found[path] = text
        return found

    return cache.get((server, ref.pr.full_name, base_sha), fetch)


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


def worker_models(settings: Settings) -> Models:
    """The worker process's providers and circuit breakers; each breaker's transitions are a
    log line and ``prsaga_llm_circuit_transitions``."""
    meter = process_meter(settings)

    def report(transition: Transition) -> None:
        log = logger.warning if transition.after == "open" else logger.info
        log(
            "circuit breaker of provider %r: %s -> %s (%s)",
            transition.provider,
            transition.before,
            transition.after,
            transition.reason,
        )
        record_circuit_transition(meter, transition.provider, transition.after)

    policy = BreakerPolicy(
        failures=settings.llm_circuit_failures,
        failure_rate=settings.llm_circuit_failure_rate,
        min_calls=settings.llm_circuit_min_calls,
        window_seconds=settings.llm_circuit_window_seconds,
        cooldown_seconds=settings.llm_circuit_cooldown_seconds,
    )
    return Models(settings, Breakers(policy, time.monotonic, report))


def context_of(parsed: ParsedPullRequest) -> PullRequestContext:
    return PullRequestContext(
        repository=parsed.ref.pr.full_name,
        number=parsed.ref.pr.number,
        title=parsed.title,
        body=parsed.body,
        author=parsed.author,
        base_ref=parsed.base_sha,
        head_sha=parsed.ref.head_sha,
    )


class AnalyzeAgents:
    """Activities of the analyze agents, bound to the worker's settings and plans."""

    def __init__(
        self, settings: Settings, plans: ReviewPlans | None = None, models: Models | None = None
    ) -> None:
        self._settings = settings
        self._plans = plans or ReviewPlans(settings, ParsedDiffs(settings))
        self._models = models or worker_models(settings)
        self._head_files: SharedCache[tuple[str | None, str | None]] = SharedCache(size=256)
        """Head-commit text of the files whose context the model agents see, per (repository,
        head SHA, path): fetched once per pull request."""
        self._tool_configs: SharedCache[dict[str, str]] = SharedCache(size=16)
        """The repositories' tool configuration files, for every batch of a review."""

    @activity.defn(name="offline_review")
    @heartbeats
    def offline_review(self, input: AnalyzeInput) -> AgentReport:
        started = time.monotonic()
        plan, parsed = self._plans.load(input.plan)
        by_path = parsed.files_by_path()
        batch = [by_path[path] for path in plan.offline_batches[input.batch]]
        gh = make_github(
            self._settings,
            installation_id=input.plan.installation_id,
            repo_full_name=input.plan.diff.pr.full_name,
        )
        changed, skipped = fetch_changed_files(gh, input.plan.diff, batch)
        base_files = fetch_tool_configs(
            self._tool_configs,
            gh,
            self._settings.github_api_url,
            input.plan.diff,
            input.plan.base_sha,
        )
        review = review_files(changed, base_files=base_files, tools=plan.tools, agent=OFFLINE_AGENT)
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
    @heartbeats
    def claude_review(self, input: SpecialistInput) -> AgentReport:
        """One model specialist over one chunk, along its fallback chain. API failures are
        classified (rate limits and overload retry after the delay the API asks for; an open
        circuit fails fast); an unusable answer is recorded as the agent's failed decision, and
        the review goes on without it."""
        started = time.monotonic()
        plan, parsed = self._plans.load(input.plan)
        chunk = plan.chunks[input.specialist][input.chunk]
        files = select(parsed.files, chunk)
        specialist = SPECIALISTS[input.specialist]
        agent = f"claude-{specialist.name}"
        scopes = ""
        if self._settings.llm_context_lines > 0:
            heads = self._head_texts(input.plan.installation_id, parsed.ref, files)
            scopes = render_scopes(files, heads, self._settings.llm_context_lines)
        result = review_chunk(
            self._models,
            plan.models.get(input.specialist) or self._settings.model_chain(specialist.name),
            self._settings.anthropic_max_tokens,
            specialist,
            context_of(parsed),
            files,
            agent=agent,
            budget_tokens=chunk.tokens if chunk.truncated else None,
            scopes=scopes,
        )
        record_llm_usage(activity.metric_meter(), agent, result.usage, result.cost_usd)
        skipped = f" (after passing over {'; '.join(result.skipped)})" if result.skipped else ""
        return grounded_report(
            agent=agent,
            batch=input.chunk,
            files=files,
            findings=result.findings,
            parsed=parsed,
            started=started,
            dropped=result.dropped,
            model=f"{result.provider}:{result.model}",
            input_tokens_estimate=chunk.tokens,
            usage=result.usage,
            cost_usd=result.cost_usd,
            error=f"{result.error}{skipped}" if result.error else None,
        )

    @activity.defn(name="verify_finding")
    @heartbeats
    def verify_finding(self, input: VerifyInput) -> Verification:
        """The verifier over one model finding, with the head code around it (its enclosing
        function, or a bounded window). API failures are classified like the specialists'."""
        plan, parsed = self._plans.load(input.plan)
        finding = input.finding
        diff_file = parsed.files_by_path().get(finding.path)
        if diff_file is None or finding.line is None:
            return unverified(finding, "no line of the diff to check it against")
        text = self._head_texts(input.plan.installation_id, parsed.ref, [diff_file]).get(
            finding.path
        )
        if text is None:
            return unverified(finding, "the head file could not be read")
        code = render_window(
            text,
            finding.path,
            finding.line,
            self._settings.verify_context_lines,
            diff_file.added_lines(),
        )
        verification = verify_finding(
            self._models,
            plan.models.get("verifier") or self._settings.model_chain("verifier"),
            VERIFIER_MAX_TOKENS,
            context_of(parsed),
            finding,
            code,
        )
        meter = activity.metric_meter()
        record_llm_usage(
            meter, "verifier", verification.usage or TokenUsage(), verification.cost_usd
        )
        record_verification(
            meter,
            verification.verdict == "confirmed"
            and verification.confidence >= (plan.summary.verify_threshold or 0),
        )
        return verification

    def _head_texts(
        self, installation_id: int | None, ref: DiffRef, files: list[DiffFile]
    ) -> dict[str, str]:
        """The head-commit text of ``files`` that have added lines (cached per pull request)."""
        wanted = [f for f in files if f.added_lines() and not f.is_binary]
        if not wanted:
            return {}
        gh = make_github(
            self._settings, installation_id=installation_id, repo_full_name=ref.pr.full_name
        )
        repo = gh.get_repo(ref.pr.full_name)
        texts: dict[str, str] = {}
        for diff_file in wanted:
            text, _ = self._head_files.get(
                (ref.pr.full_name, ref.head_sha, diff_file.path),
                functools.partial(_file_text, repo, diff_file.path, ref.head_sha),
            )
            if text is not None:
                texts[diff_file.path] = text
        return texts
