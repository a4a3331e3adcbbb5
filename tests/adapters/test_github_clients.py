"""The worker's GitHub clients: one per thread, API and credentials, reused across activities."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pydantic import SecretStr

from prsaga.adapters.github_auth import clear_auth_cache
from prsaga.adapters.github_client import MAX_CLIENTS_PER_THREAD, make_github
from prsaga.local.github_fake import serve_in_thread
from prsaga.runtime.config import Settings
from tests.adapters.test_github_auth import (
    INSTALLATION,
    NUMBER,
    REPO,
    app_fake,
    app_settings,
    requests_to,
)


@pytest.fixture(autouse=True)
def fresh_auths() -> Iterator[None]:
    clear_auth_cache()
    yield
    clear_auth_cache()


def token_settings(token: str, **values: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        github_api_url="http://127.0.0.1:9",
        github_token=SecretStr(token),
        github_min_request_interval=0.0,
        **values,
    )


def test_one_thread_reuses_its_client_for_the_same_api_and_token() -> None:
    settings = token_settings("ghp_" + "a" * 36)
    assert make_github(settings) is make_github(settings)


def test_another_token_or_api_gets_another_client() -> None:
    first = make_github(token_settings("ghp_" + "a" * 36))
    assert make_github(token_settings("ghp_" + "b" * 36)) is not first
    assert make_github(token_settings("ghp_" + "a" * 36, github_timeout_seconds=3)) is not first


def test_threads_never_share_a_client() -> None:
    settings = token_settings("ghp_" + "a" * 36)
    mine = make_github(settings)
    with ThreadPoolExecutor(max_workers=1) as pool:
        theirs = pool.submit(make_github, settings).result()
        again = pool.submit(make_github, settings).result()
    assert theirs is not mine
    assert again is theirs


def test_each_thread_keeps_a_bounded_number_of_clients() -> None:
    first = token_settings("ghp_first" + "0" * 31)
    client = make_github(first)
    for n in range(MAX_CLIENTS_PER_THREAD):
        make_github(token_settings(f"ghp_{n:036d}"))
    assert make_github(first) is not client  # the least recently used was dropped


def test_a_reused_installation_client_keeps_refreshing_its_token() -> None:
    # The first token lives 19 s, within PyGithub's 20 s refresh threshold: every request
    # through the reused client must refresh it until the server hands out long-lived ones.
    fake = app_fake(installation_token_ttl=19)
    with serve_in_thread(fake) as base_url:
        chosen = app_settings(base_url)
        client = make_github(chosen, INSTALLATION)
        assert client.get_repo(REPO).get_pull(NUMBER).title == "Add json support"
        fake.installation_token_ttl = 3600
        again = make_github(chosen, INSTALLATION)
        assert again.get_repo(REPO).get_pull(NUMBER).title == "Add json support"
        assert make_github(chosen, INSTALLATION).get_repo(REPO).get_pull(NUMBER).number == NUMBER

    assert again is client
    assert requests_to(fake, "/access_tokens") == [201, 201]
