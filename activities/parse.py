"""The parse agent: fetch a pull request and its files with PyGithub, parse and store the diff."""

from __future__ import annotations

from github import Github
from temporalio import activity
from temporalio.exceptions import ApplicationError

from prsaga.adapters.diffstore import DiffStore, SharedCache
from prsaga.adapters.github_client import github_errors, make_github
from prsaga.review.diff import DiffParseError, ParsedPullRequest, diff_file_from_github
from prsaga.runtime.config import Settings
from prsaga.schema import DiffRef, ParsedSummary, ParseInput, PullRequestRef

from .heartbeat import heartbeats

PARSED_DIFFS: SharedCache[ParsedPullRequest] = SharedCache(size=4)
"""Parsed diffs this worker process uses now, keyed by (blob folder, DiffRef)."""
MAX_BODY_CHARS = 4000
"""The pull request's description kept for the reviewers' context (bounded, and untrusted)."""


def fetch_pull_request(gh: Github, pr: PullRequestRef) -> ParsedPullRequest:
    """Fetch and parse a pull request at its current head.

    GitHub serves a pull request's files for its current head only, so that is what is reviewed,
    whatever head the triggering event named: the newest head wins. The head is read again after
    listing the files; a push landing in between would mix two heads in one diff, so that attempt
    fails (retryable) and the retry fetches a consistent pull request.
    """
    doing = f"fetching {pr}"
    with github_errors(doing):
        repo = gh.get_repo(pr.full_name)
        pull = repo.get_pull(pr.number)
        current = pull.head.sha
        items = [f.raw_data for f in pull.get_files()]
        if (after := repo.get_pull(pr.number).head.sha) != current:
            raise ApplicationError(
                f"{doing}: the head moved from {current[:12]} to {after[:12]} while listing files",
                type="HeadMovedDuringFetch",
            )
    try:
        files = [diff_file_from_github(item) for item in items]
    except DiffParseError as err:
        raise ApplicationError(
            f"{doing}: GitHub sent a diff prsaga cannot parse: {err}",
            type="DiffParseError",
            non_retryable=True,
        ) from err
    return ParsedPullRequest(
        ref=DiffRef(pr=pr, head_sha=current),
        labels=[label.name for label in pull.labels],
        base_sha=pull.base.sha,
        title=pull.title,
        body=(pull.body or "")[:MAX_BODY_CHARS],
        html_url=pull.html_url,
        author=pull.user.login,
        state=pull.state,
        draft=bool(pull.draft),
        updated_at=pull.updated_at,
        files=files,
    )


def load_parsed(
    settings: Settings, ref: DiffRef, installation_id: int | None = None
) -> ParsedPullRequest:
    """The parsed diff a reference points to: from the store, or rebuilt from GitHub.

    Rebuilding works while the pull request's head is still ``ref.head_sha``; once it has moved
    on, that diff cannot be fetched again and the step fails with non-retryable ``HeadMoved``
    (the newer head brings its own review).
    """
    return PARSED_DIFFS.get(
        (settings.blob_dir, ref), lambda: _load_or_fetch(settings, ref, installation_id)
    )


def _load_or_fetch(
    settings: Settings, ref: DiffRef, installation_id: int | None
) -> ParsedPullRequest:
    store = DiffStore(settings.blob_dir)
    parsed = store.load(ref)
    if parsed is None:
        parsed = fetch_pull_request(
            make_github(settings, installation_id=installation_id, repo_full_name=ref.pr.full_name),
            ref.pr,
        )
        if parsed.ref != ref:
            raise ApplicationError(
                f"{ref.pr} moved on: its head is {parsed.ref.head_sha[:12]}, "
                f"not {ref.head_sha[:12]}",
                type="HeadMoved",
                non_retryable=True,
            )
        store.save(parsed)
    return parsed


class ParseAgent:
    """Activities of the parse agent, bound to the worker's settings."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @activity.defn(name="parse_pull_request")
    @heartbeats
    def parse_pull_request(self, input: ParseInput) -> ParsedSummary:
        gh = make_github(
            self._settings,
            installation_id=input.installation_id,
            repo_full_name=input.pr.full_name,
        )
        parsed = fetch_pull_request(gh, input.pr)
        DiffStore(self._settings.blob_dir).save(parsed)
        PARSED_DIFFS.put((self._settings.blob_dir, parsed.ref), parsed)
        activity.logger.info(
            "parsed %s at %s: %d files", input.pr, parsed.ref.head_sha[:12], len(parsed.files)
        )
        return ParsedSummary(
            diff=parsed.ref,
            base_sha=parsed.base_sha,
            title=parsed.title,
            html_url=parsed.html_url,
            author=parsed.author,
            state="open" if parsed.state == "open" else "closed",
            draft=parsed.draft,
            files=len(parsed.files),
            additions=sum(f.additions for f in parsed.files),
            deletions=sum(f.deletions for f in parsed.files),
            labels=parsed.labels,
            updated_at=parsed.updated_at,
        )
