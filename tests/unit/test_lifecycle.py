# --- The pull request state machine, commands and verdicts: pure functions, no Temporal ---
from __future__ import annotations

import copy
import json

import pytest

from prsaga.review.commands import help_text, may_run, parse_command
from prsaga.review.lifecycle import (
    TRANSITIONS,
    IllegalTransition,
    advance,
    final_status,
    needs_approval,
    propose,
)
from prsaga.schema import (
    MAX_COMMAND_ARGUMENT,
    CommandEvent,
    DecisionRecord,
    Finding,
    ReviewPolicy,
    ReviewStep,
    Severity,
)
from starter.github_events import Delivery, Ignored, Routed, route
from tests.paths import TESTS_DIR

WEBHOOKS = TESTS_DIR / "fixtures" / "webhooks"
S = ReviewStep


def test_a_review_goes_through_every_step_in_order():
    step = S.IDLE
    for to in (S.PARSING, S.ANALYZING, S.AWAITING_APPROVAL, S.COMMENTING, S.COMPLETED, S.PARSING):
        step = advance(step, to)
    assert step == S.PARSING


@pytest.mark.parametrize(
    ("current", "to"),
    [
        (S.IDLE, S.COMMENTING),  # no review without parsing first
        (S.PARSING, S.COMPLETED),
        (S.COMPLETED, S.AWAITING_APPROVAL),
        (S.CLOSED, S.PARSING),  # closed is final
        (S.IDLE, S.SUPERSEDED),  # nothing in flight to supersede
    ],
)
def test_impossible_moves_are_refused(current: ReviewStep, to: ReviewStep):
    with pytest.raises(IllegalTransition, match=f"from {current} to {to}"):
        advance(current, to)


def test_every_step_in_flight_can_be_interrupted_and_every_step_reaches_closed():
    for step in (S.PARSING, S.ANALYZING, S.AWAITING_APPROVAL, S.COMMENTING):
        assert {S.SUPERSEDED, S.CANCELLED, S.FAILED, S.CLOSED} <= TRANSITIONS[step]
    assert all(S.CLOSED in moves for step, moves in TRANSITIONS.items() if step != S.CLOSED)
    assert set(TRANSITIONS) == set(ReviewStep)


@pytest.mark.parametrize(
    ("body", "command", "argument"),
    [
        ("/agent approve", "approve", ""),
        ("/AGENT Reject  too noisy for a docs change ", "reject", "too noisy for a docs change"),
        ("Thanks!\n\n/agent review\nmore text", "review", ""),
        ("/agent", "unknown", ""),
        ("/agent deploy prod", "unknown", "deploy prod"),
        ("/agent help", "help", ""),
    ],
)
def test_commands_are_parsed_from_comments(body: str, command: str, argument: str):
    parsed = parse_command(body)
    assert parsed is not None
    assert (parsed.command, parsed.argument) == (command, argument)


@pytest.mark.parametrize(
    "body", ["LGTM", "> /agent approve\n\nwhy would I?", "please /agent approve", "/agentx approve"]
)
def test_comments_without_a_command_are_not_commands(body: str):
    assert parse_command(body) is None


@pytest.mark.parametrize(
    ("body", "command"),
    [
        ("/agent " + "https://example.com/" + "a" * 600, "unknown"),  # a pasted URL
        ("/agent reject " + "because " * 100, "reject"),
        ("/agent " + "x" * 70_000, "unknown"),
    ],
)
def test_a_long_argument_is_clipped_with_a_note_never_refused(body: str, command: str):
    parsed = parse_command(body)
    assert parsed is not None
    assert parsed.command == command
    assert len(parsed.argument) == MAX_COMMAND_ARGUMENT
    assert parsed.argument.endswith("… (cut)")  # quoted by the reply, so the sender sees it
    CommandEvent(delivery_id="d", command=parsed.command, argument=parsed.argument, sender="a")


def test_a_custom_prefix_is_honoured():
    assert parse_command("/bot retry", prefix="/bot") is not None
    assert parse_command("/agent retry", prefix="/bot") is None


@pytest.mark.parametrize(
    ("command", "permission", "is_author", "allowed"),
    [
        ("approve", "write", False, True),
        ("approve", "maintain", False, True),
        ("approve", "admin", False, True),
        ("approve", "read", True, False),  # authors do not approve their own pull request
        ("reject", "triage", False, False),
        ("cancel", "none", False, False),
        ("retry", "read", False, False),
        ("review", "read", True, True),
        ("review", "read", False, False),
        ("status", "none", False, True),
        ("help", "none", False, True),
    ],
)
def test_who_may_run_which_command(command, permission, is_author, allowed):
    assert may_run(command, permission, is_author=is_author) is allowed


def test_help_lists_every_command():
    text = help_text("/agent")
    for command in ("review", "approve", "reject", "retry", "cancel", "status", "help"):
        assert f"/agent {command}" in text


def _finding(severity: Severity) -> Finding:
    return Finding(
        agent="offline",
        tool="t",
        rule="r",
        path="a.py",
        line=1,
        severity=severity,
        title="x",
        message="m",
    )


def test_proposals_follow_the_policy():
    high, low = [_finding(Severity.HIGH)], [_finding(Severity.LOW)]
    policy = ReviewPolicy()
    assert propose(high, policy) == "REQUEST_CHANGES"
    assert propose(low, policy) == "COMMENT"
    assert propose(low, ReviewPolicy(approve_when_clean=True)) == "APPROVE"
    assert propose(high, ReviewPolicy(request_changes_at=None)) == "COMMENT"
    assert propose(low, ReviewPolicy(request_changes_at=Severity.LOW)) == "REQUEST_CHANGES"
    assert not needs_approval("REQUEST_CHANGES", policy)
    assert needs_approval("REQUEST_CHANGES", ReviewPolicy(require_approval=True))
    assert not needs_approval("COMMENT", ReviewPolicy(require_approval=True))


def test_the_final_status_blocks_only_when_changes_are_requested():
    high = [_finding(Severity.HIGH)]
    assert final_status(high, "REQUEST_CHANGES", None) == ("failure", "1 finding; worst is high")
    declined = DecisionRecord(
        head_sha="a" * 40,
        proposal="REQUEST_CHANGES",
        approved=False,
        decided_by="octocat",
        channel="comment",
        at="2026-11-21T10:00:00Z",
    )
    state, text = final_status(high, "COMMENT", declined)
    assert state == "success"
    assert "request changes declined by @octocat" in text
    assert final_status([], "COMMENT", None) == ("success", "no findings")


# --- Webhook routing of commands and labels (real payloads) ---


def _delivery(event: str, payload: dict) -> Delivery:
    return Delivery(event=event, action=payload.get("action"), delivery_id="d-1", payload=payload)


def _comment_payload(body: str, user_type: str = "User", login: str = "chhsia0") -> dict:
    path = WEBHOOKS / "issue_comment" / "go-playground-webhooks__pull-request-issue-comment.json"
    payload = copy.deepcopy(json.loads(path.read_text()))
    payload["comment"]["body"] = body
    payload["comment"]["user"]["type"] = user_type
    payload["comment"]["user"]["login"] = login
    return payload


def test_a_command_on_a_pull_request_routes_to_its_workflow():
    routed = route(_delivery("issue_comment", _comment_payload("/agent reject not now")))
    assert isinstance(routed, Routed)
    assert routed.pr.workflow_id == "pr-chhsia0/knative-route-demo-3"
    assert routed.event.command == "reject"
    assert routed.event.argument == "not now"
    assert routed.event.sender == "chhsia0"
    assert routed.event.comment_id is not None


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (_comment_payload("/agent approve", user_type="Bot", login="prsaga[bot]"), "bot"),
        (_comment_payload("/agent approve", login="renovate[bot]"), "bot"),
        (_comment_payload("nice work"), "without a command"),
    ],
)
def test_bots_and_plain_comments_are_ignored(payload: dict, reason: str):
    routed = route(_delivery("issue_comment", payload))
    assert isinstance(routed, Ignored)
    assert reason in routed.reason


def test_comments_on_issues_are_ignored():
    payload = json.loads((WEBHOOKS / "issue_comment" / "created.payload.json").read_text())
    payload["comment"]["body"] = "/agent approve"
    routed = route(_delivery("issue_comment", payload))
    assert isinstance(routed, Ignored)
    assert "issue" in routed.reason


def test_a_label_reaches_the_workflow_with_its_installation_but_not_its_name():
    payload = json.loads((WEBHOOKS / "pull_request" / "labeled.payload.json").read_text())
    payload["label"]["name"] = "ghp_" + "Lb1" * 12  # a name is the author's text: kept out
    routed = route(_delivery("pull_request", payload))
    assert isinstance(routed, Routed)
    assert routed.event.action == "labeled"
    assert routed.event.installation_id == payload["installation"]["id"]
    assert payload["label"]["name"] not in routed.event.model_dump_json()


def test_a_pull_request_delivery_carries_when_github_last_changed_it():
    """The workflow orders deliveries by ``pull_request.updated_at``; one it cannot read is
    unknown (evidence, not a reason to refuse the delivery)."""
    payload = json.loads((WEBHOOKS / "pull_request" / "labeled.payload.json").read_text())
    routed = route(_delivery("pull_request", payload))
    assert isinstance(routed, Routed) and routed.event.updated_at is not None
    assert (
        routed.event.updated_at.isoformat().replace("+00:00", "Z")
        == (payload["pull_request"]["updated_at"])
    )
    for unreadable in ("yesterday", None, {"at": 1}):
        payload["pull_request"]["updated_at"] = unreadable
        routed = route(_delivery("pull_request", payload))
        assert isinstance(routed, Routed) and routed.event.updated_at is None
    payload["pull_request"]["updated_at"] = "2026-05-01T12:00:00"  # no zone: UTC
    routed = route(_delivery("pull_request", payload))
    assert isinstance(routed, Routed) and routed.event.updated_at is not None
    assert routed.event.updated_at.utcoffset() is not None
