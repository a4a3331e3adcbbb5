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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

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


def git_blob_sha(data: bytes) -> str:
    """The git object id of a blob with this content (what GitHub calls a file's ``sha``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


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
# Deliberately independent of prsaga.diff: this server plays GitHub, so a bug in prsaga's parser
# must surface here as GitHub's 422, not be mirrored. It also needs what GitHub has and prsaga
# does not (legacy ``position`` numbers and ``diff_hunk``).


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
    """A head commit of a pull request: its diff against the base, and its file contents."""

    sha: str
    parent_sha: str
    files: list[dict[str, Any]]
    diffs: dict[str, FileDiff]
    message: str
    author: dict[str, Any]
    date: str


@dataclass
class PullRecord:
    """A seeded pull request and every head it has had (re-seeding is a ``synchronize``)."""

    full_name: str
    number: int
    pull: dict[str, Any]
    heads: dict[str, HeadCommit] = field(default_factory=dict)

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

    def __init__(self, *, bot_login: str, rate_limit: int) -> None:
        self._lock = threading.RLock()
        self._next_id = 1_000_001
        # One counter for every kind of object: a review id passed where a comment id is
        # expected then finds nothing, as it would on GitHub.
        self._repositories: dict[str, dict[str, Any]] = {}
        self._pulls: dict[tuple[str, int], PullRecord] = {}
        self._contents: dict[tuple[str, str], dict[str, bytes]] = {}
        self._reviews: dict[int, dict[str, Any]] = {}
        self._review_comments: dict[int, dict[str, Any]] = {}
        self._statuses: list[dict[str, Any]] = []
        self._issue_comments: dict[int, dict[str, Any]] = {}
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
        blobs = {
            path: data.encode("utf-8") if isinstance(data, str) else bytes(data)
            for path, data in contents.items()
        }
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
            if record is None:
                record = PullRecord(full_name, number, built)
                self._pulls[(full_name, number)] = record
            else:
                record.pull = built
            record.heads[head_sha] = HeadCommit(
                sha=head_sha,
                parent_sha=base_sha,
                files=file_items,
                diffs={item["filename"]: FileDiff.parse(item.get("patch")) for item in file_items},
                message=str(built["title"]),
                author=built["user"],
                date=built["updated_at"],
            )
            self._contents[(full_name, head_sha)] = blobs
            return copy.deepcopy(built)

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

    def _find_head(self, full_name: str, ref: str) -> HeadCommit | None:
        """A head commit of any pull request of the repository, by SHA or head branch name."""
        for (name, _), record in self._pulls.items():
            if name != full_name:
                continue
            if ref in record.heads:
                return record.heads[ref]
            if record.pull["head"]["ref"] == ref:
                return record.head
        return None

    # -- repositories, pulls, files, contents, commits ------------------------------------------

    def get_repository(self, owner: str, repo: str) -> dict[str, Any]:
        with self._lock:
            full_name = self._require_repository(owner, repo)
            repository = copy.deepcopy(self._repositories[full_name])
            open_pulls = sum(1 for name, _ in self._pulls if name == full_name)
            repository["open_issues_count"] = repository["open_issues"] = open_pulls
            return repository

    def get_pull(self, owner: str, repo: str, number: int) -> dict[str, Any]:
        with self._lock:
            record = self._record(owner, repo, number)
            pull = copy.deepcopy(record.pull)
            pull["comments"] = len(_of_pull(self._issue_comments, record))
            pull["review_comments"] = len(self._visible_review_comments(record))
            return pull

    def list_pull_files(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        with self._lock:
            record = self._record(owner, repo, number)
            return copy.deepcopy(record.head.files[:MAX_PULL_FILES])

    def get_content(self, owner: str, repo: str, path: str, ref: str | None) -> dict[str, Any]:
        with self._lock:
            full_name = self._require_repository(owner, repo)
            head = self._find_head(full_name, ref) if ref else None
            blobs = self._contents.get((full_name, head.sha)) if head else None
            if blobs is None or path not in blobs:
                raise NotFoundError()
            data = blobs[path]
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
            head = self._find_head(full_name, ref)
            if head is None:
                raise GitHubError(422, f"No commit found for SHA: {ref}")
            files = copy.deepcopy(head.files)
        api = f"{CANONICAL_API_URL}/repos/{full_name}"
        web = f"{CANONICAL_WEB_URL}/{full_name}"
        author = head.author
        signature = {
            "name": author["login"],
            "email": f"{author['id']}+{author['login']}@users.noreply.github.com",
            "date": head.date,
        }
        commit = load_template("repos.get-commit.response.200.json")
        commit.update(
            url=f"{api}/commits/{head.sha}",
            sha=head.sha,
            node_id=legacy_node_id("Commit", f"{self._repositories[full_name]['id']}:{head.sha}"),
            html_url=f"{web}/commit/{head.sha}",
            comments_url=f"{api}/commits/{head.sha}/comments",
            author=author,
            committer=author,
            parents=[
                {
                    "url": f"{api}/commits/{head.parent_sha}",
                    "sha": head.parent_sha,
                    "html_url": f"{web}/commit/{head.parent_sha}",
                }
            ],
            stats={
                "additions": sum(f["additions"] for f in files),
                "deletions": sum(f["deletions"] for f in files),
                "total": sum(f["changes"] for f in files),
            },
            files=files,
        )
        # The fake has no git trees; the tree id is derived from the commit so it is stable.
        tree_sha = hashlib.sha1(f"tree-of-{head.sha}".encode(), usedforsecurity=False).hexdigest()
        commit["commit"].update(
            url=f"{api}/git/commits/{head.sha}",
            author=signature,
            committer=signature,
            message=head.message,
            tree={"url": f"{api}/git/trees/{tree_sha}", "sha": tree_sha},
            comment_count=0,
        )
        return commit

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
            head = self._find_head(full_name, sha)
            if head is None or head.sha != sha:
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
        head = self._find_head(full_name, ref)
        sha = head.sha if head is not None else ref
        found = [s for s in reversed(self._statuses) if s["_ref"] == f"{full_name}@{sha}"]
        return full_name, sha, found

    def list_statuses(self, owner: str, repo: str, ref: str) -> list[dict[str, Any]]:
        with self._lock:
            return [self._public(s) for s in self._statuses_for(owner, repo, ref)[2]]

    def combined_status(self, owner: str, repo: str, ref: str) -> dict[str, Any]:
        with self._lock:
            full_name, sha, statuses = self._statuses_for(owner, repo, ref)
            if self._find_head(full_name, ref) is None:
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
            comment_id = self._new_id()
            api = f"{CANONICAL_API_URL}/repos/{record.full_name}"
            now = github_timestamp(datetime.now(UTC))
            comment = load_template("issues.create-comment.response.201.json")
            comment.update(
                id=comment_id,
                node_id=legacy_node_id("IssueComment", comment_id),
                url=f"{api}/issues/comments/{comment_id}",
                html_url=f"{CANONICAL_WEB_URL}/{record.full_name}/pull/{number}#issuecomment-{comment_id}",
                body=body,
                user=self.bot,
                created_at=now,
                updated_at=now,
                issue_url=f"{api}/issues/{number}",
                author_association="NONE",
            )
            comment["_pull"] = _pull_key(record)
            self._issue_comments[comment_id] = comment
            return self._public(comment)

    def update_issue_comment(
        self, owner: str, repo: str, comment_id: int, payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            comment = self._issue_comments.get(comment_id)
            if comment is None or not comment["_pull"].startswith(f"{owner}/{repo}#"):
                raise NotFoundError()
            body = payload.get("body")
            if not isinstance(body, str):
                raise invalid_request('"body" wasn\'t supplied.')
            comment.update(body=body, updated_at=github_timestamp(datetime.now(UTC)))
            return self._public(comment)

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

        Reviews, statuses and issue comments are GitHub's objects with a few keys of the
        server's own added: ``repository`` and ``pull_number`` (or ``sha`` for a status), and a
        review's ``comments``.
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
                "faults": [fault.describe() for fault in self._faults],
                "requests": copy.deepcopy(self._requests),
            }

    @staticmethod
    def _public(stored: Mapping[str, Any]) -> dict[str, Any]:
        """A stored object without the store's own bookkeeping keys (``_pull``, ``_ref``)."""
        return copy.deepcopy({k: v for k, v in stored.items() if k not in ("_pull", "_ref")})


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
