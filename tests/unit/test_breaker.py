"""The circuit breaker's state machine, on an injected clock."""

from __future__ import annotations

import pytest

from prsaga.adapters.llm.breaker import (
    BreakerPolicy,
    Breakers,
    CircuitBreaker,
    CircuitState,
    Transition,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


POLICY = BreakerPolicy(
    failures=3, failure_rate=0.5, min_calls=6, window_seconds=60, cooldown_seconds=30
)


def breaker(clock: Clock, policy: BreakerPolicy = POLICY) -> CircuitBreaker:
    return CircuitBreaker("anthropic", policy, clock)


def test_consecutive_failures_open_it_and_calls_then_fail_fast() -> None:
    clock = Clock()
    b = breaker(clock)
    assert b.record_failure("500") is None
    assert b.record_failure("500") is None
    transition = b.record_failure("timeout")
    assert transition == Transition(
        "anthropic", CircuitState.CLOSED, CircuitState.OPEN, "3 consecutive failures"
    )
    assert b.last_failure == "timeout"
    clock.now += 29
    assert b.allow() == (False, None)


def test_a_success_resets_the_consecutive_count() -> None:
    b = breaker(Clock(), BreakerPolicy(failures=3, min_calls=100))
    for _ in range(5):
        b.record_failure("500")
        b.record_failure("500")
        b.record_success()
    assert b.state == CircuitState.CLOSED


def test_a_failure_rate_over_the_window_opens_it() -> None:
    clock = Clock()
    b = breaker(clock, BreakerPolicy(failures=100, failure_rate=0.5, min_calls=6))
    outcomes = [True, False, True, False, True]  # 3 of 5 failed: not enough calls yet
    for failed in outcomes:
        assert (b.record_failure("503") if failed else b.record_success()) is None
    transition = b.record_failure("503")  # 4 of 6
    assert transition is not None and transition.after == CircuitState.OPEN
    assert transition.reason == "4 of 6 calls failed in 60s"


def test_old_calls_leave_the_window() -> None:
    clock = Clock()
    b = breaker(clock, BreakerPolicy(failures=100, failure_rate=0.5, min_calls=4))
    for _ in range(3):
        b.record_failure("503")  # fewer calls than min_calls: the circuit stays closed
    clock.now += 61  # the window forgets them
    for _ in range(3):
        b.record_success()
    assert b.record_failure("503") is None  # 1 of 4 (it would be 4 of 7 with the old calls)
    assert b.state == CircuitState.CLOSED


def test_after_the_cool_down_one_probe_goes_through_and_its_success_closes_it() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(3):
        b.record_failure("500")
    clock.now += 30
    allowed, transition = b.allow()
    assert allowed and transition is not None and transition.after == CircuitState.HALF_OPEN
    assert b.allow() == (False, None)  # only one probe at a time
    closed = b.record_success()
    assert closed is not None and closed.after == CircuitState.CLOSED
    assert b.allow() == (True, None)


def test_a_failed_probe_opens_it_for_another_cool_down() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(3):
        b.record_failure("500")
    clock.now += 30
    b.allow()
    reopened = b.record_failure("still down")
    assert reopened is not None and reopened.before == CircuitState.HALF_OPEN
    assert reopened.after == CircuitState.OPEN
    clock.now += 29
    assert b.allow() == (False, None)
    assert b.seconds_until_probe() == pytest.approx(1)
    clock.now += 1
    assert b.allow()[0]


def test_a_probe_that_never_reached_the_provider_frees_its_slot() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(3):
        b.record_failure("500")
    clock.now += 30
    assert b.allow()[0]
    b.release()
    assert b.allow() == (True, None)
    assert b.state == CircuitState.HALF_OPEN


def test_the_registry_keeps_one_breaker_per_provider_and_reports_transitions() -> None:
    clock = Clock()
    seen: list[Transition] = []
    breakers = Breakers(POLICY, clock, seen.append)
    for _ in range(3):
        assert breakers.allow("openai") is None
        breakers.failed("openai", "503 from the server")
    why = breakers.allow("openai")
    assert why is not None
    assert "'openai' is open" in why and "503 from the server" in why and "30s" in why
    assert breakers.allow("anthropic") is None  # another provider is unaffected
    clock.now += 30
    assert breakers.allow("openai") is None
    assert "probe call is in flight" in (breakers.allow("openai") or "")
    breakers.succeeded("openai")
    assert [(t.provider, t.after) for t in seen] == [
        ("openai", CircuitState.OPEN),
        ("openai", CircuitState.HALF_OPEN),
        ("openai", CircuitState.CLOSED),
    ]
