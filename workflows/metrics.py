"""The metrics a workflow records, through ``workflow.metric_meter()``, which records nothing while
a workflow replays, so each review counts once however often its history is replayed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from temporalio.common import MetricMeter

from prsaga.schema import Finding
from prsaga.schema.metrics import FINDINGS, REVIEW_LATENCY, REVIEWS, ReviewOutcome


def record_review(
    meter: MetricMeter, outcome: ReviewOutcome, latency_seconds: float | None = None
) -> None:
    """Count a review that ended (``prsaga_reviews{outcome}``) and, when given, its end-to-end
    latency from webhook receipt to the review's end (``prsaga_review_latency{outcome}``).

    Call it from the workflow with ``workflow.metric_meter()`` and a latency computed from
    ``workflow.now()``, so that replays record nothing and the value is deterministic.
    """
    attributes = {"outcome": outcome}
    meter.create_counter(REVIEWS, "Reviews that ended, by outcome").add(1, attributes)
    if latency_seconds is not None:
        meter.create_histogram_float(
            REVIEW_LATENCY, "Seconds from webhook receipt to the end of the review", "s"
        ).record(max(latency_seconds, 0.0), attributes)


def record_findings(meter: MetricMeter, findings: Iterable[Finding]) -> None:
    """Count findings by the agent that produced them and their severity
    (``prsaga_findings{agent, severity}``).

    Call it from the workflow with ``workflow.metric_meter()``, once per posted review.
    """
    counts = Counter((finding.agent, finding.severity.value) for finding in findings)
    counter = meter.create_counter(FINDINGS, "Findings reported, by agent and severity")
    for (agent, severity), count in counts.items():
        counter.add(count, {"agent": agent, "severity": severity})
