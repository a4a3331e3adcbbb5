"""``prsaga app create``: a GitHub App for prsaga in one step, through GitHub's manifest flow.

A small page on 127.0.0.1 posts the App's manifest (permissions, events, webhook) to GitHub's
"new App" page; the user confirms there; GitHub redirects back to this server with a one-time
code (and the ``state`` this command made up, checked so that no other page can hand it a
code); the code is exchanged (``POST /app-manifests/{code}/conversions``) for the App's id,
private key, webhook secret and client credentials, which are written where prsaga's settings
read them: a ``.env`` file and a private key file, both readable by their owner only.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import os
import re
import secrets
import webbrowser
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from prsaga.adapters.github_auth import APP_PERMISSIONS
from prsaga.runtime.config import Settings
from starter.github_events import router

CALLBACK_PATH = "/callback"
EXCHANGE_TIMEOUT_SECONDS = 30.0
_ENV_KEY = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def app_events() -> list[str]:
    """The webhook events prsaga handles: exactly what its router has handlers for."""
    return router.events()


def web_url_of(api_url: str) -> str:
    """GitHub's web address for an API address: ``api.github.com`` is ``github.com``, and a
    GitHub Enterprise Server API (``https://HOST/api/v3``) is ``https://HOST``. Any other
    address (the local GitHub) serves both."""
    parts = urlsplit(api_url.rstrip("/"))
    host = parts.netloc
    path = parts.path
    if host.startswith("api."):
        host = host.removeprefix("api.")
    elif path.endswith("/api/v3"):
        path = path.removesuffix("/api/v3")
    return urlunsplit((parts.scheme, host, path, "", ""))


def new_app_url(web_url: str, org: str | None, state: str) -> str:
    """GitHub's page that takes a manifest: the user's own account, or an organization's."""
    where = f"/organizations/{quote(org, safe='')}" if org else ""
    return f"{web_url}{where}/settings/apps/new?state={quote(state, safe='')}"


def build_manifest(
    *, name: str, homepage: str, webhook_url: str | None, redirect_url: str
) -> dict[str, Any]:
    """The App manifest GitHub registers prsaga's App from.

    Without a webhook URL the webhook is created inactive (GitHub requires a URL in the
    manifest): set the real one in the App's settings later.
    """
    return {
        "name": name,
        "url": homepage,
        "hook_attributes": {
            "url": webhook_url or "https://example.invalid/webhooks/github",
            "active": webhook_url is not None,
        },
        "redirect_url": redirect_url,
        "public": False,
        "default_permissions": dict(APP_PERMISSIONS),
        "default_events": app_events(),
    }


def manifest_page(action: str, manifest: dict[str, Any]) -> str:
    """The page that posts ``manifest`` to GitHub as soon as it loads."""
    value = html.escape(json.dumps(manifest), quote=True)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>prsaga: create the GitHub App"
        "</title></head><body>"
        f"<form id='manifest' method='post' action='{html.escape(action, quote=True)}'>"
        f"<input type='hidden' name='manifest' value='{value}'>"
        "<p>Sending prsaga's App manifest to GitHub&hellip;</p>"
        "<button type='submit'>Create the GitHub App</button></form>"
        "<script>document.getElementById('manifest').submit()</script></body></html>"
    )


@dataclass(frozen=True)
class CreatedApp:
    """What the conversion returned that prsaga keeps (the secrets stay out of the repr)."""

    app_id: int
    slug: str
    html_url: str
    env_path: Path
    key_path: Path

    @property
    def install_url(self) -> str:
        return f"{self.html_url}/installations/new"


def app_env(conversion: dict[str, Any], key_path: Path, api_url: str) -> dict[str, str]:
    """The settings (``PRSAGA_*``) a conversion answer gives, with the key kept in a file."""
    values = {
        "PRSAGA_GITHUB_APP_ID": str(conversion["id"]),
        "PRSAGA_GITHUB_APP_PRIVATE_KEY_PATH": str(key_path),
        "PRSAGA_GITHUB_APP_CLIENT_ID": str(conversion["client_id"]),
        "PRSAGA_GITHUB_APP_CLIENT_SECRET": str(conversion["client_secret"]),
        "PRSAGA_GITHUB_API_URL": api_url.rstrip("/"),
    }
    if conversion.get("webhook_secret"):
        values["PRSAGA_WEBHOOK_SECRET"] = str(conversion["webhook_secret"])
    return values


def merged_env(existing: str, values: dict[str, str]) -> str:
    """``existing`` ``.env`` text with ``values`` set: lines of those keys are replaced, every
    other line is kept, new keys are appended."""
    lines = []
    written = set()
    for line in existing.splitlines():
        match = _ENV_KEY.match(line)
        key = match[1] if match else None
        if key in values:
            if key not in written:
                lines.append(f"{key}={values[key]}")
                written.add(key)
            continue
        lines.append(line)
    missing = [key for key in values if key not in written]
    if missing:
        lines.append("# The GitHub App made by `prsaga app create`")
        lines.extend(f"{key}={values[key]}" for key in missing)
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable and writable by its owner only (even if it existed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def save_credentials(conversion: dict[str, Any], out_dir: Path, api_url: str) -> CreatedApp:
    """Write the private key and the ``.env`` of a conversion answer into ``out_dir``."""
    out_dir = out_dir.resolve()
    slug = str(conversion["slug"])
    key_path = out_dir / f"{slug}.private-key.pem"
    write_private(key_path, str(conversion["pem"]))
    env_path = out_dir / ".env"
    existing = env_path.read_text(encoding="utf-8") if env_path.exists() else ""
    write_private(env_path, merged_env(existing, app_env(conversion, key_path, api_url)))
    return CreatedApp(int(conversion["id"]), slug, str(conversion["html_url"]), env_path, key_path)


class ManifestFlowError(RuntimeError):
    """The flow did not produce an App; the message says why."""


@dataclass(frozen=True)
class AppRequest:
    """What ``prsaga app create`` was asked for."""

    name: str
    org: str | None
    webhook_url: str | None
    out_dir: Path
    port: int = 0
    open_browser: bool = True


async def run_manifest_flow(settings: Settings, request: AppRequest) -> CreatedApp:
    """Serve the page, wait for GitHub's redirect, exchange the code and save the credentials."""
    api_url = settings.github_api_url.rstrip("/")
    web_url = web_url_of(api_url)
    state = secrets.token_urlsafe(24)
    finished: asyncio.Future[CreatedApp] = asyncio.get_running_loop().create_future()
    base: dict[str, str] = {}

    async def page(_: Request) -> Response:
        manifest = build_manifest(
            name=request.name,
            homepage=f"{web_url}/{request.org}" if request.org else web_url,
            webhook_url=request.webhook_url,
            redirect_url=f"{base['url']}{CALLBACK_PATH}",
        )
        return HTMLResponse(manifest_page(new_app_url(web_url, request.org, state), manifest))

    async def callback(incoming: Request) -> Response:
        given_state = incoming.query_params.get("state", "")
        code = incoming.query_params.get("code")
        if not hmac.compare_digest(given_state.encode(), state.encode()) or not code:
            return HTMLResponse("This is not the redirect of the App this command asked for.", 400)
        if finished.done():
            return HTMLResponse("The App was already created; close this tab.", 409)
        try:
            created = await _exchange(api_url, code, request.out_dir)
        except ManifestFlowError as problem:
            finished.set_exception(problem)
            reason = html.escape(str(problem))
            return HTMLResponse(f"prsaga could not create the App: {reason}", 502)
        finished.set_result(created)
        link = html.escape(created.install_url, quote=True)
        return HTMLResponse(
            f"<p>The GitHub App {html.escape(created.slug)} was created and its credentials "
            f"saved. Now <a href='{link}'>install it</a> on your repositories.</p>"
        )

    app = Starlette(
        routes=[Route("/", page, methods=["GET"]), Route(CALLBACK_PATH, callback, methods=["GET"])]
    )
    config = uvicorn.Config(
        app, host="127.0.0.1", port=request.port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                raise ManifestFlowError(f"cannot serve the page on 127.0.0.1:{request.port}")
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        base["url"] = f"http://127.0.0.1:{port}"
        print(
            f"Open {base['url']}/ in a browser signed in to {web_url} to create the App "
            f"{request.name!r}{f' in {request.org}' if request.org else ''}.",
            flush=True,
        )
        if request.open_browser:
            webbrowser.open(f"{base['url']}/")
        return await finished
    finally:
        server.should_exit = True
        await serving


async def _exchange(api_url: str, code: str, out_dir: Path) -> CreatedApp:
    """``POST /app-manifests/{code}/conversions`` (no credential), then save what it returns."""
    url = f"{api_url}/app-manifests/{quote(code, safe='')}/conversions"
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    try:
        async with httpx.AsyncClient(timeout=EXCHANGE_TIMEOUT_SECONDS) as client:
            answer = await client.post(url, headers=headers)
    except httpx.HTTPError as error:
        raise ManifestFlowError(f"cannot reach {api_url}: {type(error).__name__}") from None
    if answer.status_code != 201:
        raise ManifestFlowError(
            f"GitHub answered {answer.status_code} to the code exchange (a code works once, "
            "within an hour): run `prsaga app create` again"
        )
    return save_credentials(answer.json(), out_dir, api_url)


def create_github_app(settings: Settings, request: AppRequest) -> int:
    """Run the flow and tell the user what to do next."""
    created = asyncio.run(run_manifest_flow(settings, request))
    print(
        f"Created the GitHub App {created.slug} (id {created.app_id}).\n"
        f"  Credentials   {created.env_path} (and the private key {created.key_path}),\n"
        f"                readable by you only; prsaga reads .env from the folder it runs in.\n"
        f"  Install it    {created.install_url}\n"
        "  Then check    prsaga doctor --repo OWNER/REPO",
        flush=True,
    )
    if request.webhook_url is None:
        print(
            "  The App's webhook is inactive: set its URL (your webhook server's "
            "/webhooks/github) and activate it in the App's settings.",
            flush=True,
        )
    return 0
