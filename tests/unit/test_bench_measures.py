"""Pure parts of the bench's backpressure and model measures (the measures run in the smoke)."""

from __future__ import annotations

import pytest

from bench.backlog import drain_curve
from bench.model_path import scheduled_bound


def test_calls_within_the_parallel_limit_take_the_slowest_one() -> None:
    assert scheduled_bound([1.0, 3.0, 2.0], lanes=4) == 3.0


def test_calls_beyond_the_limit_queue_behind_the_first_free_slot() -> None:
    # Two lanes: 4 | 1 then 2 then 2 on the second lane (free at 1, then 3).
    assert scheduled_bound([4.0, 1.0, 2.0, 2.0], lanes=2) == 5.0
    assert scheduled_bound([], lanes=2) == 0.0


def test_the_drain_curve_slices_waits_by_when_they_were_scheduled() -> None:
    waits = [(100.0, 0.0), (101.0, 0.5), (105.0, 2.0), (110.0, 0.1)]
    curve = drain_curve(waits, slices=2)
    assert [piece["from_s"] for piece in curve] == [0.0, 5.0]
    assert [piece["activities"] for piece in curve] == [2, 2]  # the last one is in the last slice
    assert curve[0]["max_ms"] == 500.0
    assert curve[1]["p50_ms"] == pytest.approx(1050.0)
    assert drain_curve([]) == []
