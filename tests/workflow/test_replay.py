# --- Determinism: recorded histories replay on the current workflow code ---
"""Replay the workflow histories in ``tests/histories`` on the current ``PullRequestWorkflow``.

A pull request's workflow lives for days, so workers are upgraded under running workflows; each
new worker replays a workflow's history to rebuild its state. A code change that makes the
workflow issue different commands for the same history breaks every running pull request. These
tests replay histories recorded from real runs (``scripts/record_histories.py`` says how they are
made and when to record new ones), so such a change fails CI instead.

A change that must alter the commands goes behind ``workflow.patched``:
``test_a_patched_change_replays_old_histories`` is the worked example.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from prsaga.schema import PullRequestState, PullRequestWorkflowInput
from tests.paths import REPO_ROOT, TESTS_DIR
from workflows.pull_request import PullRequestWorkflow

HISTORIES = TESTS_DIR / "histories"
RECORDER = REPO_ROOT / "scripts" / "record_histories.py"
RECORDED = sorted(HISTORIES.glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))


def recorder_scenarios() -> set[str]:
    spec = importlib.util.spec_from_file_location("record_histories", RECORDER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return set(module.SCENARIOS)


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_a_recorded_history_replays_on_the_current_workflow(path: Path):
    replayer = Replayer(workflows=[PullRequestWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(load(path))


def test_every_scenario_of_the_recorder_has_a_recording():
    recorded = {path.stem.split("-")[0] for path in RECORDED}
    assert recorder_scenarios() <= recorded


def test_the_recordings_cover_the_workflow_s_paths():
    """Together the histories exercise every activity, signal, update, timer and ending, so a
    change anywhere in the workflow meets at least one of them."""
    events = [event for path in RECORDED for event in load(path).events]
    kinds = {event.event_type for event in events}
    activities = {
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    signals = {
        e.workflow_execution_signaled_event_attributes.signal_name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    }
    updates = {
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    }
    assert activities >= {
        "parse_pull_request",
        "plan_review",
        "set_commit_status",
        "offline_review",
        "claude_review",
        "publish_review",
        "withdraw_review",
        "reply",
        "get_permission",
    }
    assert signals >= {"on_event", "on_command", "decision"}
    assert updates >= {"decide", "wait_for_review"}
    assert kinds >= {
        EventType.EVENT_TYPE_TIMER_FIRED,  # the debounce and the approval timeout
        EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,  # a superseded review
        EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,  # the memo
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,  # closed
    }


def _payload_texts(node: Any) -> Iterator[str]:
    """Every string in a history, payloads decoded (they are base64 in Temporal's JSON)."""
    if isinstance(node, dict):
        if isinstance(node.get("data"), str) and "metadata" in node:
            yield base64.b64decode(node["data"]).decode("utf-8", "replace")
        for value in node.values():
            yield from _payload_texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _payload_texts(value)
    elif isinstance(node, str):
        yield node


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
def test_no_credential_is_checked_in(path: Path):
    texts = "\n".join(_payload_texts(json.loads(path.read_text(encoding="utf-8"))))
    for credential in ("ghp_", "sk-ant-", "s3cret", "BEGIN RSA", "BEGIN PRIVATE"):
        assert credential not in texts


# ------------------------------------------------------------------------------------------------
# Versioning: how to change the workflow without breaking the pull requests in flight

PAUSE = timedelta(seconds=1)


@workflow.defn(name="PullRequestWorkflow", sandboxed=False)
class PauseUnpatched(PullRequestWorkflow):
    """A change that alters the commands: a pause before the workflow's first step."""

    @workflow.run
    async def run(self, input: PullRequestWorkflowInput) -> PullRequestState:
        await workflow.sleep(PAUSE)
        return await super().run(input)


@workflow.defn(name="PullRequestWorkflow", sandboxed=False)
class PausePatched(PullRequestWorkflow):
    """The same change behind a patch. ``workflow.patched`` is false while replaying a
    history recorded without it (so the old commands are issued again) and true for new runs,
    which record a marker that makes it true on their own replays. Once no workflow started
    before the change is running, ``workflow.deprecate_patch`` replaces the ``if``, and later
    the marker call goes too."""

    @workflow.run
    async def run(self, input: PullRequestWorkflowInput) -> PullRequestState:
        if workflow.patched("pause-before-first-step"):
            await workflow.sleep(PAUSE)
        return await super().run(input)


def replayer_of(variant: type) -> Replayer:
    return Replayer(
        workflows=[variant],
        data_converter=pydantic_data_converter,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )


async def test_an_unpatched_change_fails_the_replay():
    """The guard works: the same histories refuse a change that is not behind a patch."""
    history = load(HISTORIES / "review_redelivery_close.json")
    with pytest.raises(NondeterminismError):
        await replayer_of(PauseUnpatched).replay_workflow(history)


async def test_a_patched_change_replays_old_histories():
    for path in RECORDED:
        await replayer_of(PausePatched).replay_workflow(load(path))
