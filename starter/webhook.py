"""The GitHub webhook server: a small Starlette app in front of `starter.github_events`.

It reads the body under a size cap, lets ``parse_delivery`` verify and decode it, routes it, and
hands pull-request events to an injected ``submit`` (signal-with-start of the PR's workflow), so
this module does no Temporal I/O of its own. Run it with ``python -m starter.webhook``.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from prsaga.config import Settings, get_settings
from starter.github_events import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    Ignored,
    PayloadTooLarge,
    SubmitFn,
    SubmitUnavailable,
    WebhookError,
    parse_delivery,
    route,
)

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/github"


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


@dataclass
class _DeliveryLog:
    """The fields of the one log line written per delivery."""

    delivery_id: str | None
    event: str | None
    action: str | None = None
    repo: str | None = None
    pr: str | None = None

    def emit(
        self, outcome: str, status_code: int, *, detail: str | None = None, exc_info: bool = False
    ) -> None:
        """Log the delivery's outcome; ``detail`` must be safe to log (never the body)."""
        level = logging.INFO if status_code < 400 else logging.WARNING
        if status_code >= 500:
            level = logging.ERROR
        fields = {
            "delivery_id": self.delivery_id,
            "github_event": self.event,
            "action": self.action,
            "repo": self.repo,
            "outcome": outcome,
            "status_code": status_code,
            "pr": self.pr,
            "detail": detail,
        }
        log.log(
            level,
            "webhook delivery=%s event=%s action=%s repo=%s pr=%s outcome=%s status=%d%s",
            *(
                _loggable(fields[key])
                for key in ("delivery_id", "github_event", "action", "repo", "pr")
            ),
            outcome,
            status_code,
            f" detail={detail!r}" if detail else "",
            extra=fields,
            exc_info=exc_info,
        )


def _loggable(value: object) -> str:
    # Header values are unauthenticated until the signature is checked: keep them to one short
    # token so that they cannot forge or split log lines.
    if value is None:
        return "-"
    text = str(value)[:100]
    return "".join(ch if ch.isprintable() and not ch.isspace() else "?" for ch in text)


def create_app(settings: Settings, submit: SubmitFn) -> Starlette:
    """Build the webhook app: ``POST /webhooks/github`` and ``GET /healthz``.

    Raises:
        MissingWebhookSecret: ``settings`` has no webhook secret.
    """
    secret = require_webhook_secret(settings)
    max_body_bytes = settings.webhook_max_body_bytes

    async def receive_github_webhook(request: Request) -> JSONResponse:
        record = _DeliveryLog(
            delivery_id=request.headers.get(DELIVERY_HEADER),
            event=request.headers.get(EVENT_HEADER),
        )
        try:
            body = await read_body(request, max_body_bytes)
            delivery = parse_delivery(request.headers, body, secret)
            record.action = delivery.action
            record.repo = _repository_full_name(delivery.payload)
            if delivery.event == "ping":
                record.emit("pong", 200)
                return JSONResponse(
                    {
                        "status": "pong",
                        "zen": delivery.payload.get("zen"),
                        "delivery_id": delivery.delivery_id,
                    }
                )
            routed = route(delivery)
        except WebhookError as exc:
            record.emit(f"rejected:{type(exc).__name__}", exc.status_code, detail=str(exc))
            return _error(exc.status_code, str(exc), record.delivery_id)
        except ClientDisconnect:
            # Nobody is left to answer; 400 only keeps the access log honest.
            record.emit("client-disconnected", 400)
            return _error(400, "client disconnected", record.delivery_id)

        if isinstance(routed, Ignored):
            record.emit("ignored", 200, detail=routed.reason)
            return JSONResponse(
                {
                    "status": "ignored",
                    "reason": routed.reason,
                    "delivery_id": delivery.delivery_id,
                }
            )

        record.pr = str(routed.pr)
        try:
            workflow_id = await submit(routed.pr, routed.event)
        except SubmitUnavailable:
            record.emit("temporal-unavailable", 503)
            return _error(
                503,
                "Temporal is unavailable, so this delivery was not recorded. GitHub marks it as "
                "failed: redeliver it (Recent Deliveries, or the REST API) once Temporal is up.",
                delivery.delivery_id,
            )
        except Exception:
            record.emit("submit-failed", 500, exc_info=True)
            return _error(500, "internal error while recording the delivery", delivery.delivery_id)
        record.emit("accepted", 202)
        return JSONResponse(
            {
                "status": "accepted",
                "workflow_id": workflow_id,
                "pr": str(routed.pr),
                "delivery_id": delivery.delivery_id,
            },
            status_code=202,
        )

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, receive_github_webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def _repository_full_name(payload: dict[str, Any]) -> str | None:
    repository = payload.get("repository")
    full_name = repository.get("full_name") if isinstance(repository, dict) else None
    return full_name if isinstance(full_name, str) else None


def _error(status_code: int, message: str, delivery_id: str | None) -> JSONResponse:
    return JSONResponse(
        {"status": "error", "error": message, "delivery_id": delivery_id},
        status_code=status_code,
    )


async def serve(settings: Settings) -> None:
    """Connect to Temporal and serve the webhook app until interrupted."""
    require_webhook_secret(settings)  # fail before connecting to Temporal
    # Imported here so that create_app and its tests need no Temporal client module.
    from starter.temporal import connect_submitter

    submit = await connect_submitter(settings)
    app = create_app(settings, submit)
    config = uvicorn.Config(app, host=settings.webhook_host, port=settings.webhook_port)
    await uvicorn.Server(config).serve()


def main() -> None:
    """Entry point of ``python -m starter.webhook``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        asyncio.run(serve(get_settings()))
    except MissingWebhookSecret as exc:
        raise SystemExit(str(exc)) from None


if __name__ == "__main__":
    main()
