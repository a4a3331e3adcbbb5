"""The GitHub webhook server: a small Starlette app in front of `starter.github_events`.

It reads the body under a size cap, lets ``parse_delivery`` verify and decode it, routes it, and
hands pull-request events to an injected ``submit`` (signal-with-start of the PR's workflow), so
the only Temporal I/O of its own is the ``/readyz`` probe. Each delivery gets one log line, one
count in ``prsaga_webhooks_received`` and one span, all carrying its delivery id. Run it with
``python -m starter.webhook``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import opentelemetry.trace
import uvicorn
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.common import MetricMeter

from prsaga.runtime.config import Settings, get_settings
from prsaga.runtime.logs import configure_logging, log_context, update_log_context
from prsaga.runtime.telemetry import (
    SERVICE_NAME_WEBHOOK,
    RejectReason,
    WebhookOutcome,
    configure_tracing,
    process_meter,
    record_webhook,
    temporal_reachable,
)
from prsaga.schema import PullRequestRef
from starter.github_events import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    BadPayload,
    Delivery,
    Ignored,
    InvalidSignature,
    PayloadTooLarge,
    Routed,
    RouteOptions,
    SubmitFn,
    SubmitUnavailable,
    UnsupportedMediaType,
    WebhookError,
    parse_delivery,
    route,
)

if TYPE_CHECKING:
    from temporalio.client import Client

# Not __name__, which is "__main__" under `python -m starter.webhook`.
log = logging.getLogger("starter.webhook")

WEBHOOK_PATH = "/webhooks/github"
READINESS_TIMEOUT = timedelta(seconds=2)

ReadinessCheck = Callable[[], Awaitable[bool]]
"""Whether the server can do its job now (``GET /readyz``)."""

_REJECT_REASONS: dict[type[WebhookError], RejectReason] = {
    InvalidSignature: "bad_signature",
    BadPayload: "bad_payload",
    PayloadTooLarge: "too_large",
    UnsupportedMediaType: "unsupported",
}


class MissingWebhookSecret(ValueError):
    """The server was configured without ``PRSAGA_WEBHOOK_SECRET``."""


def require_webhook_secret(settings: Settings) -> str:
    """The webhook secret, or a clear error: prsaga only accepts signed deliveries.

    Raises:
        MissingWebhookSecret: ``settings.webhook_secret`` is unset or empty.
    """
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    if not secret:
        raise MissingWebhookSecret(
            "PRSAGA_WEBHOOK_SECRET is not set: GitHub webhooks must be signed. Set it to the "
            "secret configured on the GitHub webhook."
        )
    return secret


async def read_body(request: Request, max_bytes: int) -> bytes:
    """Read the request body, refusing to hold more than ``max_bytes`` in memory.

    Raises:
        PayloadTooLarge: The declared or the streamed length exceeds ``max_bytes``.
    """
    too_large = PayloadTooLarge(f"body exceeds the {max_bytes}-byte limit")
    declared = request.headers.get("content-length", "")
    # A declared length lets us refuse before reading anything; a chunked body has none.
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    body = bytearray()
    async with aclosing(request.stream()) as chunks:
        async for chunk in chunks:
            body += chunk
            if len(body) > max_bytes:
                raise too_large
    return bytes(body)


@dataclass(frozen=True)
class Answer:
    """How the server answers one delivery, and how the delivery is logged and counted."""

    status_code: int
    body: dict[str, Any]
    outcome: str
    """The log's and the span's label, e.g. ``accepted`` or ``rejected:BadPayload``."""
    counted_as: WebhookOutcome
    reason: RejectReason | None = None
    detail: str | None = None
    """Safe to log: never the body."""
    error: BaseException | None = None
    """An unexpected failure, logged with its traceback."""


def _error(
    status_code: int,
    message: str,
    delivery_id: str | None,
    *,
    outcome: str,
    reason: RejectReason,
    detail: str | None = None,
    error: BaseException | None = None,
) -> Answer:
    return Answer(
        status_code,
        {"status": "error", "error": message, "delivery_id": delivery_id},
        outcome=outcome,
        counted_as="rejected",
        reason=reason,
        detail=detail,
        error=error,
    )


class AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped: an answer may quote payload text (a ping's zen, a login),
    and a lone surrogate in it, valid in a JSON string, has no UTF-8 encoding (a 500)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


@dataclass
class _DeliveryLog:
    """What one delivery leaves behind: one log line, one count in ``prsaga_webhooks_received``
    and the attributes of its span."""

    delivery_id: str | None
    event: str | None
    meter: MetricMeter
    span: Span
    verified: bool = False
    """The signature matched, so ``event`` is GitHub's and may label a metric."""
    action: str | None = None
    repo: str | None = None
    pr: str | None = None

    def verified_as(self, delivery: Delivery) -> None:
        """The delivery is GitHub's: label the span and the log context with what it is about."""
        self.verified = True
        self.action = delivery.action
        self.repo = _repository_full_name(delivery.payload)
        self.span.set_attribute("github.event", delivery.event)
        if delivery.action:
            self.span.set_attribute("github.action", delivery.action)
        if self.repo:
            self.span.set_attribute("prsaga.repository", self.repo)
            update_log_context(repository=self.repo)

    def routed_to(self, pr: PullRequestRef) -> None:
        self.pr = str(pr)
        update_log_context(pr_number=pr.number, workflow_id=pr.workflow_id)
        self.span.set_attribute("prsaga.pr_number", pr.number)
        self.span.set_attribute("prsaga.workflow_id", pr.workflow_id)

    def emit(self, answer: Answer) -> None:
        """Log, count and annotate the delivery's outcome."""
        level = logging.INFO if answer.status_code < 400 else logging.WARNING
        if answer.status_code >= 500:
            level = logging.ERROR
        fields = {
            "delivery_id": self.delivery_id,
            "github_event": self.event,
            "action": self.action,
            "repo": self.repo,
            "outcome": answer.outcome,
            "status_code": answer.status_code,
            "pr": self.pr,
            "detail": answer.detail,
        }
        log.log(
            level,
            "webhook delivery=%s event=%s action=%s repo=%s pr=%s outcome=%s status=%d%s",
            *(
                _loggable(fields[key])
                for key in ("delivery_id", "github_event", "action", "repo", "pr")
            ),
            answer.outcome,
            answer.status_code,
            f" detail={answer.detail!r}" if answer.detail else "",
            extra=fields,
            exc_info=answer.error,
        )
        event = self.event if self.verified and self.event else "unknown"
        record_webhook(self.meter, event, answer.counted_as, answer.reason)
        self.span.set_attribute("prsaga.outcome", answer.outcome)
        self.span.set_attribute("http.response.status_code", answer.status_code)
        if answer.status_code >= 500:
            self.span.set_status(StatusCode.ERROR, answer.outcome)


def _loggable(value: object) -> str:
    # Header values are unauthenticated until the signature is checked: keep them to one short
    # token so that they cannot forge or split log lines.
    if value is None:
        return "-"
    text = str(value)[:100]
    return "".join(ch if ch.isprintable() and not ch.isspace() else "?" for ch in text)


class DeliveryHandler:
    """``POST /webhooks/github``: verify and decode, route, submit, answer.

    Each step returns an `Answer` or hands on to the next; the answer is logged, counted and
    put on the span in one place (`_DeliveryLog.emit`).
    """

    def __init__(
        self,
        settings: Settings,
        submit: SubmitFn,
        *,
        meter: MetricMeter,
        tracer: Tracer,
    ) -> None:
        self._secret = require_webhook_secret(settings)
        self._max_body_bytes = settings.webhook_max_body_bytes
        self._routing = RouteOptions(command_prefix=settings.command_prefix)
        self._submit = submit
        self._meter = meter
        self._tracer = tracer

    async def receive(self, request: Request) -> JSONResponse:
        delivery_id = request.headers.get(DELIVERY_HEADER)
        with (
            self._tracer.start_as_current_span(
                f"POST {WEBHOOK_PATH}",
                kind=SpanKind.SERVER,
                attributes={"http.request.method": "POST", "http.route": WEBHOOK_PATH},
            ) as span,
            log_context(delivery_id=_loggable(delivery_id) if delivery_id else None),
        ):
            # The delivery id is the correlation id of the logs, the trace and the workflow.
            if delivery_id:
                span.set_attribute("prsaga.delivery_id", _loggable(delivery_id))
            record = _DeliveryLog(
                delivery_id=delivery_id,
                event=request.headers.get(EVENT_HEADER),
                meter=self._meter,
                span=span,
            )
            answer = await self._answer(request, record)
            record.emit(answer)
            return AsciiJSONResponse(answer.body, status_code=answer.status_code)

    async def _answer(self, request: Request, record: _DeliveryLog) -> Answer:
        try:
            body = await read_body(request, self._max_body_bytes)
            delivery = parse_delivery(request.headers, body, self._secret)
            record.verified_as(delivery)
            if delivery.event == "ping":
                return _pong(delivery)
            routed = route(delivery, self._routing)
        except WebhookError as exc:
            return _error(
                exc.status_code,
                str(exc),
                record.delivery_id,
                outcome=f"rejected:{type(exc).__name__}",
                reason=_reject_reason(exc),
                detail=str(exc),
            )
        except ClientDisconnect:
            # Nobody is left to answer; 400 only keeps the access log honest.
            return _error(
                400,
                "client disconnected",
                record.delivery_id,
                outcome="client-disconnected",
                reason="bad_payload",
            )
        if isinstance(routed, Ignored):
            return Answer(
                200,
                {"status": "ignored", "reason": routed.reason, "delivery_id": delivery.delivery_id},
                outcome="ignored",
                counted_as="ignored",
                detail=routed.reason,
            )
        record.routed_to(routed.pr)
        return await self._submitted(routed, delivery.delivery_id)

    async def _submitted(self, routed: Routed, delivery_id: str) -> Answer:
        try:
            workflow_id = await self._submit(routed.pr, routed.event)
        except SubmitUnavailable:
            return _error(
                503,
                "Temporal is unavailable, so this delivery was not recorded. GitHub marks it as "
                "failed: redeliver it (Recent Deliveries, or the REST API) once Temporal is up.",
                delivery_id,
                outcome="temporal-unavailable",
                reason="unavailable",
            )
        except Exception as exc:
            return _error(
                500,
                "internal error while recording the delivery",
                delivery_id,
                outcome="submit-failed",
                reason="error",
                error=exc,
            )
        return Answer(
            202,
            {
                "status": "accepted",
                "workflow_id": workflow_id,
                "pr": str(routed.pr),
                "delivery_id": delivery_id,
            },
            outcome="accepted",
            counted_as="accepted",
        )


def _pong(delivery: Delivery) -> Answer:
    return Answer(
        200,
        {"status": "pong", "zen": _zen(delivery.payload), "delivery_id": delivery.delivery_id},
        outcome="pong",
        counted_as="ignored",
    )


def create_app(
    settings: Settings,
    submit: SubmitFn,
    *,
    ready: ReadinessCheck | None = None,
    meter: MetricMeter | None = None,
    tracer: Tracer | None = None,
) -> Starlette:
    """Build the webhook app: ``POST /webhooks/github``, ``GET /healthz`` and ``GET /readyz``.

    Args:
        settings: The webhook secret and body cap.
        submit: Signal-with-start of a pull request's workflow.
        ready: The readiness check of ``/readyz`` (``None``: always ready).
        meter: Where deliveries are counted (default: this process's runtime meter).
        tracer: Traces each delivery (default: the global tracer provider's). The span is
            current while ``submit`` runs, so Temporal's tracing interceptor makes it the
            parent of the signal-with-start.

    Raises:
        MissingWebhookSecret: ``settings`` has no webhook secret.
    """
    deliveries = DeliveryHandler(
        settings,
        submit,
        meter=meter if meter is not None else process_meter(settings),
        tracer=tracer if tracer is not None else opentelemetry.trace.get_tracer(log.name),
    )

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        if ready is None or await ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse(
            {"status": "unavailable", "error": "Temporal is unreachable"}, status_code=503
        )

    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, deliveries.receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ]
    )


def _reject_reason(exc: WebhookError) -> RejectReason:
    for kind, reason in _REJECT_REASONS.items():
        if isinstance(exc, kind):
            return reason
    return "bad_payload"


class TemporalReadiness:
    """``/readyz`` of the webhook server: Temporal answers ``GetSystemInfo`` in time.

    Connects on the first check (the server starts before Temporal is up) and keeps the client,
    which reconnects by itself.
    """

    def __init__(
        self,
        connect_client: Callable[[], Awaitable[Client]],
        timeout: timedelta = READINESS_TIMEOUT,
    ) -> None:
        self._connect_client = connect_client
        self._timeout = timeout
        self._client: Client | None = None
        self._connecting = asyncio.Lock()

    async def __call__(self) -> bool:
        async with self._connecting:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(
                        self._connect_client(), self._timeout.total_seconds()
                    )
                except (RuntimeError, TimeoutError):
                    return False
        return await temporal_reachable(self._client, self._timeout)


def _zen(payload: dict[str, Any]) -> str | None:
    # Echoed only when it is text: any other JSON (NaN, a deep list) may not even serialize.
    zen = payload.get("zen")
    return zen if isinstance(zen, str) else None


def _repository_full_name(payload: dict[str, Any]) -> str | None:
    repository = payload.get("repository")
    full_name = repository.get("full_name") if isinstance(repository, dict) else None
    return full_name if isinstance(full_name, str) else None


async def serve(settings: Settings) -> None:
    """Connect to Temporal and serve the webhook app until interrupted."""
    require_webhook_secret(settings)  # fail before connecting to Temporal
    # Imported here so that create_app and its tests need no Temporal client module.
    from prsaga.runtime.temporal import connect
    from starter.recent_deliveries import SubmitOnce
    from starter.temporal import connect_submitter

    meter = process_meter(settings)  # serves metrics_address (if set) from now on
    submit = SubmitOnce(await connect_submitter(settings))
    app = create_app(
        settings, submit, ready=TemporalReadiness(lambda: connect(settings)), meter=meter
    )
    # log_config=None: uvicorn's loggers propagate to the root handler (format and scrubbing).
    config = uvicorn.Config(
        app, host=settings.webhook_host, port=settings.webhook_port, log_config=None
    )
    await uvicorn.Server(config).serve()


def main() -> None:
    """Entry point of ``python -m starter.webhook``."""
    settings = get_settings()
    configure_logging(settings)
    tracer_provider = configure_tracing(settings, SERVICE_NAME_WEBHOOK)
    try:
        asyncio.run(serve(settings))
    except MissingWebhookSecret as exc:
        raise SystemExit(str(exc)) from None
    finally:
        if tracer_provider is not None:
            tracer_provider.shutdown()  # flush the last spans


if __name__ == "__main__":
    main()
