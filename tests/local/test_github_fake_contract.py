"""The local GitHub server checked against GitHub's own OpenAPI description.

Every operation the server serves is driven through PyGithub (and httpx for what PyGithub does
not call), for its success and every error status it can answer with. Each response body is
validated against the schema GitHub publishes for that operation and status, and each request
body PyGithub sent against the operation's request schema. The schemas come from the vendored
subset ``tests/contract/github-openapi-subset.json`` (see its PROVENANCE.md); the test never
reads anything outside the repository.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import github
import httpx
import jsonschema
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prsaga.local.demo import DemoPullRequest, load_demo_pull_request
from prsaga.local.github_fake import (
    DEFAULT_BOT_LOGIN,
    SERVED_OPERATIONS,
    FakeGitHub,
    serve_in_thread,
)
from prsaga.local.github_fake.onboarding import WEB_PATH_PREFIXES
from tests.local.test_github_fake import (
    RsaKeys,
    app_jwt,
    installation_github,
    pygithub,
    rsa_keys,
)
from tests.paths import TESTS_DIR

SUBSET_PATH = TESTS_DIR / "contract" / "github-openapi-subset.json"
SUBSET_URI = "urn:prsaga:github-openapi-subset"
TOKEN = "contract-test-token"
SERVER_PY = "tests/testserver/server.py"
APP_ID = 31337
INSTALLATION_ID = 4242

# Where GitHub's published schemas are known to be stricter than what GitHub sends. Each entry
# makes one property nullable; the vendored subset itself stays as GitHub publishes it.
KNOWN_SCHEMA_INACCURACIES = {
    # Outdated review comments: github/rest-api-description#1901 (position), and
    # ZedThree/clang-tidy-review#142 / vitali87/croft#454 (line null, original_line kept).
    "pull-request-review-comment": ("position", "line"),
    "review-comment": ("line",),
}
# GET /app/installations describes an installation's account inline as ``allOf`` a user and an
# enterprise, which no account can be; the shared ``installation`` schema (GET .../installation)
# says ``anyOf``, as GitHub sends.
ACCOUNT_ANY_OF = ("GET", "/app/installations")
# Request bodies GitHub accepts beyond the published schema. PyGithub's add_to_labels() sends
# a bare array of names, which GitHub answers with 200 (PyGithub's recorded exchange
# tests/ReplayData/PullRequest.testAddAndRemoveLabels.txt, commit 5cdf6ab3, LGPL-3.0); the
# 23.0.2 description documents only {"labels": [...]}.
ACCEPTED_REQUEST_FORMS = {
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels"): {
        "type": "array",
        "minItems": 1,
        "items": {"type": "string"},
    },
}


# ---------------------------------------------------------------------------------------------
# OpenAPI 3.0 schemas as JSON Schema


def openapi_to_json_schema(schema: Any) -> Any:
    """Translate an OpenAPI 3.0 schema object to JSON Schema 2020-12.

    The one difference that matters for validation is ``nullable: true``, which JSON Schema
    spells as ``null`` among the allowed types (and values, for an ``enum``).
    """
    if isinstance(schema, list):
        return [openapi_to_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    translated: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "nullable":
            continue
        if key == "properties":
            translated[key] = {name: openapi_to_json_schema(s) for name, s in value.items()}
        else:
            translated[key] = openapi_to_json_schema(value)
    if schema.get("nullable") is not True:
        return translated
    if "type" not in translated:  # e.g. {"allOf": [{"$ref": ...}], "nullable": true}
        return {"anyOf": [translated, {"type": "null"}]}
    types = translated["type"] if isinstance(translated["type"], list) else [translated["type"]]
    translated["type"] = [*types, "null"]
    if "enum" in translated and None not in translated["enum"]:
        translated["enum"] = [*translated["enum"], None]
    return translated


FORMAT_CHECKER = jsonschema.FormatChecker()


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    # jsonschema checks date-time only with an optional package; GitHub's timestamps are
    # RFC 3339 in UTC ("2016-03-03T20:52:59Z"), which fromisoformat reads.
    if not isinstance(value, str):
        return True
    return "T" in value and datetime.fromisoformat(value.replace("Z", "+00:00")) is not None


class Contract:
    """Validators for the responses and request bodies of the served operations."""

    def __init__(self, subset: dict[str, Any]) -> None:
        document = copy.deepcopy(subset)
        for name, properties in KNOWN_SCHEMA_INACCURACIES.items():
            for prop in properties:
                document["components"]["schemas"][name]["properties"][prop]["nullable"] = True
        for operation in document["operations"]:
            if (operation["method"], operation["path"]) == ACCOUNT_ANY_OF:
                account = operation["responses"]["200"]["schema"]["items"]["properties"]["account"]
                account["anyOf"] = account.pop("allOf")
        document["components"]["schemas"] = {
            name: openapi_to_json_schema(schema)
            for name, schema in document["components"]["schemas"].items()
        }
        for operation in document["operations"]:
            if operation["request_body"]:
                body = operation["request_body"]
                body["schema"] = openapi_to_json_schema(body["schema"])
            for response in operation["responses"].values():
                response["schema"] = openapi_to_json_schema(response["schema"])
        self.document = document
        self._registry = Registry().with_resource(SUBSET_URI, DRAFT202012.create_resource(document))
        self._index = {(op["method"], op["path"]): i for i, op in enumerate(document["operations"])}
        self._documented = {(s.method, s.path): s.documented_path for s in SERVED_OPERATIONS}

    def operation(self, method: str, served_path: str) -> tuple[int, dict[str, Any]]:
        index = self._index[(method, self._documented[(method, served_path)])]
        return index, self.document["operations"][index]

    def _validator(self, pointer: str) -> jsonschema.Draft202012Validator:
        return jsonschema.Draft202012Validator(
            {"$ref": f"{SUBSET_URI}#{pointer}"},
            registry=self._registry,
            format_checker=FORMAT_CHECKER,
        )

    def response_validator(
        self, method: str, served_path: str, status: int
    ) -> jsonschema.Draft202012Validator | None:
        """The validator of this response, or ``None`` when GitHub sends no body."""
        index, operation = self.operation(method, served_path)
        if str(status) not in operation["responses"]:
            raise AssertionError(f"{method} {served_path} has no {status} in the subset")
        if operation["responses"][str(status)]["schema"] is None:
            return None
        return self._validator(f"/operations/{index}/responses/{status}/schema")

    def request_validator(self, method: str, served_path: str) -> jsonschema.Draft202012Validator:
        index, operation = self.operation(method, served_path)
        assert operation["request_body"], f"{method} {served_path} takes no body"
        return self._validator(f"/operations/{index}/request_body/schema")


@pytest.fixture(scope="module")
def subset() -> dict[str, Any]:
    return json.loads(SUBSET_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def contract(subset: dict[str, Any]) -> Contract:
    return Contract(subset)


# ---------------------------------------------------------------------------------------------
# Recording what goes over the wire


@dataclass
class Exchange:
    method: str
    path: str
    route: str | None
    """The served path template, or ``None`` for admin and unknown paths."""
    status: int
    user_agent: str
    request_body: bytes
    response_body: bytes
    content_type: str

    def response_json(self) -> Any:
        return json.loads(self.response_body)


class Recorder:
    """ASGI middleware (outermost) that keeps every request and response of the server."""

    def __init__(self, app: ASGIApp, exchanges: list[Exchange], routes: list[Route]) -> None:
        self.app = app
        self.exchanges = exchanges
        self.routes = routes

    def _route_of(self, scope: Scope) -> str | None:
        if scope["path"].startswith(("/_fake/", *WEB_PATH_PREFIXES)):
            return None  # the server's own admin, and github.com's pages: not the REST API
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route.name
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_body = bytearray()
        response: dict[str, Any] = {"status": 0, "headers": {}, "body": bytearray()}

        async def recording_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                request_body.extend(message.get("body", b""))
            return message

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                response["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
            elif message["type"] == "http.response.body":
                response["body"].extend(message.get("body", b""))
            await send(message)

        await self.app(scope, recording_receive, recording_send)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.exchanges.append(
            Exchange(
                method=scope["method"],
                path=scope["path"],
                route=self._route_of(scope),
                status=response["status"],
                user_agent=headers.get("user-agent", ""),
                request_body=bytes(request_body),
                response_body=bytes(response["body"]),
                content_type=response["headers"].get("content-type", ""),
            )
        )


def recorded_fake(exchanges: list[Exchange], **options: Any) -> FakeGitHub:
    fake = FakeGitHub(TOKEN, **options)
    fake.app.add_middleware(Recorder, exchanges=exchanges, routes=fake.app.routes)
    return fake


def concrete_path(template: str, owner: str, repo: str) -> str:
    return template.format(
        owner=owner,
        repo=repo,
        pull_number=1,
        issue_number=1,
        review_id=1,
        comment_id=1,
        sha="0" * 40,
        ref="0" * 40,
        path="README.md",
        basehead=f"{'0' * 40}...{'1' * 40}",
        username="octocat",
        check_run_id=1,
        installation_id=1,
        code="0" * 20,
    )


# ---------------------------------------------------------------------------------------------
# Driving every operation


def _drive_with_pygithub(base_url: str, demo: DemoPullRequest) -> None:
    """prsaga's calls, as prsaga makes them, plus the errors PyGithub turns into exceptions."""
    gh = pygithub(base_url, TOKEN)
    assert gh.get_user().login == DEFAULT_BOT_LOGIN  # who the token is: prsaga's identity
    repo = gh.get_repo(demo.full_name)
    pull = repo.get_pull(demo.number)
    assert [f.filename for f in pull.get_files()] == [f["filename"] for f in demo.files]
    assert (
        repo.get_contents(SERVER_PY, ref=demo.head_sha).decoded_content == demo.contents[SERVER_PY]
    )
    commit = repo.get_commit(demo.head_sha)
    commit.create_status("pending", "https://ci.example/1", "Reviewing", "prsaga/review")
    commit.create_status("success", "https://ci.example/1", "No findings", "prsaga/review")
    assert [s.state for s in commit.get_statuses()] == ["success", "pending"]
    assert commit.get_combined_status().state == "success"

    with pytest.raises(github.GithubException) as rejected:
        pull.create_review(
            commit=commit,
            body="x",
            event="COMMENT",
            comments=[{"path": SERVER_PY, "line": 500, "side": "RIGHT", "body": "x"}],
        )
    assert rejected.value.status == 422
    review = pull.create_review(
        commit=commit,
        body="prsaga found 2 problems",
        event="COMMENT",
        comments=[
            {"path": SERVER_PY, "line": 3, "side": "RIGHT", "body": "Trailing whitespace."},
            {
                "path": SERVER_PY,
                "start_line": 8,
                "start_side": "RIGHT",
                "line": 10,
                "side": "RIGHT",
                "body": "Consider a docstring.",
            },
        ],
    )
    assert [r.id for r in pull.get_reviews()] == [review.id]
    assert pull.get_review(review.id).state == "COMMENTED"
    review.edit("prsaga found 2 problems (updated)")
    comments = list(pull.get_single_review_comments(review.id))
    assert len(comments) == 2
    assert len(list(pull.get_review_comments())) == 2
    comments[0].delete()
    issue_comment = pull.create_issue_comment("Review summary")
    assert [c.id for c in pull.get_issue_comments()] == [issue_comment.id]
    issue_comment.edit("Review summary (edited)")
    assert pull.create_review(commit=commit, body="draft").state == "PENDING"

    with pytest.raises(github.UnknownObjectException):
        repo.get_pull(demo.number + 1)
    with pytest.raises(github.UnknownObjectException):
        repo.get_contents("tests/testserver/.server.py.swo", ref=demo.head_sha)
    with pytest.raises(github.BadCredentialsException):
        pygithub(base_url, "not-the-token").get_repo(demo.full_name)

    assert pull.get_issue_comment(issue_comment.id).body == "Review summary (edited)"
    assert issue_comment.create_reaction("eyes").content == "eyes"
    assert issue_comment.create_reaction("eyes").content == "eyes"  # 200: already there
    pull.add_to_labels("security")
    assert [label.name for label in pull.get_labels()] == ["security"]
    assert repo.get_collaborator_permission("someone") == "read"


def _drive_lifecycle_with_pygithub(fake: FakeGitHub, base_url: str, demo: DemoPullRequest) -> None:
    """A push, a comparison, a dismissal and an outdated comment, through PyGithub, on a copy
    of the demo pull request (the first drive leaves a pending review on the original)."""
    owner, name = demo.full_name.split("/")
    number = demo.number + 100
    fake.seed_pull_request({**demo.pull, "number": number}, demo.files, demo.contents)
    repo = pygithub(base_url, TOKEN).get_repo(demo.full_name)
    pull = repo.get_pull(number)
    blocking = pull.create_review(
        body="Not like this",
        event="REQUEST_CHANGES",
        comments=[{"path": SERVER_PY, "line": 3, "body": "Trailing whitespace."}],
    )
    text = demo.contents[SERVER_PY].decode().split("\n")
    text[2] = text[2] + "  # changed"
    new_head = fake.push(owner, name, number, None, {SERVER_PY: "\n".join(text)})

    comparison = repo.compare(demo.head_sha, new_head)
    assert (comparison.status, comparison.ahead_by, len(list(comparison.commits))) == (
        "ahead",
        1,
        1,
    )
    [outdated] = list(pull.get_review_comments())
    assert (outdated.position, outdated.original_line) == (None, 3)
    blocking.dismiss("Superseded by a new push")
    assert pull.get_review(blocking.id).state == "DISMISSED"


def _drive_app_with_pygithub(base_url: str, demo: DemoPullRequest) -> None:
    """The App's calls: installation lookup, token exchange, then check runs as the App."""
    keys = rsa_keys()
    owner, name = demo.full_name.split("/")
    integration = github.GithubIntegration(
        auth=github.Auth.AppAuth(APP_ID, keys.private_pem), base_url=base_url
    )
    assert integration.get_repo_installation(owner, name).id == INSTALLATION_ID
    assert integration.get_app_installation(INSTALLATION_ID).app_id == APP_ID
    assert integration.get_access_token(INSTALLATION_ID).token.startswith("ghs_")

    repo = installation_github(base_url, APP_ID, keys, INSTALLATION_ID).get_repo(demo.full_name)
    head_sha = repo.get_pull(demo.number).head.sha
    annotation = {
        "path": SERVER_PY,
        "start_line": 3,
        "end_line": 3,
        "annotation_level": "warning",
        "message": "Trailing whitespace.",
    }
    run = repo.create_check_run(
        "prsaga/review",
        head_sha,
        status="in_progress",
        output={"title": "Reviewing", "summary": "Started", "annotations": [annotation]},
    )
    run.edit(
        conclusion="neutral",
        output={"title": "2 findings", "summary": "Done", "annotations": [annotation]},
    )
    assert repo.get_check_run(run.id).output.annotations_count == 2
    assert len(list(run.get_annotations())) == 2
    assert [r.conclusion for r in repo.get_commit(head_sha).get_check_runs()] == ["neutral"]


def _installation_token(base_url: str) -> str:
    jwt_auth = {"Authorization": f"Bearer {app_jwt(APP_ID, rsa_keys())}"}
    response = httpx.post(
        f"{base_url}/app/installations/{INSTALLATION_ID}/access_tokens", headers=jwt_auth
    )
    assert response.status_code == 201
    token: str = response.json()["token"]
    return token


def _drive_with_httpx(base_url: str, demo: DemoPullRequest) -> None:
    """What PyGithub does not call, and every error status of every operation."""
    auth = {"Authorization": f"token {TOKEN}"}
    installation = {"Authorization": f"token {_installation_token(base_url)}"}
    app = {"Authorization": f"Bearer {app_jwt(APP_ID, rsa_keys())}"}
    credentials = {"user": auth, "installation": installation, "app": app, "anyone": auth}
    repo_path = f"/repos/{demo.full_name}"
    with httpx.Client(base_url=base_url, headers=auth) as client:
        documented = client.get(f"{repo_path}/commits/{demo.head_sha}/statuses")
        assert documented.status_code == 200

        def send(method: str, path: str, **kwargs: Any) -> httpx.Response:
            return client.request(method, path, **kwargs)

        for served in SERVED_OPERATIONS:
            path = concrete_path(served.path, "nobody", "nothing")
            body = {"json": {}} if served.method in ("POST", "PUT", "PATCH") else {}
            caller = credentials[served.credential]
            if "{" in served.path:  # "/user" names nothing that could be missing
                assert send(served.method, path, headers=caller, **body).status_code == 404
            bad = {"Authorization": "token not-the-token"}
            assert send(served.method, path, headers=bad, **body).status_code == 401
            if 400 in served.statuses:
                known = concrete_path(served.path, *demo.full_name.split("/"))
                response = send(served.method, known, headers=caller, content=b"{not json")
                assert response.status_code == 400

        pulls = f"{repo_path}/pulls/{demo.number}"
        reviews = client.get(f"{pulls}/reviews").json()
        review_id = reviews[0]["id"]
        comment_id = client.get(f"/repos/{demo.full_name}/issues/{demo.number}/comments").json()[0][
            "id"
        ]
        statuses = f"{repo_path}/statuses/{demo.head_sha}"
        too_many = [
            {
                "path": SERVER_PY,
                "start_line": 1,
                "end_line": 1,
                "annotation_level": "notice",
                "message": "x",
            }
        ] * 51
        check_run = {"name": "prsaga/review", "head_sha": demo.head_sha}
        run_id = client.get(f"{repo_path}/commits/{demo.head_sha}/check-runs").json()["check_runs"][
            0
        ]["id"]
        unprocessable = [
            send("POST", f"{pulls}/reviews", json={"event": "MERGE"}),
            send("PUT", f"{pulls}/reviews/{review_id}", json={}),
            send("POST", statuses, json={"state": "bogus"}),
            send("POST", statuses, json={"state": "success", "description": "x" * 141}),
            send("POST", f"{repo_path}/statuses/{'1' * 40}", json={"state": "success"}),
            send("GET", f"{repo_path}/commits/{'1' * 40}"),
            send("POST", f"/repos/{demo.full_name}/issues/{demo.number}/comments", json={}),
            send("PATCH", f"/repos/{demo.full_name}/issues/comments/{comment_id}", json={}),
            send(
                "POST",
                f"/repos/{demo.full_name}/issues/comments/{comment_id}/reactions",
                json={"content": "thumbs-up"},
            ),
            send("POST", f"/repos/{demo.full_name}/issues/{demo.number}/labels", json={"x": 1}),
            send("PUT", f"{pulls}/reviews/{review_id}/dismissals", json={"message": "stale"}),
            send(
                "POST",
                f"{repo_path}/check-runs",
                headers=installation,
                json={
                    **check_run,
                    "output": {"title": "t", "summary": "s", "annotations": too_many},
                },
            ),
            send(
                "PATCH",
                f"{repo_path}/check-runs/{run_id}",
                headers=installation,
                json={"status": "completed"},
            ),
            send(
                "POST",
                f"/app/installations/{INSTALLATION_ID}/access_tokens",
                headers=app,
                json={"permissions": {"administration": "write"}},
            ),
        ]
        assert [r.status_code for r in unprocessable] == [422] * len(unprocessable)
        as_installation = send("GET", "/user", headers=installation)
        assert (as_installation.status_code, as_installation.json()["message"]) == (
            403,
            "Resource not accessible by integration",
        )
        plain = send("POST", f"{repo_path}/check-runs", json=check_run)
        assert (plain.status_code, plain.json()["message"]) == (
            403,
            "You must authenticate via a GitHub App.",
        )


def _drive_app_onboarding(base_url: str) -> None:
    """The manifest flow's code exchange (which takes no credential), then the new App's JWT
    on the App endpoints, and the token's own user."""
    manifest = {
        "name": "Contract App",
        "url": "https://example.com",
        "hook_attributes": {"url": "https://example.com/webhooks/github"},
        "redirect_url": "http://127.0.0.1:9/callback",
        "default_permissions": {"pull_requests": "write", "metadata": "read"},
        "default_events": ["pull_request"],
    }
    confirmed = httpx.post(
        f"{base_url}/organizations/acme/settings/apps/new?state=s1",
        data={"manifest": json.dumps(manifest)},
    )
    assert confirmed.status_code == 302
    code = httpx.URL(confirmed.headers["location"]).params["code"]
    created = httpx.post(f"{base_url}/app-manifests/{code}/conversions")
    assert created.status_code == 201, created.text
    assert httpx.post(f"{base_url}/app-manifests/{code}/conversions").status_code == 404  # once
    app = created.json()
    jwt = app_jwt(app["id"], RsaKeys(app["pem"], ""))
    as_app = {"Authorization": f"Bearer {jwt}"}
    assert httpx.get(f"{base_url}/app", headers=as_app).json()["events"] == ["pull_request"]
    assert httpx.get(f"{base_url}/app/installations", headers=as_app).json() == []
    existing = {"Authorization": f"Bearer {app_jwt(APP_ID, rsa_keys())}"}
    [installation] = httpx.get(f"{base_url}/app/installations", headers=existing).json()
    assert installation["id"] == INSTALLATION_ID
    installation = {"Authorization": f"token {_installation_token(base_url)}"}
    listed = httpx.get(f"{base_url}/installation/repositories", headers=installation).json()
    assert [r["full_name"] for r in listed["repositories"]] == ["psf/requests"]
    user = httpx.get(f"{base_url}/user", headers={"Authorization": f"token {TOKEN}"})
    assert (user.status_code, user.headers["x-oauth-scopes"]) == (200, "repo")


def _drive_rate_limited(base_url: str) -> None:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"token {TOKEN}"}) as client:
        for served in SERVED_OPERATIONS:
            body = {"json": {}} if served.method in ("POST", "PUT", "PATCH") else {}
            path = concrete_path(served.path, "psf", "requests")
            response = client.request(served.method, path, **body)
            assert response.status_code == 403
            assert response.headers["x-ratelimit-remaining"] == "0"


@pytest.fixture(scope="module")
def exchanges() -> Iterator[list[Exchange]]:
    recorded: list[Exchange] = []
    demo = load_demo_pull_request()
    fake = recorded_fake(recorded)
    fake.seed_pull_request(demo.pull, demo.files, demo.contents)
    fake.register_app(APP_ID, rsa_keys().public_pem, {INSTALLATION_ID: [demo.full_name]})
    with serve_in_thread(fake) as base_url:
        _drive_with_pygithub(base_url, demo)
        _drive_app_with_pygithub(base_url, demo)
        _drive_lifecycle_with_pygithub(fake, base_url, demo)
        _drive_with_httpx(base_url, demo)
        _drive_app_onboarding(base_url)
    exhausted = recorded_fake(recorded, rate_limit=0)
    exhausted.seed_pull_request(demo.pull, demo.files, demo.contents)
    with serve_in_thread(exhausted) as base_url:
        _drive_rate_limited(base_url)
    yield recorded


# ---------------------------------------------------------------------------------------------
# The checks


def test_subset_is_exactly_the_served_operations(subset: dict[str, Any]) -> None:
    expected: dict[tuple[str, str], set[int]] = {}
    for served in SERVED_OPERATIONS:
        expected.setdefault((served.method, served.documented_path), set()).update(served.statuses)
    extracted = {
        (op["method"], op["path"]): {int(status) for status in op["responses"]}
        for op in subset["operations"]
    }
    assert extracted == expected, "regenerate the subset (tests/contract/PROVENANCE.md)"
    docs = {(op["method"], op["path"]): op["docs_url"] for op in subset["operations"]}
    for served in SERVED_OPERATIONS:
        assert served.docs_url == docs[(served.method, served.documented_path)]
    assert subset["source"]["package"] == "@octokit/openapi"


def test_every_served_status_was_exercised(exchanges: list[Exchange]) -> None:
    expected = {(op.method, op.path, status) for op in SERVED_OPERATIONS for status in op.statuses}
    seen = {(e.method, e.route, e.status) for e in exchanges if e.route is not None}
    assert expected - seen == set(), "served but never checked"
    assert seen - expected == set(), "answered with a status SERVED_OPERATIONS does not list"


def test_every_response_matches_githubs_schema(
    exchanges: list[Exchange], contract: Contract
) -> None:
    failures = []
    for exchange in exchanges:
        if exchange.route is None:
            continue
        where = f"{exchange.method} {exchange.path} -> {exchange.status}"
        validator = contract.response_validator(exchange.method, exchange.route, exchange.status)
        if validator is None:
            if exchange.response_body:
                failures.append(f"{where}: GitHub sends no body here")
            continue
        if not exchange.content_type.startswith("application/json"):
            failures.append(f"{where}: content-type {exchange.content_type!r}")
            continue
        failures.extend(
            f"{where}: {error.json_path}: {error.message}"
            for error in validator.iter_errors(exchange.response_json())
        )
    assert not failures, "\n".join(failures[:20])


def test_request_bodies_pygithub_sends_match_githubs_schema(
    exchanges: list[Exchange], contract: Contract
) -> None:
    sent = [
        e
        for e in exchanges
        if e.user_agent.startswith("PyGithub") and e.request_body and e.route is not None
    ]
    assert {(e.method, e.route) for e in sent} == {
        ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
        ("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}"),
        ("POST", "/repos/{owner}/{repo}/statuses/{sha}"),
        ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
        ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
        ("POST", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"),
        ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
        ("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/dismissals"),
        ("POST", "/repos/{owner}/{repo}/check-runs"),
        ("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
        ("POST", "/app/installations/{installation_id}/access_tokens"),
    }
    for exchange in sent:
        validator = contract.request_validator(exchange.method, exchange.route or "")
        body = json.loads(exchange.request_body)
        accepted = ACCEPTED_REQUEST_FORMS.get((exchange.method, exchange.route or ""))
        if accepted is not None and jsonschema.Draft202012Validator(accepted).is_valid(body):
            continue
        validator.validate(body)


def _response_of(exchanges: list[Exchange], method: str, route: str, status: int) -> Any:
    return next(
        e.response_json()
        for e in exchanges
        if (e.method, e.route, e.status) == (method, route, status)
    )


def test_validator_catches_a_dropped_required_field_and_a_wrong_type(
    exchanges: list[Exchange], contract: Contract
) -> None:
    route = "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"
    review = _response_of(exchanges, "POST", route, 200)
    validator = contract.response_validator("POST", route, 200)
    assert validator is not None
    validator.validate(review)

    without_state = {k: v for k, v in review.items() if k != "state"}
    string_id = {**review, "id": str(review["id"])}
    user_without_login = {
        **review,
        "user": {k: v for k, v in review["user"].items() if k != "login"},
    }
    for mutated in (without_state, string_id, user_without_login):
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(mutated)

    pull_route = "/repos/{owner}/{repo}/pulls/{pull_number}"
    pull = _response_of(exchanges, "GET", pull_route, 200)
    pull_validator = contract.response_validator("GET", pull_route, 200)
    assert pull_validator is not None
    pull_validator.validate({**pull, "body": None})  # nullable in GitHub's schema
    with pytest.raises(jsonschema.ValidationError):
        pull_validator.validate({**pull, "title": None})  # not nullable
    with pytest.raises(jsonschema.ValidationError):
        pull_validator.validate({**pull, "created_at": "yesterday"})


def test_nullable_becomes_a_null_type() -> None:
    assert openapi_to_json_schema({"type": "string", "nullable": True}) == {
        "type": ["string", "null"]
    }
    assert openapi_to_json_schema({"type": "string", "enum": ["a"], "nullable": True}) == {
        "type": ["string", "null"],
        "enum": ["a", None],
    }
    assert openapi_to_json_schema({"allOf": [{"$ref": "#/x"}], "nullable": True}) == {
        "anyOf": [{"allOf": [{"$ref": "#/x"}]}, {"type": "null"}]
    }
    # A property that is called "nullable" is a property, not the keyword.
    assert openapi_to_json_schema({"properties": {"nullable": {"type": "boolean"}}}) == {
        "properties": {"nullable": {"type": "boolean"}}
    }
