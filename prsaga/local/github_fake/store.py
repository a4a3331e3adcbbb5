"""The in-memory state of the local GitHub server, and the GitHub-shaped objects built from it.

Everything here is HTTP-free: the store answers with plain dicts shaped like GitHub's REST
responses, or raises :class:`GitHubError` with the message and ``errors`` GitHub would send. The
HTTP layer (``app.py``) turns those into responses.

Objects are built from GitHub's own examples (``templates/``, see its PROVENANCE.md) and stored
with GitHub's canonical ``https://api.github.com`` URLs; the HTTP layer rewrites that prefix to
the server's own base URL on the way out, so that PyGithub follows links back to this server.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from prsaga.local.github_fake.apps import (
    DEFAULT_APP_EVENTS,
    DEFAULT_APP_PERMISSIONS,
    DEFAULT_TOKEN_TTL_SECONDS,
    App,
    AuthError,
    Installation,
    IssuedToken,
    Principal,
    load_public_key,
    looks_like_jwt,
    narrowed_permissions,
    narrowed_repositories,
    new_installation_token,
    token_digest,
    verify_app_jwt,
)
from prsaga.local.github_fake.gitdata import (
    Commit,
    changed_files,
    commits_between,
    git_blob_sha,
    map_line,
    merge_base,
    new_commit_sha,
)

CANONICAL_API_URL = "https://api.github.com"
CANONICAL_WEB_URL = "https://github.com"
TEMPLATES_DIR = Path(__file__).with_name("templates")

REVIEW_EVENTS = {
    "APPROVE": "APPROVED",
    "REQUEST_CHANGES": "CHANGES_REQUESTED",
    "COMMENT": "COMMENTED",
}
STATUS_STATES = ("error", "failure", "pending", "success")
SIDES = ("LEFT", "RIGHT")
MAX_PULL_FILES = 3000
"""GitHub lists at most 3000 files of a pull request."""
MAX_CONTENT_BYTES = 1024 * 1024
"""Above 1 MB the contents API answers ``encoding: "none"`` and an empty ``content``."""
MAX_STATUS_DESCRIPTION = 140
MAX_COMPARE_FILES = 300
"""The compare API lists at most 300 files."""
ROLES = ("none", "read", "triage", "write", "maintain", "admin")
"""Repository roles, weakest first."""
LEGACY_PERMISSIONS = {
    "none": "none",
    "read": "read",
    "triage": "read",
    "write": "write",
    "maintain": "write",
    "admin": "admin",
}
"""The collaborator-permission API's ``permission``: maintain reads as write, triage as read."""
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
CHECK_STATUSES = ("queued", "in_progress", "completed")
CHECK_CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "timed_out",
)
ANNOTATION_LEVELS = ("notice", "warning", "failure")
MAX_ANNOTATIONS_PER_REQUEST = 50
MAX_CHECK_OUTPUT_CHARS = 65535

_BOOKKEEPING_KEYS = frozenset({"_pull", "_ref", "_comment", "_annotations"})
"""Keys the store adds to GitHub's objects for itself (never sent)."""

# The example values the templates are filled from (GitHub's docs use octocat/Hello-World).
_TEMPLATE_FULL_NAME = "octocat/Hello-World"
_TEMPLATE_LOGIN = "octocat"

_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


class GitHubError(Exception):
    """An error GitHub answers with: an HTTP status, a ``message`` and optionally ``errors``."""

    def __init__(self, status: int, message: str, errors: list[Any] | None = None) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.errors = errors


class NotFoundError(GitHubError):
    """404 ``Not Found``: GitHub's answer for anything missing (or invisible to the token)."""

    def __init__(self) -> None:
        super().__init__(404, "Not Found")


def unprocessable(*errors: str) -> GitHubError:
    """A 422 as the review endpoints send it: ``Unprocessable Entity`` and one sentence."""
    return GitHubError(422, "Unprocessable Entity", [_to_sentence(list(errors))])


def invalid_request(detail: str) -> GitHubError:
    """A 422 as GitHub sends it when a request body does not match the endpoint's schema."""
    return GitHubError(422, f"Invalid request.\n\n{detail}")


def _to_sentence(parts: list[str]) -> str:
    """Join messages the way GitHub (Rails' ``to_sentence``) does."""
    if len(parts) <= 2:
        return " and ".join(parts)
    return ", ".join(parts[:-1]) + ", and " + parts[-1]


# ---------------------------------------------------------------------------------------------
# Small pure helpers


def legacy_node_id(type_name: str, object_id: int | str) -> str:
    """A node id in GitHub's legacy format, e.g. ``MDQ6VXNlcjE=`` for ``04:User1``."""
    return base64.b64encode(f"0{len(type_name)}:{type_name}{object_id}".encode()).decode()


def github_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, as GitHub writes every timestamp."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def wrapped_base64(data: bytes) -> str:
    """Base64 the way the contents API sends it: a newline after every 60 characters."""
    encoded = base64.b64encode(data).decode()
    return "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))


def deep_merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``overlay``, recursing into dicts present in both."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _replace_in_strings(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_replace_in_strings(item, old, new) for item in value]
    if isinstance(value, dict):
        return {key: _replace_in_strings(item, old, new) for key, item in value.items()}
    return value


@cache
def _template_text(name: str) -> str:
    return (TEMPLATES_DIR / name).read_text(encoding="utf-8")


def load_template(name: str) -> Any:
    """A fresh copy of one of GitHub's example objects in ``templates/``."""
    return json.loads(_template_text(name))


# ---------------------------------------------------------------------------------------------
# Diffs: which lines of a pull request a review comment may be anchored to.
# Deliberately independent of prsaga.review.diff: this server plays GitHub, so a bug in
# prsaga's parser must surface here as GitHub's 422, not be mirrored. It also needs what GitHub
# has and prsaga does not (legacy ``position`` numbers and ``diff_hunk``).


@dataclass(frozen=True)
class DiffLine:
    """One commentable line of a file's patch."""

    position: int
    """GitHub's ``position``: lines below the file's first ``@@`` header (hunk headers count)."""
    kind: str
    """``" "`` context, ``"+"`` added, ``"-"`` removed."""
    old_line: int | None
    new_line: int | None
    hunk: int
    """Position of the ``@@`` header of the hunk this line belongs to."""


@dataclass(frozen=True)
class FileDiff:
    """The parsed ``patch`` of one changed file."""

    patch_lines: tuple[str, ...]
    lines: tuple[DiffLine, ...]

    @classmethod
    def parse(cls, patch: str | None) -> FileDiff:
        """Parse a files-API ``patch`` (hunks from the first ``@@``); ``None`` has no lines."""
        if not patch:
            return cls((), ())
        patch_lines = tuple(patch.split("\n"))
        lines: list[DiffLine] = []
        old_line = new_line = hunk = 0
        for position, text in enumerate(patch_lines):
            header = _HUNK_HEADER.match(text)
            if header:
                old_line, new_line, hunk = int(header[1]), int(header[2]), position
            elif text.startswith("+"):
                lines.append(DiffLine(position, "+", None, new_line, hunk))
                new_line += 1
            elif text.startswith("-"):
                lines.append(DiffLine(position, "-", old_line, None, hunk))
                old_line += 1
            elif text.startswith(" ") or text == "":
                lines.append(DiffLine(position, " ", old_line, new_line, hunk))
                old_line += 1
                new_line += 1
            # "\ No newline at end of file" takes a position but is not a line of either side.
        return cls(patch_lines, tuple(lines))

    def find(self, side: str, number: int) -> DiffLine | None:
        """The diff line showing line ``number`` of the new (RIGHT) or old (LEFT) file."""
        for line in self.lines:
            if side == "RIGHT" and line.kind != "-" and line.new_line == number:
                return line
            if side == "LEFT" and line.kind != "+" and line.old_line == number:
                return line
        return None

    def at_position(self, position: int) -> DiffLine | None:
        """The diff line at a (legacy) ``position``."""
        return next((line for line in self.lines if line.position == position), None)

    def hunk_through(self, line: DiffLine) -> str:
        """GitHub's ``diff_hunk`` of a comment: its hunk from the header down to the line."""
        return "\n".join(self.patch_lines[line.hunk : line.position + 1])


@dataclass(frozen=True)
class ResolvedComment:
    """A review comment whose anchor was found in the diff."""

    path: str
    body: str
    end: DiffLine
    side: str
    start: DiffLine | None
    start_side: str | None
    diff_hunk: str

    @property
    def line(self) -> int | None:
        return self.end.new_line if self.side == "RIGHT" else self.end.old_line

    @property
    def start_line(self) -> int | None:
        if self.start is None:
            return None
        return self.start.new_line if self.start_side == "RIGHT" else self.start.old_line


_PATH_INVALID = "Pull request review thread path is invalid"
_POSITION_INVALID = "Pull request review thread position is invalid"
_LINE_NOT_IN_DIFF = "Pull request review thread line must be part of the diff"
_START_NOT_BEFORE_END = "Pull request review thread start line must precede the end line."
_START_OTHER_HUNK = (
    "Pull request review thread start line must be part of the same hunk as the line."
)
_HUNK_BLANK = "Pull request review thread diff hunk can't be blank"


def resolve_review_comment(
    diffs: Mapping[str, FileDiff], comment: Mapping[str, Any]
) -> ResolvedComment:
    """Anchor one ``comments[]`` item of a review to the diff, or raise GitHub's 422.

    GitHub accepts a comment only on a line its patch shows: RIGHT lines are added or context
    lines, LEFT lines are removed or context lines; a multi-line comment must stay in one hunk.
    """
    path = comment.get("path")
    body = comment.get("body")
    if not isinstance(path, str) or not isinstance(body, str):
        missing = "path" if not isinstance(path, str) else "body"
        raise invalid_request(f'"{missing}" wasn\'t supplied.')
    diff = diffs.get(path)
    if diff is None:
        raise unprocessable(_PATH_INVALID, _HUNK_BLANK)
    side = comment.get("side") or "RIGHT"
    start_side = comment.get("start_side") or side
    if side not in SIDES or start_side not in SIDES:
        raise invalid_request(f'"{side if side not in SIDES else start_side}" is not a side.')

    line_number = _optional_int(comment, "line")
    position = _optional_int(comment, "position")
    if line_number is None and position is not None:
        end = diff.at_position(position)
        if end is None:
            raise unprocessable(_POSITION_INVALID, _HUNK_BLANK)
        side = "LEFT" if end.kind == "-" else "RIGHT"
        return ResolvedComment(path, body, end, side, None, None, diff.hunk_through(end))
    if line_number is None:
        raise unprocessable(_LINE_NOT_IN_DIFF, _HUNK_BLANK)

    errors: list[str] = []
    end = diff.find(side, line_number)
    if end is None:
        errors.append(_LINE_NOT_IN_DIFF)
    start: DiffLine | None = None
    start_line = _optional_int(comment, "start_line")
    if start_line is not None:
        start = diff.find(start_side, start_line)
        if start_side == side and start_line >= line_number:
            errors.append(_START_NOT_BEFORE_END)
        elif start is not None and end is not None and start.position >= end.position:
            errors.append(_START_NOT_BEFORE_END)
        if start is None or end is None or start.hunk != end.hunk:
            errors.append(_START_OTHER_HUNK)
    if end is None:
        errors.append(_HUNK_BLANK)
    if errors:
        raise unprocessable(*errors)
    assert end is not None  # for the type checker: errors is empty
    return ResolvedComment(
        path,
        body,
        end,
        side,
        start,
        start_side if start is not None else None,
        diff.hunk_through(end),
    )


def _optional_int(comment: Mapping[str, Any], key: str) -> int | None:
    value = comment.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_request(f"For 'items/{key}', {json.dumps(value)} is not an integer.")
    return value


# ---------------------------------------------------------------------------------------------
# The store


@dataclass
class HeadCommit:
    """A head of a pull request: the pull request's files (its diff against the base) there."""

    sha: str
    files: list[dict[str, Any]]
    diffs: dict[str, FileDiff]


@dataclass
class PullRecord:
    """A seeded pull request, every head it has had, and its current history."""

    full_name: str
    number: int
    pull: dict[str, Any]
    heads: dict[str, HeadCommit] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)
    """The pull request's commits on top of its base, oldest first (what a push appends to)."""
    labels: list[str] = field(default_factory=list)

    @property
    def head(self) -> HeadCommit:
        return self.heads[self.pull["head"]["sha"]]


@dataclass
class Fault:
    """An injected failure: the next ``times`` matching requests get this answer."""

    status: int
    path_regex: re.Pattern[str]
    method: str | None = None
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    skip: int = 0
    """Matching requests to let through before the fault starts answering."""
    after_handling: bool = False
    """Handle the request first (its writes happen), then lose the answer: a timeout or a 502
    after GitHub did the work, the case that makes retries post twice."""

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and bool(self.path_regex.search(path))

    def describe(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path_regex": self.path_regex.pattern,
            "status": self.status,
            "times": self.times,
            "headers": self.headers,
            "body": self.body,
            "skip": self.skip,
            "after_handling": self.after_handling,
        }


@dataclass(frozen=True)
class RateLimit:
    """The ``x-ratelimit-*`` numbers of one response."""

    limit: int
    remaining: int
    used: int
    reset: int

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset),
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-resource": "core",
        }


class Store:
    """Everything the server knows and everything written to it, behind one lock.

    The HTTP server runs on its own thread while tests read :meth:`snapshot` from theirs, so
    every public method takes the lock.
    """

    def __init__(
        self,
        *,
        bot_login: str,
        rate_limit: int,
        clock: Callable[[], float] = time.time,
        installation_token_ttl: float = DEFAULT_TOKEN_TTL_SECONDS,
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self.installation_token_ttl = installation_token_ttl
        """Seconds a new installation token lives (tests shorten it to see PyGithub refresh)."""
        self._next_id = 1_000_001
        # One counter for every kind of object: a review id passed where a comment id is
        # expected then finds nothing, as it would on GitHub.
        self._repositories: dict[str, dict[str, Any]] = {}
        self._pulls: dict[tuple[str, int], PullRecord] = {}
        self._commits: dict[str, dict[str, Commit]] = {}
        """Every commit of each repository by SHA: force-pushed ones stay, as on GitHub."""
        self._branches: dict[str, dict[str, str]] = {}
        self._labels: dict[str, dict[str, dict[str, Any]]] = {}
        self._roles: dict[str, dict[str, str]] = {}
        """Collaborator roles per repository, by lower-cased login."""
        self._reviews: dict[int, dict[str, Any]] = {}
        self._review_comments: dict[int, dict[str, Any]] = {}
        self._statuses: list[dict[str, Any]] = []
        self._issue_comments: dict[int, dict[str, Any]] = {}
        self._reactions: dict[int, dict[str, Any]] = {}
        self._check_runs: dict[int, dict[str, Any]] = {}
        self._check_suites: dict[tuple[str, str, int], int] = {}
        self._apps: dict[int, App] = {}
        self._installations: dict[int, Installation] = {}
        self._tokens: dict[str, IssuedToken] = {}
        self._user_ids: dict[str, int] = {}
        """Installation tokens by SHA-256 digest: the store never holds a token itself."""
        self._requests: list[dict[str, Any]] = []
        self._faults: list[Fault] = []
        self._rate_limit = rate_limit
        self._rate_used = 0
        self._rate_reset = int(time.time()) + 3600
        self.bot = self._user(bot_login, self._new_id(), "Bot")

    # -- ids, users, repositories --------------------------------------------------------------

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    @staticmethod
    def _user(login: str, user_id: int, user_type: str = "User") -> dict[str, Any]:
        user = load_template("pulls.get.response.200.json")["user"]
        user = _replace_in_strings(user, f"/{_TEMPLATE_LOGIN}", f"/{quote(login, safe='')}")
        web = f"{CANONICAL_WEB_URL}/{login}"
        if user_type == "Bot":  # A GitHub App's bot links to the app's page.
            web = f"{CANONICAL_WEB_URL}/apps/{login.removesuffix('[bot]')}"
        user.update(
            login=login,
            id=user_id,
            node_id=legacy_node_id(user_type, user_id),
            avatar_url=f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
            html_url=web,
            type=user_type,
            site_admin=False,
        )
        return user

    def _repository(self, full_name: str, overlay: Mapping[str, Any]) -> dict[str, Any]:
        """The ``repository`` object of a pull request's head/base (GitHub's example, refilled)."""
        template = load_template("pulls.get.response.200.json")["base"]["repo"]
        repo = self._fill_repository(template, full_name, overlay)
        return deep_merge(repo, overlay)

    def _full_repository(self, full_name: str, overlay: Mapping[str, Any]) -> dict[str, Any]:
        """The ``full-repository`` object of ``GET /repos/{owner}/{repo}``."""
        repo = self._fill_repository(
            load_template("repos.get.response.200.json"), full_name, overlay
        )
        for key in ("parent", "source", "template_repository"):
            repo.pop(key, None)  # Only forks and repositories made from templates have these.
        if repo["owner"]["type"] == "Organization":
            repo["organization"] = repo["owner"]
        else:
            repo.pop("organization", None)
        repo.update(subscribers_count=0, network_count=0)
        return deep_merge(repo, overlay)

    def _fill_repository(
        self, template: dict[str, Any], full_name: str, overlay: Mapping[str, Any]
    ) -> dict[str, Any]:
        owner_login, name = full_name.split("/", 1)
        repo = _replace_in_strings(template, _TEMPLATE_FULL_NAME, full_name)
        repo_id = overlay.get("id") or self._new_id()
        owner_overlay = overlay.get("owner") or {}
        owner_id = owner_overlay.get("id") or self._new_id()
        owner_type = owner_overlay.get("type", "User")
        owner = deep_merge(self._user(owner_login, owner_id, owner_type), owner_overlay)
        repo.pop("temp_clone_token", None)
        repo.update(
            id=repo_id,
            node_id=legacy_node_id("Repository", repo_id),
            name=name,
            full_name=full_name,
            owner=owner,
            private=False,
            description=None,
            fork=False,
            homepage=None,
            language=None,
            git_url=f"git://github.com/{full_name}.git",
            ssh_url=f"git@github.com:{full_name}.git",
            clone_url=f"{CANONICAL_WEB_URL}/{full_name}.git",
            svn_url=f"{CANONICAL_WEB_URL}/{full_name}",
            mirror_url=None,
            topics=[],
            license=None,
            forks_count=0,
            forks=0,
            stargazers_count=0,
            watchers_count=0,
            watchers=0,
            size=0,
            default_branch="main",
            permissions={
                "admin": False,
                "maintain": False,
                "push": True,
                "triage": True,
                "pull": True,
            },
        )
        if "visibility" in repo:
            repo["visibility"] = "public"
        return repo

    # -- seeding ------------------------------------------------------------------------------

    def seed_pull_request(
        self,
        pull: Mapping[str, Any],
        files: Sequence[Mapping[str, Any]],
        contents: Mapping[str, bytes | str],
        *,
        base_contents: Mapping[str, bytes | str] | None = None,
    ) -> dict[str, Any]:
        """Add (or move to a new head) a pull request; see ``FakeGitHub.seed_pull_request``."""
        try:
            number = int(pull["number"])
            head_sha = str(pull["head"]["sha"])
            base_sha = str(pull["base"]["sha"])
            full_name = str(pull["base"]["repo"]["full_name"])
        except (KeyError, TypeError) as missing:
            raise ValueError(
                "a seeded pull request needs number, head.sha, base.sha and base.repo.full_name"
            ) from missing
        if "/" not in full_name:
            raise ValueError(f"base.repo.full_name must be OWNER/REPO, got {full_name!r}")
        blobs = _blobs(contents)
        with self._lock:
            known = self._repositories.get(full_name)
            repo_overlay = pull["base"]["repo"]
            if known is not None:  # Keep the repository's identity across seeds.
                repo_overlay = deep_merge(
                    {"id": known["id"], "owner": known["owner"]}, repo_overlay
                )
            repository = self._repository(full_name, repo_overlay)
            self._repositories[full_name] = self._full_repository(full_name, repository)
            file_items = [self._file_item(full_name, head_sha, item, blobs) for item in files]
            record = self._pulls.get((full_name, number))
            if record is not None:  # A new head of a known pull request (a "synchronize").
                pull = deep_merge(
                    {"id": record.pull["id"], "created_at": record.pull["created_at"]}, pull
                )
            built = self._pull_object(
                full_name, number, head_sha, base_sha, repository, pull, file_items
            )
            base = self._base_commit(full_name, base_sha, _blobs(base_contents or {}))
            self._branches[full_name][built["base"]["ref"]] = base_sha
            tree = {**base.tree, **blobs}
            for item in file_items:
                if item["status"] == "removed":
                    tree.pop(item["filename"], None)
            self._commits[full_name][head_sha] = Commit(
                sha=head_sha,
                parents=(base_sha,),
                tree=tree,
                message=str(built["title"]),
                author=built["user"],
                date=built["updated_at"],
                files=file_items,
            )
            old_head = None if record is None else record.pull["head"]["sha"]
            if record is None:
                record = PullRecord(full_name, number, built)
                self._pulls[(full_name, number)] = record
            else:
                record.pull = built
            record.commits = [head_sha]
            self._move_head(record, old_head, HeadCommit(head_sha, file_items, _diffs(file_items)))
            return copy.deepcopy(built)

    def _base_commit(self, full_name: str, sha: str, blobs: Mapping[str, bytes]) -> Commit:
        """The base commit of a pull request (a root: its own history is not modelled)."""
        commits = self._commits.setdefault(full_name, {})
        self._branches.setdefault(full_name, {})
        base = commits.get(sha)
        if base is None:
            owner = self._repositories[full_name]["owner"]
            date = github_timestamp(datetime.now(UTC))
            base = Commit(sha, (), {}, "Base commit", owner, date, files=[])
            commits[sha] = base
        base.tree.update(blobs)
        return base

    def _move_head(self, record: PullRecord, old_sha: str | None, head: HeadCommit) -> None:
        """Make ``head`` the pull request's head and re-anchor its review comments there."""
        record.heads[head.sha] = head
        record.pull["head"]["sha"] = head.sha
        record.pull.update(_pull_links(record.full_name, record.number, head.sha))
        record.pull.update(
            additions=sum(item["additions"] for item in head.files),
            deletions=sum(item["deletions"] for item in head.files),
            changed_files=len(head.files),
            commits=len(record.commits),
        )
        self._branches[record.full_name][record.pull["head"]["ref"]] = head.sha
        if old_sha is not None and old_sha != head.sha:
            for comment in _of_pull(self._review_comments, record):
                self._reanchor(record, comment, head)

    def _reanchor(self, record: PullRecord, comment: dict[str, Any], head: HeadCommit) -> None:
        """Follow a review comment to a new head, or mark it outdated as GitHub does.

        A comment stays current when its lines are untouched by the push and still shown by
        the pull request's new diff: its ``line`` and ``position`` move with them and
        ``commit_id`` becomes the new head. Otherwise GitHub keeps it with ``position`` and
        ``line`` set to ``null`` (the ``original_*`` fields keep where it was written).
        """
        if comment["position"] is None:
            return  # already outdated: GitHub never revives it
        commits = self._commits[record.full_name]
        path = comment["path"]
        old_blob = commits[comment["commit_id"]].tree.get(path)
        new_blob = commits[head.sha].tree.get(path)
        old_diff = record.heads[comment["commit_id"]].diffs.get(path)
        new_diff = head.diffs.get(path)

        def follow(side: str | None, number: int | None) -> DiffLine | None:
            if side is None or number is None or new_diff is None:
                return None
            moved: int | None = number
            if side == "RIGHT":  # LEFT lines belong to the base, which a push does not change
                if old_blob is not None and new_blob is not None:
                    moved = map_line(old_blob, new_blob, number)
                elif old_diff is None or old_diff.patch_lines != new_diff.patch_lines:
                    moved = None  # contents unknown: only an identical diff keeps the line
            return None if moved is None else new_diff.find(side, moved)

        end = follow(comment["side"], comment["line"])
        start = follow(comment["start_side"], comment["start_line"])
        if end is None or (comment["start_line"] is not None and start is None):
            comment.update(position=None, line=None, start_line=None)
            return
        comment.update(
            position=end.position,
            line=end.new_line if comment["side"] == "RIGHT" else end.old_line,
            commit_id=head.sha,
        )
        if start is not None:
            comment["start_line"] = (
                start.new_line if comment["start_side"] == "RIGHT" else start.old_line
            )

    def push(
        self,
        owner: str,
        repo: str,
        number: int,
        files: Sequence[Mapping[str, Any]] | None,
        contents: Mapping[str, bytes | str | None] | None,
        *,
        force: bool = False,
        message: str | None = None,
    ) -> str:
        """Add a commit to a pull request's branch; see ``FakeGitHub.push``."""
        with self._lock:
            record = self._record_or_value_error(owner, repo, number)
            full_name = record.full_name
            commits = self._commits[full_name]
            old_sha = record.pull["head"]["sha"]
            base_sha = record.pull["base"]["sha"]
            tree = dict(commits[old_sha].tree)
            for path, data in (contents or {}).items():
                if data is None:
                    tree.pop(path, None)
                else:
                    tree[path] = data.encode("utf-8") if isinstance(data, str) else bytes(data)
            parent = base_sha if force else old_sha
            message = message or f"Commit {len(record.commits) + 1} of #{number}"
            sha = new_commit_sha(full_name, parent, message, str(self._new_id()))
            if files is None:
                files = changed_files(commits[base_sha].tree, tree)
            file_items = [self._file_item(full_name, sha, item, tree) for item in files]
            now = github_timestamp(datetime.now(UTC))
            commits[sha] = Commit(sha, (parent,), tree, message, record.pull["user"], now)
            record.commits = [sha] if force else [*record.commits, sha]
            record.pull["updated_at"] = now
            self._move_head(record, old_sha, HeadCommit(sha, file_items, _diffs(file_items)))
            return sha

    def close_pull_request(
        self, owner: str, repo: str, number: int, *, merged: bool
    ) -> dict[str, Any]:
        """Close a pull request, merged or not; see ``FakeGitHub.close``."""
        with self._lock:
            record = self._record_or_value_error(owner, repo, number)
            if record.pull["state"] == "closed":
                raise ValueError(f"{record.full_name}#{number} is already closed")
            now = github_timestamp(datetime.now(UTC))
            record.pull.update(state="closed", closed_at=now, updated_at=now, mergeable=None)
            if merged:
                head_sha = record.pull["head"]["sha"]
                record.pull.update(
                    merged=True,
                    merged_at=now,
                    merged_by=record.pull["base"]["repo"]["owner"],
                    merge_commit_sha=new_commit_sha(record.full_name, "merge", head_sha),
                )
            return copy.deepcopy(record.pull)

    def reopen_pull_request(self, owner: str, repo: str, number: int) -> dict[str, Any]:
        """Reopen a closed, unmerged pull request; see ``FakeGitHub.reopen``."""
        with self._lock:
            record = self._record_or_value_error(owner, repo, number)
            if record.pull["state"] != "closed" or record.pull["merged"]:
                raise ValueError(f"{record.full_name}#{number} is not closed without merging")
            now = github_timestamp(datetime.now(UTC))
            record.pull.update(state="open", closed_at=None, updated_at=now, mergeable=True)
            return copy.deepcopy(record.pull)

    def set_labels(
        self, owner: str, repo: str, number: int, labels: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Replace a pull request's labels (creating unknown ones as GitHub does)."""
        with self._lock:
            record = self._record_or_value_error(owner, repo, number)
            record.labels = []
            return self._add_labels(record, [str(name) for name in labels])

    def set_permission(self, full_name: str, login: str, permission: str) -> None:
        """Give ``login`` a role on a repository; see ``FakeGitHub.set_permission``."""
        if permission not in ROLES:
            raise ValueError(f"permission must be one of {', '.join(ROLES)}, got {permission!r}")
        with self._lock:
            if full_name not in self._repositories:
                raise ValueError(f"seed a pull request of {full_name} first")
            self._roles.setdefault(full_name, {})[login.lower()] = permission

    def add_issue_comment(
        self, owner: str, repo: str, number: int, body: str, *, login: str, user_type: str
    ) -> dict[str, Any]:
        """A comment written by someone else (a user typing a command, another bot)."""
        with self._lock:
            record = self._record_or_value_error(owner, repo, number)
            author = self._user(login, self._user_id(login), user_type)
            association = (
                "OWNER"
                if login == record.pull["base"]["repo"]["owner"]["login"]
                else (
                    "COLLABORATOR"
                    if login.lower() in self._roles.get(record.full_name, {})
                    else "NONE"
                )
            )
            return self._new_issue_comment(record, body, author, association)

    def register_app(
        self,
        app_id: int,
        public_key_pem: str | bytes,
        installations: Mapping[int, Sequence[str]],
        *,
        slug: str,
        permissions: Mapping[str, str] | None,
        events: Sequence[str] | None = None,
    ) -> None:
        """Register a GitHub App and its installations; see ``FakeGitHub.register_app``."""
        key = load_public_key(public_key_pem)
        granted = dict(permissions or DEFAULT_APP_PERMISSIONS)
        subscribed = tuple(events) if events is not None else DEFAULT_APP_EVENTS
        with self._lock:
            self._apps[app_id] = App(app_id, slug, key, granted, subscribed)
            for installation_id, repositories in installations.items():
                names = tuple(str(name) for name in repositories)
                if not names or any("/" not in name for name in names):
                    raise ValueError("an installation needs repositories, as OWNER/REPO names")
                self._installations[installation_id] = Installation(
                    installation_id, app_id, names, dict(granted)
                )

    def _file_item(
        self,
        full_name: str,
        head_sha: str,
        item: Mapping[str, Any],
        blobs: Mapping[str, bytes],
    ) -> dict[str, Any]:
        filename = str(item["filename"])
        sha = item.get("sha")
        if sha is None and filename in blobs:
            sha = git_blob_sha(blobs[filename])
        quoted = quote(filename, safe="/")
        built = load_template("pulls.list-files.response.200.json")[0]
        built.update(
            sha=sha,
            filename=filename,
            status=item.get("status", "modified"),
            additions=int(item.get("additions", 0)),
            deletions=int(item.get("deletions", 0)),
            changes=int(item.get("changes", 0)),
            blob_url=f"{CANONICAL_WEB_URL}/{full_name}/blob/{head_sha}/{quoted}",
            raw_url=f"{CANONICAL_WEB_URL}/{full_name}/raw/{head_sha}/{quoted}",
            contents_url=f"{CANONICAL_API_URL}/repos/{full_name}/contents/{quoted}?ref={head_sha}",
        )
        del built["patch"]  # Binary and hunk-less files have none; the seed says which.
        merged = deep_merge(built, item)
        for key in ("blob_url", "raw_url", "contents_url"):  # they follow from the head SHA
            merged[key] = built[key]
        return merged

    def _pull_object(
        self,
        full_name: str,
        number: int,
        head_sha: str,
        base_sha: str,
        repository: dict[str, Any],
        seed: Mapping[str, Any],
        files: list[dict[str, Any]],
    ) -> dict[str, Any]:
        owner = repository["owner"]
        seed_user = seed.get("user") or {}
        author = self._user(
            seed_user.get("login", _TEMPLATE_LOGIN), seed_user.get("id") or self._new_id()
        )
        pull_id = seed.get("id") or self._new_id()
        now = github_timestamp(datetime.now(UTC))
        head_ref = seed.get("head", {}).get("ref", f"pr-{number}")
        base_ref = seed.get("base", {}).get("ref", repository["default_branch"])
        pull = load_template("pulls.get.response.200.json")
        pull.update(
            id=pull_id,
            node_id=legacy_node_id("PullRequest", pull_id),
            number=number,
            state="open",
            locked=False,
            title=f"Pull request #{number}",
            user=author,
            body=None,
            labels=[],
            milestone=None,
            active_lock_reason=None,
            created_at=now,
            updated_at=now,
            closed_at=None,
            merged_at=None,
            merge_commit_sha=None,
            assignee=None,
            assignees=[],
            requested_reviewers=[],
            requested_teams=[],
            head={
                "label": f"{owner['login']}:{head_ref}",
                "ref": head_ref,
                "sha": head_sha,
                "user": owner,
                "repo": repository,
            },
            base={
                "label": f"{owner['login']}:{base_ref}",
                "ref": base_ref,
                "sha": base_sha,
                "user": owner,
                "repo": repository,
            },
            author_association="CONTRIBUTOR",
            auto_merge=None,
            draft=False,
            merged=False,
            mergeable=True,
            rebaseable=True,
            mergeable_state="clean",
            merged_by=None,
            comments=0,
            review_comments=0,
            maintainer_can_modify=False,
            commits=1,
        )
        pull = deep_merge(pull, seed)
        # These follow from the repository, number, head and diff, whatever a seeded copy of an
        # older object (say, the demo renumbered) still says.
        pull.update(_pull_links(full_name, number, head_sha))
        pull.update(
            additions=sum(item["additions"] for item in files),
            deletions=sum(item["deletions"] for item in files),
            changed_files=len(files),
        )
        return pull

    # -- lookups ------------------------------------------------------------------------------

    def _record(self, owner: str, repo: str, number: int) -> PullRecord:
        record = self._pulls.get((f"{owner}/{repo}", number))
        if record is None:
            raise NotFoundError()
        return record

    def _require_repository(self, owner: str, repo: str) -> str:
        full_name = f"{owner}/{repo}"
        if full_name not in self._repositories:
            raise NotFoundError()
        return full_name

    def _record_or_value_error(self, owner: str, repo: str, number: int) -> PullRecord:
        """The seeded pull request a seeding call names (a ``ValueError`` if there is none)."""
        record = self._pulls.get((f"{owner}/{repo}", number))
        if record is None:
            raise ValueError(f"{owner}/{repo}#{number} was not seeded")
        return record

    def _resolve(self, full_name: str, ref: str | None) -> Commit | None:
        """The commit a ref names: a SHA, a branch, or ``None`` for the default branch."""
        commits = self._commits.get(full_name, {})
        branches = self._branches.get(full_name, {})
        if ref is None:
            ref = self._repositories[full_name]["default_branch"]
        sha = ref if ref in commits else branches.get(ref.removeprefix("refs/heads/"))
        return None if sha is None else commits.get(sha)

    def _user_id(self, login: str) -> int:
        """One id per login, so that a user is the same user on every object."""
        return self._user_ids.setdefault(login.lower(), self._new_id())

    def _is_public(self, full_name: str) -> bool:
        return not self._repositories[full_name]["private"]

    # -- repositories, pulls, files, contents, commits ------------------------------------------

    def get_repository(self, owner: str, repo: str) -> dict[str, Any]:
        with self._lock:
            full_name = self._require_repository(owner, repo)
            repository = copy.deepcopy(self._repositories[full_name])
            open_pulls = sum(
                1
                for (name, _), record in self._pulls.items()
                if name == full_name and record.pull["state"] == "open"
            )
            repository["open_issues_count"] = repository["open_issues"] = open_pulls
            return repository

    def get_pull(self, owner: str, repo: str, number: int) -> dict[str, Any]:
        with self._lock:
            record = self._record(owner, repo, number)
            pull = copy.deepcopy(record.pull)
            pull["comments"] = len(_of_pull(self._issue_comments, record))
            pull["review_comments"] = len(self._visible_review_comments(record))
            pull["labels"] = self._label_objects(record)
            return pull

    def list_pull_files(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        with self._lock:
            record = self._record(owner, repo, number)
            return copy.deepcopy(record.head.files[:MAX_PULL_FILES])

    def get_content(self, owner: str, repo: str, path: str, ref: str | None) -> dict[str, Any]:
        """A file at a commit or branch (the default branch without ``ref``), as GitHub does."""
        with self._lock:
            full_name = self._require_repository(owner, repo)
            commit = self._resolve(full_name, ref)
            if commit is None or path not in commit.tree:
                raise NotFoundError()
            data = commit.tree[path]
            ref = ref or self._repositories[full_name]["default_branch"]
        sha = git_blob_sha(data)
        quoted = quote(path, safe="/")
        self_url = f"{CANONICAL_API_URL}/repos/{full_name}/contents/{quoted}?ref={ref}"
        git_url = f"{CANONICAL_API_URL}/repos/{full_name}/git/blobs/{sha}"
        html_url = f"{CANONICAL_WEB_URL}/{full_name}/blob/{ref}/{quoted}"
        content = load_template("repos.get-content.response.200.response-if-content-is-a-file.json")
        too_large = len(data) > MAX_CONTENT_BYTES
        content.update(
            type="file",
            encoding="none" if too_large else "base64",
            size=len(data),
            name=path.rsplit("/", 1)[-1],
            path=path,
            content="" if too_large else wrapped_base64(data),
            sha=sha,
            url=self_url,
            git_url=git_url,
            html_url=html_url,
            download_url=f"https://raw.githubusercontent.com/{full_name}/{ref}/{quoted}",
            _links={"self": self_url, "git": git_url, "html": html_url},
        )
        return content

    def get_commit(self, owner: str, repo: str, ref: str) -> dict[str, Any]:
        with self._lock:
            full_name = self._require_repository(owner, repo)
            commit = self._resolve(full_name, ref)
            if commit is None:
                raise GitHubError(422, f"No commit found for SHA: {ref}")
            return self._commit_object(full_name, commit, with_files=True)

    def _commit_files(self, full_name: str, commit: Commit) -> list[dict[str, Any]]:
        """A commit's own changes: as seeded, or computed against its parent's tree."""
        if commit.files is not None:
            return copy.deepcopy(commit.files)
        parent = self._commits[full_name][commit.parents[0]]
        return [
            self._file_item(full_name, commit.sha, item, commit.tree)
            for item in changed_files(parent.tree, commit.tree)
        ]

    def _commit_object(self, full_name: str, commit: Commit, *, with_files: bool) -> dict[str, Any]:
        """GitHub's ``commit`` object; ``stats`` and ``files`` only where GitHub sends them."""
        api = f"{CANONICAL_API_URL}/repos/{full_name}"
        web = f"{CANONICAL_WEB_URL}/{full_name}"
        author = commit.author
        signature = {
            "name": author["login"],
            "email": f"{author['id']}+{author['login']}@users.noreply.github.com",
            "date": commit.date,
        }
        built = load_template("repos.get-commit.response.200.json")
        built.update(
            url=f"{api}/commits/{commit.sha}",
            sha=commit.sha,
            node_id=legacy_node_id("Commit", f"{self._repositories[full_name]['id']}:{commit.sha}"),
            html_url=f"{web}/commit/{commit.sha}",
            comments_url=f"{api}/commits/{commit.sha}/comments",
            author=author,
            committer=author,
            parents=[
                {
                    "url": f"{api}/commits/{parent}",
                    "sha": parent,
                    "html_url": f"{web}/commit/{parent}",
                }
                for parent in commit.parents
            ],
        )
        if with_files:
            files = self._commit_files(full_name, commit)
            built.update(
                stats={
                    "additions": sum(f["additions"] for f in files),
                    "deletions": sum(f["deletions"] for f in files),
                    "total": sum(f["changes"] for f in files),
                },
                files=files,
            )
        else:
            del built["stats"], built["files"]
        # The fake has no git trees; the tree id is derived from the commit so it is stable.
        tree_sha = hashlib.sha1(f"tree-of-{commit.sha}".encode(), usedforsecurity=False).hexdigest()
        built["commit"].update(
            url=f"{api}/git/commits/{commit.sha}",
            author=signature,
            committer=signature,
            message=commit.message,
            tree={"url": f"{api}/git/trees/{tree_sha}", "sha": tree_sha},
            comment_count=0,
        )
        return built

    def compare(
        self, owner: str, repo: str, basehead: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """``GET .../compare/{base}...{head}``: the comparison, and its commits to paginate.

        Like GitHub, commits that a force push left behind can still be compared (they
        answer ``diverged``); a ref the server never saw, or two histories with nothing in
        common, answer 404.
        """
        with self._lock:
            full_name = self._require_repository(owner, repo)
            base_ref, separator, head_ref = basehead.partition("...")
            if not separator:
                raise NotFoundError()
            base = self._resolve(full_name, _strip_owner(base_ref, owner))
            head = self._resolve(full_name, _strip_owner(head_ref, owner))
            if base is None or head is None:
                raise NotFoundError()
            commits = self._commits[full_name]
            merge = merge_base(commits, base.sha, head.sha)
            if merge is None:
                raise GitHubError(404, f"No common ancestor between {base_ref} and {head_ref}.")
            ahead = commits_between(commits, base.sha, head.sha)
            behind = commits_between(commits, head.sha, base.sha)
            status = (
                ("diverged" if behind else "ahead")
                if ahead
                else ("behind" if behind else "identical")
            )
            comparison = load_template("repos.compare-commits.response.200.json")
            api = f"{CANONICAL_API_URL}/repos/{full_name}"
            web = f"{CANONICAL_WEB_URL}/{full_name}"
            comparison.update(
                url=f"{api}/compare/{basehead}",
                html_url=f"{web}/compare/{basehead}",
                permalink_url=f"{web}/compare/{owner}:{base.sha}...{owner}:{head.sha}",
                diff_url=f"{web}/compare/{basehead}.diff",
                patch_url=f"{web}/compare/{basehead}.patch",
                base_commit=self._commit_object(full_name, base, with_files=False),
                merge_base_commit=self._commit_object(full_name, commits[merge], with_files=False),
                status=status,
                ahead_by=len(ahead),
                behind_by=len(behind),
                total_commits=len(ahead),
                files=self._compared_files(full_name, commits[merge], head),
            )
            listed = [
                self._commit_object(full_name, commits[sha], with_files=False) for sha in ahead
            ]
            return comparison, listed

    def _compared_files(self, full_name: str, merge: Commit, head: Commit) -> list[dict[str, Any]]:
        """Files changed from the merge base to the head (three-dot), as GitHub lists them.

        From a pull request's base to one of its heads that is exactly the pull request's
        files at that head (seeded or computed); otherwise the trees are compared.
        """
        for (name, _), record in self._pulls.items():
            if (
                name == full_name
                and record.pull["base"]["sha"] == merge.sha
                and head.sha in record.heads
            ):
                return copy.deepcopy(record.heads[head.sha].files[:MAX_COMPARE_FILES])
        entries = changed_files(merge.tree, head.tree)
        return [
            self._file_item(full_name, head.sha, item, head.tree)
            for item in entries[:MAX_COMPARE_FILES]
        ]

    # -- reviews and review comments ------------------------------------------------------------

    def list_reviews(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        with self._lock:
            record = self._record(owner, repo, number)
            return [self._public(review) for review in _of_pull(self._reviews, record)]

    def get_review(self, owner: str, repo: str, number: int, review_id: int) -> dict[str, Any]:
        with self._lock:
            return self._public(self._review(self._record(owner, repo, number), review_id))

    def _review(self, record: PullRecord, review_id: int) -> dict[str, Any]:
        review = self._reviews.get(review_id)
        if review is None or review["_pull"] != _pull_key(record):
            raise NotFoundError()
        return review

    def create_review(
        self, owner: str, repo: str, number: int, payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``POST .../reviews``: all-or-nothing, as on GitHub (one bad comment fails the lot)."""
        with self._lock:
            record = self._record(owner, repo, number)
            event = payload.get("event")
            if event is not None and event not in REVIEW_EVENTS:
                raise invalid_request(
                    f"For 'properties/event', {json.dumps(event)} is not a member of "
                    f"{json.dumps(list(REVIEW_EVENTS))}."
                )
            commit_id = payload.get("commit_id") or record.pull["head"]["sha"]
            head = record.heads.get(commit_id)
            if head is None:
                raise unprocessable(f"No commit found for SHA: {commit_id}")
            comments = payload.get("comments") or []
            if not isinstance(comments, list):
                raise invalid_request("For 'properties/comments', the value is not an array.")
            resolved = [resolve_review_comment(head.diffs, comment) for comment in comments]
            body = payload.get("body") or ""
            if event in ("REQUEST_CHANGES", "COMMENT") and not body and not resolved:
                raise unprocessable("Review body can't be blank")
            if any(
                r["state"] == "PENDING" and r["_pull"] == _pull_key(record)
                for r in self._reviews.values()
            ):
                raise unprocessable("User can only have one pending review per pull request")

            review_id = self._new_id()
            api = f"{CANONICAL_API_URL}/repos/{record.full_name}"
            web = f"{CANONICAL_WEB_URL}/{record.full_name}"
            html = f"{web}/pull/{number}#pullrequestreview-{review_id}"
            review = load_template("pulls.create-review.response.200.json")
            review.update(
                id=review_id,
                node_id=legacy_node_id("PullRequestReview", review_id),
                user=self.bot,
                body=body,
                state=REVIEW_EVENTS[event] if event else "PENDING",
                html_url=html,
                pull_request_url=f"{api}/pulls/{number}",
                _links={"html": {"href": html}, "pull_request": {"href": f"{api}/pulls/{number}"}},
                submitted_at=github_timestamp(datetime.now(UTC)),
                commit_id=commit_id,
                author_association="NONE",
            )
            if not event:
                del review["submitted_at"]  # A pending review has not been submitted.
            review["_pull"] = _pull_key(record)
            self._reviews[review_id] = review
            for comment in resolved:
                self._add_review_comment(record, review_id, commit_id, comment)
            return self._public(review)

    def _add_review_comment(
        self, record: PullRecord, review_id: int, commit_id: str, comment: ResolvedComment
    ) -> None:
        comment_id = self._new_id()
        api = f"{CANONICAL_API_URL}/repos/{record.full_name}"
        pull_url = f"{api}/pulls/{record.number}"
        html = (
            f"{CANONICAL_WEB_URL}/{record.full_name}/pull/{record.number}#discussion_r{comment_id}"
        )
        now = github_timestamp(datetime.now(UTC))
        built = load_template("pulls.list-review-comments.response.200.json")[0]
        del built["in_reply_to_id"]  # Only replies have it.
        built.update(
            url=f"{api}/pulls/comments/{comment_id}",
            pull_request_review_id=review_id,
            id=comment_id,
            node_id=legacy_node_id("PullRequestReviewComment", comment_id),
            diff_hunk=comment.diff_hunk,
            path=comment.path,
            position=comment.end.position,
            original_position=comment.end.position,
            commit_id=commit_id,
            original_commit_id=commit_id,
            user=self.bot,
            body=comment.body,
            created_at=now,
            updated_at=now,
            html_url=html,
            pull_request_url=pull_url,
            author_association="NONE",
            _links={
                "self": {"href": f"{api}/pulls/comments/{comment_id}"},
                "html": {"href": html},
                "pull_request": {"href": pull_url},
            },
            start_line=comment.start_line,
            original_start_line=comment.start_line,
            start_side=comment.start_side,
            line=comment.line,
            original_line=comment.line,
            side=comment.side,
            subject_type="line",
        )
        built["_pull"] = _pull_key(record)
        self._review_comments[comment_id] = built

    def update_review(
        self, owner: str, repo: str, number: int, review_id: int, payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            review = self._review(self._record(owner, repo, number), review_id)
            body = payload.get("body")
            if not isinstance(body, str):
                raise invalid_request('"body" wasn\'t supplied.')
            review["body"] = body
            return self._public(review)

    def dismiss_review(
        self, owner: str, repo: str, number: int, review_id: int, payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``PUT .../reviews/{id}/dismissals``: only approvals and change requests can be."""
        with self._lock:
            review = self._review(self._record(owner, repo, number), review_id)
            if not isinstance(payload.get("message"), str):
                raise invalid_request('"message" wasn\'t supplied.')
            event = payload.get("event", "DISMISS")
            if event != "DISMISS":
                raise invalid_request(
                    f"For 'properties/event', {json.dumps(event)} is not a member of [\"DISMISS\"]."
                )
            state = review["state"]
            if state not in ("APPROVED", "CHANGES_REQUESTED"):
                kind = {"COMMENTED": "commented"}.get(state, state.lower())
                raise GitHubError(
                    422, "Validation Failed", [f"Can not dismiss a {kind} pull request review"]
                )
            review["state"] = "DISMISSED"
            return self._public(review)

    def list_review_comments_for_review(
        self, owner: str, repo: str, number: int, review_id: int
    ) -> list[dict[str, Any]]:
        with self._lock:
            self._review(self._record(owner, repo, number), review_id)
            return [
                self._public(c)
                for c in self._review_comments.values()
                if c["pull_request_review_id"] == review_id
            ]

    def list_pull_review_comments(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        with self._lock:
            return [
                self._public(c)
                for c in self._visible_review_comments(self._record(owner, repo, number))
            ]

    def _visible_review_comments(self, record: PullRecord) -> list[dict[str, Any]]:
        # Comments of a pending review are its author's draft: GitHub lists them only with
        # their review.
        return [
            c
            for c in _of_pull(self._review_comments, record)
            if self._reviews[c["pull_request_review_id"]]["state"] != "PENDING"
        ]

    def delete_review_comment(self, owner: str, repo: str, comment_id: int) -> None:
        with self._lock:
            comment = self._review_comments.get(comment_id)
            if comment is None or not comment["_pull"].startswith(f"{owner}/{repo}#"):
                raise NotFoundError()
            del self._review_comments[comment_id]

    # -- commit statuses ------------------------------------------------------------------------

    def create_status(
        self, owner: str, repo: str, sha: str, payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            full_name = self._require_repository(owner, repo)
            state = payload.get("state")
            if state is None:
                raise invalid_request('"state" wasn\'t supplied.')
            if state not in STATUS_STATES:
                raise invalid_request(
                    f"For 'properties/state', {json.dumps(state)} is not a member of "
                    f"{json.dumps(list(STATUS_STATES))}."
                )
            description = payload.get("description")
            if isinstance(description, str) and len(description) > MAX_STATUS_DESCRIPTION:
                raise GitHubError(
                    422,
                    "Validation Failed",
                    [
                        {
                            "resource": "Status",
                            "code": "custom",
                            "field": "description",
                            "message": "description is too long (maximum is 140 characters)",
                        }
                    ],
                )
            commit = self._resolve(full_name, sha)
            if commit is None or commit.sha != sha:
                raise GitHubError(422, f"No commit found for SHA: {sha}")
            status_id = self._new_id()
            now = github_timestamp(datetime.now(UTC))
            status = load_template("repos.create-commit-status.response.201.json")
            status.update(
                url=f"{CANONICAL_API_URL}/repos/{full_name}/statuses/{sha}",
                avatar_url=self.bot["avatar_url"],
                id=status_id,
                node_id=legacy_node_id("Status", status_id),
                state=state,
                description=description,
                target_url=payload.get("target_url"),
                context=payload.get("context") or "default",
                created_at=now,
                updated_at=now,
                creator=self.bot,
            )
            status["_ref"] = f"{full_name}@{sha}"
            self._statuses.append(status)
            return self._public(status)

    def _statuses_for(
        self, owner: str, repo: str, ref: str
    ) -> tuple[str, str, list[dict[str, Any]]]:
        """Statuses of a ref (SHA or head branch), newest first."""
        full_name = self._require_repository(owner, repo)
        commit = self._resolve(full_name, ref)
        sha = commit.sha if commit is not None else ref
        found = [s for s in reversed(self._statuses) if s["_ref"] == f"{full_name}@{sha}"]
        return full_name, sha, found

    def list_statuses(self, owner: str, repo: str, ref: str) -> list[dict[str, Any]]:
        with self._lock:
            return [self._public(s) for s in self._statuses_for(owner, repo, ref)[2]]

    def combined_status(self, owner: str, repo: str, ref: str) -> dict[str, Any]:
        with self._lock:
            full_name, sha, statuses = self._statuses_for(owner, repo, ref)
            if self._resolve(full_name, ref) is None:
                raise NotFoundError()
            latest: dict[str, dict[str, Any]] = {}
            for status in statuses:  # newest first: the first per context wins
                latest.setdefault(status["context"], status)
            states = {s["state"] for s in latest.values()}
            if states & {"error", "failure"}:
                combined_state = "failure"
            elif not states or "pending" in states:
                combined_state = "pending"
            else:
                combined_state = "success"
            repository = self._pulls_repository(full_name)
        combined = load_template("repos.get-combined-status-for-ref.response.200.json")
        combined.update(
            state=combined_state,
            statuses=[
                {k: v for k, v in self._public(s).items() if k != "creator"}
                for s in latest.values()
            ],
            sha=sha,
            total_count=len(latest),
            repository=repository,
            commit_url=f"{CANONICAL_API_URL}/repos/{full_name}/commits/{sha}",
            url=f"{CANONICAL_API_URL}/repos/{full_name}/commits/{sha}/status",
        )
        return combined

    def _pulls_repository(self, full_name: str) -> dict[str, Any]:
        record = next(r for (name, _), r in self._pulls.items() if name == full_name)
        return copy.deepcopy(record.pull["base"]["repo"])

    # -- issue comments -------------------------------------------------------------------------

    def list_issue_comments(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        with self._lock:
            record = self._record(owner, repo, number)
            return [self._public(c) for c in _of_pull(self._issue_comments, record)]

    def create_issue_comment(
        self, owner: str, repo: str, number: int, payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            record = self._record(owner, repo, number)
            body = payload.get("body")
            if not isinstance(body, str):
                raise invalid_request('"body" wasn\'t supplied.')
            return self._new_issue_comment(record, body, self.bot, "NONE")

    def _new_issue_comment(
        self, record: PullRecord, body: str, author: dict[str, Any], association: str
    ) -> dict[str, Any]:
        comment_id = self._new_id()
        api = f"{CANONICAL_API_URL}/repos/{record.full_name}"
        web = f"{CANONICAL_WEB_URL}/{record.full_name}"
        now = github_timestamp(datetime.now(UTC))
        comment = load_template("issues.create-comment.response.201.json")
        comment.update(
            id=comment_id,
            node_id=legacy_node_id("IssueComment", comment_id),
            url=f"{api}/issues/comments/{comment_id}",
            html_url=f"{web}/pull/{record.number}#issuecomment-{comment_id}",
            body=body,
            user=author,
            created_at=now,
            updated_at=now,
            issue_url=f"{api}/issues/{record.number}",
            author_association=association,
        )
        comment["_pull"] = _pull_key(record)
        self._issue_comments[comment_id] = comment
        return self._public(comment)

    def get_issue_comment(self, owner: str, repo: str, comment_id: int) -> dict[str, Any]:
        with self._lock:
            return self._public(self._issue_comment(owner, repo, comment_id))

    def _issue_comment(self, owner: str, repo: str, comment_id: int) -> dict[str, Any]:
        comment = self._issue_comments.get(comment_id)
        if comment is None or not comment["_pull"].startswith(f"{owner}/{repo}#"):
            raise NotFoundError()
        return comment

    def update_issue_comment(
        self, owner: str, repo: str, comment_id: int, payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            comment = self._issue_comment(owner, repo, comment_id)
            body = payload.get("body")
            if not isinstance(body, str):
                raise invalid_request('"body" wasn\'t supplied.')
            comment.update(body=body, updated_at=github_timestamp(datetime.now(UTC)))
            return self._public(comment)

    # -- reactions ----------------------------------------------------------------------------

    def create_reaction(
        self, owner: str, repo: str, comment_id: int, payload: Mapping[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """React to an issue comment; ``False`` when the same reaction already existed (200)."""
        with self._lock:
            self._issue_comment(owner, repo, comment_id)
            content = payload.get("content")
            if content is None:
                raise invalid_request('"content" wasn\'t supplied.')
            if content not in REACTIONS:
                raise invalid_request(
                    f"For 'properties/content', {json.dumps(content)} is not a member of "
                    f"{json.dumps(list(REACTIONS))}."
                )
            for reaction in self._reactions.values():
                if (
                    reaction["_comment"] == comment_id
                    and reaction["content"] == content
                    and reaction["user"]["id"] == self.bot["id"]
                ):
                    return self._public(reaction), False
            reaction_id = self._new_id()
            reaction = load_template("reactions.create-for-issue-comment.response.201.json")
            reaction.update(
                id=reaction_id,
                node_id=legacy_node_id("Reaction", reaction_id),
                user=self.bot,
                content=content,
                created_at=github_timestamp(datetime.now(UTC)),
            )
            reaction["_comment"] = comment_id
            self._reactions[reaction_id] = reaction
            return self._public(reaction), True

    # -- labels -------------------------------------------------------------------------------

    def list_issue_labels(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        with self._lock:
            return self._label_objects(self._record(owner, repo, number))

    def add_issue_labels(
        self, owner: str, repo: str, number: int, payload: Any
    ) -> list[dict[str, Any]]:
        """``POST .../issues/{n}/labels``: every body form GitHub takes; answers all labels."""
        with self._lock:
            record = self._record(owner, repo, number)
            return self._add_labels(record, _label_names(payload))

    def _add_labels(self, record: PullRecord, names: list[str]) -> list[dict[str, Any]]:
        labels = self._labels.setdefault(record.full_name, {})
        for name in names:
            if name.lower() not in labels:  # GitHub creates a label it does not know yet
                label_id = self._new_id()
                labels[name.lower()] = {
                    "id": label_id,
                    "node_id": legacy_node_id("Label", label_id),
                    "url": f"{CANONICAL_API_URL}/repos/{record.full_name}/labels/"
                    + quote(name, safe=""),
                    "name": name,
                    "description": None,
                    "color": "ededed",
                    "default": False,
                }
            if name.lower() not in (known.lower() for known in record.labels):
                record.labels.append(labels[name.lower()]["name"])
        return self._label_objects(record)

    def _label_objects(self, record: PullRecord) -> list[dict[str, Any]]:
        labels = self._labels.get(record.full_name, {})
        return [copy.deepcopy(labels[name.lower()]) for name in record.labels]

    # -- collaborators --------------------------------------------------------------------------

    def collaborator_permission(self, owner: str, repo: str, username: str) -> dict[str, Any]:
        """A user's role on a repository, with the legacy ``permission`` GitHub derives from it.

        The repository's owner is an admin; anyone else without a role reads a public
        repository (``read``) and has ``none`` on a private one, as on GitHub.
        """
        with self._lock:
            full_name = self._require_repository(owner, repo)
            if username.lower() == owner.lower():
                role = "admin"
            else:
                default = "read" if self._is_public(full_name) else "none"
                role = self._roles.get(full_name, {}).get(username.lower(), default)
            user = self._user(username, self._user_id(username))
        rank = ROLES.index(role)
        user.update(
            permissions={
                name: rank >= ROLES.index(needed)
                for name, needed in (
                    ("admin", "admin"),
                    ("maintain", "maintain"),
                    ("push", "write"),
                    ("triage", "triage"),
                    ("pull", "read"),
                )
            },
            role_name=role,
        )
        answer = load_template("repos.get-collaborator-permission-level.response.200.json")
        answer.update(permission=LEGACY_PERMISSIONS[role], role_name=role, user=user)
        return answer

    # -- check runs -----------------------------------------------------------------------------

    def create_check_run(
        self, owner: str, repo: str, payload: Mapping[str, Any], app_id: int
    ) -> dict[str, Any]:
        """``POST .../check-runs``: an App's check run on a commit."""
        with self._lock:
            full_name = self._require_repository(owner, repo)
            for required in ("name", "head_sha"):
                if not isinstance(payload.get(required), str):
                    raise invalid_request(f'"{required}" wasn\'t supplied.')
            head_sha = payload["head_sha"]
            commit = self._resolve(full_name, head_sha)
            if commit is None or commit.sha != head_sha:
                raise GitHubError(422, f"No commit found for SHA: {head_sha}")
            changes = _check_run_changes(payload)
            run_id = self._new_id()
            now = github_timestamp(datetime.now(UTC))
            suite_key = (full_name, head_sha, app_id)
            suite_id = self._check_suites.setdefault(suite_key, self._new_id())
            api = f"{CANONICAL_API_URL}/repos/{full_name}"
            run = load_template("checks.create.response.201.example-of-in-progress-conclusion.json")
            run.update(
                id=run_id,
                head_sha=head_sha,
                node_id=legacy_node_id("CheckRun", run_id),
                external_id=payload.get("external_id") or "",
                url=f"{api}/check-runs/{run_id}",
                html_url=f"{CANONICAL_WEB_URL}/{full_name}/runs/{run_id}",
                details_url=payload.get("details_url"),
                status="queued",
                conclusion=None,
                started_at=now,
                completed_at=None,
                output={
                    "title": None,
                    "summary": None,
                    "text": None,
                    "annotations_count": 0,
                    "annotations_url": f"{api}/check-runs/{run_id}/annotations",
                },
                name=payload["name"],
                check_suite={"id": suite_id},
                app=self._integration(app_id),
                pull_requests=self._check_run_pulls(full_name, head_sha),
            )
            run["_ref"], run["_annotations"] = full_name, []
            self._apply_check_run_changes(run, changes, now)
            self._check_runs[run_id] = run
            return self._public(run)

    def update_check_run(
        self, owner: str, repo: str, check_run_id: int, payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``PATCH .../check-runs/{id}``: new annotations are added to the earlier ones."""
        with self._lock:
            run = self._check_run(owner, repo, check_run_id)
            changes = _check_run_changes(payload)
            if isinstance(payload.get("name"), str):
                run["name"] = payload["name"]
            for key in ("details_url", "external_id"):
                if key in payload:
                    run[key] = payload[key]
            self._apply_check_run_changes(run, changes, github_timestamp(datetime.now(UTC)))
            return self._public(run)

    def get_check_run(self, owner: str, repo: str, check_run_id: int) -> dict[str, Any]:
        with self._lock:
            return self._public(self._check_run(owner, repo, check_run_id))

    def list_check_run_annotations(
        self, owner: str, repo: str, check_run_id: int
    ) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._check_run(owner, repo, check_run_id)["_annotations"])

    def list_check_runs_for_ref(
        self, owner: str, repo: str, ref: str, query: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """Check runs of a commit, newest first; by default only the latest run of each name."""
        with self._lock:
            full_name = self._require_repository(owner, repo)
            commit = self._resolve(full_name, ref)
            if commit is None:
                raise NotFoundError()
            runs = [
                run
                for run in reversed(self._check_runs.values())
                if run["_ref"] == full_name
                and run["head_sha"] == commit.sha
                and query.get("check_name", run["name"]) == run["name"]
                and query.get("status", run["status"]) == run["status"]
            ]
            if query.get("filter", "latest") == "latest":
                newest: dict[str, dict[str, Any]] = {}
                for run in runs:
                    newest.setdefault(run["name"], run)
                runs = list(newest.values())
            return [self._public(run) for run in runs]

    def _check_run(self, owner: str, repo: str, check_run_id: int) -> dict[str, Any]:
        run = self._check_runs.get(check_run_id)
        if run is None or run["_ref"] != f"{owner}/{repo}":
            raise NotFoundError()
        return run

    def _apply_check_run_changes(
        self, run: dict[str, Any], changes: Mapping[str, Any], now: str
    ) -> None:
        # GitHub: giving a conclusion completes the run.
        if changes.get("conclusion") is not None:
            run.update(status="completed", conclusion=changes["conclusion"])
        elif changes.get("status") is not None:
            run["status"] = changes["status"]
        if "started_at" in changes:
            run["started_at"] = changes["started_at"]
        if run["status"] == "completed":
            run["completed_at"] = changes.get("completed_at") or run["completed_at"] or now
        output = changes.get("output")
        if output is not None:
            for key in ("title", "summary", "text"):
                if key in output:
                    run["output"][key] = output[key]
            for annotation in output.get("annotations") or []:
                run["_annotations"].append(
                    self._annotation(run["_ref"], run["head_sha"], annotation)
                )
            run["output"]["annotations_count"] = len(run["_annotations"])

    @staticmethod
    def _annotation(full_name: str, head_sha: str, given: Mapping[str, Any]) -> dict[str, Any]:
        path = str(given["path"])
        return {
            "path": path,
            "start_line": given["start_line"],
            "end_line": given["end_line"],
            "start_column": given.get("start_column"),
            "end_column": given.get("end_column"),
            "annotation_level": given["annotation_level"],
            "title": given.get("title"),
            "message": given["message"],
            "raw_details": given.get("raw_details"),
            "blob_href": f"{CANONICAL_WEB_URL}/{full_name}/blob/{head_sha}/{quote(path, safe='/')}",
        }

    def _check_run_pulls(self, full_name: str, head_sha: str) -> list[dict[str, Any]]:
        """The ``pull_requests`` of a check run: open pull requests whose head is the commit."""
        pulls = []
        for (name, number), record in self._pulls.items():
            if name != full_name or record.pull["head"]["sha"] != head_sha:
                continue
            repo = record.pull["base"]["repo"]
            short_repo = {"id": repo["id"], "url": repo["url"], "name": repo["name"]}
            pulls.append(
                {
                    "url": record.pull["url"],
                    "id": record.pull["id"],
                    "number": number,
                    "head": {
                        "ref": record.pull["head"]["ref"],
                        "sha": head_sha,
                        "repo": short_repo,
                    },
                    "base": {
                        "ref": record.pull["base"]["ref"],
                        "sha": record.pull["base"]["sha"],
                        "repo": short_repo,
                    },
                }
            )
        return pulls

    # -- GitHub Apps ----------------------------------------------------------------------------

    def authenticate(self, credential: str) -> Principal:
        """Who a credential that is not the plain token belongs to, or GitHub's refusal."""
        with self._lock:
            now = self._clock()
            if looks_like_jwt(credential):
                app = verify_app_jwt(credential, self._apps, now)
                return Principal("app", app_id=app.app_id)
            issued = self._tokens.get(token_digest(credential))
            if issued is None or issued.expires_at <= now:
                raise AuthError(401, "Bad credentials")
            installation = self._installations[issued.installation_id]
            return Principal(
                "installation",
                app_id=installation.app_id,
                installation_id=installation.installation_id,
                repositories=issued.repositories,
            )

    def repository_visible(self, owner: str, repo: str) -> bool:
        """Whether a repository exists and is public (so outsiders get 403 rather than 404)."""
        with self._lock:
            full_name = f"{owner}/{repo}"
            return full_name in self._repositories and self._is_public(full_name)

    def get_repo_installation(self, owner: str, repo: str, app_id: int) -> dict[str, Any]:
        with self._lock:
            full_name = f"{owner}/{repo}"
            for installation in self._installations.values():
                if installation.app_id == app_id and full_name in installation.repositories:
                    return self._installation_object(installation)
            raise NotFoundError()

    def get_installation(self, installation_id: int, app_id: int) -> dict[str, Any]:
        with self._lock:
            return self._installation_object(self._installation(installation_id, app_id))

    def create_installation_token(
        self, installation_id: int, app_id: int, payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``POST /app/installations/{id}/access_tokens``: a new token, kept only as a digest."""
        with self._lock:
            installation = self._installation(installation_id, app_id)
            try:
                permissions = narrowed_permissions(
                    installation.permissions, payload.get("permissions")
                )
                repositories = narrowed_repositories(installation, payload.get("repositories"))
            except AuthError as refused:
                raise GitHubError(refused.status, refused.message) from None
            token = new_installation_token()
            expires_at = self._clock() + self.installation_token_ttl
            self._tokens[token_digest(token)] = IssuedToken(
                installation_id, expires_at, repositories, permissions
            )
            installation.tokens_issued += 1
            answer = load_template("apps.create-installation-access-token.response.201.json")
            answer.update(
                token=token,
                expires_at=github_timestamp(datetime.fromtimestamp(expires_at, UTC)),
                permissions=permissions,
                repository_selection="selected",
            )
            if payload.get("repositories") is None:
                del answer["repositories"]  # GitHub lists them only when they were asked for
            else:
                answer["repositories"] = [
                    copy.deepcopy(self._repositories[name])
                    for name in sorted(repositories)
                    if name in self._repositories
                ]
            return answer

    def get_app(self, app_id: int) -> dict[str, Any]:
        """``GET /app``: the App a JWT authenticates as."""
        with self._lock:
            return self._integration(app_id)

    def list_installations(self, app_id: int) -> list[dict[str, Any]]:
        """``GET /app/installations``: the App's installations, oldest first."""
        with self._lock:
            return [
                self._installation_object(installation)
                for installation in self._installations.values()
                if installation.app_id == app_id
            ]

    def _installation(self, installation_id: int, app_id: int) -> Installation:
        installation = self._installations.get(installation_id)
        if installation is None or installation.app_id != app_id:
            raise NotFoundError()
        return installation

    def _installation_object(self, installation: Installation) -> dict[str, Any]:
        app = self._apps[installation.app_id]
        account_login = installation.repositories[0].split("/", 1)[0]
        known = next(
            (
                repo["owner"]
                for name, repo in self._repositories.items()
                if name.split("/", 1)[0] == account_login
            ),
            None,
        )
        account = copy.deepcopy(known) or self._user(account_login, self._user_id(account_login))
        built = load_template("apps.get-repo-installation.response.200.json")
        built.update(
            id=installation.installation_id,
            account=account,
            repository_selection="selected",
            access_tokens_url=(
                f"{CANONICAL_API_URL}/app/installations/{installation.installation_id}"
                "/access_tokens"
            ),
            html_url=(f"{CANONICAL_WEB_URL}/settings/installations/{installation.installation_id}"),
            app_id=app.app_id,
            client_id=f"Iv1.{app.app_id:016x}",
            target_id=account["id"],
            target_type=account["type"],
            permissions=dict(installation.permissions),
            events=list(app.events),
            single_file_name=None,
            has_multiple_single_files=False,
            single_file_paths=[],
            app_slug=app.slug,
        )
        return built

    def _integration(self, app_id: int) -> dict[str, Any]:
        """The ``app`` object of a check run."""
        app = self._apps[app_id]
        built = load_template("checks.create.response.201.example-of-in-progress-conclusion.json")[
            "app"
        ]
        owner = self._user(app.slug, self._user_id(app.slug), "Organization")
        built.update(
            id=app.app_id,
            slug=app.slug,
            node_id=legacy_node_id("Integration", app.app_id),
            owner=owner,
            name=app.slug,
            description="",
            external_url=f"{CANONICAL_WEB_URL}/apps/{app.slug}",
            html_url=f"{CANONICAL_WEB_URL}/apps/{app.slug}",
            permissions=dict(app.permissions),
            events=list(app.events),
        )
        return built

    # -- requests, faults and the rate limit --------------------------------------------------

    def record_request(self, method: str, path: str, query: str, status: int) -> None:
        with self._lock:
            self._requests.append(
                {"method": method, "path": path, "query": query, "status": status}
            )

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first fault matching this request, counted down (and dropped when used up)."""
        with self._lock:
            for fault in self._faults:
                if not fault.matches(method, path):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                else:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def consume_rate_limit(self) -> tuple[bool, RateLimit]:
        """Count one authenticated request; ``False`` when the hourly budget is spent."""
        with self._lock:
            now = int(time.time())
            if now >= self._rate_reset:
                self._rate_used, self._rate_reset = 0, now + 3600
            allowed = self._rate_used < self._rate_limit
            if allowed:
                self._rate_used += 1
            return allowed, self.rate_limit()

    def rate_limit(self) -> RateLimit:
        with self._lock:
            remaining = max(0, self._rate_limit - self._rate_used)
            return RateLimit(self._rate_limit, remaining, self._rate_used, self._rate_reset)

    # -- the admin view -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything written so far, plus the request log (no headers, so no token).

        Reviews, statuses, issue comments, reactions and check runs are GitHub's objects with a
        few keys of the server's own added: ``repository`` and ``pull_number`` (or ``sha`` for
        a status, ``comment_id`` for a reaction), a review's ``comments`` and a check run's
        ``annotations``. Apps appear by id and slug with their installations and how many
        tokens each was issued: never a key or a token.
        """
        with self._lock:
            return {
                "pulls": [
                    {
                        "repository": record.full_name,
                        "number": record.number,
                        "head_sha": record.pull["head"]["sha"],
                        "base_sha": record.pull["base"]["sha"],
                        "files": len(record.head.files),
                        "commits": list(record.commits),
                        "state": record.pull["state"],
                        "merged": record.pull["merged"],
                        "labels": list(record.labels),
                    }
                    for record in self._pulls.values()
                ],
                "reviews": [
                    {
                        **self._public(review),
                        **_split_key(review["_pull"]),
                        "comments": [
                            self._public(c)
                            for c in self._review_comments.values()
                            if c["pull_request_review_id"] == review_id
                        ],
                    }
                    for review_id, review in self._reviews.items()
                ],
                "statuses": [
                    {
                        **self._public(status),
                        "repository": status["_ref"].split("@")[0],
                        "sha": status["_ref"].split("@")[1],
                    }
                    for status in self._statuses
                ],
                "issue_comments": [
                    {**self._public(comment), **_split_key(comment["_pull"])}
                    for comment in self._issue_comments.values()
                ],
                "reactions": [
                    {**self._public(reaction), "comment_id": reaction["_comment"]}
                    for reaction in self._reactions.values()
                ],
                "check_runs": [
                    {
                        **self._public(run),
                        "repository": run["_ref"],
                        "annotations": copy.deepcopy(run["_annotations"]),
                    }
                    for run in self._check_runs.values()
                ],
                "permissions": {full_name: dict(roles) for full_name, roles in self._roles.items()},
                "apps": [
                    {
                        "app_id": app.app_id,
                        "slug": app.slug,
                        "installations": [
                            {
                                "id": installation.installation_id,
                                "repositories": list(installation.repositories),
                                "permissions": dict(installation.permissions),
                                "tokens_issued": installation.tokens_issued,
                            }
                            for installation in self._installations.values()
                            if installation.app_id == app.app_id
                        ],
                    }
                    for app in self._apps.values()
                ],
                "faults": [fault.describe() for fault in self._faults],
                "requests": copy.deepcopy(self._requests),
            }

    @staticmethod
    def _public(stored: Mapping[str, Any]) -> dict[str, Any]:
        """A stored object without the store's own bookkeeping keys (``_pull``, ``_ref``, …)."""
        return copy.deepcopy({k: v for k, v in stored.items() if k not in _BOOKKEEPING_KEYS})


def _pull_links(full_name: str, number: int, head_sha: str) -> dict[str, Any]:
    """The URL fields of a pull request object, in GitHub's key order."""
    api = f"{CANONICAL_API_URL}/repos/{full_name}"
    web = f"{CANONICAL_WEB_URL}/{full_name}"
    return {
        "url": f"{api}/pulls/{number}",
        "html_url": f"{web}/pull/{number}",
        "diff_url": f"{web}/pull/{number}.diff",
        "patch_url": f"{web}/pull/{number}.patch",
        "issue_url": f"{api}/issues/{number}",
        "commits_url": f"{api}/pulls/{number}/commits",
        "review_comments_url": f"{api}/pulls/{number}/comments",
        "review_comment_url": f"{api}/pulls/comments{{/number}}",
        "comments_url": f"{api}/issues/{number}/comments",
        "statuses_url": f"{api}/statuses/{head_sha}",
        "_links": {
            "self": {"href": f"{api}/pulls/{number}"},
            "html": {"href": f"{web}/pull/{number}"},
            "issue": {"href": f"{api}/issues/{number}"},
            "comments": {"href": f"{api}/issues/{number}/comments"},
            "review_comments": {"href": f"{api}/pulls/{number}/comments"},
            "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
            "commits": {"href": f"{api}/pulls/{number}/commits"},
            "statuses": {"href": f"{api}/statuses/{head_sha}"},
        },
    }


def _pull_key(record: PullRecord) -> str:
    return f"{record.full_name}#{record.number}"


def _of_pull(objects: Mapping[int, dict[str, Any]], record: PullRecord) -> list[dict[str, Any]]:
    """The stored objects (reviews, comments) that belong to one pull request, oldest first."""
    key = _pull_key(record)
    return [obj for obj in objects.values() if obj["_pull"] == key]


def _split_key(key: str) -> dict[str, Any]:
    full_name, number = key.rsplit("#", 1)
    return {"repository": full_name, "pull_number": int(number)}


def _blobs(contents: Mapping[str, bytes | str]) -> dict[str, bytes]:
    return {
        path: data.encode("utf-8") if isinstance(data, str) else bytes(data)
        for path, data in contents.items()
    }


def _diffs(files: Sequence[Mapping[str, Any]]) -> dict[str, FileDiff]:
    return {item["filename"]: FileDiff.parse(item.get("patch")) for item in files}


def _strip_owner(ref: str, owner: str) -> str | None:
    """A compare side: ``ref`` or ``owner:ref`` of this repository (forks are not modelled)."""
    if ":" not in ref:
        return ref
    ref_owner, _, name = ref.partition(":")
    return name if ref_owner.lower() == owner.lower() else None


def _label_names(payload: Any) -> list[str]:
    """Label names from any body ``POST .../labels`` accepts (names, ``{"name"}`` objects, or
    either under ``labels``)."""
    items = payload.get("labels") if isinstance(payload, dict) else payload
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, list) or not items:
        raise invalid_request("For 'labels', the value is not an array of labels.")
    names = []
    for item in items:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name:
            raise invalid_request(f"For 'items', {json.dumps(item)} is not a label.")
        names.append(name)
    return names


def _check_run_changes(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The validated writable fields of a check-run request, or GitHub's 422."""
    changes: dict[str, Any] = {}
    status = payload.get("status")
    if status is not None:
        if status not in CHECK_STATUSES:
            raise invalid_request(
                f"For 'properties/status', {json.dumps(status)} is not a member of "
                f"{json.dumps(list(CHECK_STATUSES))}."
            )
        changes["status"] = status
    conclusion = payload.get("conclusion")
    if conclusion is not None:
        if conclusion not in CHECK_CONCLUSIONS:
            raise invalid_request(
                f"For 'properties/conclusion', {json.dumps(conclusion)} is not a member of "
                f"{json.dumps(list(CHECK_CONCLUSIONS))}."
            )
        changes["conclusion"] = conclusion
    elif status == "completed" or payload.get("completed_at") is not None:
        # GitHub's docs: conclusion is "required if you provide completed_at or a status of
        # completed" (the wording of the error is the server's own).
        raise invalid_request('"conclusion" wasn\'t supplied.')
    for key in ("started_at", "completed_at"):
        if payload.get(key) is not None:
            changes[key] = payload[key]
    output = payload.get("output")
    if output is not None:
        changes["output"] = _check_run_output(output)
    return changes


def _check_run_output(output: Any) -> dict[str, Any]:
    if not isinstance(output, dict):
        raise invalid_request("For 'properties/output', the value is not an object.")
    for required in ("title", "summary"):
        if not isinstance(output.get(required), str):
            raise invalid_request(f'"{required}" wasn\'t supplied.')
    for key in ("summary", "text"):
        text = output.get(key)
        if isinstance(text, str) and len(text) > MAX_CHECK_OUTPUT_CHARS:
            raise invalid_request(
                f"Only {MAX_CHECK_OUTPUT_CHARS} characters are allowed; {len(text)} were supplied."
            )
    annotations = output.get("annotations") or []
    if not isinstance(annotations, list):
        raise invalid_request("For 'properties/annotations', the value is not an array.")
    if len(annotations) > MAX_ANNOTATIONS_PER_REQUEST:
        raise invalid_request(
            f"No more than {MAX_ANNOTATIONS_PER_REQUEST} items are allowed; "
            f"{len(annotations)} were supplied."
        )
    for annotation in annotations:
        if not isinstance(annotation, dict):
            raise invalid_request("For 'items', the value is not an annotation.")
        for required in ("path", "start_line", "end_line", "annotation_level", "message"):
            if annotation.get(required) is None:
                raise invalid_request(f'"{required}" wasn\'t supplied.')
        if annotation["annotation_level"] not in ANNOTATION_LEVELS:
            raise invalid_request(
                f"For 'properties/annotation_level', {json.dumps(annotation['annotation_level'])}"
                f" is not a member of {json.dumps(list(ANNOTATION_LEVELS))}."
            )
    return dict(output)
