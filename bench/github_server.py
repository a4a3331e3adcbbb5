"""The benchmark's local GitHub: prsaga's ``FakeGitHub`` plus a clock on what gets written.

Every review and commit status is timestamped (``time.monotonic()``, system-wide on Linux) the
moment the server stores it, so end-to-end latency is measured where GitHub would see the
result. The bench's own endpoints live under ``/_bench/``; everything else is the local GitHub
(seeding included: ``POST /_fake/pulls``). Run by the bench:
``python -m bench.github_server --port N`` with the token in ``PRSAGA_GITHUB_TOKEN``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from prsaga.local.github_fake import FakeGitHub

RATE_LIMIT = 1_000_000_000
"""Requests per hour: the benchmark must not hit the local server's GitHub-like limit."""
WAIT_POLL_SECONDS = 0.005


class Clock:
    """What was written, and when: ``review`` and ``status`` events in order."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.first_final: dict[str, dict[str, Any]] = {}
        """Head SHA -> its first non-pending status."""

    def watch(self, fake: FakeGitHub) -> None:
        """Wrap the store's writers (the app calls them through the store object)."""
        store = fake.store
        create_review: Callable[..., dict[str, Any]] = store.create_review
        create_status: Callable[..., dict[str, Any]] = store.create_status

        def timed_review(owner: str, repo: str, number: int, payload: Any) -> dict[str, Any]:
            review = create_review(owner, repo, number, payload)
            self.events.append(
                {
                    "kind": "review",
                    "repository": f"{owner}/{repo}",
                    "number": number,
                    "at": time.monotonic(),
                }
            )
            return review

        def timed_status(owner: str, repo: str, sha: str, payload: Any) -> dict[str, Any]:
            status = create_status(owner, repo, sha, payload)
            event = {
                "kind": "status",
                "repository": f"{owner}/{repo}",
                "sha": sha,
                "state": payload.get("state"),
                "at": time.monotonic(),
            }
            self.events.append(event)
            if event["state"] != "pending":
                self.first_final.setdefault(sha, event)
            return status

        store.create_review = timed_review  # type: ignore[method-assign]
        store.create_status = timed_status  # type: ignore[method-assign]

    def final_statuses(self, shas: set[str]) -> dict[str, dict[str, Any]]:
        """The first non-pending status of each of ``shas`` seen so far."""
        return {sha: self.first_final[sha] for sha in shas if sha in self.first_final}


def build_app(fake: FakeGitHub, clock: Clock) -> ASGIApp:
    """The local GitHub with ``/_bench/`` routes in front."""

    async def events(request: Request) -> JSONResponse:
        since = int(request.query_params.get("since", "0"))
        return JSONResponse({"events": clock.events[since:], "next": len(clock.events)})

    async def wait_final(request: Request) -> JSONResponse:
        """Wait until every head SHA given has a final commit status (or the timeout)."""
        body = await request.json()
        shas = set(body["shas"])
        deadline = time.monotonic() + float(body.get("timeout", 60))
        found = clock.final_statuses(shas)
        while len(found) < len(shas) and time.monotonic() < deadline:
            await asyncio.sleep(WAIT_POLL_SECONDS)
            found = clock.final_statuses(shas)
        return JSONResponse({"statuses": found, "missing": sorted(shas - set(found))})

    async def reviews(request: Request) -> JSONResponse:
        """Reviews per pull request (``OWNER/REPO#N``), counted in the server's state."""
        counted = Counter(
            f"{review['repository']}#{review['pull_number']}" for review in fake.state()["reviews"]
        )
        return JSONResponse({"reviews": dict(counted)})

    async def now(request: Request) -> JSONResponse:
        return JSONResponse({"monotonic": time.monotonic()})

    bench = Starlette(
        routes=[
            Route("/_bench/events", events),
            Route("/_bench/wait-final", wait_final, methods=["POST"]),
            Route("/_bench/reviews", reviews),
            Route("/_bench/now", now),
        ]
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/_bench/"):
            await bench(scope, receive, send)
        else:
            await fake.app(scope, receive, send)

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.github_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    token = os.environ.get("PRSAGA_GITHUB_TOKEN", "")
    if not token:
        sys.exit("set PRSAGA_GITHUB_TOKEN to the token the server accepts")
    fake = FakeGitHub(token, rate_limit=RATE_LIMIT)
    clock = Clock()
    clock.watch(fake)
    uvicorn.run(
        build_app(fake, clock),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
