"""prsaga's GitHub credentials, end to end against the local GitHub server.

The App path is the real one: an RSA key made for the test, the App registered in the local
server by its public key, PyGithub's ``AppAuth`` signing JWTs, the server checking them and
issuing installation tokens, and API calls made with those tokens.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import github
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError

from prsaga.adapters.github_auth import clear_auth_cache, github_auth, uses_app
from prsaga.adapters.github_client import OwnIdentity, make_github
from prsaga.local.github_fake import FakeGitHub, serve_in_thread
from prsaga.runtime.config import Settings
from tests.local.test_github_fake import APP_FILE, HEAD, NUMBER, REPO, pull_seed, rsa_keys

APP_ID = 2002
INSTALLATION = 88
PLAIN_TOKEN = "ghp_" + "plain" * 7


@pytest.fixture(autouse=True)
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Credentials from the developer's environment must not leak into these tests."""
    for name in (
        "GITHUB_TOKEN",
        "PRSAGA_GITHUB_TOKEN",
        "PRSAGA_GITHUB_APP_ID",
        "PRSAGA_GITHUB_APP_PRIVATE_KEY",
        "PRSAGA_GITHUB_APP_PRIVATE_KEY_PATH",
        "PRSAGA_GITHUB_APP_INSTALLATION_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    clear_auth_cache()
    yield
    clear_auth_cache()


def settings(base_url: str = "https://api.github.com", **values: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        github_api_url=base_url,
        github_min_request_interval=0.0,
        github_timeout_seconds=5,
        **values,
    )


def app_settings(base_url: str, **values: Any) -> Settings:
    return settings(
        base_url,
        github_app_id=APP_ID,
        github_app_private_key=SecretStr(rsa_keys().private_pem),
        **values,
    )


def app_fake(**options: Any) -> FakeGitHub:
    fake = FakeGitHub(PLAIN_TOKEN, **options)
    fake.seed_pull_request(pull_seed(), [APP_FILE], {"src/app.py": "import os\n"})
    fake.register_app(APP_ID, rsa_keys().public_pem, {INSTALLATION: [REPO]})
    return fake


def requests_to(fake: FakeGitHub, suffix: str) -> list[int]:
    return [r["status"] for r in fake.state()["requests"] if r["path"].endswith(suffix)]


def not_configured(raised: pytest.ExceptionInfo[ApplicationError]) -> str:
    assert raised.value.type == "GitHubNotConfigured"
    assert raised.value.non_retryable
    return str(raised.value)


# ---------------------------------------------------------------------------------------------
# Choosing the credentials


def test_a_token_alone_gives_token_auth() -> None:
    chosen = settings(github_token=SecretStr(PLAIN_TOKEN))
    auth = github_auth(chosen, None)

    assert isinstance(auth, github.Auth.Token)
    assert auth.token == PLAIN_TOKEN
    assert not uses_app(chosen)


def test_app_settings_win_over_a_token() -> None:
    chosen = app_settings("https://api.github.com", github_token=SecretStr(PLAIN_TOKEN))
    auth = github_auth(chosen, INSTALLATION)

    assert uses_app(chosen)
    assert isinstance(auth, github.Auth.AppInstallationAuth)
    assert (auth.app_id, auth.installation_id) == (str(APP_ID), INSTALLATION)
    assert github_auth(chosen, INSTALLATION) is auth  # one per installation: tokens are shared
    fixed = app_settings("https://api.github.com", github_app_installation_id=5)
    assert github_auth(fixed, None).installation_id == 5  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "no GitHub credentials"),
        ({"github_app_id": APP_ID}, "incomplete GitHub App settings"),
        (
            {"github_app_private_key": SecretStr("x"), "github_token": SecretStr(PLAIN_TOKEN)},
            "incomplete GitHub App settings",
        ),
        (
            {"github_app_id": APP_ID, "github_app_private_key_path": Path("/no/such/key.pem")},
            "cannot read the GitHub App private key /no/such/key.pem",
        ),
    ],
    ids=["nothing", "id-without-key", "key-without-id", "missing-key-file"],
)
def test_missing_or_incomplete_credentials_are_not_retried(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ApplicationError) as raised:
        make_github(settings(**values), INSTALLATION)
    assert message in not_configured(raised)


def test_an_app_without_an_installation_to_act_as_is_refused() -> None:
    with pytest.raises(ApplicationError) as raised:
        github_auth(app_settings("https://api.github.com"), None)
    assert "needs an installation" in not_configured(raised)


def test_an_invalid_private_key_is_refused_without_showing_it(tmp_path: Path) -> None:
    secret = "\n".join(
        [
            "-----BEGIN RSA PRIVATE KEY-----",
            "c2VjcmV0LWtleS1tYXRlcmlhbA==",
            "-----END RSA PRIVATE KEY-----",
        ]
    )
    with pytest.raises(ApplicationError) as inline:
        github_auth(settings(github_app_id=APP_ID, github_app_private_key=SecretStr(secret)), 1)
    key_file = tmp_path / "app.pem"
    key_file.write_text(secret)
    with pytest.raises(ApplicationError) as from_file:
        github_auth(settings(github_app_id=APP_ID, github_app_private_key_path=key_file), 1)

    assert "not a PEM private key" in not_configured(inline)
    assert str(key_file) in not_configured(from_file)
    for raised in (inline, from_file):
        shown = f"{raised.value!r} {raised.value} {raised.value.__cause__!r}"
        assert "c2VjcmV0" not in shown
        assert raised.value.__cause__ is None


def test_a_key_from_a_file_or_from_one_line_of_a_dotenv_file(tmp_path: Path) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(rsa_keys().private_pem)
    one_line = rsa_keys().private_pem.replace("\n", "\\n")

    by_path = settings(github_app_id=APP_ID, github_app_private_key_path=key_file)
    by_value = settings(github_app_id=APP_ID, github_app_private_key=SecretStr(one_line))
    assert isinstance(github_auth(by_path, 1), github.Auth.AppInstallationAuth)
    assert isinstance(github_auth(by_value, 1), github.Auth.AppInstallationAuth)


# ---------------------------------------------------------------------------------------------
# End to end against the local GitHub server


def test_app_auth_end_to_end_jwt_then_installation_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake = app_fake()
    with serve_in_thread(fake) as base_url:
        chosen = app_settings(base_url)
        first = make_github(chosen, INSTALLATION).get_repo(REPO).get_pull(NUMBER).head.sha
        again = make_github(chosen, INSTALLATION).get_repo(REPO).get_pull(NUMBER).head.sha
        repo = make_github(chosen, INSTALLATION).get_repo(REPO)
        run_app = repo.create_check_run("prsaga/review", HEAD, status="in_progress").app.id
        auth = github_auth(chosen, INSTALLATION)
        token = auth.token

    assert first == again == HEAD
    assert run_app == APP_ID
    assert requests_to(fake, f"/app/installations/{INSTALLATION}/access_tokens") == [201]
    # The key, the JWT's signature and the token appear nowhere.
    key_body = rsa_keys().private_pem.splitlines()[1]
    shown = " ".join([caplog.text, repr(auth), repr(chosen), json.dumps(fake.state())])
    assert "access_tokens" in caplog.text  # PyGithub did log its requests
    assert token.startswith("ghs_")
    assert token not in shown and key_body not in shown
    assert "BEGIN RSA PRIVATE KEY" not in shown


def test_the_installation_is_looked_up_per_repository_and_cached() -> None:
    fake = app_fake()
    with serve_in_thread(fake) as base_url:
        chosen = app_settings(base_url)
        first = make_github(chosen, repo_full_name=REPO).get_repo(REPO).get_pull(NUMBER).title
        second = make_github(chosen, repo_full_name=REPO).get_repo(REPO).get_pull(NUMBER).title
        with pytest.raises(ApplicationError) as not_installed:
            make_github(chosen, repo_full_name="acme/elsewhere")

    assert first == second == "Add json support"
    assert requests_to(fake, f"/repos/{REPO}/installation") == [200]
    assert not_installed.value.type == "GitHubNotFound"
    assert not_installed.value.non_retryable


def test_a_key_the_app_was_not_registered_with_gets_401() -> None:
    fake = app_fake()
    with serve_in_thread(fake) as base_url:
        wrong = settings(
            base_url,
            github_app_id=APP_ID,
            github_app_private_key=SecretStr(rsa_keys("x").private_pem),
        )
        pull = make_github(wrong, INSTALLATION).get_repo(REPO).get_pull(NUMBER)
        with pytest.raises(github.GithubException) as refused:
            pull.title  # noqa: B018  # the first request fetches the installation token

    assert refused.value.status == 401
    assert refused.value.data["message"] == "A JSON web token could not be decoded"
    assert requests_to(fake, "/access_tokens") == [401]
    assert requests_to(fake, f"/pulls/{NUMBER}") == []


def test_an_expiring_installation_token_is_refreshed_by_pygithub() -> None:
    # PyGithub fetches a new token once the current one is within 20 s of its expires_at
    # (github/Auth.py, TOKEN_REFRESH_THRESHOLD_TIMEDELTA); the first token here lives 19 s,
    # the next ones an hour.
    fake = app_fake(installation_token_ttl=19)
    with serve_in_thread(fake) as base_url:
        repo = make_github(app_settings(base_url), INSTALLATION).get_repo(REPO)
        assert repo.get_pull(NUMBER).title == "Add json support"
        fake.installation_token_ttl = 3600
        for _ in range(2):
            assert repo.get_pull(NUMBER).head.sha == HEAD

    assert requests_to(fake, "/access_tokens") == [201, 201]  # once expiring, then never
    assert requests_to(fake, f"/pulls/{NUMBER}") == [200, 200, 200]


def test_an_expired_installation_token_is_refused_by_the_server() -> None:
    now = [time.time()]
    fake = app_fake(clock=lambda: now[0])
    with serve_in_thread(fake) as base_url:
        client = make_github(app_settings(base_url), INSTALLATION)
        assert client.get_repo(REPO).get_pull(NUMBER).title == "Add json support"
        stale = github_auth(app_settings(base_url), INSTALLATION).token
        now[0] += 3601  # the server's clock only: PyGithub still trusts the token
        with pytest.raises(github.BadCredentialsException):
            github.Github(base_url=base_url, auth=github.Auth.Token(stale), retry=None).get_repo(
                REPO
            )


def test_a_plain_token_cannot_write_check_runs_but_can_write_statuses() -> None:
    fake = app_fake()
    with serve_in_thread(fake) as base_url:
        chosen = settings(base_url, github_token=SecretStr(PLAIN_TOKEN))
        repo = make_github(chosen).get_repo(REPO)
        status = repo.get_commit(HEAD).create_status("pending", context="prsaga/review")
        with pytest.raises(github.GithubException) as refused:
            repo.create_check_run("prsaga/review", HEAD)

    assert not uses_app(chosen)
    assert status.state == "pending"
    assert (refused.value.status, refused.value.data["message"]) == (
        403,
        "You must authenticate via a GitHub App.",
    )


def test_prsagas_identity_is_the_tokens_user_asked_once() -> None:
    fake = app_fake(bot_login="review-robot")
    with serve_in_thread(fake) as url:
        identity = OwnIdentity(settings(url, github_token=SecretStr(PLAIN_TOKEN)))
        gh = make_github(settings(url, github_token=SecretStr(PLAIN_TOKEN)))
        assert identity.login(gh, REPO) == identity.login(gh, REPO) == "review-robot"
    assert requests_to(fake, "/user") == [200]


def test_an_apps_identity_is_its_bot_named_after_its_slug() -> None:
    fake = FakeGitHub(PLAIN_TOKEN)
    fake.seed_pull_request(pull_seed(), [APP_FILE], {"src/app.py": "import os\n"})
    fake.register_app(APP_ID, rsa_keys().public_pem, {INSTALLATION: [REPO]}, slug="review-robot")
    with serve_in_thread(fake) as url:
        config = app_settings(url)
        identity = OwnIdentity(config)
        assert identity.login(make_github(config, INSTALLATION), REPO) == "review-robot[bot]"
    assert requests_to(fake, "/user") == []


def test_a_token_github_will_not_name_fails_for_good_saying_why() -> None:
    fake = app_fake()
    with serve_in_thread(fake) as url:
        installation_token = (
            github.GithubIntegration(
                auth=github.Auth.AppAuth(APP_ID, rsa_keys().private_pem), base_url=url
            )
            .get_access_token(INSTALLATION)
            .token
        )
        config = settings(url, github_token=SecretStr(installation_token))
        with pytest.raises(ApplicationError) as refused:
            OwnIdentity(config).login(make_github(config), REPO)
    assert refused.value.non_retryable and refused.value.type == "GitHubForbidden"
    assert "which account prsaga posts as" in str(refused.value)
