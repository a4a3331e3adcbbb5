"""Serving an ASGI app on a background thread: the local GitHub and Messages API servers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp


@contextmanager
def serve_app_in_thread(
    app: ASGIApp,
    *,
    name: str,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 10.0,
    shutdown_grace: int | None = None,
) -> Iterator[str]:
    """Run ``app`` with uvicorn on a daemon thread; yield its base URL; stop it on exit.

    ``port=0`` picks a free port; ``shutdown_grace`` bounds the wait for open requests.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=shutdown_grace,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"{name} did not start on {host}:{port}")
        time.sleep(0.01)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    try:
        yield f"http://{shown_host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=startup_timeout)
