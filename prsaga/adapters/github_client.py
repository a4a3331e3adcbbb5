"""One way to build a PyGithub client, and one way to classify what GitHub answers.

Temporal owns retries: PyGithub's own retry is turned off, and every GitHub failure becomes an
``ApplicationError`` that says whether retrying can help (5xx, timeouts, rate limits, with the
delay GitHub asks for) or not (bad token, missing pull request, invalid request).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta

import requests
from github import Auth, Github, GithubException
from github.NamedUser import NamedUser
from github.Organization import Organization
from temporalio.exceptions import ApplicationError

from prsaga.adapters.github_auth import github_auth, github_integration, uses_app
from prsaga.runtime.config import Settings

USER_AGENT = "prsaga/0.1 (+https://github.com/prsaga/prsaga)"
MAX_RATE_LIMIT_WAIT = timedelta(minutes=15)
"""Longest pause honoured from rate-limit headers; beyond it the retry policy's backoff applies."""


MAX_CLIENTS_PER_THREAD = 32
"""Clients each activity thread keeps (one per API and credentials: installations of one App)."""


class _ThreadClients(threading.local):
    """Each thread's clients, most recently used last. Per thread because a PyGithub client
    is not thread-safe (its connection object holds the request in flight as attributes), and
    the activity threads are a fixed pool, so a worker builds a handful of clients, not one
    (with its session, connection pool and, as an App, its token exchange client) per call."""

    def __init__(self) -> None:
        self.clients: OrderedDict[Hashable, Github] = OrderedDict()


_thread_clients = _ThreadClients()


def make_github(
    settings: Settings,
    installation_id: int | None = None,
    *,
    repo_full_name: str | None = None,
) -> Github:
    """A PyGithub client for the configured API, with retries left to Temporal.

    It authenticates with the token, or as the GitHub App's installation (``installation_id``
    from the webhook, else the configured one, else the one of ``repo_full_name``); see
    :func:`prsaga.adapters.github_auth.github_auth`. The calling thread's client for the same
    API and credentials is reused: an installation's auth is itself cached (one token, which
    PyGithub refreshes before it expires), so reusing its client keeps refreshing it.
    """
    with github_errors("authenticating to GitHub"):
        auth = github_auth(settings, installation_id, repo_full_name=repo_full_name)
    interval = settings.github_min_request_interval or None
    timeout = int(max(1, settings.github_timeout_seconds))
    base_url = settings.github_api_url.rstrip("/")
    key = (base_url, timeout, interval, _credentials_key(auth))
    clients = _thread_clients.clients
    client = clients.get(key)
    if client is None:
        client = Github(
            base_url=base_url,
            auth=auth,
            timeout=timeout,
            retry=None,
            user_agent=USER_AGENT,
            per_page=100,
            seconds_between_requests=interval,
            seconds_between_writes=interval,
            lazy=True,
        )
        clients[key] = client
        while len(clients) > MAX_CLIENTS_PER_THREAD:
            clients.popitem(last=False)[1].close()
    clients.move_to_end(key)
    return client


def _credentials_key(auth: Auth.Auth) -> Hashable:
    """What identifies the credentials: a digest of a plain token (a fresh ``Auth.Token`` per
    call), the auth object itself otherwise (``github_auth`` keeps one per installation)."""
    if isinstance(auth, Auth.Token):
        return ("token", hashlib.sha256(auth.token.encode()).hexdigest())
    return ("auth", auth)


class OwnIdentity:
    """Who prsaga is on GitHub: the author of everything it posts, the token's user
    (``GET /user``) or the App's bot (``<slug>[bot]``).

    The hidden markers that make posting idempotent, and that tell which findings are already
    commented, are trusted only on comments by this identity: anyone can paste a copy of a
    marker into a comment of their own. Asked once per agent object (it cannot change while
    the process runs with the same credentials); concurrent first calls may both ask.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._login: str | None = None

    def login(self, gh: Github, repo_full_name: str) -> str:
        """prsaga's login (compare with :func:`authored_by`); GitHub's failures are classified
        like any call's (a token GitHub will not name, such as an installation token passed as
        a plain token, is a non-retryable 403: use a personal access token or the App)."""
        if self._login is None:
            with github_errors("asking GitHub which account prsaga posts as"):
                if uses_app(self._settings):
                    owner, repo = repo_full_name.split("/")
                    installation = github_integration(self._settings).get_repo_installation(
                        owner, repo
                    )
                    self._login = f"{installation.app_slug}[bot]"
                else:
                    self._login = gh.get_user().login
        return self._login


def authored_by(author: NamedUser | Organization | None, login: str) -> bool:
    """Whether ``author`` (a comment's or a review's ``user``) is ``login``; GitHub's logins
    are case-insensitive."""
    return author is not None and author.login.lower() == login.lower()


def classify_github_error(
    status: int,
    headers: Mapping[str, str],
    message: str,
    *,
    doing: str,
    now: float | None = None,
) -> ApplicationError:
    """Turn a GitHub answer into a retryable or non-retryable ``ApplicationError``.

    Args:
        status: HTTP status GitHub answered.
        headers: Response headers (case-insensitive lookups are done here).
        message: GitHub's ``message`` field, if any.
        doing: What prsaga was doing, for the error text (``"fetching psf/requests#1"``).
        now: Current UNIX time, for ``x-ratelimit-reset``; injectable for tests.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    detail = f"GitHub answered {status} {message or ''}".strip()
    text = f"{doing}: {detail}"
    rate_limited = status == 429 or (
        status == 403 and ("retry-after" in lower or lower.get("x-ratelimit-remaining") == "0")
    )
    if rate_limited:
        return ApplicationError(
            f"{text} (rate limited)",
            type="GitHubRateLimited",
            next_retry_delay=_rate_limit_delay(lower, time.time() if now is None else now),
        )
    if status >= 500:
        return ApplicationError(text, type="GitHubServerError")
    kinds = {
        400: ("GitHubBadRequest", "the request was malformed"),
        401: ("GitHubUnauthorized", "check the token (PRSAGA_GITHUB_TOKEN) or App credentials"),
        403: ("GitHubForbidden", "the token lacks a permission this step needs"),
        404: ("GitHubNotFound", "the repository or pull request does not exist or is not visible"),
        422: ("GitHubUnprocessable", "GitHub refused the request as invalid"),
    }
    error_type, hint = kinds.get(status, ("GitHubBadRequest", "the request was refused"))
    return ApplicationError(f"{text}: {hint}", type=error_type, non_retryable=True)


def _rate_limit_delay(lower_headers: Mapping[str, str], now: float) -> timedelta | None:
    """The pause GitHub asks for: ``retry-after`` seconds, else until ``x-ratelimit-reset``."""
    seconds: float | None = None
    if (retry_after := lower_headers.get("retry-after", "")).isdigit():
        seconds = float(retry_after)
    elif (reset := lower_headers.get("x-ratelimit-reset", "")).isdigit():
        seconds = max(1.0, float(reset) - now)
    if seconds is None:
        return None
    return min(timedelta(seconds=seconds), MAX_RATE_LIMIT_WAIT)


@contextmanager
def github_errors(doing: str) -> Iterator[None]:
    """Re-raise PyGithub and network failures as classified ``ApplicationError``s."""
    try:
        yield
    except GithubException as err:
        message = err.data.get("message", "") if isinstance(err.data, dict) else ""
        raise classify_github_error(
            err.status, err.headers or {}, str(message), doing=doing
        ) from err
    except (requests.Timeout, requests.ConnectionError) as err:
        raise ApplicationError(
            f"{doing}: GitHub did not answer ({type(err).__name__})", type="GitHubUnavailable"
        ) from err
