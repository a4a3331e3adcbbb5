"""Heartbeats for the review activities, so that a dead worker is noticed in seconds.

Every activity runs its work on a helper thread while its own thread heartbeats every
``HEARTBEAT_EVERY_SECONDS``, whatever the work is doing (a slow GitHub answer, a linter, a
Claude call). The workflow gives each activity a short heartbeat timeout: when the worker dies,
the heartbeats stop and Temporal retries the attempt on another worker after that timeout rather
than after the whole start-to-close budget.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar, cast

from temporalio import activity

HEARTBEAT_EVERY_SECONDS = 2.0
"""Well inside the workflow's heartbeat timeout (``workflows/calls.py``), even on a busy host."""
MAX_HEARTBEAT_THROTTLE_SECONDS = 3.0
"""The worker sends a heartbeat to the server at least this often (the SDK's default is 80% of
the heartbeat timeout, which would leave a busy host a few seconds of slack)."""

T = TypeVar("T")
Activity = TypeVar("Activity", bound=Callable[..., Any])


def heartbeating(work: Callable[[], T]) -> T:
    """Run ``work`` on a helper thread (with the activity's context, so it may log or heartbeat
    too) and heartbeat from the activity's thread until it is done."""
    activity.heartbeat()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="activity-work") as pool:
        future = pool.submit(contextvars.copy_context().run, work)
        while True:
            try:
                return future.result(timeout=HEARTBEAT_EVERY_SECONDS)
            except FutureTimeout:
                activity.heartbeat()


def heartbeats(fn: Activity) -> Activity:
    """Decorate a synchronous activity (under ``@activity.defn``) so that it heartbeats while
    it runs."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        return heartbeating(lambda: fn(*args, **kwargs))

    return cast(Activity, run)
