"""The analyze agents. Today: the offline reviewer (ruff, detect-secrets, hygiene checks).

Each activity call reviews one batch of a pull request's files, so a large pull request fans out
over several activities and a retry repeats one batch, not the whole pull request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from github import Github, UnknownObjectException
from github.Repository import Repository
from temporalio import activity

from prsaga.config import Settings
from prsaga.contracts import AgentReport, AnalyzeInput
from prsaga.diff import DiffFile
from prsaga.github_client import github_errors, make_github
from prsaga.models import DiffRef
from prsaga.offline import ChangedFile, SkippedFile, review_files
from prsaga.review import keep_worst

from .parse import load_parsed

OFFLINE_AGENT = "offline"
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
        if added and not diff_file.is_binary:
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


class AnalyzeAgents:
    """Activities of the analyze agents, bound to the worker's settings."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @activity.defn(name="offline_review")
    def offline_review(self, input: AnalyzeInput) -> AgentReport:
        started = time.monotonic()
        parsed = load_parsed(self._settings, input.diff)
        start = input.batch * input.batch_size
        batch = parsed.analyzable_files()[start : start + input.batch_size]
        changed, skipped = fetch_changed_files(make_github(self._settings), input.diff, batch)
        review = _heartbeating(
            lambda: review_files(
                changed, ruff_select=self._settings.ruff_select, agent=OFFLINE_AGENT
            )
        )
        findings, omitted = keep_worst(review.findings)
        return AgentReport(
            agent=OFFLINE_AGENT,
            batch=input.batch,
            files=len(batch),
            paths=[f.path for f in batch],
            findings=findings,
            omitted_findings=omitted,
            tools=review.tools,
            skipped=skipped + review.skipped,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
