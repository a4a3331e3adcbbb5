"""The pure parts of `prsaga app create`: addresses, the manifest and the `.env` it updates."""

from __future__ import annotations

import pytest

from prsaga.adapters.github_auth import APP_PERMISSIONS
from starter.app_create import (
    build_manifest,
    merged_env,
    new_app_url,
    web_url_of,
)


@pytest.mark.parametrize(
    ("api_url", "web_url"),
    [
        ("https://api.github.com", "https://github.com"),
        ("https://api.github.com/", "https://github.com"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com"),
        ("https://example.com/git/api/v3/", "https://example.com/git"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
    ],
)
def test_the_web_address_follows_from_the_api_address(api_url: str, web_url: str) -> None:
    assert web_url_of(api_url) == web_url


def test_the_new_app_page_is_the_accounts_or_the_organizations() -> None:
    assert new_app_url("https://github.com", None, "s t") == (
        "https://github.com/settings/apps/new?state=s%20t"
    )
    assert new_app_url("https://ghe.example.com", "my org", "s") == (
        "https://ghe.example.com/organizations/my%20org/settings/apps/new?state=s"
    )


def test_the_manifest_asks_for_what_prsaga_uses_and_its_routed_events() -> None:
    manifest = build_manifest(
        name="prsaga-acme",
        homepage="https://github.com/acme",
        webhook_url=None,
        redirect_url="http://127.0.0.1:5000/callback",
    )
    assert manifest["default_permissions"] == APP_PERMISSIONS
    assert manifest["default_events"] == ["issue_comment", "pull_request"]
    assert manifest["hook_attributes"]["active"] is False
    assert manifest["public"] is False


def test_the_env_file_keeps_other_lines_and_replaces_the_apps() -> None:
    existing = (
        "# mine\nPRSAGA_LOG_LEVEL=DEBUG\nexport PRSAGA_WEBHOOK_SECRET=old\n"
        "PRSAGA_WEBHOOK_SECRET=older\n"
    )
    merged = merged_env(existing, {"PRSAGA_WEBHOOK_SECRET": "new", "PRSAGA_GITHUB_APP_ID": "7"})
    assert merged == (
        "# mine\nPRSAGA_LOG_LEVEL=DEBUG\nPRSAGA_WEBHOOK_SECRET=new\n"
        "# The GitHub App made by `prsaga app create`\nPRSAGA_GITHUB_APP_ID=7\n"
    )
    assert merged_env("", {"A": "1"}) == "# The GitHub App made by `prsaga app create`\nA=1\n"
