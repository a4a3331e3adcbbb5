"""What a new user of a GitHub App meets on the local GitHub: the App manifest flow and ``/user``.

GitHub's manifest flow (docs.github.com, "Registering a GitHub App from a manifest"): a page
POSTs a form with a ``manifest`` field to ``/settings/apps/new`` (or
``/organizations/{org}/settings/apps/new``) with a ``state``; after the user confirms, GitHub
redirects to the manifest's ``redirect_url`` with a one-time ``code`` and the ``state``; the
code, exchanged within an hour at ``POST /app-manifests/{code}/conversions`` (no credential
needed), returns the new App with its private key, webhook secret and client credentials. Here
the confirmation is implied: the form's POST redirects at once.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from prsaga.local.github_fake.objects import GitHubError, load_template
from prsaga.local.github_fake.store import Store

CODE_TTL_SECONDS = 3600.0
"""GitHub: "You must complete this step within one hour"."""
FIRST_APP_ID = 900_001


@dataclass(frozen=True)
class PendingApp:
    """A manifest the user confirmed, waiting for its code to be exchanged."""

    manifest: dict[str, Any]
    expires_at: float


def parse_manifest(text: str) -> dict[str, Any]:
    """The manifest of the form, checked for what GitHub requires; ``ValueError`` otherwise."""
    try:
        manifest = json.loads(text)
    except ValueError:
        raise ValueError("the manifest is not JSON") from None
    if not isinstance(manifest, dict):
        raise ValueError("the manifest is not a JSON object")
    if not isinstance(manifest.get("url"), str) or not manifest["url"]:
        raise ValueError("the manifest needs a url (the App's homepage)")
    hook = manifest.get("hook_attributes")
    if hook is not None and not (isinstance(hook, dict) and isinstance(hook.get("url"), str)):
        raise ValueError("hook_attributes needs a url")
    redirect = manifest.get("redirect_url")
    if not isinstance(redirect, str) or urlsplit(redirect).scheme not in ("http", "https"):
        raise ValueError("the manifest needs a redirect_url to send the code to")
    if not isinstance(manifest.get("default_permissions", {}), dict):
        raise ValueError("default_permissions must be an object")
    if not isinstance(manifest.get("default_events", []), list):
        raise ValueError("default_events must be a list")
    return manifest


def app_slug(name: str) -> str:
    """GitHub's slug of an App name: lower case, runs of other characters as one hyphen."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "app"


class ManifestFlow:
    """Pending manifest codes, and the Apps they become once exchanged."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._pending: dict[str, PendingApp] = {}
        self._next_app_id = FIRST_APP_ID

    def confirm(self, manifest: dict[str, Any]) -> str:
        """The user confirmed ``manifest``: the one-time code for it."""
        code = secrets.token_hex(10)
        with self._lock:
            self._pending[code] = PendingApp(manifest, self._clock() + CODE_TTL_SECONDS)
        return code

    def convert(self, store: Store, code: str) -> dict[str, Any]:
        """``POST /app-manifests/{code}/conversions``: create the App, once per code."""
        with self._lock:
            pending = self._pending.pop(code, None)
            if pending is None or pending.expires_at <= self._clock():
                raise GitHubError(404, "Not Found")
            app_id = self._next_app_id
            self._next_app_id += 1
        manifest = pending.manifest
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        store.register_app(
            app_id,
            public_pem,
            {},
            slug=app_slug(str(manifest.get("name") or f"app-{app_id}")),
            permissions=manifest.get("default_permissions") or {"metadata": "read"},
            events=[str(event) for event in manifest.get("default_events", [])],
        )
        hook = manifest.get("hook_attributes")
        created = store.get_app(app_id)
        # The private key exists only in this answer, as on GitHub: the store keeps the public one.
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()
        return {
            **created,
            "description": str(manifest.get("description") or ""),
            "external_url": manifest["url"],
            "client_id": f"Iv1.{app_id:016x}",
            "client_secret": secrets.token_hex(20),
            "webhook_secret": secrets.token_hex(20) if hook else None,
            "pem": private_pem,
        }


def authenticated_user(bot: dict[str, Any]) -> dict[str, Any]:
    """``GET /user`` for the token's holder: GitHub's example of a private profile, as ``bot``."""
    user = load_template("users.get-authenticated.response.200.json")
    for key in ("login", "id", "node_id", "avatar_url", "html_url", "type", "site_admin"):
        user[key] = bot[key]
    for key, value in bot.items():
        if key.endswith("_url") and key != "avatar_url":
            user[key] = value
    user.update(name=bot["login"], company=None, blog="", location=None, email=None, bio=None)
    return user


def web_routes(flow: ManifestFlow) -> list[Route]:
    """github.com's pages of the flow (no API credential: the browser's session stands for it)."""

    async def new_app(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        try:
            manifest = parse_manifest((form.get("manifest") or [""])[0])
        except ValueError as problem:
            return PlainTextResponse(f"Invalid GitHub App manifest: {problem}", 422)
        code = flow.confirm(manifest)
        answer = {"code": code}
        state = request.query_params.get("state")
        if state is not None:
            answer["state"] = state
        redirect = manifest["redirect_url"]
        separator = "&" if urlsplit(redirect).query else "?"
        return RedirectResponse(f"{redirect}{separator}{urlencode(answer)}", 302)

    return [
        Route("/settings/apps/new", new_app, methods=["POST"]),
        Route("/organizations/{org}/settings/apps/new", new_app, methods=["POST"]),
    ]


WEB_PATH_PREFIXES = ("/settings/", "/organizations/")
"""Paths of github.com's pages above, which the API's front door leaves alone."""
