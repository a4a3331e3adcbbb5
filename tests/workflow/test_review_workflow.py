# --- Workflow tests: webhook -> real Temporal dev server -> worker -> local GitHub ---
from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from prsaga.review.diff import diff_file_from_github
from prsaga.schema import PullRequestEvent, WaitForReviewInput
from starter.temporal import signal_pull_request
from tests.conftest import (
    GITHUB_TOKEN,
    Harness,
    make_settings,
    running_harness,
)
from worker import MAX_CONCURRENT_ACTIVITIES, build_worker
from workflows.pull_request import PullRequestWorkflow


def pr_state(harness: Harness) -> dict[str, Any]:
    """What the local GitHub holds for the harness's pull request."""
    return harness.github.state()


def reviews(harness: Harness) -> list[dict[str, Any]]:
    return [r for r in pr_state(harness)["reviews"] if r["pull_number"] == harness.pr.ref.number]


def statuses(harness: Harness) -> list[dict[str, Any]]:
    return [s for s in pr_state(harness)["statuses"] if s["sha"] == harness.pr.head_sha]


async def wait_reviewed(harness: Harness):
    handle = harness.client.get_workflow_handle_for(
        PullRequestWorkflow.run, harness.pr.ref.workflow_id
    )
    return await handle.execute_update(PullRequestWorkflow.wait_for_review, WaitForReviewInput())


async def test_opened_webhook_posts_one_grounded_review_and_status(harness: Harness):
    response = await harness.deliver(harness.pr.webhook_payload)
    assert response.status_code == 202, response.text
    assert response.json()["workflow_id"] == harness.pr.ref.workflow_id

    state = await wait_reviewed(harness)
    assert state.step.value == "completed"
    assert state.reviewed_shas == [harness.pr.head_sha]
    assert state.last_review is not None and not state.last_review.reused

    [review] = reviews(harness)
    assert review["state"] == "COMMENTED"
    assert "prsaga review of" in review["body"]
    assert "<!-- prsaga:review key=" in review["body"]
    # The committed vim swap file has no diff line: it is reported in the summary.
    assert ".server.py.swo" in review["body"]

    files = {f.path: f for f in map(diff_file_from_github, harness.pr.source.files)}
    assert review["comments"], "the demo PR has ruff findings on added lines"
    for comment in review["comments"]:
        assert comment["side"] == "RIGHT"
        assert comment["line"] in files[comment["path"]].added_lines()
    assert state.findings_count == len(review["comments"]) + state.last_review.summary_findings

    assert [s["state"] for s in statuses(harness)] == ["pending", "success"]
    assert all(s["context"] == "prsaga/review" for s in statuses(harness))

    # The query answers the same state, and the history is the audit trail of each agent.
    handle = harness.client.get_workflow_handle_for(
        PullRequestWorkflow.run, harness.pr.ref.workflow_id
    )
    assert (await handle.query(PullRequestWorkflow.get_state)).last_review == state.last_review
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert scheduled == [
        "parse_pull_request",
        "plan_review",
        "set_commit_status",
        "offline_review",
        "publish_review",
        "set_commit_status",
    ]
    # The recorded history replays without nondeterminism against the current workflow code.
    replayer = Replayer(workflows=[PullRequestWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(await handle.fetch_history())


async def test_redelivery_and_same_head_post_nothing_new(harness: Harness):
    delivery = str(uuid.uuid4())
    assert (
        await harness.deliver(harness.pr.webhook_payload, delivery_id=delivery)
    ).status_code == 202
    await wait_reviewed(harness)

    # GitHub redelivers the same delivery, and a second event names the same head.
    assert (
        await harness.deliver(harness.pr.webhook_payload, delivery_id=delivery)
    ).status_code == 202
    reopened = dict(harness.pr.webhook_payload, action="reopened")
    assert (await harness.deliver(reopened)).status_code == 202
    state = await wait_reviewed(harness)

    assert state.reviews_started == 1
    assert state.recent_deliveries.count(delivery) == 1
    assert len(reviews(harness)) == 1
    assert len(statuses(harness)) == 2


async def test_a_retried_publish_finds_its_review_instead_of_posting_twice(harness: Harness):
    # The review is created, then the answer is lost (502): the activity retries, finds the
    # marker and reports the review it already posted.
    harness.github.inject_fault(
        method="POST", path_regex=r"/pulls/\d+/reviews$", status=502, times=1, after_handling=True
    )
    await harness.deliver(harness.pr.webhook_payload)
    state = await wait_reviewed(harness)
    assert state.last_review is not None and state.last_review.reused
    assert len(reviews(harness)) == 1


async def test_a_failing_comment_step_is_compensated_and_recorded(harness: Harness):
    harness.github.inject_fault(
        method="POST", path_regex=r"/pulls/\d+/reviews$", status=403, times=10
    )
    await harness.deliver(harness.pr.webhook_payload)
    state = await wait_reviewed(harness)
    # The pull request's workflow lives on (a push or `/agent retry` reviews again).
    assert state.step.value == "failed"
    assert state.last_error is not None
    assert "403" in state.last_error and "permission" in state.last_error
    assert state.failed_event is not None and state.failed_event.action == "opened"

    assert reviews(harness) == []
    final = statuses(harness)
    assert [s["state"] for s in final] == ["pending", "error"]
    assert "403" in final[-1]["description"]


async def test_a_review_posted_before_a_later_failure_is_withdrawn(harness: Harness):
    # The second status (the verdict) is refused for good after the review was posted.
    harness.github.inject_fault(
        method="POST", path_regex=r"/statuses/[0-9a-f]{40}$", status=422, times=1, skip=1
    )
    await harness.deliver(harness.pr.webhook_payload)
    assert (await wait_reviewed(harness)).step.value == "failed"
    [review] = reviews(harness)
    assert "withdrawn" in review["body"]
    assert review["comments"] == []
    assert [s["state"] for s in statuses(harness)] == ["pending", "error"]


async def test_a_missing_pull_request_fails_with_githubs_reason(harness: Harness):
    missing = harness.pr.ref.model_copy(update={"number": 999_999})
    event = PullRequestEvent(delivery_id="d-1", action="review", sender="tester", source="cli")
    handle = await signal_pull_request(harness.client, harness.settings, missing, event)
    state = await handle.execute_update(PullRequestWorkflow.wait_for_review, WaitForReviewInput())
    message = state.last_error or ""
    assert state.step.value == "failed"
    assert "404" in message and "does not exist" in message
    assert str(missing) in message


async def test_a_bad_token_is_not_retried(harness: Harness, tmp_path):
    settings = make_settings(harness.github_url, tmp_path, github_token="ghp_" + "x" * 36)
    event = PullRequestEvent(delivery_id="d-2", action="review", sender="tester", source="cli")
    with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_ACTIVITIES) as executor:
        async with build_worker(harness.client, settings, executor):
            handle = await signal_pull_request(harness.client, settings, harness.pr.ref, event)
            state = await handle.execute_update(
                PullRequestWorkflow.wait_for_review, WaitForReviewInput()
            )
    assert "401" in (state.last_error or "")
    assert GITHUB_TOKEN not in (state.last_error or "")
    history = await handle.fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert attempts[0] == 1 and max(attempts) == 1


async def test_a_failed_review_with_a_newer_event_waiting_goes_on_to_review_it(harness: Harness):
    # The first saga is held up by a retried status (502, retried after 1 s) and its review is
    # then refused for good; a push arrives meanwhile, so the workflow compensates, records the
    # failure and reviews again instead of failing.
    harness.github.inject_fault(method="POST", path_regex=r"/statuses/", status=502)
    harness.github.inject_fault(method="POST", path_regex=r"/pulls/\d+/reviews$", status=403)
    await harness.deliver(harness.pr.webhook_payload)
    handle = harness.client.get_workflow_handle_for(
        PullRequestWorkflow.run, harness.pr.ref.workflow_id
    )
    for _ in range(100):  # until the first event is being reviewed (not coalesced with the next)
        if (await handle.query(PullRequestWorkflow.get_state)).step.value != "idle":
            break
        await asyncio.sleep(0.02)
    await harness.deliver(dict(harness.pr.webhook_payload, action="synchronize"))
    state = await wait_reviewed(harness)

    assert state.step.value == "completed" and state.reviews_started == 2
    assert state.last_error is None
    assert len(reviews(harness)) == 1
    assert [s["state"] for s in statuses(harness)] == ["pending", "error", "pending", "success"]


async def test_continue_as_new_carries_the_state_and_keeps_deduplicating(
    short_history_client, github, tmp_path
):
    async with running_harness(short_history_client, github, tmp_path) as harness:
        pr = harness.pr
        first_delivery = str(uuid.uuid4())
        await harness.deliver(pr.webhook_payload, delivery_id=first_delivery)
        await wait_reviewed(harness)
        handle = short_history_client.get_workflow_handle(pr.ref.workflow_id)
        first_run = (await handle.describe()).run_id
        for n in range(2):  # manual re-reviews grow the history past the bound
            event = PullRequestEvent(
                delivery_id=f"manual-{n}", action="review", sender="t", source="cli"
            )
            await signal_pull_request(short_history_client, harness.settings, pr.ref, event)
            await wait_reviewed(harness)
        await harness.deliver(pr.webhook_payload, delivery_id=first_delivery)
        state = await wait_reviewed(harness)

    assert (await handle.describe()).run_id != first_run
    assert state.reviews_started == 3
    assert state.recent_deliveries == [first_delivery, "manual-0", "manual-1"]
    assert len(reviews(harness)) == 3
    first = short_history_client.get_workflow_handle(pr.ref.workflow_id, run_id=first_run)
    assert (await first.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW


async def test_an_event_for_an_older_head_reviews_the_current_head_once(harness: Harness):
    stale = dict(harness.pr.webhook_payload)
    stale["pull_request"] = dict(stale["pull_request"], head={"sha": "0" * 40, "ref": "old"})
    assert (await harness.deliver(stale)).status_code == 202
    state = await wait_reviewed(harness)
    assert state.reviewed_shas == [harness.pr.head_sha]

    # The push that created the current head arrives later: already reviewed, nothing new.
    await harness.deliver(dict(harness.pr.webhook_payload, action="synchronize"))
    state = await wait_reviewed(harness)
    assert state.reviews_started == 1
    assert len(reviews(harness)) == 1
