"""The history schema: everything that lands in a workflow's history or crosses a process.

Signal, update and query payloads, activity inputs and results, the workflow's state, the search
attributes and the metric names. Temporal's pydantic data converter carries these models, so
they stay small: references and bounded summaries, never a pull request's patches. This layer
imports nothing else of prsaga (pydantic, the standard library and Temporal's typed keys only);
every other layer imports it.
"""

from prsaga.schema.activities import (
    MAX_STATUS_SUMMARY,
    AnalyzeInput,
    ApprovalTimeoutDefault,
    CommitStatusInput,
    ParsedSummary,
    ParseInput,
    PermissionInput,
    PlanInput,
    PublishedReview,
    PublishReviewInput,
    ReplyInput,
    ReviewEvent,
    ReviewPlan,
    ReviewPolicy,
    SpecialistInput,
    StatusState,
    WithdrawReviewInput,
)
from prsaga.schema.audit import AUDIT_SCHEMA_VERSION, AuditTrail
from prsaga.schema.findings import (
    MAX_ALSO_ON_LINES,
    MAX_FINDINGS,
    AgentReport,
    AgentSummary,
    Finding,
    Severity,
    SkippedFile,
    TokenUsage,
    ToolRun,
)
from prsaga.schema.pull_request import (
    MAX_REASON_CHARS,
    MAX_REPLY_CHARS,
    SHA,
    DiffRef,
    PullRequestRef,
    ReviewStep,
    clip,
)
from prsaga.schema.signals import (
    MAX_COMMAND_ARGUMENT,
    ApprovalChannel,
    ApprovalDecision,
    CommandEvent,
    CommandName,
    EventAction,
    PullRequestEvent,
    Source,
    WaitForReviewInput,
)
from prsaga.schema.workflow import (
    DecisionRecord,
    PendingApproval,
    PullRequestState,
    PullRequestWorkflowInput,
    WorkflowOptions,
)

__all__ = [
    "AUDIT_SCHEMA_VERSION",
    "MAX_ALSO_ON_LINES",
    "MAX_COMMAND_ARGUMENT",
    "MAX_FINDINGS",
    "MAX_REASON_CHARS",
    "MAX_REPLY_CHARS",
    "MAX_STATUS_SUMMARY",
    "SHA",
    "AgentReport",
    "AgentSummary",
    "AnalyzeInput",
    "ApprovalChannel",
    "ApprovalDecision",
    "ApprovalTimeoutDefault",
    "AuditTrail",
    "CommandEvent",
    "CommandName",
    "CommitStatusInput",
    "DecisionRecord",
    "DiffRef",
    "EventAction",
    "Finding",
    "ParseInput",
    "ParsedSummary",
    "PendingApproval",
    "PermissionInput",
    "PlanInput",
    "PublishReviewInput",
    "PublishedReview",
    "PullRequestEvent",
    "PullRequestRef",
    "PullRequestState",
    "PullRequestWorkflowInput",
    "ReplyInput",
    "ReviewEvent",
    "ReviewPlan",
    "ReviewPolicy",
    "ReviewStep",
    "Severity",
    "SkippedFile",
    "Source",
    "SpecialistInput",
    "StatusState",
    "TokenUsage",
    "ToolRun",
    "WaitForReviewInput",
    "WithdrawReviewInput",
    "WorkflowOptions",
    "clip",
]
