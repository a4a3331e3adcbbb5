"""Metrics, traces and health checks for every prsaga process.

**Metrics.** Each process has one Temporal `Runtime`. When ``metrics_address`` is set it serves
Prometheus at ``http://<metrics_address>/metrics``: the SDK's own ``temporal_*`` metrics and
prsaga's ``prsaga_*`` metrics, because the application metrics are recorded through the meters of
that same runtime. Where to record each one:

``prsaga_llm_circuit_transitions```record_circuit_transition`  `process_meter`
``prsaga_findings_verified`` `record_verification` (activity)   ``activity.metric_meter()``
=================================  =====================================  ======================
metric (``prsaga.schema.metrics``) recorded by                            meter
=================================  =====================================  ======================
``prsaga_webhooks_received``       `record_webhook` (the webhook)         `process_meter`
``prsaga_reviews``,                ``workflows.metrics.record_review``    workflow's meter
``prsaga_review_latency``          (once per review that ends)
``prsaga_findings``                ``workflows.metrics.record_findings``  workflow's meter
                                   (the findings of a posted review)
``prsaga_llm_tokens``,             `record_llm_usage` (the activity,      activity's meter
``prsaga_llm_cost_usd``            after each model call)
``prsaga_llm_circuit_transitions`` `record_circuit_transition`            `process_meter`
``prsaga_findings_verified``       `record_verification` (the activity)   activity's meter
=================================  =====================================  ======================

``workflow.metric_meter()`` records nothing while a workflow replays, so a workflow counts each
review once however often its history is replayed. LLM usage is recorded by the activity because
every attempt spends tokens, including attempts that fail and are retried.

**Traces.** With ``tracing`` on, `configure_tracing` installs a global OpenTelemetry tracer
provider exporting over OTLP/HTTP (the standard ``OTEL_*`` variables configure it) and
`client_interceptors` adds Temporal's ``TracingInterceptor`` to the client, which workers built on
that client inherit: a span opened around a call to the client (the webhook's) becomes the parent
of the signal-with-start, the workflow and its activities.

Workflows import this module under ``workflow.unsafe.imports_passed_through()``, like the other
prsaga modules: it imports the Temporal client and OpenTelemetry, which the sandbox should share
rather than re-import.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Literal

import opentelemetry.trace
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client, Interceptor
from temporalio.common import MetricMeter
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import RPCError

from prsaga.runtime.config import Settings
from prsaga.schema import TokenUsage
from prsaga.schema.metrics import (
    FINDINGS_VERIFIED,
    LLM_CIRCUIT_TRANSITIONS,
    LLM_COST_USD,
    LLM_TOKENS,
    REVIEW_LATENCY,
    WEBHOOKS_RECEIVED,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter


WebhookOutcome = Literal["accepted", "ignored", "rejected"]
RejectReason = Literal[
    "bad_signature", "bad_payload", "too_large", "unsupported", "unavailable", "error"
]

# Prometheus buckets suited to each histogram (the runtime's default buckets are meant for
# milliseconds). End to end includes the debounce, so a review is seconds to minutes.
HISTOGRAM_BUCKETS: dict[str, list[float]] = {
    REVIEW_LATENCY: [1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600],
    LLM_COST_USD: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
}

CORE_LOGGER = "temporalio.core"
"""Python logger that receives the Temporal Core's own log lines (so they are formatted and
scrubbed like every other line)."""

SERVICE_NAME_WORKER = "prsaga-worker"
SERVICE_NAME_WEBHOOK = "prsaga-webhook"


# --- Runtime and meters


def build_runtime(metrics_address: str | None) -> Runtime:
    """A new Temporal runtime serving Prometheus on ``metrics_address`` (if given).

    Each runtime binds its own port and thread pool: a process wants one (see `process_runtime`).
    """
    metrics = (
        PrometheusConfig(bind_address=metrics_address, histogram_bucket_overrides=HISTOGRAM_BUCKETS)
        if metrics_address
        else None
    )
    logging_config = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger(CORE_LOGGER)),
    )
    return Runtime(telemetry=TelemetryConfig(metrics=metrics, logging=logging_config))


@cache
def _runtime_for(metrics_address: str | None) -> Runtime:
    return build_runtime(metrics_address)


def process_runtime(settings: Settings) -> Runtime:
    """This process's runtime for ``settings.metrics_address``, created on first use.

    Every client of the process must use it (`starter.temporal.connect` does), so that one
    Prometheus endpoint has every metric.
    """
    return _runtime_for(settings.metrics_address)


def process_meter(settings: Settings) -> MetricMeter:
    """The meter of `process_runtime`; a no-op meter when ``metrics_address`` is unset."""
    return process_runtime(settings).metric_meter


# --- Application metrics. Instruments are re-created per call: the runtime aggregates
# instruments of the same name, description and unit into one series, and a workflow's or an
# activity's meter is only known at the call.


def record_webhook(
    meter: MetricMeter, event: str, outcome: WebhookOutcome, reason: RejectReason | None = None
) -> None:
    """Count one webhook delivery: ``prsaga_webhooks_received{event, outcome[, reason]}``.

    ``event`` must come from a verified delivery (or be ``unknown``): unauthenticated header
    values would let anyone create unbounded series.
    """
    attributes = {"event": event, "outcome": outcome}
    if reason is not None:
        attributes["reason"] = reason
    meter.create_counter(WEBHOOKS_RECEIVED, "GitHub webhook deliveries by event and outcome").add(
        1, attributes
    )


def record_llm_usage(meter: MetricMeter, agent: str, usage: TokenUsage, cost_usd: float) -> None:
    """Record one Messages API call's tokens (``prsaga_llm_tokens{agent, kind}``, kind one of
    ``input``, ``output``, ``cache_creation``, ``cache_read``) and estimated cost
    (``prsaga_llm_cost_usd{agent}``, a histogram whose ``_sum`` is the total spend).

    Call it from the activity with ``activity.metric_meter()``.
    """
    tokens = meter.create_counter(LLM_TOKENS, "Claude tokens used, by agent and kind")
    for kind, count in (
        ("input", usage.input_tokens),
        ("output", usage.output_tokens),
        ("cache_creation", usage.cache_creation_input_tokens),
        ("cache_read", usage.cache_read_input_tokens),
    ):
        if count:
            tokens.add(count, {"agent": agent, "kind": kind})
    meter.create_histogram_float(
        LLM_COST_USD, "Estimated cost of Claude calls in US dollars, by agent", "USD"
    ).record(max(cost_usd, 0.0), {"agent": agent})


def record_circuit_transition(meter: MetricMeter, provider: str, state: str) -> None:
    """Count a provider's circuit breaker moving to ``state`` (``open``, ``half_open``,
    ``closed``): ``prsaga_llm_circuit_transitions{provider, state}``."""
    meter.create_counter(
        LLM_CIRCUIT_TRANSITIONS, "Circuit breaker state changes of model providers"
    ).add(1, {"provider": provider, "state": state})


def record_verification(meter: MetricMeter, kept: bool) -> None:
    """Count one model finding the verifier judged: ``prsaga_findings_verified{verdict}``."""
    meter.create_counter(FINDINGS_VERIFIED, "Model findings judged by the verifier").add(
        1, {"verdict": "kept" if kept else "dropped"}
    )


# --- Tracing


def client_interceptors(settings: Settings) -> list[Interceptor]:
    """Temporal's tracing interceptor when ``settings.tracing`` is on (workers built on the
    client inherit it); it traces through the global tracer provider (`configure_tracing`)."""
    if not settings.tracing:
        return []
    # Imported on use: the contrib package pulls in more than an untraced process needs.
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


def build_tracer_provider(
    service_name: str, exporter: SpanExporter | None = None, *, batch: bool = True
) -> TracerProvider:
    """A tracer provider exporting to ``exporter`` (default: OTLP over HTTP, configured by the
    standard ``OTEL_EXPORTER_OTLP_*`` variables). ``OTEL_SERVICE_NAME`` wins over
    ``service_name``."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    return provider


_installed_provider: TracerProvider | None = None


def configure_tracing(settings: Settings, service_name: str) -> TracerProvider | None:
    """Install the global tracer provider if ``settings.tracing`` is on (once per process).

    Returns the provider, to be shut down (flushed) at exit, or ``None`` when tracing is off.
    """
    global _installed_provider
    if not settings.tracing:
        return None
    if _installed_provider is None:
        _installed_provider = build_tracer_provider(service_name)
        opentelemetry.trace.set_tracer_provider(_installed_provider)
    return _installed_provider


# --- Health


async def temporal_reachable(client: Client, timeout: timedelta = timedelta(seconds=2)) -> bool:
    """Whether the Temporal frontend answers a cheap call (``GetSystemInfo``) within
    ``timeout``."""
    try:
        await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timeout)
    except (RPCError, RuntimeError):
        return False
    return True
