"""The local GitHub server, driven the way prsaga drives GitHub: through PyGithub, over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import github
import httpx
import pytest
from starlette.testclient import TestClient

from prsaga.demo import load_demo_pull_request
from prsaga.github_fake import FakeGitHub, FileDiff, git_blob_sha, serve_in_thread
from prsaga.github_fake import __main__ as github_fake_main

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


def pygithub(base_url: str, token: str = TOKEN, **options: Any) -> github.Github:
    return github.Github(
        base_url=base_url,
        auth=github.Auth.Token(token),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
        timeout=10,
        **options,
    )


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
        {"repository": REPO, "number": NUMBER, "head_sha": HEAD, "base_sha": BASE, "files": 1}
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
