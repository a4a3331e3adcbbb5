"""GitHub webhook deliveries, sans I/O: verify, decode, validate and route them.

Nothing here touches the network or a web framework, so every rule (signature first, what is a bad
payload, which events start a review) is a plain function that tests call with bytes and headers.
The web server (``starter.webhook``) only reads the body and maps the outcome to an HTTP response.

Routing follows gidgethub's ``Router``: handlers register for ``(event, action)`` pairs with a
decorator, so supporting a new event is one decorated function.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, NoReturn, Protocol, TypeVar, cast, get_args
from urllib.parse import parse_qs

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from prsaga.review.commands import parse_command
from prsaga.schema import CommandEvent, PullRequestEvent, PullRequestRef

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"

_JSON = "application/json"
_FORM = "application/x-www-form-urlencoded"


class WebhookError(Exception):
    """A delivery prsaga refuses; ``status_code`` is the HTTP answer and the message is safe to
    send back (it never holds the secret or the body)."""

    status_code = 400


class InvalidSignature(WebhookError):
    """The body is not signed with the webhook secret (or not signed at all)."""

    status_code = 401


class BadPayload(WebhookError):
    """The delivery is signed but its headers or body are not what GitHub sends."""

    status_code = 400


class PayloadTooLarge(WebhookError):
    """The body exceeds the configured cap (GitHub never sends more than 25 MB)."""

    status_code = 413


class UnsupportedMediaType(WebhookError):
    """The body is neither JSON nor GitHub's form encoding."""

    status_code = 415


class SubmitUnavailable(Exception):
    """Temporal cannot be reached, so the delivery was not recorded (the server answers 503)."""


class SubmitFn(Protocol):
    """Signal-with-start the workflow of ``pr`` with ``event`` and return the workflow id.

    Raises:
        SubmitUnavailable: Temporal cannot be reached.
    """

    async def __call__(self, pr: PullRequestRef, event: PullRequestEvent | CommandEvent) -> str: ...


def verify_signature(body: bytes, signature_header: str | None, secret: str) -> None:
    """Check ``X-Hub-Signature-256`` (``sha256=<hex HMAC of the raw body>``).

    The legacy SHA-1 ``X-Hub-Signature`` is deliberately not accepted.

    Raises:
        InvalidSignature: The header is missing, malformed or does not match.
        ValueError: ``secret`` is empty (anyone could sign with it).
    """
    if not secret:
        raise ValueError("a webhook secret is required to verify signatures")
    if not signature_header:
        raise InvalidSignature(f"missing {SIGNATURE_HEADER} header: the delivery is not signed")
    algorithm, _, received = signature_header.strip().partition("=")
    if algorithm != "sha256" or not received:
        raise InvalidSignature(f"{SIGNATURE_HEADER} must look like sha256=<hex digest>")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    # Bytes, because compare_digest rejects non-ASCII str, and header values are arbitrary input.
    if not hmac.compare_digest(expected.encode(), received.encode("utf-8", "replace")):
        raise InvalidSignature(f"{SIGNATURE_HEADER} does not match the body and the secret")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One verified webhook delivery."""

    event: str
    """``X-GitHub-Event``."""
    delivery_id: str
    """``X-GitHub-Delivery``: GitHub keeps it when it redelivers, so it identifies the delivery."""
    action: str | None
    payload: dict[str, Any]


def parse_delivery(headers: Mapping[str, str], body: bytes, secret: str) -> Delivery:
    """Verify the signature, then decode the body (JSON or ``payload=`` form field).

    ``headers`` may use any letter case. Nothing is decoded before the signature is checked, so an
    unsigned body never reaches the JSON parser.

    Raises:
        InvalidSignature: See `verify_signature`.
        BadPayload: A GitHub header is missing or the body is not a JSON object.
        UnsupportedMediaType: The Content-Type is neither JSON nor form-encoded.
    """
    by_name = {name.lower(): value for name, value in headers.items()}
    verify_signature(body, by_name.get(SIGNATURE_HEADER.lower()), secret)
    event = _required_header(by_name, EVENT_HEADER)
    delivery_id = _required_header(by_name, DELIVERY_HEADER)
    payload = _decode_body(by_name.get("content-type"), body)
    action = payload.get("action")
    return Delivery(
        event=event,
        delivery_id=delivery_id,
        action=action if isinstance(action, str) else None,
        payload=payload,
    )


def _required_header(by_name: Mapping[str, str], name: str) -> str:
    value = by_name.get(name.lower(), "").strip()
    if not value:
        raise BadPayload(f"missing {name} header")
    return value


def _decode_body(content_type: str | None, body: bytes) -> dict[str, Any]:
    media_type = (content_type or "").partition(";")[0].strip().lower()
    document: bytes | str
    if media_type == _JSON:
        document = body
    elif media_type == _FORM:
        document = _form_payload_field(body)
    else:
        raise UnsupportedMediaType(f"Content-Type must be {_JSON} or {_FORM}")
    try:
        payload = json.loads(document, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise BadPayload(
            f"body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except UnicodeDecodeError:
        raise BadPayload("body is not UTF-8 encoded JSON") from None
    except RecursionError:
        raise BadPayload("body is nested too deeply to be a GitHub payload") from None
    except ValueError:  # after JSONDecodeError, its subclass: the int digits limit
        raise BadPayload(
            f"body holds a number longer than {sys.get_int_max_str_digits()} digits"
        ) from None
    if not isinstance(payload, dict):
        raise BadPayload("payload must be a JSON object")
    return payload


def _refuse_constant(name: str) -> NoReturn:
    # Python's json accepts NaN and ±Infinity; JSON (and so GitHub) has no such values.
    raise BadPayload(f"body is not valid JSON: {name} is not a JSON value")


def _form_payload_field(body: bytes) -> str:
    """GitHub's ``application/x-www-form-urlencoded`` content type: the JSON is in ``payload``."""
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise BadPayload("form-encoded body is not UTF-8") from None
    values = fields.get("payload", [])
    if len(values) != 1:
        raise BadPayload("form-encoded body must have exactly one 'payload' field")
    return values[0]


# --- The handled payloads: only the fields prsaga reads, so GitHub adding fields breaks nothing.


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


GitHubId = Annotated[int, Field(gt=0, lt=2**63)]
"""GitHub's numbers and ids are positive 64-bit integers; bounding them keeps a hostile payload's
1,000-digit number out of workflow ids (which Temporal would refuse with a 500's worth of error)."""


class GitBranchRef(_Payload):
    sha: str = Field(pattern=r"^[0-9a-f]{40}$")
    ref: str


class PullRequestData(_Payload):
    number: GitHubId
    head: GitBranchRef
    base: GitBranchRef
    draft: bool = False
    """Absent from payloads sent before draft pull requests existed."""
    state: Literal["open", "closed"]
    title: str
    html_url: str
    updated_at: datetime | None = None
    """When GitHub last changed the pull request, as of this delivery: it orders deliveries,
    which GitHub does not deliver in order. Evidence, not required: unreadable means unknown."""

    @field_validator("updated_at", mode="wrap")
    @classmethod
    def _unknown_if_unreadable(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            return None


class Account(_Payload):
    login: str


class Sender(Account):
    type: str
    """``User``, ``Bot`` or ``Organization``."""


class Repository(_Payload):
    name: str
    full_name: str
    owner: Account


class Installation(_Payload):
    id: GitHubId


class PullRequestWebhook(_Payload):
    """A ``pull_request`` delivery, reduced to what prsaga needs."""

    action: str
    number: GitHubId
    pull_request: PullRequestData
    repository: Repository
    sender: Sender
    installation: Installation | None = None
    """Present when the webhook belongs to a GitHub App."""


class IssuePullRequestLink(_Payload):
    url: str


class IssueData(_Payload):
    number: GitHubId
    pull_request: IssuePullRequestLink | None = None
    """Present when the issue is a pull request (comments on pull requests are issue comments)."""


class CommentData(_Payload):
    id: GitHubId
    body: str | None = None
    user: Sender


class IssueCommentWebhook(_Payload):
    """An ``issue_comment`` delivery, reduced to what prsaga needs."""

    action: str
    issue: IssueData
    comment: CommentData
    repository: Repository
    sender: Sender
    installation: Installation | None = None


_Model = TypeVar("_Model", bound=BaseModel)


def validate_payload(model: type[_Model], data: Any, what: str) -> _Model:
    """Validate ``data`` as ``model``, turning errors into a `BadPayload` that names the fields.

    Raises:
        BadPayload: ``data`` does not fit ``model``.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadPayload(f"invalid {what}: {_describe(exc)}") from None


def _describe(exc: ValidationError, limit: int = 3) -> str:
    # Field paths and pydantic's messages only: the offending values could be huge.
    errors = exc.errors(include_url=False, include_input=False)
    parts = [f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in errors[:limit]]
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts)


# --- Routing


@dataclass(frozen=True, slots=True)
class Routed:
    """The delivery is about a pull request's review: signal its workflow with ``event``."""

    pr: PullRequestRef
    event: PullRequestEvent | CommandEvent


@dataclass(frozen=True, slots=True)
class Ignored:
    """The delivery needs nothing from prsaga (it is still a success for GitHub)."""

    reason: str


@dataclass(frozen=True, slots=True)
class RouteOptions:
    """The server settings routing needs, passed in rather than read from globals."""

    command_prefix: str = "/agent"


Handler = Callable[[Delivery, RouteOptions], Routed | Ignored]


class Router:
    """Dispatch deliveries to the handler registered for their ``(event, action)``."""

    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str | None], Handler] = {}

    def register(self, event: str, *actions: str) -> Callable[[Handler], Handler]:
        """Decorate a handler for ``event`` with any of ``actions`` (all actions if none given)."""

        def decorator(handler: Handler) -> Handler:
            keys: list[tuple[str, str | None]] = [(event, action) for action in actions]
            for key in keys or [(event, None)]:
                if key in self._handlers:
                    raise ValueError(f"a handler is already registered for {key}")
                self._handlers[key] = handler
            return handler

        return decorator

    def events(self) -> list[str]:
        """The webhook events some handler is registered for (what a GitHub App subscribes to)."""
        return sorted({event for event, _ in self._handlers})

    def route(self, delivery: Delivery, options: RouteOptions) -> Routed | Ignored:
        """Run the matching handler, or ignore a delivery nobody registered for.

        Raises:
            BadPayload: The handler found the payload invalid.
        """
        handler = self._handlers.get((delivery.event, delivery.action)) or self._handlers.get(
            (delivery.event, None)
        )
        if handler is None:
            event = _quoted(delivery.event)
            if delivery.action is None:
                return Ignored(f"prsaga does not handle {event} events")
            return Ignored(
                f"prsaga does not handle {event} events with action {_quoted(delivery.action)}"
            )
        return handler(delivery, options)


def _quoted(name: str, limit: int = 100) -> str:
    # The answer and the log line repeat it: a hostile payload's megabyte-long action stays out.
    return repr(name if len(name) <= limit else name[:limit] + "…")


router = Router()

ReviewAction = Literal["opened", "reopened", "synchronize", "ready_for_review", "closed", "labeled"]
"""The ``pull_request`` actions that start, restart, update or end a review (a label can route
extra specialists). The label's name is not carried: the review reads the pull request's labels
from GitHub, masked like the rest of the author's text, so a name stays out of the history."""


@router.register("pull_request", *get_args(ReviewAction))
def pull_request_changed(delivery: Delivery, options: RouteOptions) -> Routed:
    """A pull request was opened, pushed to, reopened, marked ready or closed."""
    webhook = validate_payload(PullRequestWebhook, delivery.payload, "pull_request payload")
    try:
        pr = PullRequestRef(
            owner=webhook.repository.owner.login,
            repo=webhook.repository.name,
            number=webhook.number,
        )
        event = PullRequestEvent(
            delivery_id=delivery.delivery_id,
            # Safe: this handler is only registered for ReviewAction values.
            action=cast(ReviewAction, webhook.action),
            head_sha=webhook.pull_request.head.sha,
            sender=webhook.sender.login,
            source="webhook",
            installation_id=webhook.installation.id if webhook.installation else None,
            updated_at=webhook.pull_request.updated_at,
        )
    except ValidationError as exc:
        raise BadPayload(f"invalid pull_request delivery: {_describe(exc)}") from None
    return Routed(pr=pr, event=event)


def is_bot(account: Sender) -> bool:
    return account.type == "Bot" or account.login.endswith("[bot]")


@router.register("issue_comment", "created")
def comment_created(delivery: Delivery, options: RouteOptions) -> Routed | Ignored:
    """A ``/agent ...`` command in a pull request's conversation. Comments on issues, comments
    without a command, and comments by bots (prsaga's own replies included) are ignored."""
    webhook = validate_payload(IssueCommentWebhook, delivery.payload, "issue_comment payload")
    if webhook.issue.pull_request is None:
        return Ignored("a comment on an issue, not on a pull request")
    if is_bot(webhook.comment.user):
        return Ignored(f"a comment by the bot {webhook.comment.user.login}")
    parsed = parse_command(webhook.comment.body or "", options.command_prefix)
    if parsed is None:
        return Ignored("a comment without a command")
    try:
        pr = PullRequestRef(
            owner=webhook.repository.owner.login,
            repo=webhook.repository.name,
            number=webhook.issue.number,
        )
        command = CommandEvent(
            delivery_id=delivery.delivery_id,
            command=parsed.command,
            argument=parsed.argument,
            sender=webhook.comment.user.login,
            comment_id=webhook.comment.id,
            source="webhook",
            installation_id=webhook.installation.id if webhook.installation else None,
        )
    except ValidationError as exc:
        raise BadPayload(f"invalid issue_comment delivery: {_describe(exc)}") from None
    return Routed(pr=pr, event=command)


def route(delivery: Delivery, options: RouteOptions | None = None) -> Routed | Ignored:
    """Route ``delivery`` with prsaga's handlers.

    Raises:
        BadPayload: The payload of a handled event is invalid.
    """
    return router.route(delivery, options or RouteOptions())
