"""The webhook server, end to end through its ASGI app, on real GitHub payloads.

Every delivery is signed here with HMAC-SHA256 over the exact bytes sent, as GitHub does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from prsaga.runtime.config import Settings
from prsaga.schema import PullRequestEvent, PullRequestRef
from starter.github_events import (
    BadPayload,
    Delivery,
    Ignored,
    InvalidSignature,
    PullRequestWebhook,
    Routed,
    SubmitUnavailable,
    UnsupportedMediaType,
    parse_delivery,
    route,
    router,
    verify_signature,
)
from starter.webhook import WEBHOOK_PATH, MissingWebhookSecret, create_app
from tests.paths import TESTS_DIR

FIXTURES = TESTS_DIR / "fixtures" / "webhooks"
SECRET = "test-only webhook secret"
DELIVERY_ID = "72d3162e-cc78-11e3-81ab-4c9367dc0958"

HANDLED = {
    "pull_request/opened.payload.json": "opened",
    "pull_request/opened.with-null-body.json": "opened",
    "pull_request/synchronize.payload.json": "synchronize",
    "pull_request/reopened.payload.json": "reopened",
    "pull_request/closed.payload.json": "closed",
    "pull_request/ready_for_review.payload.json": "ready_for_review",
    "pull_request/labeled.payload.json": "labeled",
    "pull_request/robvanderleek-create-issue-branch__pull_request.closed.json": "closed",
}
IGNORED = [
    "pull_request/angular-github-robot__pull_request.edited.json",
    "push/payload.json",
    "ping/payload.json",
]


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def event_of(name: str) -> str:
    """The X-GitHub-Event of a fixture: its folder's name."""
    return name.split("/")[0]


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_headers(
    event: str,
    body: bytes,
    *,
    delivery_id: str = DELIVERY_ID,
    content_type: str = "application/json",
    secret: str = SECRET,
) -> dict[str, str]:
    """The headers GitHub sends with a delivery (signature included)."""
    return {
        "Content-Type": content_type,
        "User-Agent": "GitHub-Hookshot/d54209a",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id,
        "X-Hub-Signature-256": sign(body, secret),
    }


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"webhook_secret": SECRET, **overrides}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class RecordingSubmit:
    """A `SubmitFn` that records its calls, optionally failing after recording."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[tuple[PullRequestRef, PullRequestEvent]] = []
        self.error = error

    async def __call__(self, pr: PullRequestRef, event: PullRequestEvent) -> str:
        self.calls.append((pr, event))
        if self.error is not None:
            raise self.error
        return pr.workflow_id


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
def submit() -> RecordingSubmit:
    return RecordingSubmit()


@pytest.fixture
async def client(submit: RecordingSubmit) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(settings(), submit)) as http:
        yield http


def expected_routing(name: str, delivery_id: str = DELIVERY_ID) -> tuple[PullRequestRef, dict]:
    """What a handled fixture must become, read straight from its JSON."""
    payload = json.loads(fixture_bytes(name))
    pr = PullRequestRef(
        owner=payload["repository"]["owner"]["login"],
        repo=payload["repository"]["name"],
        number=payload["pull_request"]["number"],
    )
    event = {
        "delivery_id": delivery_id,
        "action": payload["action"],
        "head_sha": payload["pull_request"]["head"]["sha"],
        "sender": payload["sender"]["login"],
        "source": "webhook",
        "full": False,
        "installation_id": (payload.get("installation") or {}).get("id"),
        "received_at": None,
        "updated_at": datetime.fromisoformat(payload["pull_request"]["updated_at"]),
    }
    return pr, event


# --- verify_signature


def test_github_docs_known_answer_is_accepted() -> None:
    vector = json.loads(fixture_bytes("_signature/github-docs-test-vector.json"))
    body = vector["payload"].encode()

    verify_signature(body, vector["X-Hub-Signature-256"], vector["secret"])

    assert sign(body, vector["secret"]) == vector["X-Hub-Signature-256"]
    with pytest.raises(InvalidSignature):
        verify_signature(body + b" ", vector["X-Hub-Signature-256"], vector["secret"])


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha256",
        sign(b"other body"),
        "sha1=" + hmac.new(SECRET.encode(), b"{}", hashlib.sha1).hexdigest(),
        "sha256=" + "é" * 64,
        sign(b"{}").replace("sha256=", "sha1=", 1),
    ],
    ids=[
        "missing",
        "empty",
        "no-digest",
        "no-equals",
        "other-body",
        "sha1",
        "non-ascii",
        "right-digest-wrong-prefix",
    ],
)
def test_bad_signatures_are_invalid(header: str | None) -> None:
    with pytest.raises(InvalidSignature) as raised:
        verify_signature(b"{}", header, SECRET)
    assert raised.value.status_code == 401
    assert SECRET not in str(raised.value)


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret is required"):
        verify_signature(b"{}", sign(b"{}", ""), "")


# --- parse_delivery


def test_parse_delivery_checks_the_signature_before_decoding() -> None:
    body = b"not json at all"
    headers = github_headers("pull_request", body, secret="wrong secret")

    with pytest.raises(InvalidSignature):
        parse_delivery(headers, body, SECRET)


def test_parse_delivery_reads_headers_in_any_case() -> None:
    body = fixture_bytes("pull_request/opened.payload.json")
    headers = {name.lower(): value for name, value in github_headers("pull_request", body).items()}

    delivery = parse_delivery(headers, body, SECRET)

    assert delivery.event == "pull_request"
    assert delivery.delivery_id == DELIVERY_ID
    assert delivery.action == "opened"
    assert delivery.payload == json.loads(body)


@pytest.mark.parametrize("missing", ["X-GitHub-Event", "X-GitHub-Delivery"])
def test_parse_delivery_requires_github_headers(missing: str) -> None:
    body = fixture_bytes("push/payload.json")
    headers = github_headers("push", body)
    del headers[missing]

    with pytest.raises(BadPayload, match=missing):
        parse_delivery(headers, body, SECRET)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/xml"])
def test_parse_delivery_refuses_other_media_types(content_type: str | None) -> None:
    body = fixture_bytes("push/payload.json")
    headers = github_headers("push", body)
    del headers["Content-Type"]
    if content_type is not None:
        headers["Content-Type"] = content_type

    with pytest.raises(UnsupportedMediaType) as raised:
        parse_delivery(headers, body, SECRET)
    assert raised.value.status_code == 415


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"\xff\xfe\x00garbage"])
def test_parse_delivery_wants_a_json_object(body: bytes) -> None:
    with pytest.raises(BadPayload):
        parse_delivery(github_headers("push", body), body, SECRET)


def test_parse_delivery_without_action_has_none() -> None:
    body = fixture_bytes("push/payload.json")

    delivery = parse_delivery(github_headers("push", body), body, SECRET)

    assert "action" not in json.loads(body)
    assert delivery.action is None


# --- route() on every fixture


def delivery_of(name: str, delivery_id: str = DELIVERY_ID) -> Delivery:
    payload = json.loads(fixture_bytes(name))
    action = payload.get("action")
    return Delivery(event=event_of(name), delivery_id=delivery_id, action=action, payload=payload)


@pytest.mark.parametrize("name", HANDLED)
def test_route_turns_handled_actions_into_events(name: str) -> None:
    expected_pr, expected_event = expected_routing(name)

    routed = route(delivery_of(name))

    assert isinstance(routed, Routed)
    assert routed.pr == expected_pr
    assert routed.event.model_dump() == expected_event
    assert routed.event.action == HANDLED[name]


def test_route_maps_the_opened_fixture_to_its_pull_request() -> None:
    routed = route(delivery_of("pull_request/opened.payload.json"))

    assert isinstance(routed, Routed)
    assert str(routed.pr) == "Codertocat/Hello-World#2"
    assert routed.pr.workflow_id == "pr-Codertocat/Hello-World-2"
    assert routed.event.head_sha == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    assert routed.event.sender == "Codertocat"


@pytest.mark.parametrize("name", IGNORED)
def test_route_ignores_other_events_and_actions(name: str) -> None:
    delivery = delivery_of(name)

    routed = route(delivery)

    assert isinstance(routed, Ignored)
    assert repr(delivery.event) in routed.reason
    if delivery.action is not None:
        assert repr(delivery.action) in routed.reason


def test_pull_request_webhook_keeps_only_what_prsaga_needs() -> None:
    opened = PullRequestWebhook.model_validate(
        json.loads(fixture_bytes("pull_request/opened.payload.json"))
    )
    ready = PullRequestWebhook.model_validate(
        json.loads(fixture_bytes("pull_request/ready_for_review.payload.json"))
    )
    edited = PullRequestWebhook.model_validate(
        json.loads(fixture_bytes("pull_request/angular-github-robot__pull_request.edited.json"))
    )

    assert opened.installation is not None and opened.installation.id == 1
    assert opened.pull_request.base.ref == "master"
    assert opened.pull_request.head.ref == "changes"
    assert opened.sender.type == "User"
    assert ready.installation is None
    # A 2018 delivery, from before draft pull requests: "draft" is absent.
    assert edited.pull_request.draft is False
    assert not hasattr(opened.pull_request, "body")


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("pull_request", "head", "sha"), None, "pull_request.head.sha"),
        (("pull_request", "head", "sha"), "not-a-sha", "pull_request.head.sha"),
        (("repository", "owner"), None, "repository.owner"),
        (("number",), "two", "number"),
    ],
)
def test_route_names_the_bad_field(path: tuple[str, ...], value: Any, field: str) -> None:
    delivery = delivery_of("pull_request/synchronize.payload.json")
    parent = delivery.payload
    for key in path[:-1]:
        parent = parent[key]
    if value is None:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value

    with pytest.raises(BadPayload, match=field.replace(".", r"\.")):
        route(delivery)


def test_router_registry_rejects_a_second_handler_for_the_same_action() -> None:
    with pytest.raises(ValueError, match="already registered"):
        router.register("pull_request", "opened")(lambda delivery: Ignored("duplicate"))


# --- the ASGI app


async def post(
    http: httpx.AsyncClient, name: str, *, delivery_id: str = DELIVERY_ID
) -> httpx.Response:
    body = fixture_bytes(name)
    headers = github_headers(event_of(name), body, delivery_id=delivery_id)
    return await http.post(WEBHOOK_PATH, content=body, headers=headers)


@pytest.mark.parametrize("name", HANDLED)
async def test_a_signed_pull_request_delivery_is_submitted(
    client: httpx.AsyncClient, submit: RecordingSubmit, name: str
) -> None:
    expected_pr, expected_event = expected_routing(name)

    response = await post(client, name)

    assert response.status_code == 202, response.text
    assert response.json() == {
        "status": "accepted",
        "workflow_id": expected_pr.workflow_id,
        "pr": str(expected_pr),
        "delivery_id": DELIVERY_ID,
    }
    assert len(submit.calls) == 1
    pr, event = submit.calls[0]
    assert pr == expected_pr
    assert event.model_dump() == expected_event


async def test_a_form_encoded_delivery_is_submitted(
    client: httpx.AsyncClient, submit: RecordingSubmit
) -> None:
    name = "pull_request/synchronize.payload.json"
    body = urlencode({"payload": fixture_bytes(name).decode()}).encode()
    headers = github_headers("pull_request", body, content_type="application/x-www-form-urlencoded")

    response = await client.post(WEBHOOK_PATH, content=body, headers=headers)

    assert response.status_code == 202, response.text
    expected_pr, expected_event = expected_routing(name)
    assert [(pr, event.model_dump()) for pr, event in submit.calls] == [
        (expected_pr, expected_event)
    ]


def tampered(body: bytes) -> bytes:
    return body.replace(b'"number": 2', b'"number": 3', 1)


@pytest.mark.parametrize("attack", ["tampered-body", "wrong-secret", "missing", "sha1-only"])
async def test_unsigned_deliveries_are_rejected(
    client: httpx.AsyncClient, submit: RecordingSubmit, attack: str
) -> None:
    body = fixture_bytes("pull_request/opened.payload.json")
    headers = github_headers("pull_request", body)
    if attack == "tampered-body":
        assert tampered(body) != body
        body = tampered(body)
    elif attack == "wrong-secret":
        headers["X-Hub-Signature-256"] = sign(body, "not the secret")
    elif attack == "missing":
        del headers["X-Hub-Signature-256"]
    else:
        del headers["X-Hub-Signature-256"]
        headers["X-Hub-Signature"] = (
            "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
        )

    response = await client.post(WEBHOOK_PATH, content=body, headers=headers)

    assert response.status_code == 401
    assert response.json()["status"] == "error"
    assert "X-Hub-Signature-256" in response.json()["error"]
    assert SECRET not in response.text
    assert submit.calls == []


async def test_invalid_json_is_a_400(client: httpx.AsyncClient, submit: RecordingSubmit) -> None:
    body = b'{"action": "opened", "number": '

    response = await client.post(
        WEBHOOK_PATH, content=body, headers=github_headers("pull_request", body)
    )

    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]
    assert submit.calls == []


def _opened_with(field: str, raw_value: str) -> bytes:
    """The opened fixture with ``field`` set to a raw JSON text (which json.dumps cannot make)."""
    payload = json.loads(fixture_bytes("pull_request/opened.payload.json"))
    payload[field] = "__RAW__"
    return json.dumps(payload).replace('"__RAW__"', raw_value).encode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "nested too deeply"),
        (_opened_with("pull_request", "[" * 20_000 + "]" * 20_000), "nested too deeply"),
        (_opened_with("number", "9" * 5_000), "digits"),
        (_opened_with("number", "NaN"), "NaN is not a JSON value"),
        (_opened_with("number", "-Infinity"), "-Infinity is not a JSON value"),
        (_opened_with("number", "9" * 900), "number: Input should be less than"),
        (b"\xef\xbb\xbf[]", "must be a JSON object"),
        (b'"a string"', "must be a JSON object"),
        (b'{"action": "\xc3\x28"}', "not UTF-8"),
    ],
)
async def test_pathological_json_is_a_400_saying_why(
    client: httpx.AsyncClient, submit: RecordingSubmit, body: bytes, message: str
) -> None:
    """Deep nesting used to escape as a RecursionError (500), NaN or a 5,000-digit number as a
    ValueError, and a 900-digit pull request number as a workflow id Temporal refuses."""
    response = await client.post(
        WEBHOOK_PATH, content=body, headers=github_headers("pull_request", body)
    )

    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert submit.calls == []


async def test_a_ping_echoes_only_a_textual_zen(client: httpx.AsyncClient) -> None:
    body = b'{"zen": NaN, "hook_id": 1}'.replace(b"NaN", b"[" * 500 + b"]" * 500)

    response = await client.post(WEBHOOK_PATH, content=body, headers=github_headers("ping", body))

    assert response.status_code == 200
    assert response.json()["zen"] is None


async def test_a_handled_payload_without_head_sha_is_a_400_naming_the_field(
    client: httpx.AsyncClient, submit: RecordingSubmit
) -> None:
    payload = json.loads(fixture_bytes("pull_request/opened.payload.json"))
    del payload["pull_request"]["head"]["sha"]
    body = json.dumps(payload).encode()

    response = await client.post(
        WEBHOOK_PATH, content=body, headers=github_headers("pull_request", body)
    )

    assert response.status_code == 400
    assert "pull_request.head.sha" in response.json()["error"]
    assert submit.calls == []


async def test_an_unsupported_media_type_is_a_415(
    client: httpx.AsyncClient, submit: RecordingSubmit
) -> None:
    body = fixture_bytes("pull_request/opened.payload.json")
    headers = github_headers("pull_request", body, content_type="text/plain")

    response = await client.post(WEBHOOK_PATH, content=body, headers=headers)

    assert response.status_code == 415
    assert submit.calls == []


async def test_ping_answers_pong(client: httpx.AsyncClient, submit: RecordingSubmit) -> None:
    response = await post(client, "ping/payload.json")

    assert response.status_code == 200
    assert response.json()["status"] == "pong"
    assert response.json()["zen"] == json.loads(fixture_bytes("ping/payload.json"))["zen"]
    assert submit.calls == []


@pytest.mark.parametrize("name", [name for name in IGNORED if not name.startswith("ping/")])
async def test_ignored_deliveries_are_a_200_with_a_reason(
    client: httpx.AsyncClient, submit: RecordingSubmit, name: str
) -> None:
    response = await post(client, name)

    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert repr(event_of(name)) in response.json()["reason"]
    assert response.json()["delivery_id"] == DELIVERY_ID
    assert submit.calls == []


async def test_temporal_unavailable_is_a_503_asking_for_redelivery() -> None:
    submit = RecordingSubmit(error=SubmitUnavailable("connection refused"))
    async with client_for(create_app(settings(), submit)) as http:
        response = await post(http, "pull_request/opened.payload.json")

    assert response.status_code == 503
    assert "redeliver" in response.json()["error"]
    assert response.json()["delivery_id"] == DELIVERY_ID
    assert len(submit.calls) == 1


async def test_an_unexpected_submit_error_is_a_500_without_internals() -> None:
    submit = RecordingSubmit(error=RuntimeError("db password is hunter2"))
    async with client_for(create_app(settings(), submit)) as http:
        response = await post(http, "pull_request/opened.payload.json")

    assert response.status_code == 500
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert len(submit.calls) == 1


async def test_a_redelivery_is_submitted_again_with_the_same_delivery_id(
    client: httpx.AsyncClient, submit: RecordingSubmit
) -> None:
    first = await post(client, "pull_request/synchronize.payload.json")
    again = await post(client, "pull_request/synchronize.payload.json")

    assert first.status_code == again.status_code == 202
    assert [event.delivery_id for _, event in submit.calls] == [DELIVERY_ID, DELIVERY_ID]
    assert submit.calls[0] == submit.calls[1]


# --- the size cap


class CountingBody:
    """A request body sent in chunks, counting how many the server pulled."""

    def __init__(self, chunk: bytes, count: int) -> None:
        self.chunk = chunk
        self.count = count
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.count):
            self.pulled += 1
            yield self.chunk


async def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    submit = RecordingSubmit()
    body = CountingBody(b"x" * 1024, 8)
    headers = github_headers("pull_request", b"x" * 8192)
    headers["Content-Length"] = str(8192)
    async with client_for(create_app(settings(webhook_max_body_bytes=4096), submit)) as http:
        response = await http.post(WEBHOOK_PATH, content=body, headers=headers)

    assert response.status_code == 413
    assert "4096" in response.json()["error"]
    assert body.pulled == 0
    assert submit.calls == []


async def test_a_streamed_body_over_the_cap_stops_being_read() -> None:
    submit = RecordingSubmit()
    body = CountingBody(b"x" * 1024, 100)
    async with client_for(create_app(settings(webhook_max_body_bytes=4096), submit)) as http:
        request = http.build_request(
            "POST",
            WEBHOOK_PATH,
            content=body,
            headers=github_headers("pull_request", b"x" * 100 * 1024),
        )
        assert "Content-Length" not in request.headers
        assert request.headers["Transfer-Encoding"] == "chunked"
        response = await http.send(request)

    assert response.status_code == 413
    assert body.pulled == 5  # 5 KiB is the first total over 4 KiB
    assert submit.calls == []


@pytest.mark.parametrize(("slack", "status"), [(0, 202), (-1, 413)])
async def test_the_cap_is_inclusive(slack: int, status: int) -> None:
    submit = RecordingSubmit()
    body = fixture_bytes("pull_request/opened.payload.json")
    cap = len(body) + slack
    async with client_for(create_app(settings(webhook_max_body_bytes=cap), submit)) as http:
        response = await http.post(
            WEBHOOK_PATH, content=body, headers=github_headers("pull_request", body)
        )

    assert response.status_code == status
    assert len(submit.calls) == (1 if status == 202 else 0)


# --- configuration, health and logging


@pytest.mark.parametrize("secret", [None, ""])
def test_the_app_refuses_to_run_without_a_secret(secret: str | None) -> None:
    with pytest.raises(MissingWebhookSecret, match="must be signed"):
        create_app(settings(webhook_secret=secret), RecordingSubmit())


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_one_log_line_per_delivery_without_body_or_secret(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="starter.webhook")
    name = "pull_request/opened.payload.json"
    body = fixture_bytes(name)
    title = json.loads(body)["pull_request"]["title"]

    await post(client, name)
    bad = github_headers("pull_request", body, secret="wrong")
    await client.post(WEBHOOK_PATH, content=body, headers=bad)

    records = [record for record in caplog.records if record.name == "starter.webhook"]
    assert [(r.outcome, r.status_code) for r in records] == [  # type: ignore[attr-defined]
        ("accepted", 202),
        ("rejected:InvalidSignature", 401),
    ]
    assert records[0].pr == "Codertocat/Hello-World#2"  # type: ignore[attr-defined]
    assert records[0].delivery_id == DELIVERY_ID  # type: ignore[attr-defined]
    assert records[0].action == "opened"  # type: ignore[attr-defined]
    assert records[0].repo == "Codertocat/Hello-World"  # type: ignore[attr-defined]
    assert records[1].repo is None  # type: ignore[attr-defined]  # unverified, so not parsed
    assert SECRET not in caplog.text
    assert title not in caplog.text
    assert sign(body) not in caplog.text


async def test_a_command_with_a_600_character_word_is_accepted_and_clipped(
    client: httpx.AsyncClient, submit: RecordingSubmit
) -> None:
    """A pasted URL after ``/agent`` used to fail the argument's bound: a 400, so GitHub marked
    the delivery failed. Now the argument is clipped, with a note the reply quotes."""
    payload = json.loads(
        fixture_bytes("issue_comment/go-playground-webhooks__pull-request-issue-comment.json")
    )
    payload["comment"]["body"] = "/agent https://example.com/" + "a" * 600
    body = json.dumps(payload).encode()

    response = await client.post(
        WEBHOOK_PATH, content=body, headers=github_headers("issue_comment", body)
    )

    assert response.status_code == 202, response.text
    [(_, command)] = submit.calls
    assert command.command == "unknown"
    assert command.argument.startswith("https://example.com/aaa")
    assert command.argument.endswith("… (cut)")


async def test_a_lone_surrogate_echoed_from_a_payload_is_answered_as_escaped_json(
    client: httpx.AsyncClient,
) -> None:
    """Valid JSON, but no UTF-8 can encode "\\ud800": the answer escapes it instead of failing."""
    body = b'{"zen": "\\ud800 keep it logically awesome", "hook_id": 1}'

    response = await client.post(WEBHOOK_PATH, content=body, headers=github_headers("ping", body))

    assert response.status_code == 200
    assert response.json()["zen"] == "\ud800 keep it logically awesome"
