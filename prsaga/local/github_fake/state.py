"""The store's state and what every part of it shares: ids, users, repository objects and
lookups. The HTTP server runs on its own thread while tests read a snapshot from theirs, so
every public method takes the one lock.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from prsaga.local.github_fake.apps import (
    DEFAULT_TOKEN_TTL_SECONDS,
    App,
    Installation,
    IssuedToken,
)
from prsaga.local.github_fake.gitdata import (
    Commit,
)
from prsaga.local.github_fake.objects import (
    BOOKKEEPING_KEYS,
    CANONICAL_WEB_URL,
    TEMPLATE_FULL_NAME,
    TEMPLATE_LOGIN,
    NotFoundError,
    deep_merge,
    legacy_node_id,
    load_template,
    replace_in_strings,
)
from prsaga.local.github_fake.records import Fault, PullRecord


class StoreState:
    """Everything the local GitHub knows and everything written to it, behind one lock."""

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

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    @staticmethod
    def _user(login: str, user_id: int, user_type: str = "User") -> dict[str, Any]:
        user = load_template("pulls.get.response.200.json")["user"]
        user = replace_in_strings(user, f"/{TEMPLATE_LOGIN}", f"/{quote(login, safe='')}")
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
        repo = replace_in_strings(template, TEMPLATE_FULL_NAME, full_name)
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

    @staticmethod
    def _public(stored: Mapping[str, Any]) -> dict[str, Any]:
        """A stored object without the store's own bookkeeping keys (``_pull``, ``_ref``, …)."""
        return copy.deepcopy({k: v for k, v in stored.items() if k not in BOOKKEEPING_KEYS})
