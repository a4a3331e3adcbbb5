# --- Activities heartbeat while they work, so a dead worker is noticed in seconds ---
from __future__ import annotations

import threading
import time

import pytest
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from activities import heartbeat
from activities.heartbeat import heartbeats
from prsaga.schema import PermissionInput, PullRequestRef


@pytest.fixture(autouse=True)
def often(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heartbeat, "HEARTBEAT_EVERY_SECONDS", 0.02)


class Agent:
    def __init__(self, seconds: float, fail: bool = False) -> None:
        self.seconds, self.fail = seconds, fail
        self.threads: list[str] = []

    @activity.defn(name="get_permission")
    @heartbeats
    def get_permission(self, input: PermissionInput) -> str:
        """A slow GitHub call (it sees the activity's context on the helper thread)."""
        self.threads.append(threading.current_thread().name)
        time.sleep(self.seconds)
        if self.fail:
            raise RuntimeError("GitHub said 502")
        return f"write for {input.login} (attempt {activity.info().attempt})"


INPUT = PermissionInput(pr=PullRequestRef(owner="o", repo="r", number=1), login="maint")


def run(agent: Agent) -> tuple[object, list[tuple]]:
    env = ActivityEnvironment()
    beats: list[tuple] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    return env.run(agent.get_permission, INPUT), beats


def test_a_slow_activity_heartbeats_until_its_work_is_done():
    agent = Agent(seconds=0.3)
    result, beats = run(agent)
    assert result == "write for maint (attempt 1)"
    assert len(beats) >= 5  # one at once, then every HEARTBEAT_EVERY_SECONDS while it works
    assert agent.threads[0].startswith("activity-work")


def test_a_quick_activity_heartbeats_once_and_errors_pass_through():
    _, beats = run(Agent(seconds=0))
    assert len(beats) == 1
    with pytest.raises(RuntimeError, match="GitHub said 502"):
        run(Agent(seconds=0.05, fail=True))


def test_the_decorated_activity_keeps_its_name_and_types():
    definition = activity._Definition.must_from_callable(Agent(0).get_permission)
    assert definition.name == "get_permission"
    assert definition.arg_types == [PermissionInput]
    assert definition.ret_type is str
