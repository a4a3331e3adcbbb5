"""A circuit breaker per model provider, per worker process.

A provider that is down must not make every pull request wait through all its retries with
backoff. The breaker opens after ``failures`` consecutive failures, or when at least
``min_calls`` calls in the last ``window_seconds`` failed at a rate of ``failure_rate`` or more;
while open, calls fail fast. After ``cooldown_seconds`` it half-opens and lets one probe through:
a success closes it, a failure opens it again for another cool-down.

:class:`CircuitBreaker` is a pure state machine (the clock is injected); :class:`Breakers` keeps
one per provider and reports every transition to a listener (log line and metric). State stays in
the process: a new worker starts closed and learns again, which costs at most ``failures`` calls.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    failures: int = 5
    """Consecutive failures that open the circuit."""
    failure_rate: float = 0.5
    """Share of failed calls in the window that opens the circuit..."""
    min_calls: int = 10
    """...once the window holds at least this many calls."""
    window_seconds: float = 60.0
    cooldown_seconds: float = 30.0
    """How long the circuit stays open before one probe is let through."""


@dataclass(frozen=True)
class Transition:
    """A change of state, for the log and the metrics."""

    provider: str
    before: CircuitState
    after: CircuitState
    reason: str


class CircuitBreaker:
    """One provider's breaker. Not thread-safe on its own: :class:`Breakers` locks around it."""

    def __init__(self, provider: str, policy: BreakerPolicy, clock: Callable[[], float]) -> None:
        self.provider = provider
        self.policy = policy
        self._clock = clock
        self.state = CircuitState.CLOSED
        self._consecutive = 0
        self._calls: deque[tuple[float, bool]] = deque()
        """(when, failed) of the calls in the window."""
        self._opened_at = 0.0
        self._probing = False
        self.last_failure = ""
        """The latest failure's message, to say why the circuit opened."""

    def allow(self) -> tuple[bool, Transition | None]:
        """Whether a call may go to the provider now (in half-open state: only one probe)."""
        if self.state == CircuitState.OPEN:
            if self._clock() - self._opened_at < self.policy.cooldown_seconds:
                return False, None
            transition = self._move(CircuitState.HALF_OPEN, "cool-down over: one probe call")
            self._probing = True
            return True, transition
        if self.state == CircuitState.HALF_OPEN:
            if self._probing:
                return False, None
            self._probing = True
        return True, None

    def record_success(self) -> Transition | None:
        self._probing = False
        self._consecutive = 0
        self._remember(failed=False)
        if self.state == CircuitState.HALF_OPEN:
            return self._move(CircuitState.CLOSED, "the probe call succeeded")
        return None

    def record_failure(self, message: str) -> Transition | None:
        self._probing = False
        self._consecutive += 1
        self.last_failure = message
        self._remember(failed=True)
        if self.state == CircuitState.HALF_OPEN:
            return self._open("the probe call failed")
        if self.state == CircuitState.CLOSED:
            if self._consecutive >= self.policy.failures:
                return self._open(f"{self._consecutive} consecutive failures")
            failed = sum(1 for _, bad in self._calls if bad)
            if (
                len(self._calls) >= self.policy.min_calls
                and failed / len(self._calls) >= self.policy.failure_rate
            ):
                return self._open(
                    f"{failed} of {len(self._calls)} calls failed in "
                    f"{self.policy.window_seconds:g}s"
                )
        return None

    def release(self) -> None:
        """A call that neither succeeded nor failed for the provider (it never reached it):
        a probe slot it held is free again."""
        self._probing = False

    def seconds_until_probe(self) -> float:
        return max(0.0, self._opened_at + self.policy.cooldown_seconds - self._clock())

    def _open(self, reason: str) -> Transition:
        self._opened_at = self._clock()
        return self._move(CircuitState.OPEN, reason)

    def _remember(self, *, failed: bool) -> None:
        now = self._clock()
        self._calls.append((now, failed))
        while self._calls and self._calls[0][0] <= now - self.policy.window_seconds:
            self._calls.popleft()

    def _move(self, to: CircuitState, reason: str) -> Transition:
        before, self.state = self.state, to
        if to == CircuitState.CLOSED:
            self._calls.clear()
        return Transition(self.provider, before, to, reason)


Listener = Callable[[Transition], None]


class Breakers:
    """The worker process's breakers, one per provider, created on first use."""

    def __init__(
        self,
        policy: BreakerPolicy,
        clock: Callable[[], float],
        listener: Listener | None = None,
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._listener = listener
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}

    def _get(self, provider: str) -> CircuitBreaker:
        breaker = self._breakers.get(provider)
        if breaker is None:
            breaker = self._breakers[provider] = CircuitBreaker(provider, self._policy, self._clock)
        return breaker

    def state(self, provider: str) -> CircuitState:
        with self._lock:
            return self._get(provider).state

    def allow(self, provider: str) -> str | None:
        """``None`` when a call to ``provider`` may go ahead, else why it may not."""
        with self._lock:
            breaker = self._get(provider)
            allowed, transition = breaker.allow()
            why = None
            if not allowed:
                wait = breaker.seconds_until_probe()
                why = (
                    f"the circuit breaker of provider {provider!r} is open (last failure: "
                    f"{breaker.last_failure or 'unknown'}); "
                    + (f"next probe in {wait:.0f}s" if wait > 0 else "a probe call is in flight")
                )
        self._notify(transition)
        return why

    def succeeded(self, provider: str) -> None:
        with self._lock:
            transition = self._get(provider).record_success()
        self._notify(transition)

    def failed(self, provider: str, message: str) -> None:
        with self._lock:
            transition = self._get(provider).record_failure(message)
        self._notify(transition)

    def released(self, provider: str) -> None:
        with self._lock:
            self._get(provider).release()

    def _notify(self, transition: Transition | None) -> None:
        if transition is not None and self._listener is not None:
            self._listener(transition)
