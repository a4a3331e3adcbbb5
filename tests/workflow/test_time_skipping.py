# --- Hours of workflow time in seconds: the time-skipping test server ---
from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from prsaga.local.github_fake.objects import github_timestamp
from prsaga.local.testing import time_skipping_server
from prsaga.schema import ReviewStep, WaitForReviewInput
from tests.conftest import Harness, running_harness
from workflows.pull_request import PullRequestWorkflow


@pytest.fixture(scope="module")
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_server() as env:
        yield env


async def seeded(harness: Harness, config: str) -> None:
    source = harness.pr.source
    harness.github.seed_pull_request(
        source.pull, source.files, source.contents, base_contents={".github/prsaga.yml": config}
    )


async def settle(harness: Harness):
    handle = harness.client.get_workflow_handle_for(
        PullRequestWorkflow.run, harness.pr.ref.workflow_id
    )
    return await handle.execute_update(PullRequestWorkflow.wait_for_review, WaitForReviewInput())


def reviews(harness: Harness) -> list[dict]:
    number = harness.pr.ref.number
    return [r for r in harness.github.state()["reviews"] if r["pull_number"] == number]


@pytest.mark.parametrize(
    ("on_timeout", "posted_as"),
    [("comment", "COMMENTED"), ("proceed", "CHANGES_REQUESTED")],
)
async def test_without_a_decision_the_configured_default_applies_after_the_timeout(
    time_skipping, github, tmp_path, on_timeout: str, posted_as: str
):
    async with running_harness(time_skipping.client, github, tmp_path) as harness:
        await seeded(
            harness,
            "require_approval: true\nrequest_changes_at: low\n"
            f"approval_timeout_hours: 48\non_approval_timeout: {on_timeout}\n",
        )
        await harness.deliver(harness.pr.webhook_payload)
        state = await settle(harness)
        assert state.step == ReviewStep.AWAITING_APPROVAL
        assert state.approval is not None
        assert state.approval.deadline - state.approval.requested_at == timedelta(hours=48)

        await time_skipping.sleep(timedelta(hours=47))
        assert (await settle(harness)).step == ReviewStep.AWAITING_APPROVAL
        await time_skipping.sleep(timedelta(hours=2))
        state = await settle(harness)

    assert state.step == ReviewStep.COMPLETED
    [decision] = state.decisions
    assert (decision.channel, decision.decided_by) == ("timeout", "timeout")
    assert decision.approved is (on_timeout == "proceed")
    [review] = reviews(harness)
    assert review["state"] == posted_as
    assert "the approval timeout" in review["body"]


async def test_quick_successive_pushes_are_debounced_into_one_review(
    time_skipping, github, tmp_path
):
    async with running_harness(time_skipping.client, github, tmp_path) as harness:
        # The starter passes the quiet period to the workflow.
        harness.settings = harness.settings.model_copy(update={"debounce_seconds": 60.0})
        ref = harness.pr.ref
        heads = []
        for n in range(3):
            heads.append(
                harness.github.push(
                    ref.owner, ref.repo, ref.number, contents={f"docs/n{n}.md": f"note {n}\n"}
                )
            )
            payload = copy.deepcopy(harness.pr.webhook_payload)
            payload["action"] = "synchronize"
            payload["pull_request"]["head"]["sha"] = heads[-1]
            payload["pull_request"]["updated_at"] = github_timestamp(datetime.now(UTC))
            assert (await harness.deliver(payload)).status_code == 202
            await time_skipping.sleep(timedelta(seconds=20))  # within the quiet period
        handle = harness.client.get_workflow_handle_for(PullRequestWorkflow.run, ref.workflow_id)
        assert (await handle.query(PullRequestWorkflow.get_state)).reviews_started == 0

        await time_skipping.sleep(timedelta(seconds=61))
        state = await settle(harness)

    assert state.reviews_started == 1
    assert state.reviewed_shas == [heads[-1]]
    assert len(reviews(harness)) == 1
