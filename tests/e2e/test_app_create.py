"""`prsaga app create` end to end against the local GitHub: GitHub's manifest flow driven with
httpx instead of a browser, then the written credentials used to authenticate as the new App."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from prsaga.adapters.github_auth import APP_PERMISSIONS, github_integration
from prsaga.local.github_fake import FakeGitHub, serve_in_thread
from prsaga.runtime.config import Settings

FORM = re.compile(r"<form id='manifest' method='post' action='([^']+)'>")
MANIFEST = re.compile(r"<input type='hidden' name='manifest' value='([^']+)'>")


@pytest.fixture
def local_github() -> Iterator[tuple[FakeGitHub, str]]:
    fake = FakeGitHub("app-create-token")
    with serve_in_thread(fake) as url:
        yield fake, url


def start_app_create(api_url: str, out: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """`prsaga app create` as a user runs it (no browser); the address of its page."""
    env = {"PATH": "/usr/bin:/bin", "PRSAGA_GITHUB_API_URL": api_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "starter.cli", "app", "create", "--out", str(out), "--no-browser"]
        + list(args),
        cwd=out,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    found = re.search(r"Open (http://127\.0\.0\.1:\d+/) ", first)
    if found is None:
        process.kill()
        pytest.fail(f"no page address in {first!r}")
    return process, found[1]


def test_app_create_writes_credentials_that_authenticate_as_the_new_app(
    local_github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    fake, api_url = local_github
    (tmp_path / ".env").write_text("PRSAGA_LOG_LEVEL=DEBUG\nPRSAGA_WEBHOOK_SECRET=old\n")
    process, page_url = start_app_create(
        api_url,
        tmp_path,
        "--org",
        "acme",
        "--webhook-url",
        "https://hooks.acme.test/webhooks/github",
    )
    try:
        page = httpx.get(page_url)
        action = html.unescape(FORM.search(page.text)[1])  # type: ignore[index]
        manifest = json.loads(html.unescape(MANIFEST.search(page.text)[1]))  # type: ignore[index]
        assert action.startswith(f"{api_url}/organizations/acme/settings/apps/new?state=")
        assert manifest["default_permissions"] == APP_PERMISSIONS
        assert manifest["default_events"] == ["issue_comment", "pull_request"]
        assert manifest["hook_attributes"] == {
            "url": "https://hooks.acme.test/webhooks/github",
            "active": True,
        }

        # A redirect with another state is refused; GitHub's own redirect is taken.
        forged = httpx.get(f"{page_url}callback", params={"code": "x", "state": "forged"})
        assert forged.status_code == 400
        confirmed = httpx.post(action, data={"manifest": json.dumps(manifest)})
        assert confirmed.status_code == 302
        done = httpx.get(confirmed.headers["location"])
        assert done.status_code == 200, done.text
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, out

    env_file = tmp_path / ".env"
    [key_file] = tmp_path.glob("*.private-key.pem")
    assert key_file.name == "prsaga-acme.private-key.pem"
    for written in (env_file, key_file):
        assert written.stat().st_mode & 0o777 == 0o600
    settings = Settings(_env_file=env_file)
    assert settings.log_level == "DEBUG"  # the user's own lines are kept
    assert (
        settings.webhook_secret is not None and settings.webhook_secret.get_secret_value() != "old"
    )
    assert settings.github_app_private_key_path == key_file
    assert "Install it    https://github.com/apps/prsaga-acme/installations/new" in out
    assert "prsaga doctor --repo OWNER/REPO" in out
    assert settings.github_app_private_key_path.read_text().startswith("-----BEGIN RSA")
    assert key_file.read_text() not in out

    # The written credentials are the App's: its JWT opens GET /app.
    app = github_integration(settings).get_app()
    assert app.id == settings.github_app_id
    assert app.slug == "prsaga-acme"
    assert app.permissions == APP_PERMISSIONS
    assert sorted(app.events) == ["issue_comment", "pull_request"]


def test_a_used_code_is_refused_and_the_command_says_so(
    local_github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    _, api_url = local_github
    process, page_url = start_app_create(api_url, tmp_path)
    try:
        page = httpx.get(page_url)
        action = html.unescape(FORM.search(page.text)[1])  # type: ignore[index]
        assert action.startswith(f"{api_url}/settings/apps/new?state=")
        manifest = html.unescape(MANIFEST.search(page.text)[1])  # type: ignore[index]
        assert json.loads(manifest)["hook_attributes"]["active"] is False
        location = httpx.post(action, data={"manifest": manifest}).headers["location"]
        code = httpx.URL(location).params["code"]
        assert httpx.post(f"{api_url}/app-manifests/{code}/conversions").status_code == 201
        refused = httpx.get(location)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert refused.status_code == 502
    assert process.returncode == 1
    assert "GitHub answered 404 to the code exchange" in out
    assert not (tmp_path / ".env").exists()
