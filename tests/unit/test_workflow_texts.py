# --- What the workflow says and what a command does: pure functions, no Temporal ---
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from prsaga.review.commands import decide_command
from prsaga.review.lifecycle import decision_record, decision_refusal
from prsaga.review.texts import (
    approval_request,
    counted,
    describe_decision,
    interruption_reason,
    proposal_text,
    reviewing_text,
    status_text,
)
from prsaga.schema import (
    ApprovalDecision,
    CommandEvent,
    DecisionRecord,
    PendingApproval,
    PullRequestEvent,
    PullRequestRef,
    PullRequestState,
    ReviewStep,
)

PR = PullRequestRef(owner="octo", repo="demo", number=7)
HEAD = "a" * 40
OTHER = "b" * 40
NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def pending_approval() -> PendingApproval:
    return PendingApproval(
        head_sha=HEAD,
        proposal="REQUEST_CHANGES",
        findings=3,
        requested_at=NOW,
        deadline=NOW + timedelta(hours=24),
    )


def command(name: str, argument: str = "", delivery: str = "c-1") -> CommandEvent:
    return CommandEvent(delivery_id=delivery, command=name, argument=argument, sender="maint")


def decide(cmd: CommandEvent, state: PullRequestState, **overrides):
    options = {"review_in_flight": False, "decided": False, "prefix": "/agent", "now": NOW}
    return decide_command(cmd, state, **{**options, **overrides})


# ------------------------------------------------------------------------------------------------
# Texts


@pytest.mark.parametrize(
    ("files", "text"),
    [
        (0, "No changed file to review (binary, removed or skipped files only)"),
        (1, "Reviewing 1 changed file"),
        (2, "Reviewing 2 changed files"),
        (140, "Reviewing 140 changed files"),
    ],
)
def test_the_pending_status_counts_files_in_good_english(files: int, text: str):
    assert reviewing_text(files) == text


def test_counts_are_singular_only_for_one():
    assert [counted(n, "finding") for n in (0, 1, 2)] == ["0 findings", "1 finding", "2 findings"]
    one = approval_request(
        head_sha=HEAD,
        proposal="APPROVE",
        findings=1,
        deadline=NOW,
        on_timeout="comment",
        command_prefix="/agent",
    )
    assert "(1 finding on aaaaaaaaaaaa)" in one


@pytest.mark.parametrize(
    ("why", "text"),
    [
        (ReviewStep.SUPERSEDED, "superseded by a newer push"),
        (ReviewStep.CANCELLED, "cancelled on request"),
        (ReviewStep.CLOSED, "the pull request was closed"),
    ],
)
def test_each_interruption_says_why(why: ReviewStep, text: str):
    assert interruption_reason(why) == text


def test_only_interruptions_have_an_interruption_reason():
    with pytest.raises(KeyError):
        interruption_reason(ReviewStep.COMPLETED)


def test_proposals_read_as_actions():
    assert proposal_text("REQUEST_CHANGES") == "request changes"
    assert proposal_text("APPROVE") == "approve the pull request"
    assert proposal_text("COMMENT") == "comment"


def test_a_decision_names_who_what_how_when_and_why():
    record = decision_record(
        pending_approval(),
        ApprovalDecision(approve=False, decided_by="maint", channel="comment", reason="too strict"),
        NOW,
    )
    assert describe_decision(record) == (
        "@maint declined the proposal to request changes via comment at 2026-03-04 05:06 UTC"
        " (too strict)"
    )


def test_a_timeout_decision_names_the_timeout_not_a_person():
    record = DecisionRecord(
        head_sha=HEAD,
        proposal="APPROVE",
        approved=True,
        decided_by="timeout",
        channel="timeout",
        at=NOW,
    )
    text = describe_decision(record)
    assert text.startswith("the approval timeout approved the proposal to approve the pull")
    assert "@timeout" not in text and "(" not in text


@pytest.mark.parametrize(
    ("on_timeout", "fallback"), [("comment", "post a comment"), ("proceed", "go ahead")]
)
def test_the_approval_request_says_how_to_answer_and_what_happens_without_an_answer(
    on_timeout, fallback
):
    text = approval_request(
        head_sha=HEAD,
        proposal="REQUEST_CHANGES",
        findings=3,
        deadline=NOW,
        on_timeout=on_timeout,
        command_prefix="/bot",
    )
    assert "**request changes** (3 findings on aaaaaaaaaaaa)" in text
    assert "`/bot approve`" in text and "`/bot reject [reason]`" in text
    assert text.endswith(f"Without a decision by 2026-03-04 05:06 UTC, prsaga will {fallback}.")


def test_the_status_text_lists_only_what_is_known():
    assert status_text(PullRequestState(pr=PR)) == "\n- review state: **idle**"
    state = PullRequestState(
        pr=PR,
        step=ReviewStep.AWAITING_APPROVAL,
        head_sha=OTHER,
        last_reviewed_sha=HEAD,
        approval=pending_approval(),
        last_error="GitHub said 502",
    )
    assert status_text(state).splitlines() == [
        "",
        "- review state: **awaiting_approval**",
        "- head: bbbbbbbbbbbb",
        "- last reviewed head: aaaaaaaaaaaa",
        "- awaiting approval to request changes until 2026-03-05 05:06 UTC",
        "- last error: GitHub said 502",
    ]


# ------------------------------------------------------------------------------------------------
# Decisions on a proposal


def test_a_decision_needs_a_pending_undecided_proposal_for_its_head():
    approve = ApprovalDecision(approve=True, decided_by="maint")
    idle = PullRequestState(pr=PR)
    waiting = PullRequestState(pr=PR, approval=pending_approval())
    assert decision_refusal(idle, approve, decided=False) == (
        "octo/demo#7 has no proposal awaiting a decision"
    )
    assert decision_refusal(waiting, approve, decided=True) is not None
    assert decision_refusal(waiting, approve, decided=False) is None
    for_head = approve.model_copy(update={"head_sha": HEAD})
    assert decision_refusal(waiting, for_head, decided=False) is None
    for_other = approve.model_copy(update={"head_sha": OTHER})
    assert decision_refusal(waiting, for_other, decided=False) == (
        "the pending proposal is for aaaaaaaaaaaa, not bbbbbbbbbbbb"
    )


def test_a_decision_record_keeps_the_proposal_and_the_decider():
    decision = ApprovalDecision(approve=True, decided_by="maint", channel="cli", reason="ok")
    record = decision_record(pending_approval(), decision, NOW)
    assert record == DecisionRecord(
        head_sha=HEAD,
        proposal="REQUEST_CHANGES",
        approved=True,
        decided_by="maint",
        channel="cli",
        reason="ok",
        at=NOW,
    )


# ------------------------------------------------------------------------------------------------
# Commands


def test_review_asks_for_a_full_review_in_place_of_the_pending_event():
    outcome = decide(command("review", delivery="c-9"), PullRequestState(pr=PR))
    assert outcome.replace_pending and outcome.pending is not None
    assert (outcome.pending.action, outcome.pending.full) == ("review", True)
    assert (outcome.pending.delivery_id, outcome.pending.sender) == ("c-9", "maint")
    assert outcome.reply == "a full review is on its way."
    assert not outcome.cancel_review and outcome.record is None


@pytest.mark.parametrize(("name", "approved"), [("approve", True), ("reject", False)])
def test_approve_and_reject_record_a_decision_by_comment(name: str, approved: bool):
    state = PullRequestState(pr=PR, approval=pending_approval())
    outcome = decide(command(name, "because"), state)
    assert outcome.record is not None
    assert (outcome.record.approved, outcome.record.channel) == (approved, "comment")
    assert (outcome.record.decided_by, outcome.record.reason, outcome.record.at) == (
        "maint",
        "because",
        NOW,
    )
    assert outcome.reply == f"noted: {describe_decision(outcome.record)}."
    assert not outcome.replace_pending


@pytest.mark.parametrize("name", ["approve", "reject"])
def test_a_decision_without_a_proposal_changes_nothing(name: str):
    outcome = decide(command(name), PullRequestState(pr=PR))
    assert outcome.record is None
    assert outcome.reply == f"nothing to {name}: octo/demo#7 has no proposal awaiting a decision."
    decided = decide(
        command(name), PullRequestState(pr=PR, approval=pending_approval()), decided=True
    )
    assert decided.record is None and decided.reply.startswith(f"nothing to {name}:")


def test_retry_reviews_the_failed_event_again_under_the_command_s_delivery():
    failed = PullRequestEvent(delivery_id="d-1", action="synchronize", head_sha=HEAD, sender="a")
    state = PullRequestState(
        pr=PR, step=ReviewStep.FAILED, failed_event=failed, last_error="GitHub said 502"
    )
    outcome = decide(command("retry", delivery="c-2"), state)
    assert outcome.replace_pending
    assert outcome.pending == failed.model_copy(update={"delivery_id": "c-2"})
    assert outcome.reply == "retrying the review that failed with: GitHub said 502"


@pytest.mark.parametrize("step", [ReviewStep.IDLE, ReviewStep.COMPLETED, ReviewStep.SUPERSEDED])
def test_retry_needs_a_failed_review(step: ReviewStep):
    failed = PullRequestEvent(delivery_id="d-1", action="opened", sender="a")
    outcome = decide(command("retry"), PullRequestState(pr=PR, step=step, failed_event=failed))
    assert outcome == type(outcome)("there is no failed review to retry.")


def test_cancel_drops_the_pending_event_and_cancels_only_a_review_in_flight():
    state = PullRequestState(pr=PR)
    in_flight = decide(command("cancel"), state, review_in_flight=True)
    assert in_flight.replace_pending and in_flight.pending is None and in_flight.cancel_review
    assert in_flight.reply == "the review in progress is cancelled."
    idle = decide(command("cancel"), state, review_in_flight=False)
    assert idle.replace_pending and idle.pending is None and not idle.cancel_review
    assert idle.reply == "there is no review in progress to cancel."


def test_status_help_and_unknown_commands_only_reply():
    state = PullRequestState(pr=PR, step=ReviewStep.COMPLETED)
    for name, expected in [
        ("status", status_text(state)),
        ("help", "`/x review`"),
        ("unknown", "I don't know `deploy now`."),
    ]:
        outcome = decide(command(name, "deploy now"), state, prefix="/x")
        assert expected in outcome.reply
        assert not (outcome.replace_pending or outcome.cancel_review or outcome.record)
