"""The bench's side of the stack: seed pull requests, deliver signed webhooks, start baseline
workflows, and read back what the local GitHub and Temporal recorded."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import itertools
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from temporalio.api.history.v1 import HistoryEvent

from bench.bare import BareReview, BareShape
from bench.stack import BenchStack
from bench.synthetic import synthetic_pull_request
from prsaga.local.demo import load_demo_pull_request
from prsaga.schema import PullRequestRef, WaitForReviewInput
from starter.github_events import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER
from workflows.pull_request import PullRequestWorkflow

SYNTHETIC_OWNER, SYNTHETIC_REPO = "bench-org", "synthetic-service"
HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


@dataclass(frozen=True)
class SeededPullRequest:
    """A pull request the local GitHub serves, and its ``opened`` delivery."""

    ref: PullRequestRef
    head_sha: str
    payload: dict[str, Any]
    files: int
    changed_lines: int

    @property
    def key(self) -> str:
        return f"{self.ref.full_name}#{self.ref.number}"


@dataclass(frozen=True)
class Delivery:
    """A signed webhook delivery, ready to POST."""

    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class BareRun:
    """A baseline run: its ack (the start call) and end-to-end seconds, and when its last
    activity ran (on the shared monotonic clock)."""

    ack: float
    end_to_end: float
    finished: float


class Driver:
    """Talks to the stack's services the way GitHub and a user would."""

    def __init__(self, stack: BenchStack) -> None:
        self.stack = stack
        self.client = stack.client
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
        self.http = httpx.AsyncClient(timeout=HTTP_TIMEOUT, limits=limits)
        self._numbers = itertools.count(1000)
        assert stack.settings.webhook_secret is not None
        self._secret = stack.settings.webhook_secret.get_secret_value().encode()
        self._demo = load_demo_pull_request()

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- seeding --------------------------------------------------------------------------

    async def _seed(
        self,
        pull: dict[str, Any],
        files: list[dict[str, Any]],
        contents: dict[str, str],
        base_contents: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        body = {"pull": pull, "files": files, "contents": contents}
        if base_contents:
            body["base_contents"] = base_contents
        response = await self.http.post(f"{self.stack.github_url}/_fake/pulls", json=body)
        response.raise_for_status()
        seeded: dict[str, Any] = response.json()["pull"]
        return seeded

    def _opened_payload(self, pull: dict[str, Any]) -> dict[str, Any]:
        payload = copy.deepcopy(self._demo.webhook_payload)
        payload.update(
            action="opened",
            number=pull["number"],
            pull_request=pull,
            repository=pull["base"]["repo"],
        )
        return payload

    async def seed_demo(self) -> SeededPullRequest:
        """The demo pull request (a real psf/requests change) under a new number and head SHA
        of its own, so that its commit statuses are its own too."""
        number = next(self._numbers)
        pull = copy.deepcopy(self._demo.pull)
        pull["number"] = number
        pull["head"]["sha"] = hashlib.sha1(f"bench-demo-{number}".encode()).hexdigest()
        contents = {path: data.decode() for path, data in self._demo.contents.items()}
        seeded = await self._seed(pull, self._demo.files, contents)
        return self._seeded(seeded, self._demo.files)

    async def seed_synthetic(self, files: int, changed_lines: int) -> SeededPullRequest:
        generated = synthetic_pull_request(
            owner=SYNTHETIC_OWNER,
            repo=SYNTHETIC_REPO,
            number=next(self._numbers),
            files=files,
            changed_lines=changed_lines,
        )
        seeded = await self._seed(
            generated.pull, generated.files, generated.contents, generated.base_contents
        )
        return self._seeded(seeded, generated.files)

    def _seeded(self, pull: dict[str, Any], files: list[dict[str, Any]]) -> SeededPullRequest:
        repository = pull["base"]["repo"]
        return SeededPullRequest(
            ref=PullRequestRef(
                owner=repository["owner"]["login"], repo=repository["name"], number=pull["number"]
            ),
            head_sha=pull["head"]["sha"],
            payload=self._opened_payload(pull),
            files=len(files),
            changed_lines=sum(
                int(f.get("additions", 0)) + int(f.get("deletions", 0)) for f in files
            ),
        )

    # -- webhooks -------------------------------------------------------------------------

    def sign(
        self, payload: dict[str, Any], delivery_id: str | None = None, event: str = "pull_request"
    ) -> Delivery:
        body = json.dumps(payload).encode()
        signature = hmac.new(self._secret, body, hashlib.sha256).hexdigest()
        return Delivery(
            body=body,
            headers={
                "Content-Type": "application/json",
                EVENT_HEADER: event,
                DELIVERY_HEADER: delivery_id or str(uuid.uuid4()),
                SIGNATURE_HEADER: f"sha256={signature}",
            },
        )

    async def deliver(self, delivery: Delivery) -> tuple[int, float]:
        """POST a delivery to the webhook server: (status code, seconds until the answer)."""
        started = time.monotonic()
        response = await self.http.post(
            f"{self.stack.webhook_url}/webhooks/github",
            content=delivery.body,
            headers=delivery.headers,
        )
        return response.status_code, time.monotonic() - started

    # -- what GitHub saw ------------------------------------------------------------------

    async def wait_final(self, shas: list[str], timeout: float) -> dict[str, Any]:
        """Wait for a final commit status on every head SHA: ``statuses`` (SHA -> the status
        event, with ``at`` on the shared monotonic clock) and ``missing``."""
        response = await self.http.post(
            f"{self.stack.github_url}/_bench/wait-final",
            json={"shas": shas, "timeout": timeout},
            timeout=timeout + 30,
        )
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    async def review_times(self, keys: set[str]) -> dict[str, float]:
        """When the first review of each pull request (``OWNER/REPO#N``) was stored."""
        response = await self.http.get(f"{self.stack.github_url}/_bench/events")
        found: dict[str, float] = {}
        for event in response.json()["events"]:
            key = f"{event['repository']}#{event.get('number')}"
            if event["kind"] == "review" and key in keys:
                found.setdefault(key, event["at"])
        return found

    async def review_counts(self) -> dict[str, int]:
        response = await self.http.get(f"{self.stack.github_url}/_bench/reviews")
        counts: dict[str, int] = response.json()["reviews"]
        return counts

    # -- Temporal -------------------------------------------------------------------------

    async def settle(self, refs: list[PullRequestRef], timeout: float) -> int:
        """Wait until every pull request's workflow has handled every event it received;
        returns how many did within ``timeout``."""

        async def one(ref: PullRequestRef) -> bool:
            handle = self.client.get_workflow_handle_for(PullRequestWorkflow.run, ref.workflow_id)
            await handle.execute_update(PullRequestWorkflow.wait_for_review, WaitForReviewInput())
            return True

        tasks = [asyncio.create_task(one(ref)) for ref in refs]
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        return sum(1 for task in done if task.exception() is None)

    async def history(self, workflow_id: str) -> list[HistoryEvent]:
        history = await self.client.get_workflow_handle(workflow_id).fetch_history()
        return list(history.events)

    async def run_bare(self, shape: BareShape) -> BareRun:
        """One baseline run, started like a pull request's workflow (signal-with-start)."""
        started = time.monotonic()
        handle = await self.client.start_workflow(
            BareReview.run,
            shape,
            id=f"bench-bare-{uuid.uuid4().hex}",
            task_queue=self.stack.bare_task_queue,
            start_signal="on_event",
            start_signal_args=[str(uuid.uuid4())],
        )
        acked = time.monotonic()
        finished: float = await handle.result()
        return BareRun(ack=acked - started, end_to_end=finished - started, finished=finished)
