# --- Unit tests: classifying GitHub's answers into retryable and non-retryable errors ---
from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from github import GithubException

from prsaga.adapters.github_client import classify_github_error, github_errors


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, "GitHubBadRequest"),
        (401, "GitHubUnauthorized"),
        (403, "GitHubForbidden"),
        (404, "GitHubNotFound"),
        (422, "GitHubUnprocessable"),
    ],
)
def test_client_errors_are_final_and_say_what_was_done(status: int, error_type: str):
    err = classify_github_error(status, {}, "Nope", doing="fetching o/r#1")
    assert err.type == error_type
    assert err.non_retryable
    assert err.message.startswith(f"fetching o/r#1: GitHub answered {status} Nope")


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_retry(status: int):
    err = classify_github_error(status, {}, "", doing="x")
    assert (err.type, err.non_retryable) == ("GitHubServerError", False)


def test_rate_limits_retry_after_the_delay_github_asks_for():
    after = classify_github_error(429, {"Retry-After": "30"}, "", doing="x")
    assert (after.type, after.non_retryable) == ("GitHubRateLimited", False)
    assert after.next_retry_delay == timedelta(seconds=30)

    reset = classify_github_error(
        403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1090"}, "", doing="x", now=1000
    )
    assert (reset.type, reset.next_retry_delay) == ("GitHubRateLimited", timedelta(seconds=90))

    capped = classify_github_error(429, {"retry-after": "86400"}, "", doing="x")
    assert capped.next_retry_delay == timedelta(minutes=15)


def test_a_403_without_rate_limit_headers_is_a_permission_problem():
    err = classify_github_error(403, {"x-ratelimit-remaining": "4999"}, "", doing="x")
    assert (err.type, err.non_retryable) == ("GitHubForbidden", True)


def test_wrapper_maps_pygithub_and_network_errors():
    with pytest.raises(Exception) as caught:
        with github_errors("posting"):
            raise GithubException(404, {"message": "Not Found"}, {})
    assert caught.value.type == "GitHubNotFound"  # type: ignore[attr-defined]
    assert "404 Not Found" in caught.value.message  # type: ignore[attr-defined]

    with pytest.raises(Exception) as caught:
        with github_errors("posting"):
            raise requests.ConnectionError("refused")
    assert (caught.value.type, caught.value.non_retryable) == (  # type: ignore[attr-defined]
        "GitHubUnavailable",
        False,
    )
