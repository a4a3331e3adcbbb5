"""Compensations for a multi-step review, undone in reverse order when a step fails for good."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError

Compensation = Callable[[], Awaitable[None]]


class Saga:
    """Register a compensation *before* the step it undoes (a step may half-succeed, e.g. a review
    posted before the activity could report it), then call ``compensate`` if the saga fails."""

    def __init__(self) -> None:
        self._compensations: list[tuple[str, Compensation]] = []

    def on_failure(self, description: str, compensation: Compensation) -> None:
        self._compensations.append((description, compensation))

    async def compensate(self) -> list[str]:
        """Run every compensation, newest first; one that fails is recorded and the rest still
        run. Returns what happened to each, for the workflow's state and history."""
        outcomes = []
        for description, compensation in reversed(self._compensations):
            try:
                await compensation()
                outcomes.append(f"done: {description}")
            except ActivityError as err:
                workflow.logger.error("compensation %r failed: %s", description, err.cause or err)
                outcomes.append(f"failed: {description}: {err.cause or err}")
        self._compensations.clear()
        return outcomes
