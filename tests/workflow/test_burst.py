# --- Redelivery and concurrency: bursts of duplicated, reordered deliveries ---
"""Bursts of webhook deliveries, each sent several times, concurrently and out of order.

GitHub may deliver an event more than once (a manual or API redelivery keeps its
``X-GitHub-Delivery``), and deliveries race each other to the webhook server. The workflow per
pull request deduplicates by delivery id and by head SHA, so a burst makes one workflow per pull
request and one review per head, and a stale head is never posted.

Counts: ``PRSAGA_BURST_PRS`` pull requests (default 10; the full run is 50), each delivery sent
``REDELIVERIES`` times.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from prsaga.runtime.config import Settings
from tests.conftest import make_settings
from tests.workflow.test_reliability import (
    GatedGitHub,
    collapse,
    event_payload,
    gated_github,
    seed_unique_pr,
    settled,
    signed_headers,
    webhook_client,
)
from worker import MAX_CONCURRENT_ACTIVITIES, build_worker

BURST_PRS = int(os.environ.get("PRSAGA_BURST_PRS", "10"))
REDELIVERIES = 5


async def deliver(http: httpx.AsyncClient, payload: dict[str, Any], delivery_id: str) -> int:
    body = json.dumps(payload).encode()
    response = await http.post(
        "/webhooks/github", content=body, headers=signed_headers(body, delivery_id)
    )
    return response.status_code


@pytest.fixture
async def stack(
    temporal_client: Client, tmp_path: Path
) -> AsyncIterator[tuple[GatedGitHub, Settings]]:
    """A gated local GitHub and an in-process worker on its own task queue."""
    with gated_github() as github:
        settings = make_settings(github.url, tmp_path / "state")
        with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_ACTIVITIES) as executor:
            async with build_worker(temporal_client, settings, executor):
                yield github, settings


@pytest.mark.slow
async def test_a_burst_of_redelivered_events_makes_one_review_per_head(
    temporal_client: Client,
    stack: tuple[GatedGitHub, Settings],
    record_property: Callable[[str, object], None],
):
    """Each pull request got a push after it was opened; its ``opened`` (older head) and
    ``synchronize`` (newer head) deliveries are each sent five times, all shuffled together
    and sent at once. Every pull request ends with one workflow, the newest head reviewed once,
    and no comment twice."""
    github, settings = stack
    prs = [seed_unique_pr(github.fake) for _ in range(BURST_PRS)]
    newest = {}
    deliveries = []
    for pr in prs:
        newest[pr.ref.number] = github.fake.push(
            pr.ref.owner, pr.ref.repo, pr.ref.number, contents={"NEWS.md": "A second push.\n"}
        )
        opened = (str(uuid.uuid4()), pr.payload)
        pushed = (
            str(uuid.uuid4()),
            event_payload(pr.payload, newest[pr.ref.number], "synchronize"),
        )
        deliveries += [opened, pushed] * REDELIVERIES
    random.shuffle(deliveries)

    async with webhook_client(settings, temporal_client) as http:
        answers = await asyncio.gather(*(deliver(http, p, d) for d, p in deliveries))
        assert set(answers) == {202}
        states = await asyncio.gather(*(settled(temporal_client, pr.ref) for pr in prs))

    record_property("burst_deliveries", len(deliveries))
    workflows = [
        w.id async for w in temporal_client.list_workflows(f"TaskQueue = '{settings.task_queue}'")
    ]
    assert sorted(workflows) == sorted(pr.ref.workflow_id for pr in prs)
    sent = Counter(d for d, _ in deliveries)
    review_posts = [
        r
        for r in github.fake.state()["requests"]
        if r["method"] == "POST" and r["path"].endswith("/reviews")
    ]
    assert len(review_posts) == len(prs), "a review was posted twice"
    for pr, state in zip(prs, states, strict=True):
        head = newest[pr.ref.number]
        assert state.last_reviewed_sha == head and state.reviewed_shas == [head]
        assert Counter(state.recent_deliveries) == {d: 1 for d in state.recent_deliveries}
        assert {sent[d] for d in state.recent_deliveries} == {REDELIVERIES}
        assert len(state.recent_deliveries) == 2
        [review] = github.reviews(pr.ref.number)
        assert review["commit_id"] == head
        bodies = [(c["path"], c["line"], c["body"]) for c in review["comments"]]
        assert bodies and len(bodies) == len(set(bodies))
        assert collapse(github.statuses(head)) == ["pending", "success"]
        assert github.statuses(pr.head_sha) == [], "the older head was never current"


async def test_concurrent_pushes_review_only_the_newest_head(
    temporal_client: Client, stack: tuple[GatedGitHub, Settings]
):
    """A review is in flight when three more pushes land; their ``synchronize`` deliveries race
    in reverse order, twice each. The review in flight is superseded (never posted, its pending
    status set to error) and only the newest head is reviewed and posted."""
    github, settings = stack
    pr = seed_unique_pr(github.fake)
    held = github.gate.hold("GET", rf"/contents/tests/testserver/server\.py\?ref={pr.head_sha}")
    async with webhook_client(settings, temporal_client) as http:
        assert await deliver(http, pr.payload, str(uuid.uuid4())) == 202
        await asyncio.to_thread(held.wait_reached)
        heads = [
            github.fake.push(
                pr.ref.owner, pr.ref.repo, pr.ref.number, contents={"NEWS.md": f"push {n}\n"}
            )
            for n in range(3)
        ]
        pushes = [
            (str(uuid.uuid4()), event_payload(pr.payload, head, "synchronize"))
            for head in reversed(heads)
        ]
        answers = await asyncio.gather(*(deliver(http, p, d) for d, p in pushes * 2))
        assert set(answers) == {202}
        held.release()
        state = await settled(temporal_client, pr.ref)

    newest = heads[-1]
    assert state.last_reviewed_sha == newest and state.reviewed_shas == [newest]
    [review] = github.reviews(pr.ref.number)
    assert review["commit_id"] == newest
    assert collapse(github.statuses(newest)) == ["pending", "success"]
    assert github.statuses(pr.head_sha) == ["pending", "error"]
    assert all(github.statuses(stale) == [] for stale in heads[:-1])
