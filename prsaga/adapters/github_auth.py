"""GitHub credentials: a personal or fine-grained token, or a GitHub App's installation tokens.

Settings choose: with ``github_app_id`` and a private key (``github_app_private_key`` or
``github_app_private_key_path``) prsaga authenticates as the App, otherwise with
``github_token``. As an App it signs a short JWT with the private key and exchanges it for an
installation token of the installation that owns the repository; PyGithub's
``AppInstallationAuth`` fetches that token on first use and fetches a new one shortly before it
expires (its ``token`` property checks ``expires_at`` on every request). The installation id
comes from the webhook payload, else ``github_app_installation_id``, else it is looked up per
repository (``GET /repos/{owner}/{repo}/installation``, cached for a few minutes).

One ``AppInstallationAuth`` is kept per App installation and process, so that every client built
for it shares one token until it is refreshed. Keys and tokens stay inside these objects: they
are never logged, put into exceptions, or handed to workflows.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from github import Auth, GithubIntegration
from temporalio.exceptions import ApplicationError

from prsaga.runtime.config import Settings

logger = logging.getLogger(__name__)
K = TypeVar("K")
V = TypeVar("V")

APP_PERMISSIONS: dict[str, str] = {
    "checks": "write",
    "contents": "read",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
    "statuses": "write",
}
"""What prsaga does as an App: read code, review and comment, set statuses and check runs (what
``prsaga app create`` asks for and ``prsaga doctor`` checks)."""
REPO_INSTALLATION_TTL_SECONDS = 300.0
"""How long a repository's installation id, looked up from GitHub, is reused."""
MAX_CACHED = 256
"""Bound of each cache (installations of one App across many repositories)."""


@dataclass(frozen=True)
class _AppKey:
    """What identifies one App configuration (the key only as a digest)."""

    api_url: str
    app_id: int
    key_digest: str


_lock = threading.Lock()
_installation_auths: dict[tuple[_AppKey, int], Auth.AppInstallationAuth] = {}
_repo_installations: dict[tuple[_AppKey, str], tuple[int, float]] = {}


def not_configured(message: str) -> ApplicationError:
    """The non-retryable error for credentials that are missing or unusable."""
    return ApplicationError(message, type="GitHubNotConfigured", non_retryable=True)


def uses_app(settings: Settings) -> bool:
    """Whether prsaga authenticates as a GitHub App (so it can write check runs)."""
    has_key = (
        settings.github_app_private_key is not None
        or settings.github_app_private_key_path is not None
    )
    return settings.github_app_id is not None and has_key


def github_auth(
    settings: Settings,
    installation_id: int | None = None,
    *,
    repo_full_name: str | None = None,
) -> Auth.Auth:
    """The PyGithub auth the settings ask for.

    Args:
        settings: ``github_app_id`` with a private key selects the App, else
            ``github_token`` is used.
        installation_id: The App installation to act as (from the webhook payload).
        repo_full_name: ``OWNER/REPO`` whose installation is looked up when no installation
            id is given or configured.

    Raises:
        ApplicationError: ``GitHubNotConfigured`` (non-retryable) when there are no
            credentials, the App settings are incomplete, the private key is unusable, or no
            installation can be found.
        github.GithubException: When looking the installation up fails at GitHub
            (``make_github`` classifies it).
    """
    app_settings = (
        settings.github_app_id,
        settings.github_app_private_key,
        settings.github_app_private_key_path,
    )
    if any(setting is not None for setting in app_settings):
        # Half an App configuration is a mistake to report, not a reason to fall back to a
        # token that acts as someone else.
        if not uses_app(settings):
            raise not_configured(
                "incomplete GitHub App settings: set both PRSAGA_GITHUB_APP_ID and "
                "PRSAGA_GITHUB_APP_PRIVATE_KEY (or PRSAGA_GITHUB_APP_PRIVATE_KEY_PATH)"
            )
        return _installation_auth(settings, installation_id, repo_full_name)
    if settings.github_token is not None:
        return Auth.Token(settings.github_token.get_secret_value())
    raise not_configured(
        "no GitHub credentials: set PRSAGA_GITHUB_TOKEN (or GITHUB_TOKEN), or a GitHub App "
        "(PRSAGA_GITHUB_APP_ID and PRSAGA_GITHUB_APP_PRIVATE_KEY or "
        "PRSAGA_GITHUB_APP_PRIVATE_KEY_PATH)"
    )


def app_auth(settings: Settings) -> Auth.AppAuth:
    """The App's own auth (JWTs), for the App endpoints; see :func:`github_auth` for errors."""
    if not uses_app(settings):
        raise not_configured("no GitHub App configured (PRSAGA_GITHUB_APP_ID and a private key)")
    assert settings.github_app_id is not None  # uses_app checked it
    return Auth.AppAuth(settings.github_app_id, _private_key_pem(settings))


def github_integration(settings: Settings) -> GithubIntegration:
    """PyGithub's App client on the configured API (``base_url`` included, which PyGithub's
    default would point at api.github.com)."""
    return GithubIntegration(
        auth=app_auth(settings),
        base_url=settings.github_api_url.rstrip("/"),
        timeout=int(max(1, settings.github_timeout_seconds)),
        retry=None,
        seconds_between_requests=settings.github_min_request_interval or None,
        seconds_between_writes=settings.github_min_request_interval or None,
        lazy=True,
    )


def clear_auth_cache() -> None:
    """Forget cached installation auths and lookups (after rotating the App's key, in tests)."""
    with _lock:
        _installation_auths.clear()
        _repo_installations.clear()


def _installation_auth(
    settings: Settings, installation_id: int | None, repo_full_name: str | None
) -> Auth.AppInstallationAuth:
    pem = _private_key_pem(settings)
    assert settings.github_app_id is not None  # uses_app checked it
    app = _AppKey(
        settings.github_api_url.rstrip("/"),
        settings.github_app_id,
        hashlib.sha256(pem.encode()).hexdigest(),
    )
    installation = (
        installation_id if installation_id is not None else settings.github_app_installation_id
    )
    if installation is None:
        if repo_full_name is None:
            raise not_configured(
                "authenticating as a GitHub App needs an installation: pass the webhook's "
                "installation id, set PRSAGA_GITHUB_APP_INSTALLATION_ID, or name the repository"
            )
        installation = _repo_installation(settings, app, repo_full_name)
    with _lock:
        cached = _installation_auths.get((app, installation))
        if cached is None:
            cached = Auth.AppAuth(app.app_id, pem).get_installation_auth(installation)
            _remember(_installation_auths, (app, installation), cached)
        return cached


def _repo_installation(settings: Settings, app: _AppKey, repo_full_name: str) -> int:
    now = time.monotonic()
    with _lock:
        known = _repo_installations.get((app, repo_full_name))
    if known is not None and now - known[1] < REPO_INSTALLATION_TTL_SECONDS:
        return known[0]
    owner, _, repo = repo_full_name.partition("/")
    if not owner or not repo:
        raise not_configured(f"not a repository name: {repo_full_name!r} (expected OWNER/REPO)")
    installation_id = int(github_integration(settings).get_repo_installation(owner, repo).id)
    logger.info("GitHub App installation of %s is %d", repo_full_name, installation_id)
    with _lock:
        _remember(_repo_installations, (app, repo_full_name), (installation_id, now))
    return installation_id


def _remember(cache: dict[K, V], key: K, value: V) -> None:
    if len(cache) >= MAX_CACHED:
        cache.pop(next(iter(cache)))  # the oldest entry
    cache[key] = value


def _private_key_pem(settings: Settings) -> str:
    """The App's private key as PEM text, checked to be an RSA private key."""
    if settings.github_app_private_key is not None:
        pem = settings.github_app_private_key.get_secret_value()
        where = "PRSAGA_GITHUB_APP_PRIVATE_KEY"
    else:
        path = settings.github_app_private_key_path
        assert path is not None  # uses_app checked it
        where = str(path)
        try:
            pem = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or type(error).__name__
            raise not_configured(
                f"cannot read the GitHub App private key {where}: {reason}"
            ) from None
    if "\\n" in pem and "\n" not in pem.strip():
        pem = pem.replace("\\n", "\n")  # a key pasted into one line of a .env file
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        # Never chain the parser's error: it may quote the key.
        raise not_configured(
            f"the GitHub App private key in {where} is not a PEM private key"
        ) from None
    if not isinstance(key, RSAPrivateKey):
        raise not_configured(f"the GitHub App private key in {where} is not an RSA key")
    return pem
