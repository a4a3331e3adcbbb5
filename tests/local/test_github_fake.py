"""The local GitHub server, driven the way prsaga drives GitHub: through PyGithub, over HTTP."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import github
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.testclient import TestClient

from prsaga.local.demo import load_demo_pull_request
from prsaga.local.github_fake import FakeGitHub, FileDiff, git_blob_sha, serve_in_thread
from prsaga.local.github_fake import __main__ as github_fake_main

TOKEN = "functional-test-token"
REPO = "acme/widgets"
HEAD = "1" * 40
BASE = "2" * 40
NUMBER = 7

# A two-hunk patch whose line numbers are easy to follow:
#   old file  1 import os   2 import sys   3 ""   4 def main():  ... 20 a = 1  21 return a  22 # end
#   new file  1 import os   2 import re    3 import json   4 ""   5 def main(): ... 21 a = 1
#             22 b = 2      23 return a
APP_PATCH = "\n".join(
    [
        "@@ -1,4 +1,5 @@",
        " import os",
        "-import sys",
        "+import re",
        "+import json",
        " ",
        " def main():",
        "@@ -20,3 +21,3 @@ def main():",
        "     a = 1",
        "+    b = 2",
        "     return a",
        "-    # end",
    ]
)
APP_FILE = {
    "filename": "src/app.py",
    "status": "modified",
    "additions": 3,
    "deletions": 2,
    "changes": 5,
    "patch": APP_PATCH,
}

LINE_NOT_IN_DIFF = (
    "Pull request review thread line must be part of the diff and "
    "Pull request review thread diff hunk can't be blank"
)


def pull_seed(head: str = HEAD, number: int = NUMBER) -> dict[str, Any]:
    return {
        "number": number,
        "title": "Add json support",
        "head": {"sha": head, "ref": "json"},
        "base": {"sha": BASE, "repo": {"full_name": REPO}},
    }


def pygithub(
    base_url: str, token: str = TOKEN, *, auth: github.Auth.Auth | None = None, **options: Any
) -> github.Github:
    return github.Github(
        base_url=base_url,
        auth=auth or github.Auth.Token(token),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
        timeout=10,
        **options,
    )


@dataclass(frozen=True)
class RsaKeys:
    """A test App's key pair, as PEM text."""

    private_pem: str
    public_pem: str


@functools.cache
def rsa_keys(name: str = "app") -> RsaKeys:
    """An RSA key pair made for this test run (one per ``name``; generating one takes time)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,  # what GitHub hands out
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return RsaKeys(private.decode(), public.decode())


def app_jwt(
    app_id: int | str, keys: RsaKeys, *, issued: float | None = None, lifetime: int = 300
) -> str:
    """A JWT as a GitHub App signs it: RS256, ``iss`` = the App id, issued a minute ago."""
    now = int(time.time() if issued is None else issued)
    claims = {"iat": now - 60, "exp": now + lifetime, "iss": str(app_id)}
    return jwt.encode(claims, keys.private_pem, algorithm="RS256")


def installation_github(
    base_url: str, app_id: int, keys: RsaKeys, installation_id: int
) -> github.Github:
    """PyGithub authenticated as an App installation (JWT, then installation tokens)."""
    app_auth = github.Auth.AppAuth(app_id, keys.private_pem)
    return pygithub(base_url, auth=app_auth.get_installation_auth(installation_id))


@pytest.fixture
def fake() -> FakeGitHub:
    fake = FakeGitHub(TOKEN)
    fake.seed_pull_request(pull_seed(), [APP_FILE], {"src/app.py": "import os\n"})
    return fake


@pytest.fixture
def base_url(fake: FakeGitHub) -> Iterator[str]:
    with serve_in_thread(fake) as url:
        yield url


@pytest.fixture
def pull(base_url: str) -> github.PullRequest.PullRequest:
    return pygithub(base_url).get_repo(REPO).get_pull(NUMBER)


def test_pygithub_walks_every_page_of_a_pull_requests_files(fake: FakeGitHub) -> None:
    files = [
        {
            "filename": f"docs/page_{i:02}.md",
            "status": "added",
            "additions": 1,
            "deletions": 0,
            "changes": 1,
            "patch": f"@@ -0,0 +1 @@\n+page {i}",
        }
        for i in range(41)
    ]
    fake.seed_pull_request(pull_seed(number=8), files, {})
    with serve_in_thread(fake) as base_url:
        pull = pygithub(base_url).get_repo(REPO).get_pull(8)
        walked = list(pull.get_files())
        first_page = httpx.get(
            f"{base_url}/repos/{REPO}/pulls/8/files", headers={"Authorization": f"token {TOKEN}"}
        )
        one_page = pygithub(base_url, per_page=100).get_repo(REPO).get_pull(8).get_files()
        assert len(list(one_page)) == 41

    assert [f.filename for f in walked] == [f["filename"] for f in files]
    assert walked[40].patch == "@@ -0,0 +1 @@\n+page 40"
    assert len(first_page.json()) == 30
    assert first_page.headers["link"] == (
        f'<{base_url}/repos/{REPO}/pulls/8/files?page=2>; rel="next", '
        f'<{base_url}/repos/{REPO}/pulls/8/files?page=2>; rel="last"'
    )
    file_requests = [r for r in fake.state()["requests"] if r["path"].endswith("/pulls/8/files")]
    assert [r["query"] for r in file_requests[:2]] == ["", "page=2"]
    assert file_requests[-1]["query"] == "per_page=100"


def test_link_header_of_a_middle_page_has_prev_next_last_first(fake: FakeGitHub) -> None:
    files = [
        {"filename": f"f{i}", "status": "added", "additions": 0, "deletions": 0, "changes": 0}
        for i in range(7)
    ]
    fake.seed_pull_request(pull_seed(number=9), files, {})
    with serve_in_thread(fake) as base_url:
        response = httpx.get(
            f"{base_url}/repos/{REPO}/pulls/9/files?per_page=2&page=2",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    url = f"{base_url}/repos/{REPO}/pulls/9/files?per_page=2&page="
    assert [f["filename"] for f in response.json()] == ["f2", "f3"]
    assert response.headers["link"] == (
        f'<{url}1>; rel="prev", <{url}3>; rel="next", <{url}4>; rel="last", <{url}1>; rel="first"'
    )


def test_review_with_inline_comments_on_both_sides_is_stored(
    fake: FakeGitHub, base_url: str, pull: github.PullRequest.PullRequest
) -> None:
    commit = pull.base.repo.get_commit(HEAD)
    review = pull.create_review(
        commit=commit,
        body="Two findings",
        event="REQUEST_CHANGES",
        comments=[
            {"path": "src/app.py", "line": 2, "side": "RIGHT", "body": "added line"},
            {"path": "src/app.py", "line": 5, "side": "RIGHT", "body": "context line"},
            {"path": "src/app.py", "line": 2, "side": "LEFT", "body": "removed line"},
            {"path": "src/app.py", "line": 22, "side": "LEFT", "body": "removed, 2nd hunk"},
            {
                "path": "src/app.py",
                "start_line": 2,
                "start_side": "RIGHT",
                "line": 3,
                "side": "RIGHT",
                "body": "two added lines",
            },
            {"path": "src/app.py", "line": 22, "side": "RIGHT", "body": "added, 2nd hunk"},
        ],
    )

    assert review.state == "CHANGES_REQUESTED"
    assert review.commit_id == HEAD
    assert review.user.login == "prsaga[bot]" and review.user.type == "Bot"
    comments = {c.body: c for c in pull.get_single_review_comments(review.id)}
    assert (comments["added line"].position, comments["added line"].original_line) == (3, 2)
    assert comments["removed line"].side == "LEFT" and comments["removed line"].position == 2
    assert comments["removed, 2nd hunk"].position == 11
    assert (comments["two added lines"].start_line, comments["two added lines"].line) == (2, 3)
    assert comments["added, 2nd hunk"].diff_hunk == (
        "@@ -20,3 +21,3 @@ def main():\n     a = 1\n+    b = 2"
    )
    assert comments["context line"].diff_hunk == "\n".join(APP_PATCH.split("\n")[:7])
    stored = fake.state()["reviews"]
    assert [(r["pull_number"], r["id"], r["state"], len(r["comments"])) for r in stored] == [
        (NUMBER, review.id, "CHANGES_REQUESTED", 6)
    ]
    assert pull.get_review(review.id).body == "Two findings"


@pytest.mark.parametrize(
    ("comment", "error"),
    [
        ({"line": 10, "side": "RIGHT"}, LINE_NOT_IN_DIFF),
        ({"line": 24, "side": "RIGHT"}, LINE_NOT_IN_DIFF),
        ({"line": 5, "side": "LEFT"}, LINE_NOT_IN_DIFF),
        (
            {"path": "src/other.py", "line": 1},
            "Pull request review thread path is invalid and "
            "Pull request review thread diff hunk can't be blank",
        ),
        (
            {"start_line": 2, "line": 22},
            "Pull request review thread start line must be part of the same hunk as the line.",
        ),
        (
            {"start_line": 3, "line": 2},
            "Pull request review thread start line must precede the end line.",
        ),
    ],
)
def test_a_comment_outside_the_diff_fails_the_whole_review_with_githubs_422(
    fake: FakeGitHub, pull: github.PullRequest.PullRequest, comment: dict[str, Any], error: str
) -> None:
    good = {"path": "src/app.py", "line": 2, "body": "fine"}
    bad = {"path": "src/app.py", "body": "misplaced", **comment}
    with pytest.raises(github.GithubException) as raised:
        pull.create_review(body="x", event="COMMENT", comments=[good, bad])

    assert raised.value.status == 422
    assert raised.value.data == {
        "message": "Unprocessable Entity",
        "errors": [error],
        "documentation_url": "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request",
        "status": "422",
    }
    assert fake.state()["reviews"] == []


def test_legacy_position_comments_are_anchored_by_their_patch_position(
    pull: github.PullRequest.PullRequest,
) -> None:
    review = pull.create_review(
        event="COMMENT", comments=[{"path": "src/app.py", "position": 3, "body": "by position"}]
    )
    [comment] = list(pull.get_single_review_comments(review.id))
    assert (comment.line, comment.side, comment.position) == (2, "RIGHT", 3)

    with pytest.raises(github.GithubException) as raised:  # position 7 is a hunk header
        pull.create_review(
            event="COMMENT", comments=[{"path": "src/app.py", "position": 7, "body": "x"}]
        )
    assert raised.value.data["errors"] == [
        "Pull request review thread position is invalid and "
        "Pull request review thread diff hunk can't be blank"
    ]


def test_a_review_without_event_stays_pending_and_hides_its_comments(
    pull: github.PullRequest.PullRequest,
) -> None:
    pending = pull.create_review(
        body="draft", comments=[{"path": "src/app.py", "line": 3, "body": "later"}]
    )

    assert pending.state == "PENDING"
    assert pending.submitted_at is None
    assert [c.body for c in pull.get_single_review_comments(pending.id)] == ["later"]
    assert list(pull.get_review_comments()) == []
    with pytest.raises(github.GithubException) as second:
        pull.create_review(body="another", event="COMMENT")
    assert second.value.data["errors"] == ["User can only have one pending review per pull request"]


def test_review_body_update_and_review_comment_delete(
    fake: FakeGitHub, pull: github.PullRequest.PullRequest
) -> None:
    review = pull.create_review(
        body="v1", event="COMMENT", comments=[{"path": "src/app.py", "line": 2, "body": "c"}]
    )
    review.edit("v2")
    [comment] = list(pull.get_review_comments())
    comment.delete()

    assert pull.get_review(review.id).body == "v2"
    assert list(pull.get_review_comments()) == []
    assert fake.state()["reviews"][0]["comments"] == []
    with pytest.raises(github.UnknownObjectException):
        comment.delete()


def test_a_bad_or_missing_token_gets_401_bad_credentials(fake: FakeGitHub, base_url: str) -> None:
    with pytest.raises(github.BadCredentialsException) as raised:
        pygithub(base_url, "wrong-token").get_repo(REPO)
    missing = httpx.get(f"{base_url}/repos/{REPO}")

    assert raised.value.status == 401
    assert missing.status_code == 401
    assert missing.json() == {
        "message": "Bad credentials",
        "documentation_url": "https://docs.github.com/rest",
        "status": "401",
    }
    assert [r["status"] for r in fake.state()["requests"]] == [401, 401]
    assert TOKEN not in json.dumps(fake.state()) and "wrong-token" not in json.dumps(fake.state())
    assert TOKEN not in repr(fake)


def test_an_unknown_pull_request_is_404_not_found(base_url: str) -> None:
    repo = pygithub(base_url).get_repo(REPO)
    with pytest.raises(github.UnknownObjectException) as raised:
        repo.get_pull(404)

    assert raised.value.data == {
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest/pulls/pulls#get-a-pull-request",
        "status": "404",
    }
    with pytest.raises(github.UnknownObjectException):
        pygithub(base_url).get_repo("acme/unknown")


def test_statuses_and_the_combined_status(base_url: str) -> None:
    commit = pygithub(base_url).get_repo(REPO).get_commit(HEAD)
    assert commit.get_combined_status().state == "pending"  # no status yet

    commit.create_status("pending", context="prsaga/review", description="Reviewing")
    created = commit.create_status("success", "https://ci.example/7", "Clean", "prsaga/review")
    combined = commit.get_combined_status()
    assert created.creator.login == "prsaga[bot]"
    assert (combined.state, combined.total_count) == ("success", 1)
    assert [(s.context, s.state) for s in combined.statuses] == [("prsaga/review", "success")]
    assert [s.state for s in commit.get_statuses()] == ["success", "pending"]

    commit.create_status("failure", context="ci/tests")
    combined = commit.get_combined_status()
    assert (combined.state, combined.total_count, combined.sha) == ("failure", 2, HEAD)
    with pytest.raises(github.GithubException) as raised:
        commit.create_status("bogus")
    assert raised.value.status == 422


def test_a_status_on_a_commit_the_server_does_not_know_is_422(base_url: str) -> None:
    response = httpx.post(
        f"{base_url}/repos/{REPO}/statuses/{'9' * 40}",
        json={"state": "success"},
        headers={"Authorization": f"token {TOKEN}"},
    )
    assert response.status_code == 422
    assert response.json()["message"] == f"No commit found for SHA: {'9' * 40}"


def test_issue_comments_are_created_listed_and_edited(
    fake: FakeGitHub, pull: github.PullRequest.PullRequest
) -> None:
    comment = pull.create_issue_comment("Summary v1")
    comment.edit("Summary v2")

    assert [c.body for c in pull.get_issue_comments()] == ["Summary v2"]
    assert comment.user.type == "Bot"
    assert pull.base.repo.get_pull(NUMBER).comments == 1
    [stored] = fake.state()["issue_comments"]
    assert (stored["repository"], stored["pull_number"]) == (REPO, NUMBER)
    assert stored["body"] == "Summary v2"


def test_injected_faults_answer_then_run_out_and_can_be_cleared(
    fake: FakeGitHub, base_url: str
) -> None:
    admin = httpx.Client(base_url=base_url)
    added = admin.post(
        "/_fake/faults",
        json={"method": "POST", "path_regex": r"/statuses/", "status": 502, "times": 2},
    )
    assert added.status_code == 201
    commit = pygithub(base_url).get_repo(REPO).get_commit(HEAD)

    for _ in range(2):
        with pytest.raises(github.GithubException) as raised:
            commit.create_status("pending")
        assert raised.value.status == 502
    assert commit.create_status("pending").state == "pending"

    fake.inject_fault(403, rf"/pulls/{NUMBER}$", headers={"x-ratelimit-remaining": "0"}, times=5)
    repo = pygithub(base_url).get_repo(REPO)
    with pytest.raises(github.RateLimitExceededException) as limited:
        repo.get_pull(NUMBER)
    assert limited.value.headers["x-ratelimit-remaining"] == "0"
    assert fake.state()["faults"][0]["times"] == 4
    assert admin.delete("/_fake/faults").status_code == 204
    assert pygithub(base_url).get_repo(REPO).get_pull(NUMBER).number == NUMBER
    assert fake.state()["faults"] == []
    statuses = [r["status"] for r in fake.state()["requests"] if "/statuses/" in r["path"]]
    assert statuses == [502, 502, 201]
    admin.close()


@pytest.mark.parametrize(
    ("status", "body", "exception"),
    [
        (401, None, github.BadCredentialsException),
        (404, None, github.UnknownObjectException),
        (500, None, github.GithubException),
        (502, "<html><body><h1>502 Bad Gateway</h1></body></html>", github.GithubException),
    ],
)
def test_an_injected_fault_raises_what_pygithub_raises_for_that_answer(
    fake: FakeGitHub, base_url: str, status: int, body: str | None, exception: type[Exception]
) -> None:
    fake.inject_fault(status, rf"/pulls/{NUMBER}$", method="GET", body=body)
    repo = pygithub(base_url).get_repo(REPO)
    with pytest.raises(exception) as raised:
        repo.get_pull(NUMBER)

    assert raised.value.status == status
    assert repo.get_pull(NUMBER).number == NUMBER  # the fault is used up


def test_a_fault_after_handling_loses_the_answer_but_keeps_the_write(
    fake: FakeGitHub, pull: github.PullRequest.PullRequest
) -> None:
    fake.inject_fault(502, r"/issues/\d+/comments$", method="POST", after_handling=True)
    with pytest.raises(github.GithubException) as lost:
        pull.create_issue_comment("posted, but the answer is lost")

    assert lost.value.status == 502
    assert [c.body for c in pull.get_issue_comments()] == ["posted, but the answer is lost"]


def test_a_fault_can_skip_the_first_matching_requests(fake: FakeGitHub, base_url: str) -> None:
    fake.inject_fault(422, r"/statuses/", method="POST", skip=1)
    commit = pygithub(base_url).get_repo(REPO).get_commit(HEAD)
    commit.create_status("pending")
    with pytest.raises(github.GithubException) as refused:
        commit.create_status("success")

    assert refused.value.status == 422
    assert [s["state"] for s in fake.state()["statuses"]] == ["pending"]
    assert fake.state()["statuses"][0]["sha"] == HEAD


def test_the_hourly_rate_limit_runs_out_with_githubs_403() -> None:
    fake = FakeGitHub(TOKEN, rate_limit=2)
    fake.seed_pull_request(pull_seed(), [APP_FILE], {})
    with serve_in_thread(fake) as base_url:
        first = httpx.get(f"{base_url}/repos/{REPO}", headers={"Authorization": f"token {TOKEN}"})
        repo = pygithub(base_url).get_repo(REPO)  # the second request
        with pytest.raises(github.RateLimitExceededException) as limited:
            repo.get_pull(NUMBER)

    assert first.headers["x-ratelimit-limit"] == "2"
    assert first.headers["x-ratelimit-remaining"] == "1"
    assert first.headers["x-ratelimit-resource"] == "core"
    assert limited.value.headers["x-ratelimit-remaining"] == "0"
    assert limited.value.data["message"].startswith("API rate limit exceeded")


def test_file_contents_at_the_head_sha_and_404_for_others(base_url: str) -> None:
    repo = pygithub(base_url).get_repo(REPO)
    content = repo.get_contents("src/app.py", ref=HEAD)

    assert content.decoded_content == b"import os\n"
    assert content.sha == git_blob_sha(b"import os\n")
    assert content.encoding == "base64"
    with pytest.raises(github.UnknownObjectException):
        repo.get_contents("src/app.py", ref=BASE)
    with pytest.raises(github.UnknownObjectException):
        repo.get_contents("src/missing.py", ref=HEAD)


def test_a_file_over_one_megabyte_comes_without_content(fake: FakeGitHub) -> None:
    big = b"x" * (1024 * 1024 + 1)
    fake.seed_pull_request(pull_seed(head="4" * 40, number=10), [], {"big.bin": big})
    with serve_in_thread(fake) as base_url:
        response = httpx.get(
            f"{base_url}/repos/{REPO}/contents/big.bin?ref={'4' * 40}",
            headers={"Authorization": f"token {TOKEN}"},
        )
    body = response.json()
    assert (body["encoding"], body["content"], body["size"]) == ("none", "", len(big))
    assert body["sha"] == git_blob_sha(big)


def test_a_new_head_keeps_reviews_and_old_commits_still_take_comments(
    fake: FakeGitHub, pull: github.PullRequest.PullRequest
) -> None:
    old = pull.create_review(body="on v1", event="COMMENT")
    new_head = "3" * 40
    new_file = {**APP_FILE, "filename": "src/new.py", "patch": "@@ -0,0 +1 @@\n+x = 1"}
    fake.seed_pull_request(pull_seed(head=new_head), [new_file], {})
    moved = pull.base.repo.get_pull(NUMBER)
    stale_commit = pull.base.repo.get_commit(HEAD)

    assert moved.head.sha == new_head and moved.id == pull.id
    assert [f.filename for f in moved.get_files()] == ["src/new.py"]
    assert [r.id for r in moved.get_reviews()] == [old.id]
    on_old = moved.create_review(
        commit=stale_commit,
        event="COMMENT",
        body="late",
        comments=[{"path": "src/app.py", "line": 2, "body": "still on v1's diff"}],
    )
    assert on_old.commit_id == HEAD


def test_seeding_and_reading_state_over_the_admin_api() -> None:
    fake = FakeGitHub(TOKEN)
    with serve_in_thread(fake) as base_url, httpx.Client(base_url=base_url) as admin:
        seeded = admin.post(
            "/_fake/pulls",
            json={
                "pull": pull_seed(),
                "files": [APP_FILE],
                "contents_base64": {"src/app.py": "aW1wb3J0IG9zCg=="},
            },
        )
        refused = admin.post("/_fake/pulls", json={"pull": {"number": 1}})
        content = pygithub(base_url).get_repo(REPO).get_contents("src/app.py", ref=HEAD)
        state = admin.get("/_fake/state").json()

    assert seeded.status_code == 201
    assert seeded.json()["pull"]["url"] == f"{base_url}/repos/{REPO}/pulls/{NUMBER}"
    assert refused.status_code == 400
    assert content.decoded_content == b"import os\n"
    assert state["pulls"] == [
        {
            "repository": REPO,
            "number": NUMBER,
            "head_sha": HEAD,
            "base_sha": BASE,
            "files": 1,
            "commits": [HEAD],
            "state": "open",
            "merged": False,
            "labels": [],
        }
    ]
    assert [(r["method"], r["status"]) for r in state["requests"]] == [("GET", 200)] * 2


def test_the_demo_pull_request_is_the_real_requests_commit() -> None:
    demo = load_demo_pull_request()
    by_name = {f["filename"]: f for f in demo.files}
    patch_lines = by_name["tests/testserver/server.py"]["patch"].split("\n")
    added = "".join(line[1:] + "\n" for line in patch_lines[1:])

    assert demo.contents["tests/testserver/server.py"] == added.encode("utf-8")
    # The contents hash to the blob ids git recorded for the commit.
    for path, data in demo.contents.items():
        assert git_blob_sha(data) == by_name[path]["sha"]
    assert "tests/testserver/.server.py.swo" not in demo.contents
    assert all("_fixture_notes" not in f for f in demo.files)
    assert demo.head_sha == "ca35c847a203b264edb57a2d6d3a2700ac69dcde"
    assert demo.pull["base"]["sha"] == "141db281d1adffd39cb14e3bc343e311d855ddc5"
    payload = demo.webhook_payload
    assert (payload["action"], payload["number"]) == ("opened", demo.number)
    assert payload["pull_request"]["head"]["sha"] == demo.head_sha
    assert payload["repository"]["full_name"] == demo.full_name == "psf/requests"
    assert payload["sender"] == demo.pull["user"]


def test_the_demo_is_served_to_pygithub() -> None:
    demo = load_demo_pull_request()
    fake = FakeGitHub(TOKEN)
    fake.seed_pull_request(demo.pull, demo.files, demo.contents)
    with serve_in_thread(fake) as base_url:
        repo = pygithub(base_url).get_repo(demo.full_name)
        pull = repo.get_pull(demo.number)
        files = list(pull.get_files())
        server_py = repo.get_contents("tests/testserver/server.py", ref=demo.head_sha)
        empty = repo.get_contents("tests/testserver/__init__.py", ref=demo.head_sha)
        with pytest.raises(github.UnknownObjectException):
            repo.get_contents("tests/testserver/.server.py.swo", ref=demo.head_sha)

    assert (pull.title, pull.head.sha, pull.changed_files) == (
        "Moved testserver to tests/",
        demo.head_sha,
        3,
    )
    patches = {f.filename: f.patch for f in files}
    assert patches["tests/testserver/.server.py.swo"] is None  # binary: no patch
    assert server_py.decoded_content == demo.contents["tests/testserver/server.py"]
    assert (empty.size, empty.decoded_content) == (0, b"")


def test_a_renumbered_copy_of_the_demo_gets_urls_of_its_own() -> None:
    demo = load_demo_pull_request()
    fake = FakeGitHub(TOKEN)
    served = fake.seed_pull_request({**demo.pull, "number": 31}, demo.files, demo.contents)
    with serve_in_thread(fake) as base_url:
        pull = pygithub(base_url).get_repo(demo.full_name).get_pull(31)
        files = list(pull.get_files())

    assert served["url"].endswith("/repos/psf/requests/pulls/31")
    assert served["_links"]["comments"]["href"].endswith("/issues/31/comments")
    assert len(files) == len(demo.files)
    with pytest.raises(ValueError, match="base.repo.full_name"):
        fake.seed_pull_request({"number": 1, "head": {"sha": HEAD}}, [], {})


def test_diff_positions_count_hunk_headers_and_skip_no_newline_markers() -> None:
    diff = FileDiff.parse(
        "@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+b\n@@ -9 +9,2 @@\n c\n+d"
    )

    assert [(line.position, line.kind) for line in diff.lines] == [
        (1, "-"),
        (3, "+"),
        (5, " "),
        (6, "+"),
    ]
    assert diff.find("RIGHT", 10) == diff.lines[3]
    assert diff.find("LEFT", 10) is None
    assert diff.hunk_through(diff.lines[3]) == "@@ -9 +9,2 @@\n c\n+d"


def test_main_takes_the_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr(
        github_fake_main.uvicorn, "run", lambda app, **kwargs: served.update(app=app, **kwargs)
    )
    monkeypatch.delenv("PRSAGA_TEST_FAKE_TOKEN", raising=False)
    assert github_fake_main.main(["--token-env", "PRSAGA_TEST_FAKE_TOKEN"]) == 2
    assert served == {}

    monkeypatch.setenv("PRSAGA_TEST_FAKE_TOKEN", "from-env")
    args = ["--token-env", "PRSAGA_TEST_FAKE_TOKEN", "--seed", "demo", "--port", "8799"]
    assert github_fake_main.main(args) == 0
    assert (served["host"], served["port"]) == ("127.0.0.1", 8799)
    client = TestClient(served["app"], headers={"Authorization": "token from-env"})
    response = client.get("/repos/psf/requests/pulls/2400")
    assert response.status_code == 200 and response.json()["number"] == 2400


# ---------------------------------------------------------------------------------------------
# A pull request's life: pushes, force pushes, comparisons, outdated comments, closing

CALC = "src/calc.py"
CONFIG = ".github/prsaga.yml"
BASE_CALC = "def add(a, b):\n    return a + b\n"
HEAD1_CALC = BASE_CALC + "\n\ndef sub(a, b):\n    return a - b\n"
HEAD1_PATCH = (
    "@@ -1,2 +1,6 @@\n def add(a, b):\n     return a + b\n+\n+\n+def sub(a, b):\n+    return a - b"
)
LIFE = 20


@pytest.fixture
def life(fake: FakeGitHub) -> FakeGitHub:
    """Pull request #20: one commit adding ``sub`` to a base that has ``add`` and a config."""
    calc = {"filename": CALC, "status": "modified", "additions": 4, "deletions": 0, "changes": 4}
    fake.seed_pull_request(
        pull_seed(head=HEAD, number=LIFE),
        [{**calc, "patch": HEAD1_PATCH}],
        {CALC: HEAD1_CALC},
        base_contents={CALC: BASE_CALC, CONFIG: "review:\n  drafts: true\n"},
    )
    return fake


def _owner_repo() -> tuple[str, str]:
    owner, name = REPO.split("/")
    return owner, name


def test_a_push_moves_the_head_and_compare_lists_what_changed_since(
    life: FakeGitHub, base_url: str
) -> None:
    repo = pygithub(base_url).get_repo(REPO)
    head2 = life.push(
        *_owner_repo(),
        LIFE,
        None,
        {CALC: "import math\n" + HEAD1_CALC, "src/mul.py": "def mul(a, b):\n    return a * b\n"},
        message="Add mul",
    )

    pull = repo.get_pull(LIFE)
    assert (pull.head.sha, pull.commits) == (head2, 2)
    assert {f.filename: f.status for f in pull.get_files()} == {
        CALC: "modified",
        "src/mul.py": "added",
    }
    since = repo.compare(HEAD, head2)
    assert (since.status, since.ahead_by, since.behind_by) == ("ahead", 1, 0)
    assert [c.sha for c in since.commits] == [head2]
    assert since.merge_base_commit.sha == HEAD
    assert {f.filename: f.patch for f in since.files} == {
        CALC: "@@ -1,3 +1,4 @@\n+import math\n def add(a, b):\n     return a + b\n ",
        "src/mul.py": "@@ -0,0 +1,2 @@\n+def mul(a, b):\n+    return a * b",
    }
    whole = repo.compare(BASE, head2)  # base...head is the pull request's own diff
    assert [f.filename for f in whole.files] == [f.filename for f in pull.get_files()]
    assert (whole.ahead_by, whole.total_commits) == (2, 2)
    commit = repo.get_commit(head2)
    assert [p.sha for p in commit.parents] == [HEAD]
    assert commit.commit.message == "Add mul"
    assert [f.filename for f in commit.files] == [CALC, "src/mul.py"]
    assert repo.get_contents("src/mul.py", ref=head2).decoded_content.startswith(b"def mul")
    with pytest.raises(github.UnknownObjectException):
        repo.get_contents("src/mul.py", ref=HEAD)
    assert repo.get_contents(CALC, ref=HEAD).decoded_content == HEAD1_CALC.encode()
    assert repo.compare(head2, head2).status == "identical"
    assert repo.compare(head2, HEAD).status == "behind"
    assert life.state()["pulls"][1]["commits"] == [HEAD, head2]

    head3 = life.push(*_owner_repo(), LIFE, None, {"src/mul.py": None})
    [removed] = repo.compare(head2, head3).files
    assert (removed.filename, removed.status, removed.deletions) == ("src/mul.py", "removed", 2)
    assert removed.sha == git_blob_sha(b"def mul(a, b):\n    return a * b\n")
    assert [f.filename for f in repo.get_pull(LIFE).get_files()] == [CALC]


def test_after_a_force_push_the_old_head_still_compares_as_diverged(
    life: FakeGitHub, base_url: str
) -> None:
    head2 = life.push(*_owner_repo(), LIFE, None, {CALC: HEAD1_CALC + "# two\n"})
    rewritten = life.push(*_owner_repo(), LIFE, None, {CALC: BASE_CALC + "# one\n"}, force=True)
    repo = pygithub(base_url).get_repo(REPO)

    since = repo.compare(head2, rewritten)
    assert (since.status, since.ahead_by, since.behind_by) == ("diverged", 1, 2)
    assert since.merge_base_commit.sha == BASE
    assert [f.patch for f in since.files] == [
        "@@ -1,2 +1,3 @@\n def add(a, b):\n     return a + b\n+# one"
    ]
    assert repo.get_pull(LIFE).commits == 1
    assert life.state()["pulls"][1]["commits"] == [rewritten]
    with pytest.raises(github.UnknownObjectException) as unknown:
        repo.compare("9" * 40, rewritten)
    assert unknown.value.data["message"] == "Not Found"


def test_commits_without_a_common_ancestor_answer_404_like_github(
    life: FakeGitHub, base_url: str
) -> None:
    other_base, other_head = "5" * 40, "6" * 40
    seed = pull_seed(head=other_head, number=LIFE + 1)
    seed["base"] = {**seed["base"], "sha": other_base}
    life.seed_pull_request(seed, [], {})
    with pytest.raises(github.GithubException) as unrelated:
        pygithub(base_url).get_repo(REPO).compare(HEAD, other_head)
    assert (unrelated.value.status, unrelated.value.data["message"]) == (
        404,
        f"No common ancestor between {HEAD} and {other_head}.",
    )


def test_review_comments_follow_their_lines_or_become_outdated_after_pushes(
    life: FakeGitHub, base_url: str
) -> None:
    pull = pygithub(base_url).get_repo(REPO).get_pull(LIFE)
    pull.create_review(
        event="COMMENT",
        comments=[
            {"path": CALC, "line": 1, "body": "on add"},
            {"path": CALC, "line": 6, "body": "on sub's return"},
            {"path": CALC, "start_line": 5, "line": 6, "body": "on sub"},
        ],
    )
    head2 = life.push(*_owner_repo(), LIFE, None, {CALC: "import math\n" + HEAD1_CALC})
    moved = {c.body: c for c in pull.get_review_comments()}
    assert [(c.line, c.original_line, c.commit_id) for c in moved.values()] == [
        (2, 1, head2),
        (7, 6, head2),
        (7, 6, head2),
    ]
    assert moved["on sub"].start_line == 6
    assert (moved["on add"].position, moved["on add"].original_position) == (2, 1)

    changed = ("import math\n" + HEAD1_CALC).replace("a - b", "b - a")
    head3 = life.push(*_owner_repo(), LIFE, None, {CALC: changed})
    after = {c.body: c for c in pull.get_review_comments()}
    assert (after["on add"].line, after["on add"].commit_id) == (2, head3)
    for body in ("on sub's return", "on sub"):
        outdated = after[body]
        assert (outdated.position, outdated.line, outdated.commit_id) == (None, None, head2)
        assert (outdated.original_line, outdated.original_commit_id) == (6, HEAD)
    assert after["on sub"].start_line is None and after["on sub"].original_start_line == 5
    assert len(after) == 3  # outdated comments are kept, never duplicated or dropped


def test_files_of_the_base_branch_are_read_by_branch_or_sha(
    life: FakeGitHub, base_url: str
) -> None:
    repo = pygithub(base_url).get_repo(REPO)
    by_branch = repo.get_contents(CONFIG, ref="main")
    by_sha = repo.get_contents(CONFIG, ref=BASE)
    default_branch = httpx.get(
        f"{base_url}/repos/{REPO}/contents/{CONFIG}", headers={"Authorization": f"token {TOKEN}"}
    )

    assert by_branch.decoded_content == by_sha.decoded_content == b"review:\n  drafts: true\n"
    assert default_branch.status_code == 200
    assert repo.get_contents(CONFIG, ref=HEAD).decoded_content == by_sha.decoded_content
    assert repo.get_contents(CALC, ref="main").decoded_content == BASE_CALC.encode()
    with pytest.raises(github.UnknownObjectException):
        repo.get_contents(".github/missing.yml", ref="main")


def test_closing_merged_or_not_and_reopening(life: FakeGitHub, base_url: str) -> None:
    repo = pygithub(base_url).get_repo(REPO)
    closed = life.close(*_owner_repo(), LIFE)
    assert (closed["state"], closed["merged"]) == ("closed", False)
    assert repo.get_pull(LIFE).closed_at is not None
    assert pygithub(base_url).get_repo(REPO).open_issues_count == 1  # only NUMBER is open
    life.reopen(*_owner_repo(), LIFE)
    assert repo.get_pull(LIFE).state == "open"

    life.close(*_owner_repo(), LIFE, merged=True)
    merged = repo.get_pull(LIFE)
    assert (merged.state, merged.merged, len(merged.merge_commit_sha)) == ("closed", True, 40)
    with pytest.raises(ValueError, match="not closed without merging"):
        life.reopen(*_owner_repo(), LIFE)
    with pytest.raises(ValueError, match="already closed"):
        life.close(*_owner_repo(), LIFE)
    with pytest.raises(ValueError, match="was not seeded"):
        life.push(*_owner_repo(), 999, None, {})


# ---------------------------------------------------------------------------------------------
# Permissions, reactions, labels, dismissals


def test_collaborator_permission_roles_like_github(fake: FakeGitHub, base_url: str) -> None:
    private = pull_seed(number=3)
    private["base"] = {**private["base"], "repo": {"full_name": "acme/secret", "private": True}}
    fake.seed_pull_request(private, [], {})
    fake.set_permission(REPO, "maya", "maintain")
    fake.set_permission(REPO, "tom", "triage")
    repo = pygithub(base_url).get_repo(REPO)

    assert [repo.get_collaborator_permission(u) for u in ("maya", "tom", "stranger", "acme")] == [
        "write",
        "read",
        "read",
        "admin",
    ]
    assert repo.get_collaborator_role_name("maya") == "maintain"
    secret = pygithub(base_url).get_repo("acme/secret")
    assert secret.get_collaborator_permission("stranger") == "none"
    answer = httpx.get(
        f"{base_url}/repos/{REPO}/collaborators/maya/permission",
        headers={"Authorization": f"token {TOKEN}"},
    ).json()
    assert answer["user"]["login"] == "maya" and answer["user"]["permissions"]["maintain"]
    assert not answer["user"]["permissions"]["admin"]
    with pytest.raises(ValueError, match="permission must be one of"):
        fake.set_permission(REPO, "maya", "owner")


def test_reactions_on_a_users_comment_are_created_once(
    fake: FakeGitHub, pull: github.PullRequest.PullRequest
) -> None:
    command = fake.add_issue_comment(*_owner_repo(), NUMBER, "/agent approve", login="maya")
    comment = pull.get_issue_comment(command["id"])
    first = comment.create_reaction("eyes")
    again = comment.create_reaction("eyes")
    thumbs = comment.create_reaction("+1")

    assert (comment.user.login, comment.user.type, comment.body) == (
        "maya",
        "User",
        "/agent approve",
    )
    assert first.id == again.id != thumbs.id
    assert first.user.login == "prsaga[bot]"
    posted = [r["status"] for r in fake.state()["requests"] if r["path"].endswith("/reactions")]
    assert posted == [201, 200, 201]
    assert [(r["comment_id"], r["content"]) for r in fake.state()["reactions"]] == [
        (command["id"], "eyes"),
        (command["id"], "+1"),
    ]
    with pytest.raises(github.GithubException) as invalid:
        comment.create_reaction("thumbs-up")
    assert invalid.value.status == 422


def test_labels_are_added_listed_and_seeded(
    fake: FakeGitHub, pull: github.PullRequest.PullRequest
) -> None:
    pull.add_to_labels("security", "performance")
    pull.add_to_labels("security")
    assert [label.name for label in pull.get_labels()] == ["security", "performance"]
    assert [label.name for label in pull.base.repo.get_pull(NUMBER).labels] == [
        "security",
        "performance",
    ]

    seeded = fake.set_labels(*_owner_repo(), NUMBER, ["needs-review"])
    assert [label["name"] for label in seeded] == ["needs-review"]
    assert [label.name for label in pull.get_labels()] == ["needs-review"]
    assert fake.state()["pulls"][0]["labels"] == ["needs-review"]
    refused = httpx.post(
        f"{pull.url.rsplit('/pulls/', 1)[0]}/issues/{NUMBER}/labels",
        json={"labels": []},
        headers={"Authorization": f"token {TOKEN}"},
    )
    assert refused.status_code == 422


def test_only_approvals_and_change_requests_can_be_dismissed(
    pull: github.PullRequest.PullRequest,
) -> None:
    blocking = pull.create_review(body="Please fix", event="REQUEST_CHANGES")
    blocking.dismiss("A newer push addressed this")
    assert pull.get_review(blocking.id).state == "DISMISSED"

    approval = pull.create_review(event="APPROVE")
    assert approval.state == "APPROVED"
    comment = pull.create_review(body="fyi", event="COMMENT")
    for review, state in ((comment, "commented"), (blocking, "dismissed")):
        with pytest.raises(github.GithubException) as refused:
            review.dismiss("no")
        assert refused.value.status == 422
        assert refused.value.data["errors"] == [f"Can not dismiss a {state} pull request review"]


# ---------------------------------------------------------------------------------------------
# GitHub Apps: JWTs, installations, installation tokens and check runs

APP_ID = 1001
INSTALLATION = 77


class Clock:
    """A clock the test moves on: the fake's notion of now for tokens and JWTs."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app_fake(clock: Clock) -> FakeGitHub:
    fake = FakeGitHub(TOKEN, clock=clock)
    fake.seed_pull_request(pull_seed(), [APP_FILE], {"src/app.py": "import os\n"})
    other = pull_seed(number=2)
    other["base"] = {**other["base"], "repo": {"full_name": "acme/other"}}
    fake.seed_pull_request(other, [], {})
    secret = pull_seed(number=3)
    secret["base"] = {**secret["base"], "repo": {"full_name": "acme/secret", "private": True}}
    fake.seed_pull_request(secret, [], {})
    fake.register_app(APP_ID, rsa_keys().public_pem, {INSTALLATION: [REPO]})
    return fake


@pytest.fixture
def app_client(app_fake: FakeGitHub) -> TestClient:
    """The App fake in process (no server thread): for tests that speak plain HTTP."""
    return TestClient(app_fake.app)


def _bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def _new_token(client: TestClient, body: dict[str, Any] | None = None) -> Any:
    return client.post(
        f"/app/installations/{INSTALLATION}/access_tokens",
        json=body or {},
        headers=_bearer(app_jwt(APP_ID, rsa_keys())),
    )


def test_an_apps_jwt_opens_the_app_endpoints_and_nothing_else(app_client: TestClient) -> None:
    jwt_auth = _bearer(app_jwt(APP_ID, rsa_keys()))
    client = app_client
    installation = client.get(f"/repos/{REPO}/installation", headers=jwt_auth)
    by_id = client.get(f"/app/installations/{INSTALLATION}", headers=jwt_auth)
    not_installed = client.get("/repos/acme/other/installation", headers=jwt_auth)
    as_jwt = client.get(f"/repos/{REPO}", headers=jwt_auth)
    as_token = client.get(f"/app/installations/{INSTALLATION}", headers=_bearer(TOKEN))

    assert (installation.json()["id"], installation.json()["app_id"]) == (INSTALLATION, APP_ID)
    assert installation.json()["account"]["login"] == "acme"
    assert by_id.json()["permissions"]["checks"] == "write"
    assert not_installed.status_code == 404
    assert (as_jwt.status_code, as_jwt.json()["message"]) == (
        403,
        "Resource not accessible by integration",
    )
    assert (as_token.status_code, as_token.json()["message"]) == (
        401,
        "A JSON web token could not be decoded",
    )


@pytest.mark.parametrize(
    ("make_jwt", "status", "message"),
    [
        (
            lambda now: app_jwt(APP_ID, rsa_keys(), issued=now - 900),
            401,
            "'Expiration time' claim ('exp') must be a numeric value representing the future "
            "time at which the assertion expires",
        ),
        (
            lambda now: app_jwt(APP_ID, rsa_keys(), issued=now, lifetime=900),
            401,
            "'Expiration time' claim ('exp') is too far in the future",
        ),
        (
            lambda now: app_jwt(APP_ID, rsa_keys(), issued=now + 120),
            401,
            "'Issued at' claim ('iat') must be an Integer representing the time that the "
            "assertion was issued",
        ),
        (
            lambda now: app_jwt(APP_ID, rsa_keys("stranger"), issued=now),
            401,
            "A JSON web token could not be decoded",
        ),
        (lambda now: app_jwt(APP_ID + 1, rsa_keys(), issued=now), 404, "Integration not found"),
        (
            lambda now: "eyJhbGciOiJIUzI1NiJ9.e30.bm90LWEtc2lnbmF0dXJl",
            401,
            "A JSON web token could not be decoded",
        ),
    ],
    ids=["expired", "too-long", "issued-later", "wrong-key", "unknown-app", "hs256"],
)
def test_a_bad_jwt_is_refused_with_githubs_message(
    app_client: TestClient,
    clock: Clock,
    make_jwt: Any,
    status: int,
    message: str,
) -> None:
    response = app_client.get(
        f"/app/installations/{INSTALLATION}", headers=_bearer(make_jwt(clock.now))
    )
    assert (response.status_code, response.json()["message"]) == (status, message)


def test_installation_tokens_reach_their_repositories_until_they_expire(
    app_fake: FakeGitHub, app_client: TestClient, clock: Clock
) -> None:
    client = app_client
    issued = _new_token(client)
    token = issued.json()["token"]
    auth = {"Authorization": f"token {token}"}
    own = client.get(f"/repos/{REPO}/pulls/{NUMBER}", headers=auth)
    public = client.get("/repos/acme/other/pulls/2", headers=auth)
    private = client.get("/repos/acme/secret/pulls/3", headers=auth)
    clock.now += 3601
    expired = client.get(f"/repos/{REPO}/pulls/{NUMBER}", headers=auth)

    assert issued.status_code == 201
    assert token.startswith("ghs_") and len(token) == 40
    expires = datetime.fromisoformat(issued.json()["expires_at"].replace("Z", "+00:00"))
    assert 3590 < expires.timestamp() - (clock.now - 3601) <= 3600
    assert issued.json()["permissions"]["pull_requests"] == "write"
    assert own.status_code == 200
    assert (public.status_code, public.json()["message"]) == (
        403,
        "Resource not accessible by integration",
    )
    assert private.status_code == 404
    assert (expired.status_code, expired.json()["message"]) == (401, "Bad credentials")
    state = json.dumps(app_fake.state())
    assert token not in state and "PUBLIC KEY" not in state
    assert app_fake.state()["apps"] == [
        {
            "app_id": APP_ID,
            "slug": "prsaga",
            "installations": [
                {
                    "id": INSTALLATION,
                    "repositories": [REPO],
                    "permissions": app_fake.state()["apps"][0]["installations"][0]["permissions"],
                    "tokens_issued": 1,
                }
            ],
        }
    ]


def test_a_token_can_be_narrowed_but_not_widened(app_client: TestClient) -> None:
    narrowed = _new_token(app_client, {"permissions": {"pull_requests": "read"}})
    wider = _new_token(app_client, {"permissions": {"administration": "write"}})
    elsewhere = _new_token(app_client, {"repositories": ["other"]})
    listed = _new_token(app_client, {"repositories": ["widgets"]})

    assert narrowed.json()["permissions"] == {"pull_requests": "read"}
    assert (wider.status_code, wider.json()["message"]) == (
        422,
        "The permissions requested are not granted to this installation.",
    )
    assert elsewhere.status_code == 422
    assert [r["full_name"] for r in listed.json()["repositories"]] == [REPO]


def test_check_runs_are_for_apps_and_accumulate_annotations(app_fake: FakeGitHub) -> None:
    def annotations(start: int, count: int) -> list[dict[str, Any]]:
        return [
            {
                "path": "src/app.py",
                "start_line": line,
                "end_line": line,
                "annotation_level": "warning",
                "message": f"finding {line}",
            }
            for line in range(start, start + count)
        ]

    with serve_in_thread(app_fake) as base_url:
        with pytest.raises(github.GithubException) as plain:
            pygithub(base_url).get_repo(REPO).create_check_run("prsaga/review", HEAD)
        repo = installation_github(base_url, APP_ID, rsa_keys(), INSTALLATION).get_repo(REPO)
        run = repo.create_check_run(
            "prsaga/review",
            HEAD,
            status="in_progress",
            output={"title": "Reviewing", "summary": "…", "annotations": annotations(1, 50)},
        )
        with pytest.raises(github.GithubException) as too_many:
            run.edit(output={"title": "x", "summary": "y", "annotations": annotations(1, 51)})
        run.edit(
            conclusion="failure",
            output={"title": "80 findings", "summary": "Done", "annotations": annotations(51, 30)},
        )
        second = repo.create_check_run("prsaga/review", HEAD, conclusion="success")
        latest = list(repo.get_commit(HEAD).get_check_runs())
        every = list(repo.get_commit(HEAD).get_check_runs(filter="all"))
        stored = repo.get_check_run(run.id)
        listed = list(stored.get_annotations())

    assert (plain.value.status, plain.value.data["message"]) == (
        403,
        "You must authenticate via a GitHub App.",
    )
    assert (too_many.value.status, too_many.value.data["message"]) == (
        422,
        "Invalid request.\n\nNo more than 50 items are allowed; 51 were supplied.",
    )
    assert (stored.status, stored.conclusion, stored.output.title) == (
        "completed",
        "failure",
        "80 findings",
    )
    assert stored.completed_at is not None and stored.app.id == APP_ID
    assert stored.output.annotations_count == len(listed) == 80
    assert [a.start_line for a in listed] == list(range(1, 81))
    assert [r.id for r in latest] == [second.id]
    assert [r.id for r in every] == [second.id, run.id]
    assert stored.pull_requests[0].number == NUMBER
    assert [len(r["annotations"]) for r in app_fake.state()["check_runs"]] == [80, 0]


def test_pull_requests_apps_and_roles_are_seeded_over_the_admin_api(clock: Clock) -> None:
    fake = FakeGitHub(None, clock=clock)
    calc = {"filename": CALC, "status": "modified", "additions": 4, "deletions": 0, "changes": 4}
    with serve_in_thread(fake) as base_url, httpx.Client(base_url=base_url) as admin:
        admin.post(
            "/_fake/pulls",
            json={
                "pull": pull_seed(),
                "files": [{**calc, "patch": HEAD1_PATCH}],
                "contents": {CALC: HEAD1_CALC},
                "base_contents": {CONFIG: "x: 1\n", CALC: BASE_CALC},
            },
        ).raise_for_status()
        registered = admin.post(
            "/_fake/apps",
            json={
                "app_id": APP_ID,
                "public_key_pem": rsa_keys().public_pem,
                "installations": {str(INSTALLATION): [REPO]},
            },
        )
        pushed = admin.post(
            f"/_fake/pulls/{REPO}/{NUMBER}/push",
            json={"contents": {CALC: BASE_CALC, "src/new.py": "x = 1\n"}, "message": "Revert"},
        )
        commented = admin.post(
            f"/_fake/pulls/{REPO}/{NUMBER}/comments",
            json={"body": "/agent review", "login": "maya"},
        )
        admin.put(f"/_fake/permissions/{REPO}/maya", json={"permission": "write"})
        admin.put(f"/_fake/pulls/{REPO}/{NUMBER}/labels", json={"labels": ["security"]})
        closed = admin.post(f"/_fake/pulls/{REPO}/{NUMBER}/close", json={"merged": True})
        bad = admin.post(f"/_fake/pulls/{REPO}/{NUMBER + 1}/push", json={})
        plain = httpx.get(f"{base_url}/repos/{REPO}", headers={"Authorization": "token x"})
        repo = installation_github(base_url, APP_ID, rsa_keys(), INSTALLATION).get_repo(REPO)
        files = {f.filename: f.status for f in repo.get_pull(NUMBER).get_files()}
        permission = repo.get_collaborator_permission("maya")

    assert registered.status_code == pushed.status_code == commented.status_code == 201
    assert files == {"src/new.py": "added"}  # calc.py is back to the base's content
    assert commented.json()["comment"]["user"]["login"] == "maya"
    assert closed.json()["pull"]["merged"] is True
    assert bad.status_code == 400 and "was not seeded" in bad.json()["message"]
    assert plain.status_code == 401  # no plain token: only the App's credentials open the API
    assert permission == "write"
    state = fake.state()
    assert state["pulls"][0]["commits"] == [HEAD, pushed.json()["sha"]]
    assert state["pulls"][0]["labels"] == ["security"]
    assert state["permissions"] == {REPO: {"maya": "write"}}


def test_main_can_register_an_app_instead_of_a_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr(
        github_fake_main.uvicorn, "run", lambda app, **kwargs: served.update(app=app, **kwargs)
    )
    monkeypatch.delenv("PRSAGA_TEST_FAKE_TOKEN", raising=False)
    key_file = tmp_path / "app.pub.pem"
    key_file.write_text(rsa_keys().public_pem)
    app_args = ["--token-env", "PRSAGA_TEST_FAKE_TOKEN", "--app-id", str(APP_ID)]
    app_args += ["--app-public-key", str(key_file), "--seed", "demo"]

    assert github_fake_main.main([*app_args, "--installation", "seven=psf/requests"]) == 2
    assert github_fake_main.main([*app_args, "--installation", "7=psf/requests"]) == 0
    client = TestClient(served["app"])
    installation = client.get(
        "/repos/psf/requests/installation", headers=_bearer(app_jwt(APP_ID, rsa_keys()))
    )
    assert installation.status_code == 200 and installation.json()["id"] == 7
    assert (
        client.get("/repos/psf/requests", headers={"Authorization": "token x"}).status_code == 401
    )
