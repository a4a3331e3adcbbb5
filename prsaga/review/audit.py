"""A pull request's audit trail, extracted from its workflow's history (``prsaga audit``).

The history is the record: every delivery is a signal (or an update) in it, every agent's
decision an activity result, every posted review an activity's input and result. Human decisions
are the ``decide`` update's results, and, for the other channels (a comment, a signal, the
approval timeout), the ``decisions`` of the workflow's state wherever the history holds a copy of
it (a ``wait_for_review`` answer, the continue-as-new input, the workflow's result) or, for the
run still open, the state its query answers. That state keeps the latest 20 decisions, so a run
that sees more than 20 decisions between two copies of its state loses the oldest from the
trail.

Works on histories in Temporal's JSON form (``WorkflowHistory.to_json_dict()``, the files in
``tests/histories/``): payloads are decoded here (JSON, base64), so this module needs no client.
"""

from __future__ import annotations

import base64
import binascii
import json
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from prsaga.review.texts import counted
from prsaga.schema import (
    AgentReport,
    AnalyzeInput,
    ApprovalDecision,
    CommandEvent,
    DecisionRecord,
    PublishedReview,
    PublishReviewInput,
    PullRequestEvent,
    PullRequestRef,
    PullRequestState,
    PullRequestWorkflowInput,
    ReviewPlan,
    SpecialistInput,
)
from prsaga.schema.audit import (
    AgentEntry,
    AgentInputs,
    AuditEntry,
    AuditFinding,
    AuditTrail,
    DeliveryEntry,
    HumanDecisionEntry,
    PlanEntry,
    ReviewEntry,
)
from prsaga.schema.workflow import (
    COMMAND_SIGNAL,
    DECIDE_UPDATE,
    DECISION_SIGNAL,
    EVENT_SIGNAL,
    WAIT_FOR_REVIEW_UPDATE,
)

History = Mapping[str, Any]
"""One run's history in Temporal's JSON form: ``{"events": [...]}``."""

_AGENT_ACTIVITIES: dict[str, type[AnalyzeInput] | type[SpecialistInput]] = {
    "offline_review": AnalyzeInput,
    "claude_review": SpecialistInput,
}
_ACTIVITY_ENDS = {
    "EVENT_TYPE_ACTIVITY_TASK_COMPLETED",
    "EVENT_TYPE_ACTIVITY_TASK_FAILED",
    "EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT",
}


_Decided = tuple[DecisionRecord, datetime]
"""A decision, and where it goes in the trail: after what it answers. A ``decide`` update's
record is timed when its workflow task started, just before the history shows the update
accepted; it is placed at its completion."""


def run_id(history: History) -> str:
    """The run a history belongs to (its start event names it; a reset keeps the name)."""
    started = _attributes(history["events"][0])
    return str(started["originalExecutionRunId"])


def previous_run_id(history: History) -> str | None:
    """The run this one continued as new from, if any."""
    started = _attributes(history["events"][0])
    return started.get("continuedExecutionRunId") or None


def audit_trail(
    pr: PullRequestRef, histories: Sequence[History], live: PullRequestState | None = None
) -> AuditTrail:
    """The audit trail of ``pr`` from its runs' ``histories`` (oldest first), and the state the
    open run's query answers (``live``), if it is open."""
    runs = [run_id(history) for history in histories]
    ordered: list[tuple[datetime, AuditEntry]] = []
    decisions: list[_Decided] = [(record, record.at) for record in (live.decisions if live else [])]
    for run, history in zip(runs, histories, strict=True):
        for found in _entries(run, history["events"]):
            if isinstance(found, tuple):
                decisions.append(found)
            else:
                ordered.append((found.at, found))
    ordered += _human_decisions(decisions, runs, histories)
    ordered.sort(key=lambda keyed: keyed[0])
    entries = [entry for _, entry in ordered]
    return AuditTrail(pr=pr, workflow_id=pr.workflow_id, runs=runs, entries=entries)


def _entries(run: str, events: Sequence[Mapping[str, Any]]) -> Iterator[AuditEntry | _Decided]:
    """The run's entries, and the decision records its copies of the state hold."""
    by_id = {int(event["eventId"]): event for event in events}
    accepted_updates: dict[str, str] = {}
    """Update id -> update name."""
    for event in events:
        kind, attributes = event["eventType"], _attributes(event)
        at = _time(event)
        if kind == "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED":
            entry = _delivery(run, at, attributes["signalName"], _first(attributes.get("input")))
            if entry is not None:
                yield entry
        elif kind == "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED":
            request = attributes["acceptedRequest"]
            name = request["input"]["name"]
            accepted_updates[request["meta"]["updateId"]] = name
            if name == DECIDE_UPDATE:
                entry = _delivery(run, at, DECISION_SIGNAL, _first(request["input"].get("args")))
                if entry is not None:
                    yield entry
        elif kind == "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED":
            name = accepted_updates.get(attributes["meta"]["updateId"], "")
            result = _first(attributes["outcome"].get("success"))
            if name == DECIDE_UPDATE and result is not None:
                yield DecisionRecord.model_validate(result), at
            elif name == WAIT_FOR_REVIEW_UPDATE and result is not None:
                yield from _copied(PullRequestState.model_validate(result))
        elif kind == "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW":
            carried = PullRequestWorkflowInput.model_validate(_first(attributes["input"]))
            if carried.state is not None:
                yield from _copied(carried.state)
        elif kind == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED":
            result = _first(attributes.get("result"))
            if result is not None:
                yield from _copied(PullRequestState.model_validate(result))
        elif kind in _ACTIVITY_ENDS:
            scheduled = _attributes(by_id[int(attributes["scheduledEventId"])])
            ended = _activity(run, at, kind, scheduled, attributes)
            if ended is not None:
                yield ended


def _copied(state: PullRequestState) -> Iterator[_Decided]:
    return ((record, record.at) for record in state.decisions)


def _delivery(run: str, at: datetime, name: str, payload: Any) -> DeliveryEntry | None:
    common: dict[str, Any] = {"at": at, "run_id": run}
    if name == EVENT_SIGNAL:
        event = PullRequestEvent.model_validate(payload)
        return DeliveryEntry(
            **common,
            channel="event",
            action=event.action,
            sender=event.sender,
            source=event.source,
            delivery_id=event.delivery_id,
            head_sha=event.head_sha,
            detail="full review" if event.full else "",
        )
    if name == COMMAND_SIGNAL:
        command = CommandEvent.model_validate(payload)
        return DeliveryEntry(
            **common,
            channel="command",
            action=command.command,
            sender=command.sender,
            source=command.source,
            delivery_id=command.delivery_id,
            detail=command.argument,
        )
    if name == DECISION_SIGNAL:
        decision = ApprovalDecision.model_validate(payload)
        return DeliveryEntry(
            **common,
            channel="decision",
            action="approve" if decision.approve else "reject",
            sender=decision.decided_by,
            source=decision.channel,
            head_sha=decision.head_sha,
            detail=decision.reason,
        )
    return None


def _activity(
    run: str,
    at: datetime,
    kind: str,
    scheduled: Mapping[str, Any],
    ended: Mapping[str, Any],
) -> AuditEntry | None:
    name = scheduled["activityType"]["name"]
    arguments = _first(scheduled.get("input"))
    result = _first(ended.get("result")) if kind == "EVENT_TYPE_ACTIVITY_TASK_COMPLETED" else None
    common: dict[str, Any] = {"at": at, "run_id": run}
    if name == "plan_review" and result is not None:
        plan = ReviewPlan.model_validate(result)
        return PlanEntry(
            **common,
            head_sha=plan.input.diff.head_sha,
            files=plan.files,
            incremental=plan.incremental,
            since_sha=plan.input.since_sha,
            specialists=plan.specialists,
            routing=plan.routing,
            notes=plan.notes,
            config_error=plan.config_error,
        )
    if name in _AGENT_ACTIVITIES:
        given = _AGENT_ACTIVITIES[name].model_validate(arguments)
        head = given.plan.diff.head_sha
        if result is not None:
            return _agent_entry(common, head, AgentReport.model_validate(result))
        agent, batch = (
            (f"claude-{given.specialist}", given.chunk)
            if isinstance(given, SpecialistInput)
            else ("offline", given.batch)
        )
        return AgentEntry(
            **common,
            head_sha=head,
            agent=agent,
            inputs=AgentInputs(batch=batch, files=0, paths=[]),
            error=_failure_message(ended),
        )
    if name == "publish_review" and result is not None:
        request = PublishReviewInput.model_validate(arguments)
        posted = PublishedReview.model_validate(result)
        return ReviewEntry(
            **common,
            head_sha=request.diff.head_sha,
            event=request.event,
            findings=len(request.findings) + request.omitted_findings,
            inline_comments=posted.inline_comments,
            html_url=posted.html_url,
            reused=posted.reused,
            posted=posted.posted,
        )
    return None


def _agent_entry(common: dict[str, Any], head: str, report: AgentReport) -> AgentEntry:
    return AgentEntry(
        **common,
        head_sha=head,
        agent=report.agent,
        model=report.model,
        inputs=AgentInputs(
            batch=report.batch,
            files=report.files,
            paths=report.paths,
            input_tokens_estimate=report.input_tokens_estimate,
        ),
        findings=[
            AuditFinding(
                path=f.path,
                line=f.line,
                severity=f.severity.value,
                tool=f.tool,
                rule=f.rule,
                title=f.title,
            )
            for f in report.findings
        ],
        omitted_findings=report.omitted_findings,
        dropped=report.dropped,
        skipped=report.skipped,
        tool_errors=[f"{run.tool}: {run.error}" for run in report.tools if run.error],
        tokens=report.usage,
        cost_usd=report.cost_usd,
        duration_ms=report.duration_ms,
        error=report.error,
    )


def _human_decisions(
    decided: Sequence[_Decided], runs: Sequence[str], histories: Sequence[History]
) -> list[tuple[datetime, AuditEntry]]:
    """Each decision once (copies of the state repeat them), in the run it was made in."""
    starts = [_time(history["events"][0]) for history in histories]
    unique: dict[str, _Decided] = {}
    for record, place in decided:
        key = record.model_dump_json()
        if key in unique:
            place = max(place, unique[key][1])
        unique[key] = (record, place)
    return [
        (
            place,
            HumanDecisionEntry(
                run_id=runs[max(0, bisect_right(starts, record.at) - 1)], **record.model_dump()
            ),
        )
        for record, place in unique.values()
    ]


def render_audit(trail: AuditTrail) -> str:
    """The trail for people: one line per entry (more for an agent's findings)."""
    lines = [f"Audit trail of {trail.pr} ({trail.workflow_id}, {counted(len(trail.runs), 'run')})"]
    for entry in trail.entries:
        lines += [f"{entry.at:%Y-%m-%d %H:%M:%S}Z  {entry.kind:<8}  " + _describe(entry)]
        if isinstance(entry, AgentEntry):
            lines += [
                f"    - {f.severity} {f.path}:{f.line or '-'} {f.title} ({f.tool} {f.rule})"
                for f in entry.findings
            ]
    return "\n".join(lines)


def _describe(entry: AuditEntry) -> str:
    if isinstance(entry, DeliveryEntry):
        head = f", head {entry.head_sha[:12]}" if entry.head_sha else ""
        detail = f": {entry.detail}" if entry.detail else ""
        return f"{entry.channel} {entry.action} by {entry.sender} ({entry.source}{head}){detail}"
    if isinstance(entry, PlanEntry):
        scope = "all"
        if entry.incremental and entry.since_sha:
            scope = f"changed since {entry.since_sha[:12]}"
        agents = ", ".join(f"{name} x{chunks}" for name, chunks in entry.specialists.items())
        notes = "".join(f"; {note}" for note in entry.notes)
        return (
            f"{entry.head_sha[:12]}: {counted(entry.files, 'file')} ({scope}), specialists: "
            f"{agents or 'none'}{notes}"
        )
    if isinstance(entry, AgentEntry):
        model = f" ({entry.model})" if entry.model else ""
        parts = [counted(entry.inputs.files, "file"), counted(len(entry.findings), "finding")]
        if entry.tokens is not None:
            parts.append(
                f"tokens in {entry.tokens.input_tokens}/out {entry.tokens.output_tokens}, "
                f"${entry.cost_usd:.4f}"
            )
        if entry.dropped:
            parts.append("dropped " + ", ".join(f"{n} {why}" for why, n in entry.dropped.items()))
        if entry.skipped:
            parts.append("skipped " + counted(len(entry.skipped), "file"))
        if entry.error:
            parts.append(f"error: {entry.error}")
        return f"{entry.agent}{model} on {entry.head_sha[:12]}: " + "; ".join(parts)
    if isinstance(entry, HumanDecisionEntry):
        verdict = "approved" if entry.approved else "declined"
        reason = f" ({entry.reason})" if entry.reason else ""
        return (
            f"{entry.decided_by} {verdict} {entry.proposal} on {entry.head_sha[:12]} "
            f"via {entry.channel}{reason}"
        )
    reused = " (already posted)" if entry.reused else ""
    if not entry.posted:
        return f"nothing new to say on {entry.head_sha[:12]}: no review posted (quiet)"
    return (
        f"{entry.event} on {entry.head_sha[:12]}: {counted(entry.findings, 'finding')}, "
        f"{entry.inline_comments} inline, {entry.html_url}{reused}"
    )


# --- Temporal's JSON form ----------------------------------------------------------------------


def _attributes(event: Mapping[str, Any]) -> Mapping[str, Any]:
    return next((value for key, value in event.items() if key.endswith("EventAttributes")), {})


def _time(event: Mapping[str, Any]) -> datetime:
    # RFC 3339 with nanoseconds ("...53.737824245Z"): datetime keeps microseconds.
    stamp = str(event["eventTime"]).removesuffix("Z")
    whole, _, fraction = stamp.partition(".")
    return datetime.fromisoformat(f"{whole}.{(fraction or '0')[:6]:0<6}+00:00")


def _first(payloads: Mapping[str, Any] | None) -> Any:
    """The first payload's value (JSON), or ``None`` (no payload, or a null one)."""
    items = (payloads or {}).get("payloads") or []
    if not items:
        return None
    payload = items[0]
    encoding = base64.b64decode(payload.get("metadata", {}).get("encoding", "")).decode()
    if encoding != "json/plain":
        return None
    try:
        return json.loads(base64.b64decode(payload.get("data", "")))
    except (binascii.Error, ValueError):
        return None


def _failure_message(ended: Mapping[str, Any]) -> str:
    failure = ended.get("failure") or {}
    while failure.get("cause"):
        failure = failure["cause"]
    return str(failure.get("message") or "timed out")
