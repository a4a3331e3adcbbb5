"""What a workflow's history says about its cost: events, payload sizes, and where time went."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from google.protobuf.message import Message
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from bench.stats import percentile

_PAYLOAD = "temporal.api.common.v1.Payload"


def payload_sizes(message: Message) -> Iterator[int]:
    """The serialized size of every ``Payload`` inside ``message`` (memo and search attribute
    maps included)."""
    if message.DESCRIPTOR.full_name == _PAYLOAD:
        yield message.ByteSize()
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            values = value.values()
            if field.message_type.fields_by_name["value"].message_type is None:
                continue
        elif field.is_repeated:
            values = value
        else:
            values = [value]
        for item in values:
            yield from payload_sizes(item)


def _event_type(event: HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


def _seconds(event: HistoryEvent) -> float:
    return event.event_time.ToNanoseconds() / 1e9


def history_cost(events: Sequence[HistoryEvent]) -> dict[str, Any]:
    """Event count, total bytes, and the largest payload with the event that carried it."""
    largest, largest_in = 0, None
    for event in events:
        for size in payload_sizes(event):
            if size > largest:
                largest, largest_in = size, _event_type(event)
    return {
        "events": len(events),
        "bytes": sum(event.ByteSize() for event in events),
        "largest_event_bytes": max((event.ByteSize() for event in events), default=0),
        "largest_payload_bytes": largest,
        "largest_payload_event": largest_in,
        "activities": sum(
            1
            for event in events
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        ),
    }


def activity_counts(events: Sequence[HistoryEvent]) -> dict[str, int]:
    """Activities scheduled, by type."""
    counts: dict[str, int] = defaultdict(int)
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            counts[event.activity_task_scheduled_event_attributes.activity_type.name] += 1
    return dict(counts)


def timeline(events: Sequence[HistoryEvent]) -> dict[str, Any]:
    """Where the server saw time go, from the first event to the last activity completed:
    per activity type its queue wait (scheduled -> started) and run time (started ->
    completed), and the workflow tasks' time (scheduled -> completed)."""
    scheduled: dict[int, tuple[str, float]] = {}
    started: dict[int, float] = {}
    waits: dict[str, list[float]] = defaultdict(list)
    runs: dict[str, list[float]] = defaultdict(list)
    task_scheduled: dict[int, float] = {}
    task_seconds: list[float] = []
    last_activity_done = None
    for event in events:
        at = _seconds(event)
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = (name, at)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attributes = event.activity_task_started_event_attributes
            started[attributes.scheduled_event_id] = at
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            scheduled_id = event.activity_task_completed_event_attributes.scheduled_event_id
            name, scheduled_at = scheduled[scheduled_id]
            # The server writes ActivityTaskStarted with the completion, at the start time.
            started_at = started.get(scheduled_id, scheduled_at)
            waits[name].append(started_at - scheduled_at)
            runs[name].append(at - started_at)
            last_activity_done = at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            task_scheduled[event.event_id] = at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            scheduled_id = event.workflow_task_completed_event_attributes.scheduled_event_id
            if scheduled_id in task_scheduled:
                task_seconds.append(at - task_scheduled[scheduled_id])
    first = _seconds(events[0]) if events else 0.0
    return {
        "first_to_last_activity_ms": _ms(last_activity_done - first)
        if last_activity_done is not None
        else None,
        "activities": {
            name: {
                "count": len(runs[name]),
                "queue_wait_p50_ms": _ms(percentile(waits[name], 50)),
                "run_p50_ms": _ms(percentile(runs[name], 50)),
                "run_total_ms": _ms(sum(runs[name])),
            }
            for name in runs
        },
        "workflow_tasks": {
            "count": len(task_seconds),
            "p50_ms": _ms(percentile(task_seconds, 50)) if task_seconds else None,
            "total_ms": _ms(sum(task_seconds)),
        },
    }


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)
