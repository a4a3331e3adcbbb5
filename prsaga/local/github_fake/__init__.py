"""A local GitHub-compatible REST server, for the tests and the offline demo.

prsaga talks to GitHub only through PyGithub; pointing PyGithub's ``base_url`` at this server
gives it the same shapes, statuses, headers and error bodies as api.github.com for the endpoints
prsaga uses (``SERVED_OPERATIONS``), checked against GitHub's OpenAPI description by
``tests/local/test_github_fake_contract.py``. It is a real HTTP server (starlette + uvicorn) over
in-memory state::

    fake = FakeGitHub(token="t0ken")
    fake.seed_pull_request(pull, files, contents)
    with serve_in_thread(fake) as base_url:
        gh = github.Github(base_url=base_url, auth=github.Auth.Token("t0ken"))
        ...
    fake.state()["reviews"]

A pull request's life is driven from the test: ``push`` (new commits, force pushes; review
comments follow their lines or become outdated), ``close``/``reopen``, ``set_labels``,
``add_issue_comment`` (a user's ``/agent`` command), ``set_permission`` (collaborator roles).
``register_app`` adds a GitHub App by its public key: its JWTs open the App endpoints and its
installation tokens the API (check runs are for Apps only, as on GitHub)::

    fake.register_app(42, public_key_pem, {7: ["acme/widgets"]})
    auth = github.Auth.AppAuth(42, private_key_pem).get_installation_auth(7)
    gh = github.Github(base_url=base_url, auth=auth)

Or from a shell: ``python -m prsaga.local.github_fake --port 8765 --seed demo`` (token from
``$PRSAGA_GITHUB_TOKEN``; ``--app-id``, ``--app-public-key`` and ``--installation`` register an
App).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette

from prsaga.local.github_fake.app import SERVED_OPERATIONS, ServedOperation, build_app, parse_fault
from prsaga.local.github_fake.apps import DEFAULT_APP_PERMISSIONS, DEFAULT_TOKEN_TTL_SECONDS
from prsaga.local.github_fake.gitdata import git_blob_sha
from prsaga.local.github_fake.review_lines import FileDiff
from prsaga.local.github_fake.store import Store
from prsaga.local.serving import serve_app_in_thread

__all__ = [
    "DEFAULT_APP_PERMISSIONS",
    "DEFAULT_BOT_LOGIN",
    "SERVED_OPERATIONS",
    "FakeGitHub",
    "FileDiff",
    "ServedOperation",
    "git_blob_sha",
    "serve_in_thread",
]

DEFAULT_BOT_LOGIN = "prsaga[bot]"


class FakeGitHub:
    """The server's state (``store``) and its ASGI application (``app``).

    Args:
        token: The plain token the server accepts (``token <T>`` or ``Bearer <T>``), like a
            personal access token; ``None`` to accept only GitHub App credentials (see
            :meth:`register_app`).
        bot_login: Who the token belongs to: the author of every review, comment and status.
        rate_limit: Requests allowed per hour before the server answers 403 like GitHub.
        clock: UNIX time for JWT checks and installation token expiry (tests move it on).
        installation_token_ttl: Seconds an installation token lives (GitHub: one hour).
        token_scopes: The classic token's scopes, sent as ``X-OAuth-Scopes`` by ``GET /user``
            (``None``: a fine-grained token, for which GitHub sends none).
    """

    def __init__(
        self,
        token: str | None,
        *,
        bot_login: str = DEFAULT_BOT_LOGIN,
        rate_limit: int = 5000,
        clock: Callable[[], float] = time.time,
        installation_token_ttl: float = DEFAULT_TOKEN_TTL_SECONDS,
        token_scopes: str | None = "repo",
    ) -> None:
        if token is not None and not token:
            raise ValueError("the local GitHub server needs a token to check requests against")
        self.store = Store(
            bot_login=bot_login,
            rate_limit=rate_limit,
            clock=clock,
            installation_token_ttl=installation_token_ttl,
        )
        self.app: Starlette = build_app(self.store, token, token_scopes=token_scopes)

    def __repr__(self) -> str:
        # Never the token.
        return f"FakeGitHub(bot_login={self.store.bot['login']!r})"

    @property
    def installation_token_ttl(self) -> float:
        """Seconds a new installation token lives; set it to shorten the next ones."""
        return self.store.installation_token_ttl

    @installation_token_ttl.setter
    def installation_token_ttl(self, seconds: float) -> None:
        self.store.installation_token_ttl = seconds

    @property
    def bot_user(self) -> dict[str, Any]:
        """The ``type: "Bot"`` user the token belongs to."""
        return dict(self.store.bot)

    def seed_pull_request(
        self,
        pull: Mapping[str, Any],
        files: Sequence[Mapping[str, Any]],
        contents: Mapping[str, bytes | str],
        *,
        base_contents: Mapping[str, bytes | str] | None = None,
    ) -> dict[str, Any]:
        """Add a pull request, its changed files and the file contents at its head.

        ``pull`` is a pull request object (as ``GET /repos/{o}/{r}/pulls/{n}`` returns), whole
        or partial: it needs ``number``, ``head.sha``, ``base.sha`` and
        ``base.repo.full_name``; GitHub's example fills the rest. ``files`` are items of
        ``GET .../pulls/{n}/files`` (``filename``, ``status``, counts, ``patch``); a missing
        ``sha`` is computed from the content. ``base_contents`` are files of the base commit
        (``base.sha``, and the base branch ``base.ref``, ``main`` by default), such as
        ``.github/prsaga.yml``; the head's tree is the base's with ``contents`` on top.
        Seeding the same pull request again moves it to a new head, as a force push does, and
        keeps what was written to it.

        Returns:
            The pull request object as the server now serves it (canonical GitHub URLs).
        """
        return self.store.seed_pull_request(pull, files, contents, base_contents=base_contents)

    def push(
        self,
        owner: str,
        repo: str,
        number: int,
        files: Sequence[Mapping[str, Any]] | None = None,
        contents: Mapping[str, bytes | str | None] | None = None,
        *,
        force: bool = False,
        message: str | None = None,
    ) -> str:
        """Push a new commit to a seeded pull request's branch, as ``git push`` would.

        The new commit's tree is the old head's with ``contents`` on top (``None`` deletes a
        file). Its parent is the old head, or, with ``force``, the base commit (the old
        history is rewritten, but its commits stay readable and comparable, as on GitHub).
        ``files`` is the pull request's new file list (items of ``GET .../pulls/{n}/files``);
        when ``None`` it is computed from the base contents and the new tree, with patches.
        Review comments follow their lines to the new head, or become outdated
        (``position``/``line`` ``null``) when the push changed or removed them.

        Returns:
            The new head SHA (also the pull request's ``head.sha`` from now on).
        """
        return self.store.push(owner, repo, number, files, contents, force=force, message=message)

    def close(self, owner: str, repo: str, number: int, *, merged: bool = False) -> dict[str, Any]:
        """Close a pull request (``merged`` sets ``merged``, ``merged_at`` and
        ``merge_commit_sha``); returns the pull request object."""
        return self.store.close_pull_request(owner, repo, number, merged=merged)

    def reopen(self, owner: str, repo: str, number: int) -> dict[str, Any]:
        """Reopen a pull request closed without merging; returns the pull request object."""
        return self.store.reopen_pull_request(owner, repo, number)

    def set_labels(
        self, owner: str, repo: str, number: int, labels: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Replace a pull request's labels (new names become repository labels, as on
        GitHub); returns the label objects."""
        return self.store.set_labels(owner, repo, number, labels)

    def set_permission(self, repo: str, login: str, permission: str) -> None:
        """Give ``login`` a role on ``repo`` (``OWNER/NAME``): ``admin``, ``maintain``,
        ``write``, ``triage``, ``read`` or ``none``.

        ``GET .../collaborators/{login}/permission`` then answers ``role_name`` = the role and
        GitHub's legacy ``permission`` (maintain reads as ``write``, triage as ``read``).
        Without a role the repository's owner is ``admin`` and anyone else ``read`` (``none``
        on a private repository), as on GitHub.
        """
        self.store.set_permission(repo, login, permission)

    def add_issue_comment(
        self,
        owner: str,
        repo: str,
        number: int,
        body: str,
        *,
        login: str,
        user_type: str = "User",
    ) -> dict[str, Any]:
        """A comment on the pull request written by ``login`` (not the bot): what a user's
        ``/agent approve`` is before its webhook arrives. Returns the comment object (its
        ``id`` takes reactions)."""
        return self.store.add_issue_comment(
            owner, repo, number, body, login=login, user_type=user_type
        )

    def add_review(
        self, owner: str, repo: str, number: int, payload: Mapping[str, Any], *, login: str
    ) -> dict[str, Any]:
        """A review written by ``login`` (not the bot), with ``payload`` as ``POST .../reviews``
        takes it (``body``, ``event``, inline ``comments``). Returns the review object."""
        return self.store.create_review(owner, repo, number, payload, login=login)

    def register_app(
        self,
        app_id: int,
        public_key_pem: str | bytes,
        installations: Mapping[int, Sequence[str]],
        *,
        slug: str = "prsaga",
        permissions: Mapping[str, str] | None = None,
        events: Sequence[str] | None = None,
    ) -> None:
        """Register a GitHub App by its RSA public key, with its installations.

        ``installations`` maps an installation id to the repositories (``OWNER/NAME``) it was
        given. The App's JWTs then open ``GET /repos/{o}/{r}/installation``, ``GET
        /app/installations/{id}`` and ``POST /app/installations/{id}/access_tokens``, and the
        installation tokens those return open the API for those repositories until they
        expire. ``permissions`` defaults to what prsaga needs (``DEFAULT_APP_PERMISSIONS``),
        ``events`` (what ``GET /app`` lists) to ``DEFAULT_APP_EVENTS``. An App can also be
        created through GitHub's manifest flow (``POST /settings/apps/new``, then
        ``POST /app-manifests/{code}/conversions``), as ``prsaga app create`` does.
        """
        self.store.register_app(
            app_id, public_key_pem, installations, slug=slug, permissions=permissions, events=events
        )

    def inject_fault(
        self,
        status: int,
        path_regex: str,
        *,
        method: str | None = None,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        skip: int = 0,
        after_handling: bool = False,
    ) -> None:
        """Answer requests matching ``method`` (any if ``None``) and ``path_regex`` with
        ``status``, as ``POST /_fake/faults`` does.

        Args:
            times: How many matching requests get the fault.
            headers: Response headers, e.g. ``{"x-ratelimit-remaining": "0"}``.
            body: JSON body (GitHub's error body for the status if ``None``), or a string
                sent as HTML (a proxy's error page).
            skip: Matching requests to let through first.
            after_handling: Handle the request (its writes happen), then answer with the fault:
                the answer is lost after GitHub did the work.
        """
        spec = {
            "status": status,
            "path_regex": path_regex,
            "method": method,
            "times": times,
            "headers": dict(headers or {}),
            "body": body,
            "skip": skip,
            "after_handling": after_handling,
        }
        self.store.add_fault(parse_fault(spec))

    def clear_faults(self) -> None:
        """Drop every fault not yet used up."""
        self.store.clear_faults()

    def state(self) -> dict[str, Any]:
        """Everything written (reviews with their comments, statuses, issue comments,
        reactions, check runs), the seeded pull requests (with their commits, state and
        labels), roles, Apps (never keys or tokens), pending faults and the request log. URLs
        are GitHub's canonical ones; ``GET /_fake/state`` serves the same with this server's
        URLs."""
        return self.store.snapshot()


@contextmanager
def serve_in_thread(
    fake: FakeGitHub, host: str = "127.0.0.1", port: int = 0, *, startup_timeout: float = 10.0
) -> Iterator[str]:
    """Run ``fake`` with uvicorn on a background thread; yield its base URL; stop it on exit.

    ``port=0`` picks a free port.
    """
    with serve_app_in_thread(
        fake.app,
        name="the local GitHub server",
        host=host,
        port=port,
        startup_timeout=startup_timeout,
    ) as url:
        yield url
