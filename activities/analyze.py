"""The analyze agents: the offline reviewer (real linters and scanners) and Claude specialists.

Each activity call reviews one batch (or chunk) of the plan, so a large pull request fans out over
several activities and a retry repeats one batch, not the whole pull request. Every finding passes
the grounding verifier before it leaves the activity.
"""

from __future__ import annotations

import time
from typing import Any

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
from prsaga.adapters.github_client import github_errors, make_github
from prsaga.adapters.offline import ChangedFile, SkippedFile, review_files
from prsaga.review.chunking import select
from prsaga.review.diff import DiffFile, ParsedPullRequest
from prsaga.review.findings import keep_worst
from prsaga.review.grounding import verify
from prsaga.runtime.config import Settings
from prsaga.runtime.telemetry import record_llm_usage
from prsaga.schema import AgentReport, AnalyzeInput, DiffRef, Finding, SpecialistInput

from .heartbeat import heartbeats
from .plan import load_plan

OFFLINE_AGENT = "offline"


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
        # A symlink's "content" would be its target file: nothing of it was added here.
        if added and not diff_file.is_binary and not diff_file.is_symlink:
            content, reason = _file_text(repo, diff_file.path, ref.head_sha)
            if reason:
                skipped.append(SkippedFile(path=diff_file.path, reason=reason))
        changed.append(ChangedFile(path=diff_file.path, content=content, added_lines=added))
    return changed, skipped


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


class AnalyzeAgents:
    """Activities of the analyze agents, bound to the worker's settings."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @activity.defn(name="offline_review")
    @heartbeats
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
        review = review_files(changed, ruff_select=self._settings.ruff_select, agent=OFFLINE_AGENT)
        return grounded_report(
            agent=OFFLINE_AGENT,
            batch=input.batch,
            files=batch,
            findings=review.findings,
            parsed=parsed,
            started=started,
            tools=review.tools,
            skipped=skipped + review.skipped,
        )

    @activity.defn(name="claude_review")
    @heartbeats
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
            result = review_chunk(
                client,
                options,
                specialist,
                context,
                files,
                agent=agent,
                budget_tokens=chunk.tokens if chunk.truncated else None,
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
