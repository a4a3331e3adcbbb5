"""The parse agent: fetch a pull request and its files with PyGithub, parse and store the diff."""

from __future__ import annotations

from github import Github
from temporalio import activity
from temporalio.exceptions import ApplicationError

from prsaga.adapters.diffstore import DiffStore, SharedCache
from prsaga.adapters.github_client import github_errors, make_github
from prsaga.review.diff import DiffParseError, ParsedPullRequest, diff_file_from_github
from prsaga.review.redact import redact
from prsaga.runtime.config import Settings
from prsaga.schema import DiffRef, ParsedSummary, ParseInput, PullRequestRef

from .heartbeat import heartbeats

MAX_BODY_CHARS = 4000
"""The pull request's description kept for the reviewers' context (bounded, and untrusted)."""
MAX_LABEL_CHARS = 100
"""GitHub caps a label's name at 50 characters; a masked one is never longer than this."""


def fetch_pull_request(gh: Github, pr: PullRequestRef) -> ParsedPullRequest:
    """Fetch and parse a pull request at its current head.

    GitHub serves a pull request's files for its current head only, so that is what is reviewed,
    whatever head the triggering event named: the newest head wins. The head is read again after
    listing the files; a push landing in between would mix two heads in one diff, so that attempt
    fails (retryable) and the retry fetches a consistent pull request.

    The author's text (title, description, label names) is masked here, before anything keeps
    it: a token pasted in a title would otherwise stay in the workflow history, its memo and
    query answers forever, and reach prompts and logs. The branch name and commit messages are
    not fetched at all.
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
        labels=[redact(label.name)[:MAX_LABEL_CHARS] for label in pull.labels],
        base_sha=pull.base.sha,
        title=redact(pull.title),
        # Masked before it is cut, so that a cut cannot leave part of a token unrecognised.
        body=redact(pull.body or "")[:MAX_BODY_CHARS],
        html_url=pull.html_url,
        author=pull.user.login,
        state=pull.state,
        draft=bool(pull.draft),
        updated_at=pull.updated_at,
        files=files,
    )


class ParsedDiffs:
    """The parsed diffs of a worker's activities: the few this process used last (shared by its
    activity threads), else the store, else rebuilt from GitHub."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._store = DiffStore(settings.blob_dir)
        self._recent: SharedCache[ParsedPullRequest] = SharedCache(size=4)

    def load(self, ref: DiffRef, installation_id: int | None = None) -> ParsedPullRequest:
        """The parsed diff a reference points to.

        Rebuilding works while the pull request's head is still ``ref.head_sha``; once it has
        moved on, that diff cannot be fetched again and the step fails with non-retryable
        ``HeadMoved`` (the newer head brings its own review).
        """
        return self._recent.get(ref, lambda: self._load_or_fetch(ref, installation_id))

    def save(self, parsed: ParsedPullRequest) -> None:
        self._store.save(parsed)
        self._recent.put(parsed.ref, parsed)

    def _load_or_fetch(self, ref: DiffRef, installation_id: int | None) -> ParsedPullRequest:
        parsed = self._store.load(ref)
        if parsed is None:
            gh = make_github(
                self._settings, installation_id=installation_id, repo_full_name=ref.pr.full_name
            )
            parsed = fetch_pull_request(gh, ref.pr)
            if parsed.ref != ref:
                raise ApplicationError(
                    f"{ref.pr} moved on: its head is {parsed.ref.head_sha[:12]}, "
                    f"not {ref.head_sha[:12]}",
                    type="HeadMoved",
                    non_retryable=True,
                )
            self._store.save(parsed)
        return parsed


class ParseAgent:
    """Activities of the parse agent, bound to the worker's settings and parsed diffs."""

    def __init__(self, settings: Settings, diffs: ParsedDiffs | None = None) -> None:
        self._settings = settings
        self._diffs = diffs or ParsedDiffs(settings)

    @activity.defn(name="parse_pull_request")
    @heartbeats
    def parse_pull_request(self, input: ParseInput) -> ParsedSummary:
        gh = make_github(
            self._settings,
            installation_id=input.installation_id,
            repo_full_name=input.pr.full_name,
        )
        parsed = fetch_pull_request(gh, input.pr)
        self._diffs.save(parsed)
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
