"""The webhook server's memory of accepted deliveries: a repeat skips the signal-with-start."""

from __future__ import annotations

import asyncio

import pytest

from prsaga.schema import PullRequestEvent, PullRequestRef
from starter.github_events import SubmitUnavailable
from starter.recent_deliveries import RecentDeliveries, SubmitOnce

PR = PullRequestRef(owner="acme", repo="app", number=7)
HEAD = "a" * 40


def event(delivery_id: str) -> PullRequestEvent:
    return PullRequestEvent(
        delivery_id=delivery_id, action="opened", head_sha=HEAD, sender="octocat", source="webhook"
    )


class Temporal:
    """Records signal-with-starts; ``fail`` of them raise, each waits for ``gate``."""

    def __init__(self, fail: int = 0) -> None:
        self.calls: list[str] = []
        self.fail = fail
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, pr: PullRequestRef, event: PullRequestEvent) -> str:  # type: ignore[override]
        self.calls.append(event.delivery_id)
        await self.gate.wait()
        if self.fail:
            self.fail -= 1
            raise SubmitUnavailable("Temporal is down")
        return pr.workflow_id


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_repeated_delivery_is_submitted_once() -> None:
    temporal = Temporal()
    submit = SubmitOnce(temporal)
    answers = [await submit(PR, event(d)) for d in ("d1", "d1", "d2", "d1")]
    assert answers == [PR.workflow_id] * 4
    assert temporal.calls == ["d1", "d2"]


async def test_copies_arriving_together_wait_for_the_first() -> None:
    temporal = Temporal()
    temporal.gate.clear()
    submit = SubmitOnce(temporal)
    copies = [asyncio.create_task(submit(PR, event("d1"))) for _ in range(5)]
    await asyncio.sleep(0.01)
    temporal.gate.set()
    assert await asyncio.gather(*copies) == [PR.workflow_id] * 5
    assert temporal.calls == ["d1"]


async def test_a_refused_delivery_is_not_remembered() -> None:
    temporal = Temporal(fail=1)
    submit = SubmitOnce(temporal)
    with pytest.raises(SubmitUnavailable):
        await submit(PR, event("d1"))
    assert await submit(PR, event("d1")) == PR.workflow_id  # the redelivery goes to Temporal
    assert temporal.calls == ["d1", "d1"]


async def test_when_the_first_copy_fails_a_waiting_copy_submits_itself() -> None:
    temporal = Temporal(fail=1)
    temporal.gate.clear()
    submit = SubmitOnce(temporal)
    first = asyncio.create_task(submit(PR, event("d1")))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(submit(PR, event("d1")))
    await asyncio.sleep(0.01)
    temporal.gate.set()
    with pytest.raises(SubmitUnavailable):
        await first
    assert await second == PR.workflow_id
    assert temporal.calls == ["d1", "d1"]


async def test_the_same_delivery_id_for_another_pull_request_is_its_own() -> None:
    temporal = Temporal()
    submit = SubmitOnce(temporal)
    other = PullRequestRef(owner="acme", repo="app", number=8)
    await submit(PR, event("d1"))
    assert await submit(other, event("d1")) == other.workflow_id
    assert temporal.calls == ["d1", "d1"]


def test_memory_is_bounded_in_count_and_age() -> None:
    clock = Clock()
    recent = RecentDeliveries(max_entries=3, ttl_seconds=60, clock=clock)
    for n in range(5):
        recent.remember(("wf", f"d{n}"))
    assert len(recent) == 3
    assert not recent.seen(("wf", "d0")) and recent.seen(("wf", "d4"))
    clock.now = 61
    assert not recent.seen(("wf", "d4"))  # too old: Temporal answers (and dedupes) again
    recent.remember(("wf", "d5"))
    assert len(recent) == 1


async def test_an_expired_delivery_goes_to_temporal_again() -> None:
    clock = Clock()
    temporal = Temporal()
    submit = SubmitOnce(temporal, RecentDeliveries(ttl_seconds=60, clock=clock))
    await submit(PR, event("d1"))
    clock.now = 120
    await submit(PR, event("d1"))
    assert temporal.calls == ["d1", "d1"]
