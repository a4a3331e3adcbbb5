# --- `prsaga status` and `prsaga audit` against the dev server, around a human decision ---
from __future__ import annotations

import asyncio
import copy
import os
import subprocess
import sys

from prsaga.schema import AuditTrail, PullRequestState, ReviewStep
from prsaga.schema.audit import AgentEntry, DeliveryEntry, HumanDecisionEntry, ReviewEntry
from tests.conftest import Harness
from tests.paths import REPO_ROOT
from tests.workflow.test_lifecycle_workflow import MAINTAINER, command, gated, settle

__all__ = ["gated"]  # the fixture, shared with the lifecycle tests


async def prsaga(harness: Harness, *args: str) -> str:
    """Run the ``prsaga`` command against the harness's Temporal server; its output."""
    target = harness.client.service_client.config.target_host
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "starter.cli", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "PRSAGA_TEMPORAL_ADDRESS": target},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def test_status_and_audit_show_the_review_and_the_human_decision(gated: Harness):
    harness = gated
    ref = str(harness.pr.ref)
    head = harness.pr.head_sha
    await harness.deliver(harness.pr.webhook_payload)
    assert (await settle(harness)).step == ReviewStep.AWAITING_APPROVAL

    waiting = await prsaga(harness, "status", ref)
    assert "awaiting_approval" in waiting
    assert f"REQUEST_CHANGES on {head[:12]}" in waiting

    assert "noted" in await command(harness, MAINTAINER, "/agent approve")
    state = await settle(harness)
    assert state.step == ReviewStep.COMPLETED and state.last_review is not None

    done = await prsaga(harness, "status", ref)
    assert "completed" in done and state.last_review.html_url in done
    trail = AuditTrail.model_validate_json(await prsaga(harness, "audit", ref, "--json"))
    text = await prsaga(harness, "audit", ref)

    assert trail.schema_version == 1 and trail.workflow_id == harness.pr.ref.workflow_id
    [opened] = [e for e in trail.entries if isinstance(e, DeliveryEntry) and e.action == "opened"]
    assert (opened.sender, opened.source, opened.head_sha) == (
        harness.pr.webhook_payload["sender"]["login"],
        "webhook",
        head,
    )
    [approve] = [
        e for e in trail.entries if isinstance(e, DeliveryEntry) and e.channel == "command"
    ]
    [offline] = [e for e in trail.entries if isinstance(e, AgentEntry)]
    [decision] = [e for e in trail.entries if isinstance(e, HumanDecisionEntry)]
    [review] = [e for e in trail.entries if isinstance(e, ReviewEntry)]
    assert offline.agent == "offline" and offline.findings and offline.inputs.paths
    assert (decision.decided_by, decision.channel, decision.approved) == (
        MAINTAINER,
        "comment",
        True,
    )
    assert (review.event, review.html_url) == ("REQUEST_CHANGES", state.last_review.html_url)
    order = trail.entries.index
    assert order(opened) < order(offline) < order(approve) < order(decision) < order(review)
    assert f"{MAINTAINER} approved REQUEST_CHANGES on {head[:12]} via comment" in text


async def test_the_audit_covers_the_executions_before_a_close_and_reopen(gated: Harness):
    harness = gated
    ref = str(harness.pr.ref)
    await harness.deliver(harness.pr.webhook_payload)
    await settle(harness)
    closed = copy.deepcopy(harness.pr.webhook_payload)
    closed["action"] = "closed"
    await harness.deliver(closed)
    first = harness.client.get_workflow_handle(
        harness.pr.ref.workflow_id, result_type=PullRequestState
    )
    assert (await first.result()).closed  # the workflow of the first life has ended
    first_run = (await first.describe()).run_id
    reopened = copy.deepcopy(harness.pr.webhook_payload)
    reopened["action"] = "reopened"
    await harness.deliver(reopened)
    assert (await settle(harness)).step == ReviewStep.AWAITING_APPROVAL

    trail = AuditTrail.model_validate_json(await prsaga(harness, "audit", ref, "--json"))

    assert len(trail.runs) == 2 and trail.runs[0] == first_run
    deliveries = [(e.run_id, e.action) for e in trail.entries if isinstance(e, DeliveryEntry)]
    assert deliveries == [
        (trail.runs[0], "opened"),
        (trail.runs[0], "closed"),
        (trail.runs[1], "reopened"),
    ]
