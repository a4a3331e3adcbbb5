"""A local GitHub-compatible REST server, for the tests and the offline demo.

prsaga talks to GitHub only through PyGithub; pointing PyGithub's ``base_url`` at this server
gives it the same shapes, statuses, headers and error bodies as api.github.com for the endpoints
prsaga uses (``SERVED_OPERATIONS``), checked against GitHub's OpenAPI description by
``tests/test_github_fake_contract.py``. It is a real HTTP server (starlette + uvicorn) over
in-memory state::

    fake = FakeGitHub(token="t0ken")
    fake.seed_pull_request(pull, files, contents)
    with serve_in_thread(fake) as base_url:
        gh = github.Github(base_url=base_url, auth=github.Auth.Token("t0ken"))
        ...
    fake.state()["reviews"]

Or from a shell: ``python -m prsaga.github_fake --port 8765 --seed demo`` (token from
``$PRSAGA_GITHUB_TOKEN``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette

from prsaga.github_fake.app import SERVED_OPERATIONS, ServedOperation, build_app, parse_fault
from prsaga.github_fake.store import FileDiff, Store, git_blob_sha

__all__ = [
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
        token: The only credential the server accepts (``token <T>`` or ``Bearer <T>``).
        bot_login: Who the token belongs to: the author of every review, comment and status.
        rate_limit: Requests allowed per hour before the server answers 403 like GitHub.
    """

    def __init__(
        self, token: str, *, bot_login: str = DEFAULT_BOT_LOGIN, rate_limit: int = 5000
    ) -> None:
        if not token:
            raise ValueError("the local GitHub server needs a token to check requests against")
        self.store = Store(bot_login=bot_login, rate_limit=rate_limit)
        self.app: Starlette = build_app(self.store, token)

    def __repr__(self) -> str:
        # Never the token.
        return f"FakeGitHub(bot_login={self.store.bot['login']!r})"

    @property
    def bot_user(self) -> dict[str, Any]:
        """The ``type: "Bot"`` user the token belongs to."""
        return dict(self.store.bot)

    def seed_pull_request(
        self,
        pull: Mapping[str, Any],
        files: Sequence[Mapping[str, Any]],
        contents: Mapping[str, bytes | str],
    ) -> dict[str, Any]:
        """Add a pull request, its changed files and the file contents at its head.

        ``pull`` is a pull request object (as ``GET /repos/{o}/{r}/pulls/{n}`` returns), whole
        or partial: it needs ``number``, ``head.sha``, ``base.sha`` and
        ``base.repo.full_name``; GitHub's example fills the rest. ``files`` are items of
        ``GET .../pulls/{n}/files`` (``filename``, ``status``, counts, ``patch``); a missing
        ``sha`` is computed from the content. Seeding the same pull request again moves it to
        a new head, as a push does, and keeps what was written to it.

        Returns:
            The pull request object as the server now serves it (canonical GitHub URLs).
        """
        return self.store.seed_pull_request(pull, files, contents)

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
        """Everything written (reviews with their comments, statuses, issue comments), the
        seeded pull requests, pending faults and the request log. URLs are GitHub's canonical
        ones; ``GET /_fake/state`` serves the same with this server's URLs."""
        return self.store.snapshot()


@contextmanager
def serve_in_thread(
    fake: FakeGitHub, host: str = "127.0.0.1", port: int = 0, *, startup_timeout: float = 10.0
) -> Iterator[str]:
    """Run ``fake`` with uvicorn on a background thread; yield its base URL; stop it on exit.

    ``port=0`` picks a free port.
    """
    config = uvicorn.Config(
        fake.app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="github-fake", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the local GitHub server did not start on {host}:{port}")
        time.sleep(0.01)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    try:
        yield f"http://{shown_host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=startup_timeout)
