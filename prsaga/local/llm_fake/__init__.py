"""A local server speaking the Anthropic Messages API, for the tests and the demo.

prsaga talks to Claude only through the official ``anthropic`` SDK; pointing its ``base_url`` at
this server gives it the same request checks, message and error shapes, headers and usage
counts (prompt caching included) as the real API, without a network::

    fake = FakeMessages(api_key="sk-test")
    with serve_in_thread(fake) as base_url:
        client = anthropic.Anthropic(api_key="sk-test", base_url=base_url)
        fake.script(ErrorReply(429, headers={"retry-after": "7"}))
        ...
    fake.requests[0].body["system"]

By default it answers as a deterministic reviewer: offered the ``report_findings`` tool, it
calls it with findings for a few simple, real patterns on the added lines of the diff fenced in
the prompt (the format of :func:`prsaga.review.diff_render.render_chunk`), limited to the categories
the system prompt's ``report-categories:`` line asks for. It is a pattern matcher: nothing
written in a diff can change what it reports, which is what lets the tests prove that prompt
injection does not change prsaga's verdict.

Or from a shell: ``python -m prsaga.local.llm_fake --port 8766`` (the key from
``$PRSAGA_ANTHROPIC_API_KEY`` or ``$ANTHROPIC_API_KEY``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from starlette.applications import Starlette

from prsaga.local.llm_fake.app import (
    ERROR_TYPES,
    REVIEW_TOOL,
    DelayReply,
    ErrorReply,
    RawReply,
    RecordedRequest,
    Reply,
    ScriptedServer,
    ServerState,
    TextReply,
    ToolUseReply,
    build_app,
    review,
)
from prsaga.local.llm_fake.latency import Latency
from prsaga.local.serving import serve_app_in_thread

__all__ = [
    "ERROR_TYPES",
    "REVIEW_TOOL",
    "DelayReply",
    "ErrorReply",
    "FakeMessages",
    "Latency",
    "RawReply",
    "RecordedRequest",
    "Reply",
    "TextReply",
    "ToolUseReply",
    "review",
    "serve_in_thread",
]


class FakeMessages(ScriptedServer):
    """The server's state and its ASGI application (``app``).

    Args:
        api_key: The only ``x-api-key`` the server accepts.
        min_cache_tokens: Shortest prefix (in tokens) that prompt caching stores; the real API's
            minimum is 1024 or more depending on the model. 0 caches every marked prefix.
        latency: Answer after a delay in proportion to the tokens (``None``: at once).
    """

    def __init__(
        self, api_key: str, *, min_cache_tokens: int = 0, latency: Latency | None = None
    ) -> None:
        if not api_key:
            raise ValueError("the local Messages API server needs a key to check requests against")
        self._state = ServerState(min_cache_tokens=min_cache_tokens, latency=latency)
        self.app: Starlette = build_app(self._state, api_key)


@contextmanager
def serve_in_thread(
    fake: FakeMessages, host: str = "127.0.0.1", port: int = 0, *, startup_timeout: float = 10.0
) -> Iterator[str]:
    """Run ``fake`` with uvicorn on a background thread; yield its base URL; stop it on exit.

    ``port=0`` picks a free port.
    """
    with serve_app_in_thread(
        fake.app,
        name="the local Messages API server",
        host=host,
        port=port,
        startup_timeout=startup_timeout,
        # A scripted delay may still be sleeping for a client that gave up: do not wait for it.
        shutdown_grace=1,
    ) as url:
        yield url
