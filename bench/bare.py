"""The baseline: a bare Temporal workflow with the review saga's shape and no-op activities.

Started the way a pull request's workflow is (signal-with-start), it runs ``before`` activities
one after the other (parse, plan, pending status), then the agents in parallel (Claude chunks at
most ``claude_parallelism`` at a time, as the real workflow bounds them), then ``after`` more
(publish, final status). Whatever prsaga costs beyond this is prsaga's overhead.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import activity, workflow

ACTIVITY_TIMEOUT = timedelta(minutes=2)


class BareShape(BaseModel):
    """How many activities the baseline runs, and how."""

    before: int = Field(default=3, ge=0)
    offline: int = Field(default=1, ge=0)
    claude: int = Field(default=0, ge=0)
    claude_parallelism: int = Field(default=4, ge=1)
    after: int = Field(default=2, ge=0)

    @property
    def activities(self) -> int:
        return self.before + self.offline + self.claude + self.after


@activity.defn(name="bench_noop")
def noop(step: int) -> float:
    """Do nothing; return when it ran (``time.monotonic()`` is system-wide on Linux, so the
    bench process can compare it with its own clock)."""
    return time.monotonic()


@workflow.defn(name="BenchBareReview")
class BareReview:
    """The baseline workflow: waits for its start signal, then runs ``BareShape``."""

    def __init__(self) -> None:
        self._signalled = False

    @workflow.signal
    def on_event(self, delivery_id: str) -> None:
        self._signalled = True

    @workflow.run
    async def run(self, shape: BareShape) -> float:
        """Returns when the last activity ran (see ``noop``)."""
        await workflow.wait_condition(lambda: self._signalled)
        step = 0
        for _ in range(shape.before):
            await self._noop(step)
            step += 1
        limit = asyncio.Semaphore(shape.claude_parallelism)

        async def bounded(index: int) -> float:
            async with limit:
                return await self._noop(index)

        ran = await asyncio.gather(
            *(self._noop(step + i) for i in range(shape.offline)),
            *(bounded(step + shape.offline + i) for i in range(shape.claude)),
        )
        step += shape.offline + shape.claude
        finished = max(ran, default=0.0)
        for _ in range(shape.after):
            finished = await self._noop(step)
            step += 1
        return finished

    async def _noop(self, step: int) -> float:
        return await workflow.execute_activity(noop, step, start_to_close_timeout=ACTIVITY_TIMEOUT)
