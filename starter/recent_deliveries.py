"""Answer a repeated delivery without a second signal-with-start.

GitHub redelivers a delivery under the same ``X-GitHub-Delivery`` id (a timeout, a manual
"Redeliver"), and a burst of them costs the webhook server one Temporal round trip each. The
workflow dedupes by delivery id, so a repeat changes nothing there; this server remembers the
ids it recently handed to Temporal and answers a repeat with the workflow id it got then.

It is an optimisation only, never the guarantee: memory is per process, bounded in count and
age, and only a submission that Temporal accepted is remembered (a refused one is retried by
the next copy). Copies arriving while the first is still being submitted wait for it.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

from prsaga.schema import CommandEvent, PullRequestEvent, PullRequestRef
from starter.github_events import SubmitFn

MAX_REMEMBERED = 20_000
"""Delivery ids kept (about 200 bytes each)."""
REMEMBER_SECONDS = 600.0
"""How long an accepted delivery id is answered from memory; GitHub's own redeliveries come
within seconds, a person's "Redeliver" later goes to Temporal (which dedupes) again."""

_Key = tuple[str, str]
"""(workflow id, delivery id)."""


class RecentDeliveries:
    """Accepted deliveries, most recent last, bounded by ``max_entries`` and ``ttl_seconds``."""

    def __init__(
        self,
        max_entries: int = MAX_REMEMBERED,
        ttl_seconds: float = REMEMBER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_entries = max_entries
        self._ttl = ttl_seconds
        self._clock = clock
        self._accepted: OrderedDict[_Key, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._accepted)

    def seen(self, key: _Key) -> bool:
        accepted_at = self._accepted.get(key)
        if accepted_at is None:
            return False
        if self._clock() - accepted_at > self._ttl:
            del self._accepted[key]
            return False
        return True

    def remember(self, key: _Key) -> None:
        now = self._clock()
        self._accepted[key] = now
        self._accepted.move_to_end(key)
        # Oldest first, so expired entries and the overflow leave from the front.
        while self._accepted:
            oldest_key, oldest_at = next(iter(self._accepted.items()))
            if len(self._accepted) <= self._max_entries and now - oldest_at <= self._ttl:
                break
            del self._accepted[oldest_key]


class SubmitOnce:
    """A ``SubmitFn`` that signal-with-starts each delivery once: a repeat of one accepted
    recently (or in flight) gets the same answer without calling Temporal."""

    def __init__(self, submit: SubmitFn, recent: RecentDeliveries | None = None) -> None:
        self._submit = submit
        self._recent = recent if recent is not None else RecentDeliveries()
        self._in_flight: dict[_Key, asyncio.Future[bool]] = {}

    async def __call__(self, pr: PullRequestRef, event: PullRequestEvent | CommandEvent) -> str:
        key = (pr.workflow_id, event.delivery_id)
        if self._recent.seen(key):
            return pr.workflow_id
        first = self._in_flight.get(key)
        if first is not None and await asyncio.shield(first):
            return pr.workflow_id
        # The first copy, or the first one failed: this copy goes to Temporal itself.
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = done
        accepted = False
        try:
            workflow_id = await self._submit(pr, event)
            accepted = True
        finally:
            done.set_result(accepted)
            if self._in_flight.get(key) is done:
                del self._in_flight[key]
        self._recent.remember(key)
        return workflow_id
