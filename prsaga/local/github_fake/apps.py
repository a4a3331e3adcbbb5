"""GitHub Apps on the local GitHub server: JWT checks, installations and installation tokens.

An App signs a short-lived JWT (RS256, ``iss`` = its id) with its private key; the server checks
it with the App's public key, as GitHub does, and answers the App endpoints. An installation
token (``ghs_…``, one hour by default) then opens the API for the installation's repositories
only. Tokens are kept as SHA-256 digests, so neither the store nor its snapshot ever holds one,
and no key leaves the registry.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from prsaga.adapters.github_auth import APP_PERMISSIONS

MAX_JWT_LIFETIME_SECONDS = 600
"""GitHub refuses a JWT whose ``exp`` is more than ten minutes ahead."""
DEFAULT_TOKEN_TTL_SECONDS = 3600.0
DEFAULT_APP_PERMISSIONS: dict[str, str] = dict(APP_PERMISSIONS)
"""What prsaga's App asks for; an installation grants these by default."""
DEFAULT_APP_EVENTS: tuple[str, ...] = (
    "check_run",
    "issue_comment",
    "pull_request",
    "pull_request_review",
)
"""The webhook events of an App registered without naming its own."""
_LEVELS = {"read": 1, "write": 2, "admin": 3}
_TOKEN_ALPHABET = string.ascii_letters + string.digits

# GitHub's answers, word for word (sources in templates/PROVENANCE.md).
JWT_UNDECODABLE = "A JSON web token could not be decoded"
JWT_EXPIRED = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at "
    "which the assertion expires"
)
JWT_TOO_LONG = "'Expiration time' claim ('exp') is too far in the future"
JWT_ISSUED_LATER = (
    "'Issued at' claim ('iat') must be an Integer representing the time that the assertion "
    "was issued"
)
INTEGRATION_NOT_FOUND = "Integration not found"
PERMISSIONS_NOT_GRANTED = "The permissions requested are not granted to this installation."
REPOSITORIES_NOT_ACCESSIBLE = (
    "There is at least one repository that does not exist or is not accessible to the parent "
    "installation."
)


class AuthError(Exception):
    """A refused credential: the status and ``message`` GitHub answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Principal:
    """Who a request authenticates as."""

    kind: Literal["token", "app", "installation", "anonymous"]
    app_id: int | None = None
    installation_id: int | None = None
    repositories: frozenset[str] = frozenset()
    """Full names an installation token may use (empty for the other kinds)."""


TOKEN_PRINCIPAL = Principal("token")
ANONYMOUS = Principal("anonymous")
"""A request without credentials, to an operation GitHub serves to anyone."""


@dataclass
class App:
    """A registered GitHub App: its id, slug and public key (the private key stays with it)."""

    app_id: int
    slug: str
    public_key: RSAPublicKey
    permissions: dict[str, str]
    events: tuple[str, ...] = DEFAULT_APP_EVENTS
    """The webhook events it subscribes to."""

    def __repr__(self) -> str:
        return f"App(app_id={self.app_id}, slug={self.slug!r})"


@dataclass
class Installation:
    """One installation of an App on an account, with the repositories it was given."""

    installation_id: int
    app_id: int
    repositories: tuple[str, ...]
    permissions: dict[str, str]
    tokens_issued: int = 0


@dataclass
class IssuedToken:
    installation_id: int
    expires_at: float
    repositories: frozenset[str]
    permissions: dict[str, str] = field(default_factory=dict)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def load_public_key(pem: str | bytes) -> RSAPublicKey:
    """The RSA public key of an App, from PEM text; ``ValueError`` for anything else."""
    key = load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, RSAPublicKey):
        raise ValueError("a GitHub App key must be an RSA key")
    return key


def _claims_unverified(token: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise AuthError(401, JWT_UNDECODABLE) from None
    if not isinstance(claims, dict):
        raise AuthError(401, JWT_UNDECODABLE)
    return claims


def verify_app_jwt(token: str, apps: Mapping[int, App], now: float) -> App:
    """The App that signed this JWT, or the ``AuthError`` GitHub would answer with."""
    claims = _claims_unverified(token)
    try:
        app_id = int(claims.get("iss"))  # type: ignore[arg-type]  # PyGithub sends a string
    except (TypeError, ValueError):
        raise AuthError(401, JWT_UNDECODABLE) from None
    app = apps.get(app_id)
    if app is None:
        raise AuthError(404, INTEGRATION_NOT_FOUND)
    try:
        jwt.decode(
            token,
            app.public_key,
            algorithms=["RS256"],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.PyJWTError:
        raise AuthError(401, JWT_UNDECODABLE) from None
    expires, issued = claims.get("exp"), claims.get("iat")
    if not isinstance(expires, int | float) or expires <= now:
        raise AuthError(401, JWT_EXPIRED)
    if expires > now + MAX_JWT_LIFETIME_SECONDS:
        raise AuthError(401, JWT_TOO_LONG)
    if not isinstance(issued, int) or issued > now:
        raise AuthError(401, JWT_ISSUED_LATER)
    return app


def looks_like_jwt(credential: str) -> bool:
    """Whether a bearer credential is a JWT (three base64url parts, a JSON header)."""
    return credential.startswith("eyJ") and credential.count(".") == 2


def narrowed_permissions(granted: Mapping[str, str], requested: Any) -> dict[str, str]:
    """The permissions of a new token: all granted ones, or the requested subset of them."""
    if not requested:  # PyGithub sends {"permissions": {}}: everything the installation has
        return dict(granted)
    if not isinstance(requested, dict):
        raise AuthError(422, PERMISSIONS_NOT_GRANTED)
    for name, level in requested.items():
        if _LEVELS.get(str(level), 99) > _LEVELS.get(granted.get(name, ""), 0):
            raise AuthError(422, PERMISSIONS_NOT_GRANTED)
    return {str(name): str(level) for name, level in requested.items()}


def new_installation_token() -> str:
    """A fresh token in GitHub's installation token format (``ghs_`` and 36 characters)."""
    return "ghs_" + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(36))


def narrowed_repositories(
    installation: Installation, requested: Iterable[Any] | None
) -> frozenset[str]:
    """The repositories of a new token: all of the installation's, or the named subset."""
    if requested is None:
        return frozenset(installation.repositories)
    owners = {name.split("/", 1)[0] for name in installation.repositories}
    wanted = set()
    for name in requested:
        full = str(name) if "/" in str(name) else f"{next(iter(owners), '')}/{name}"
        if full not in installation.repositories:
            raise AuthError(422, REPOSITORIES_NOT_ACCESSIBLE)
        wanted.add(full)
    return frozenset(wanted)
