"""The parse agent: fetch a pull request and its files with PyGithub, parse and store the diff."""

from __future__ import annotations

from github import Github
from temporalio import activity
from temporalio.exceptions import ApplicationError

from prsaga.config import Settings
from prsaga.contracts import ParsedSummary, ParseInput
from prsaga.diff import DiffParseError, diff_file_from_github
from prsaga.diffstore import DiffStore, ParsedPullRequest
from prsaga.github_client import github_errors, make_github
from prsaga.models import DiffRef, PullRequestRef


def fetch_pull_request(gh: Github, pr: PullRequestRef, head_sha: str | None) -> ParsedPullRequest:
    """Fetch and parse a pull request at its current head.

    GitHub serves a pull request's files for its *current* head only, so when an event names an
    older head the pull request has moved on: that is reported as non-retryable ``HeadMoved``
    (the newer push brings its own event). The head is read again after listing the files, so a
    push landing in between cannot mix two heads in one diff.
    """
    doing = f"fetching {pr}"
    with github_errors(doing):
        repo = gh.get_repo(pr.full_name)
        pull = repo.get_pull(pr.number)
        current = pull.head.sha
        _require_head(pr, expected=head_sha, current=current)
        items = [f.raw_data for f in pull.get_files()]
        _require_head(pr, expected=current, current=repo.get_pull(pr.number).head.sha)
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
        base_sha=pull.base.sha,
        title=pull.title,
        html_url=pull.html_url,
        author=pull.user.login,
        state=pull.state,
        draft=bool(pull.draft),
        files=files,
    )


def _require_head(pr: PullRequestRef, *, expected: str | None, current: str) -> None:
    if expected is not None and expected != current:
        raise ApplicationError(
            f"{pr} moved on: its head is {current[:12]}, not {expected[:12]}",
            type="HeadMoved",
            non_retryable=True,
        )


def load_parsed(settings: Settings, ref: DiffRef) -> ParsedPullRequest:
    """The parsed diff a reference points to: from the store, or rebuilt from GitHub."""
    store = DiffStore(settings.blob_dir)
    parsed = store.load(ref)
    if parsed is None:
        parsed = fetch_pull_request(make_github(settings), ref.pr, ref.head_sha)
        store.save(parsed)
    return parsed


class ParseAgent:
    """Activities of the parse agent, bound to the worker's settings."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @activity.defn(name="parse_pull_request")
    def parse_pull_request(self, input: ParseInput) -> ParsedSummary:
        parsed = fetch_pull_request(make_github(self._settings), input.pr, input.head_sha)
        DiffStore(self._settings.blob_dir).save(parsed)
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
            analyzable_files=len(parsed.analyzable_files()),
            batch_size=self._settings.analyze_batch_files,
        )
