"""Typed stubs of the review activities, so that the workflow names them without importing them.

The workflow schedules activities by these definitions (their names and their input and result
types); the worker registers the real implementations in ``activities/`` under the same names.
Importing the implementations here would load PyGithub, anthropic and the linters into every
process that imports the workflow, the webhook server included. ``tests`` check that each stub
matches the activity the worker registers.
"""

from __future__ import annotations

from temporalio import activity

from prsaga.schema import (
    AgentReport,
    AnalyzeInput,
    CommitStatusInput,
    ParsedSummary,
    ParseInput,
    PermissionInput,
    PlanInput,
    PublishedReview,
    PublishReviewInput,
    ReplyInput,
    ReviewPlan,
    SpecialistInput,
    Verification,
    VerifyInput,
    WithdrawReviewInput,
)

_STUB = "a typed stub: the worker runs the activity from activities/"


@activity.defn(name="parse_pull_request")
def parse_pull_request(input: ParseInput) -> ParsedSummary:
    raise NotImplementedError(_STUB)


@activity.defn(name="plan_review")
def plan_review(input: PlanInput) -> ReviewPlan:
    raise NotImplementedError(_STUB)


@activity.defn(name="offline_review")
def offline_review(input: AnalyzeInput) -> AgentReport:
    raise NotImplementedError(_STUB)


@activity.defn(name="claude_review")
def claude_review(input: SpecialistInput) -> AgentReport:
    raise NotImplementedError(_STUB)


@activity.defn(name="verify_finding")
def verify_finding(input: VerifyInput) -> Verification:
    raise NotImplementedError(_STUB)


@activity.defn(name="set_commit_status")
def set_commit_status(input: CommitStatusInput) -> None:
    raise NotImplementedError(_STUB)


@activity.defn(name="publish_review")
def publish_review(input: PublishReviewInput) -> PublishedReview:
    raise NotImplementedError(_STUB)


@activity.defn(name="withdraw_review")
def withdraw_review(input: WithdrawReviewInput) -> None:
    raise NotImplementedError(_STUB)


@activity.defn(name="reply")
def reply(input: ReplyInput) -> int:
    raise NotImplementedError(_STUB)


@activity.defn(name="get_permission")
def get_permission(input: PermissionInput) -> str:
    raise NotImplementedError(_STUB)
