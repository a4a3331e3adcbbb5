"""The audit trail extracted from recorded workflow histories (tests/histories/, recorded on a
real Temporal server by scripts/record_histories.py)."""

from __future__ import annotations

import copy
import json
from typing import Any

from prsaga.review.audit import audit_trail, previous_run_id, render_audit, run_id
from prsaga.schema import AUDIT_SCHEMA_VERSION, AuditTrail, PullRequestRef
from prsaga.schema.audit import (
    AgentEntry,
    DeliveryEntry,
    HumanDecisionEntry,
    PlanEntry,
    ReviewEntry,
)
from tests.paths import TESTS_DIR

PR = PullRequestRef(owner="psf", repo="requests", number=1)


def history(name: str) -> dict[str, Any]:
    return json.loads((TESTS_DIR / "histories" / f"{name}.json").read_text())


def of_kind(trail: AuditTrail, kind: type[Any]) -> list[Any]:
    return [entry for entry in trail.entries if isinstance(entry, kind)]


def test_a_comment_approval_is_one_human_decision_after_the_command_and_before_the_review():
    trail = audit_trail(PR, [history("approval_by_comment")])

    assert trail.schema_version == AUDIT_SCHEMA_VERSION == 1
    [decision] = of_kind(trail, HumanDecisionEntry)
    assert (decision.decided_by, decision.channel, decision.approved, decision.proposal) == (
        "maintainer-1",
        "comment",
        True,
        "REQUEST_CHANGES",
    )
    commands = [e for e in of_kind(trail, DeliveryEntry) if e.channel == "command"]
    # The outsider's approve was delivered (and refused): a delivery, not a decision.
    assert [(c.sender, c.action) for c in commands] == [
        ("passer-by", "approve"),
        ("maintainer-1", "approve"),
    ]
    [review] = of_kind(trail, ReviewEntry)
    assert review.event == "REQUEST_CHANGES" and review.html_url.startswith("https://github.com/")
    order = trail.entries.index
    assert order(commands[-1]) < order(decision) < order(review)
    kinds = [entry.kind for entry in trail.entries]
    assert kinds[:3] == ["delivery", "plan", "agent"] and kinds[-1] == "delivery"  # closed
    assert [e.at for e in trail.entries] == sorted(e.at for e in trail.entries)


def test_decisions_through_the_sdk_and_a_signal_follow_their_requests():
    trail = audit_trail(PR, [history("decisions_through_the_sdk")])

    decisions = of_kind(trail, HumanDecisionEntry)
    assert [(d.decided_by, d.channel, d.approved, d.reason) for d in decisions] == [
        ("ci", "sdk", False, "not now"),
        ("operator", "temporal-cli", True, ""),
    ]
    requests = [e for e in of_kind(trail, DeliveryEntry) if e.channel == "decision"]
    assert [(r.sender, r.action) for r in requests] == [("ci", "reject"), ("operator", "approve")]
    for request, decision in zip(requests, decisions, strict=True):
        assert trail.entries.index(request) < trail.entries.index(decision)


def test_the_approval_timeout_is_recorded_as_its_own_channel():
    trail = audit_trail(PR, [history("approval_timeout_and_debounce")])

    [decision] = of_kind(trail, HumanDecisionEntry)
    assert (decision.decided_by, decision.channel, decision.approved) == (
        "timeout",
        "timeout",
        False,
    )
    # Three pushes delivered, one review of the last head (the debounce).
    pushes = [e for e in of_kind(trail, DeliveryEntry) if e.action == "synchronize"]
    [plan] = of_kind(trail, PlanEntry)
    assert len(pushes) == 3 and plan.head_sha == pushes[-1].head_sha


def test_specialists_decisions_carry_model_inputs_findings_tokens_and_cost():
    trail = audit_trail(PR, [history("claude_specialists")])

    claude = [e for e in of_kind(trail, AgentEntry) if e.agent.startswith("claude-")]
    assert {e.agent for e in claude} == {
        "claude-security",
        "claude-correctness",
        "claude-performance",
        "claude-tests_docs",
    }
    for entry in claude:
        assert entry.model == "claude-sonnet-4-6" and entry.error is None
        assert entry.tokens is not None and entry.tokens.input_tokens > 0 and entry.cost_usd > 0
        assert entry.inputs.files == len(entry.inputs.paths) > 0
    assert any(f.tool.startswith("claude") for e in claude for f in e.findings)
    plans = of_kind(trail, PlanEntry)
    assert plans[0].specialists and any("security" in line for line in plans[0].routing)


def test_a_specialist_that_failed_for_good_is_an_agent_decision_with_its_error():
    recorded = history("claude_specialists")
    failed = copy.deepcopy(recorded)
    events = failed["events"]
    scheduled = {
        e["eventId"]
        for e in events
        if e.get("activityTaskScheduledEventAttributes", {}).get("activityType", {}).get("name")
        == "claude_review"
    }
    index = next(
        i
        for i, e in enumerate(events)
        if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_COMPLETED"
        and e["activityTaskCompletedEventAttributes"]["scheduledEventId"] in scheduled
    )
    completed = events[index].pop("activityTaskCompletedEventAttributes")
    events[index]["eventType"] = "EVENT_TYPE_ACTIVITY_TASK_FAILED"
    events[index]["activityTaskFailedEventAttributes"] = {
        "scheduledEventId": completed["scheduledEventId"],
        "failure": {"message": "activity failed", "cause": {"message": "overloaded (529)"}},
    }

    before = of_kind(audit_trail(PR, [recorded]), AgentEntry)
    after = of_kind(audit_trail(PR, [failed]), AgentEntry)
    [error] = [e for e in after if e.error is not None]
    assert error.agent.startswith("claude-") and error.error == "overloaded (529)"
    assert len(after) == len(before)


def test_runs_continued_as_new_are_read_in_order_each_entry_naming_its_run():
    earlier, later = history("review_redelivery_close"), history("continue_as_new")
    trail = audit_trail(PR, [earlier, later])

    assert trail.runs == [run_id(earlier), run_id(later)]
    assert previous_run_id(later) is not None and previous_run_id(earlier) is None
    assert {e.run_id for e in trail.entries} == set(trail.runs)
    runs = [trail.runs.index(e.run_id) for e in trail.entries]
    assert runs == sorted(runs)


def test_the_json_form_round_trips_and_the_text_form_has_a_line_per_entry():
    trail = audit_trail(PR, [history("approval_by_comment")])

    exported = trail.model_dump_json()
    assert AuditTrail.model_validate_json(exported) == trail
    assert json.loads(exported)["schema_version"] == 1
    text = render_audit(trail)
    entry_lines = [line for line in text.splitlines() if line[:4].isdigit()]
    assert len(entry_lines) == len(trail.entries)
    assert "maintainer-1 approved REQUEST_CHANGES" in text and "via comment" in text
