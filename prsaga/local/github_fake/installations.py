"""GitHub Apps: registration, installations, tokens, and who a credential belongs to."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from prsaga.local.github_fake.apps import (
    DEFAULT_APP_EVENTS,
    DEFAULT_APP_PERMISSIONS,
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
from prsaga.local.github_fake.objects import (
    CANONICAL_API_URL,
    CANONICAL_WEB_URL,
    GitHubError,
    NotFoundError,
    github_timestamp,
    legacy_node_id,
    load_template,
)
from prsaga.local.github_fake.state import StoreState


class Installations(StoreState):
    """GitHub Apps, installations and authentication."""

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
