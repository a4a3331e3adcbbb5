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
from pathlib import Path
from typing import Any

import github
import httpx
import jsonschema
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prsaga.demo import DemoPullRequest, load_demo_pull_request
from prsaga.github_fake import SERVED_OPERATIONS, FakeGitHub, serve_in_thread
from tests.test_github_fake import pygithub

SUBSET_PATH = Path(__file__).parent / "contract" / "github-openapi-subset.json"
SUBSET_URI = "urn:prsaga:github-openapi-subset"
TOKEN = "contract-test-token"
SERVER_PY = "tests/testserver/server.py"


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
        document["components"]["schemas"] = {
            name: openapi_to_json_schema(schema)
            for name, schema in subset["components"]["schemas"].items()
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
        if scope["path"].startswith("/_fake/"):
            return None
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
    )


# ---------------------------------------------------------------------------------------------
# Driving every operation


def _drive_with_pygithub(base_url: str, demo: DemoPullRequest) -> None:
    """prsaga's calls, as prsaga makes them, plus the errors PyGithub turns into exceptions."""
    gh = pygithub(base_url, TOKEN)
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


def _drive_with_httpx(base_url: str, demo: DemoPullRequest) -> None:
    """What PyGithub does not call, and every error status of every operation."""
    auth = {"Authorization": f"token {TOKEN}"}
    repo_path = f"/repos/{demo.full_name}"
    with httpx.Client(base_url=base_url, headers=auth) as client:
        documented = client.get(f"{repo_path}/commits/{demo.head_sha}/statuses")
        assert documented.status_code == 200

        def send(method: str, path: str, **kwargs: Any) -> httpx.Response:
            return client.request(method, path, **kwargs)

        for served in SERVED_OPERATIONS:
            path = concrete_path(served.path, "nobody", "nothing")
            body = {"json": {}} if served.method in ("POST", "PUT", "PATCH") else {}
            assert send(served.method, path, **body).status_code == 404
            bad = {"Authorization": "token not-the-token"}
            assert send(served.method, path, headers=bad, **body).status_code == 401
            if served.method in ("POST", "PUT", "PATCH"):
                known = concrete_path(served.path, *demo.full_name.split("/"))
                assert send(served.method, known, content=b"{not json").status_code == 400

        pulls = f"{repo_path}/pulls/{demo.number}"
        review_id = client.get(f"{pulls}/reviews").json()[0]["id"]
        comment_id = client.get(f"/repos/{demo.full_name}/issues/{demo.number}/comments").json()[0][
            "id"
        ]
        statuses = f"{repo_path}/statuses/{demo.head_sha}"
        unprocessable = [
            send("POST", f"{pulls}/reviews", json={"event": "MERGE"}),
            send("PUT", f"{pulls}/reviews/{review_id}", json={}),
            send("POST", statuses, json={"state": "bogus"}),
            send("POST", statuses, json={"state": "success", "description": "x" * 141}),
            send("POST", f"{repo_path}/statuses/{'1' * 40}", json={"state": "success"}),
            send("GET", f"{repo_path}/commits/{'1' * 40}"),
            send("POST", f"/repos/{demo.full_name}/issues/{demo.number}/comments", json={}),
            send("PATCH", f"/repos/{demo.full_name}/issues/comments/{comment_id}", json={}),
        ]
        assert [r.status_code for r in unprocessable] == [422] * len(unprocessable)


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
    with serve_in_thread(fake) as base_url:
        _drive_with_pygithub(base_url, demo)
        _drive_with_httpx(base_url, demo)
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
    }
    for exchange in sent:
        validator = contract.request_validator(exchange.method, exchange.route or "")
        validator.validate(json.loads(exchange.request_body))


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
