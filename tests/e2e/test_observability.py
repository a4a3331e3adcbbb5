"""Metrics, traces, logs and health: through real deliveries, a real worker and a real dev server.

A probe workflow stands in for the review workflow: it is signal-with-started by a webhook
delivery, logs from its signal handler and from an activity, and records every application
metric with the meters the real workflow and activities use.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import re
import socket
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    import httpx
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from pydantic import BaseModel, SecretStr
    from temporalio.contrib.opentelemetry import TracingInterceptor

    from prsaga.runtime.config import Settings
    from prsaga.runtime.logs import REDACTED, configure_logging, log_context
    from prsaga.runtime.telemetry import (
        build_tracer_provider,
        client_interceptors,
        configure_tracing,
        record_llm_usage,
    )
    from prsaga.runtime.temporal import connect
    from prsaga.schema import Finding, PullRequestEvent, PullRequestRef, Severity, TokenUsage
    from starter.temporal import TemporalSubmitter
    from starter.webhook import WEBHOOK_PATH, TemporalReadiness, create_app
    from tests.conftest import next_pr_number
    from tests.paths import REPO_ROOT, TESTS_DIR
    from workflows.metrics import record_findings, record_review

WEBHOOK_SECRET = "observability-webhook-" + "5ecret" * 4
OPENED = TESTS_DIR / "fixtures" / "webhooks" / "pull_request" / "opened.payload.json"


# --- The probe: a workflow and an activity recording metrics and logging as the real ones do


class ProbeInput(BaseModel):
    delivery_id: str
    received_at: datetime
    findings: list[Finding]
    usage: TokenUsage
    cost_usd: float
    failed_attempts: int = 0


class ProbeCall(BaseModel):
    delivery_id: str
    agent: str
    usage: TokenUsage
    cost_usd: float
    failed_attempts: int = 0
    """Attempts that fail before one succeeds (so that failure and retry metrics exist)."""


@activity.defn
def probe_llm_call(call: ProbeCall) -> None:
    if activity.info().attempt <= call.failed_attempts:
        raise RuntimeError(f"attempt {activity.info().attempt} fails on purpose")
    with log_context(delivery_id=call.delivery_id):
        activity.logger.info("claude call by %s", call.agent)
    record_llm_usage(activity.metric_meter(), call.agent, call.usage, call.cost_usd)


@workflow.defn
class ProbeWorkflow:
    @workflow.signal
    def on_event(self, event: PullRequestEvent) -> None:
        workflow.logger.info("delivery received", extra={"delivery_id": event.delivery_id})

    @workflow.run
    async def run(self, input: ProbeInput) -> float:
        # Recorded in the first workflow task, which a worker without a cache replays later.
        record_findings(workflow.metric_meter(), input.findings)
        await workflow.execute_activity(
            probe_llm_call,
            ProbeCall(
                delivery_id=input.delivery_id,
                agent="security",
                usage=input.usage,
                cost_usd=input.cost_usd,
                failed_attempts=input.failed_attempts,
            ),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
        )
        latency = (workflow.now() - input.received_at).total_seconds()
        record_review(workflow.metric_meter(), "posted", latency)
        return latency


FINDINGS = [
    Finding(agent=agent, tool="t", rule="r", path="a.py", severity=severity, title="x", message="m")
    for agent, severity in [
        ("offline", Severity.LOW),
        ("offline", Severity.LOW),
        ("offline", Severity.HIGH),
        ("security", Severity.CRITICAL),
    ]
]
USAGE = TokenUsage(
    input_tokens=1200, output_tokens=340, cache_creation_input_tokens=0, cache_read_input_tokens=55
)
COST_USD = 0.0123


class ProbeSubmit:
    """A webhook ``submit`` that signal-with-starts the probe, as `TemporalSubmitter` does for the
    review workflow (the workflow id is the pull request's, so logs can derive it)."""

    def __init__(self, client: Client, task_queue: str, failed_attempts: int = 0) -> None:
        self.client = client
        self.task_queue = task_queue
        self.failed_attempts = failed_attempts
        self.handles: list[WorkflowHandle[Any, float]] = []

    async def __call__(self, pr: PullRequestRef, event: PullRequestEvent) -> str:
        handle = await self.client.start_workflow(
            ProbeWorkflow.run,
            ProbeInput(
                delivery_id=event.delivery_id,
                received_at=datetime.now(UTC),
                findings=FINDINGS,
                usage=USAGE,
                cost_usd=COST_USD,
                failed_attempts=self.failed_attempts,
            ),
            id=pr.workflow_id,
            task_queue=self.task_queue,
            start_signal="on_event",
            start_signal_args=[event],
        )
        self.handles.append(handle)
        return handle.id


@asynccontextmanager
async def probe_worker(
    client: Client, failed_attempts: int = 0, **options: Any
) -> AsyncIterator[ProbeSubmit]:
    task_queue = f"obs-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[ProbeWorkflow],
            activities=[probe_llm_call],
            activity_executor=executor,
            **options,
        ):
            yield ProbeSubmit(client, task_queue, failed_attempts)


# --- Deliveries


def opened_delivery(delivery_id: str) -> tuple[bytes, PullRequestRef]:
    """The real `pull_request.opened` fixture, renumbered so that each test has its own
    workflow."""
    payload = json.loads(OPENED.read_bytes())
    number = next_pr_number()
    payload["number"] = payload["pull_request"]["number"] = number
    repository = payload["repository"]
    pr = PullRequestRef(owner=repository["owner"]["login"], repo=repository["name"], number=number)
    return json.dumps(payload).encode(), pr


async def deliver(
    http: httpx.AsyncClient, body: bytes, delivery_id: str, secret: str = WEBHOOK_SECRET
) -> httpx.Response:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return await http.post(
        WEBHOOK_PATH,
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": delivery_id,
            "X-Hub-Signature-256": f"sha256={signature}",
        },
    )


def asgi_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hook")


def settings_for(client: Client, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "temporal_address": client.service_client.config.target_host,
        "temporal_namespace": client.namespace,
        "webhook_secret": SecretStr(WEBHOOK_SECRET),
        "task_queue": f"tq-{uuid.uuid4()}",
        **overrides,
    }
    return Settings(_env_file=None, **values)


def free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


# --- Metrics

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(text: str) -> list[tuple[str, dict[str, str], float]]:
    """The samples of a Prometheus text exposition."""
    samples = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and not line.startswith("#"):
            labels = dict(_LABEL.findall(match["labels"] or ""))
            samples.append((match["name"], labels, float(match["value"])))
    return samples


def total(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(
        value
        for sample, found, value in samples
        if sample == name and labels.items() <= found.items()
    )


async def test_one_metrics_endpoint_serves_sdk_and_application_metrics(
    temporal_client: Client,
) -> None:
    settings = settings_for(temporal_client, metrics_address=free_address())
    client = await connect(settings)  # on the process runtime that serves metrics_address
    body, pr = opened_delivery(delivery_id := str(uuid.uuid4()))

    # No workflow cache: every workflow task replays the history so far, which must not count
    # the findings recorded in the first task twice.
    async with probe_worker(client, max_cached_workflows=0) as submit:
        app = create_app(settings, submit)  # counts on the same process meter
        async with asgi_client(app) as http:
            accepted = await deliver(http, body, delivery_id)
            rejected = await deliver(http, body, str(uuid.uuid4()), secret="not the secret")
        latency = await submit.handles[0].result()

    assert (accepted.status_code, rejected.status_code) == (202, 401)
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://{settings.metrics_address}/metrics")
    assert response.status_code == 200
    samples = scrape(response.text)
    probe = {"workflow_type": "ProbeWorkflow", "task_queue": submit.task_queue}
    assert total(samples, "temporal_workflow_completed", **probe) == 1
    assert total(
        samples, "temporal_activity_execution_latency_count", activity_type="probe_llm_call"
    )
    assert total(samples, "prsaga_webhooks_received", event="pull_request", outcome="accepted") == 1
    assert (
        total(
            samples,
            "prsaga_webhooks_received",
            event="unknown",
            outcome="rejected",
            reason="bad_signature",
        )
        == 1
    )
    for (agent, severity), count in Counter((f.agent, f.severity.value) for f in FINDINGS).items():
        assert total(samples, "prsaga_findings", agent=agent, severity=severity, **probe) == count
    assert total(samples, "prsaga_reviews", outcome="posted", **probe) == 1
    assert total(samples, "prsaga_review_latency_count", outcome="posted") == 1
    assert total(samples, "prsaga_review_latency_sum", outcome="posted") == pytest.approx(latency)
    for kind, tokens in [("input", 1200), ("output", 340), ("cache_read", 55)]:
        assert total(samples, "prsaga_llm_tokens", agent="security", kind=kind) == tokens
    assert total(samples, "prsaga_llm_tokens", kind="cache_creation") == 0
    assert total(samples, "prsaga_llm_cost_usd_sum", agent="security") == pytest.approx(COST_USD)


# --- Logs


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging replaces the root handlers (pytest's too): put them back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    workflow.logger.workflow_info_on_message = True
    activity.logger.activity_info_on_message = True


@pytest.mark.usefixtures("restore_logging")
async def test_json_logs_carry_the_delivery_and_workflow_ids(temporal_client: Client) -> None:
    settings = settings_for(temporal_client, log_format="json")
    out = io.StringIO()
    configure_logging(settings, out)
    body, pr = opened_delivery(delivery_id := str(uuid.uuid4()))

    async with probe_worker(temporal_client) as submit:
        async with asgi_client(create_app(settings, submit)) as http:
            assert (await deliver(http, body, delivery_id)).status_code == 202
        await submit.handles[0].result()

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert all({"ts", "level", "logger", "message"} <= line.keys() for line in lines)
    assert all(datetime.fromisoformat(line["ts"]).tzinfo is not None for line in lines)
    correlated = {
        "delivery_id": delivery_id,
        "workflow_id": pr.workflow_id,
        "repository": pr.full_name,
        "pr_number": pr.number,
    }
    by_logger = {line["logger"]: line for line in lines if line.get("delivery_id") == delivery_id}
    webhook = by_logger["starter.webhook"]
    assert webhook.items() >= {**correlated, "level": "INFO", "outcome": "accepted"}.items()
    signal = by_logger["temporalio.workflow"]
    assert signal.items() >= {**correlated, "workflow_type": "ProbeWorkflow"}.items()
    assert signal["message"] == "delivery received"  # the details are fields, not appended text
    call = by_logger["temporalio.activity"]
    assert call.items() >= {**correlated, "activity_type": "probe_llm_call"}.items()
    assert call["message"] == "claude call by security"


def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.usefixtures("restore_logging")
async def test_a_run_with_known_secrets_leaves_none_in_the_logs(
    log_format: Literal["text", "json"],
) -> None:
    pem = private_key_pem()
    token = "tok-" + uuid.uuid4().hex  # shaped like no known token: only the setting finds it
    anthropic_key = "key-" + uuid.uuid4().hex
    settings = Settings(
        _env_file=None,
        webhook_secret=SecretStr(WEBHOOK_SECRET),
        github_token=SecretStr(token),
        anthropic_api_key=SecretStr(anthropic_key),
        github_app_id=1,
        github_app_private_key=SecretStr(pem),
        log_format=log_format,
    )
    # Secrets prsaga derives at run time rather than reads from its settings.
    installation_token = "ghs_" + "A1b2" * 9
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxIiwiZXhwIjoxfQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    out = io.StringIO()
    configure_logging(settings, out)

    class LeakySubmit:
        async def __call__(self, pr: PullRequestRef, event: PullRequestEvent) -> str:
            raise RuntimeError(f"GitHub refused token {token} and key {anthropic_key}")

    body, _ = opened_delivery(str(uuid.uuid4()))
    async with asgi_client(create_app(settings, LeakySubmit())) as http:
        assert (await deliver(http, body, str(uuid.uuid4()))).status_code == 500
        assert (await deliver(http, body, WEBHOOK_SECRET, secret="wrong")).status_code == 401
    log = logging.getLogger("prsaga.test")
    log.info("webhook secret is %s", WEBHOOK_SECRET)
    log.warning(f"token={token} key={anthropic_key}")
    log.info("installation %s, jwt %s", installation_token, jwt, extra={"detail": pem})
    log.info("one line of the key: %s", pem.splitlines()[5])
    try:
        raise ValueError(f"bad key {pem!r}")
    except ValueError:
        log.exception("loading the App key failed")

    text = out.getvalue()
    secrets = [
        WEBHOOK_SECRET,
        token,
        anthropic_key,
        installation_token,
        jwt,
        *pem.splitlines()[1:-1],
    ]
    assert [secret for secret in secrets if secret in text] == []
    assert "webhook secret is ****" in text
    assert text.count(REDACTED) >= 8
    assert "loading the App key failed" in text and "ValueError" in text  # the rest survives


# --- Health


@pytest.mark.parametrize(
    ("temporal", "status"),
    [("up", 200), ("unreachable", 503), ("gone-after-connecting", 503)],
)
async def test_readyz_is_ok_only_when_temporal_answers(
    temporal_client: Client, temporal: str, status: int
) -> None:
    settings = settings_for(temporal_client)
    nowhere = free_address()

    async def connect_client() -> Client:
        if temporal == "up":
            return await connect(settings)
        if temporal == "unreachable":
            return await connect(settings.model_copy(update={"temporal_address": nowhere}))
        # A lazy client "connects" without a server, so the readiness call itself fails.
        return await Client.connect(nowhere, lazy=True)

    ready = TemporalReadiness(connect_client)
    app = create_app(settings, ProbeSubmit(temporal_client, "unused"), ready=ready)
    async with asgi_client(app) as http:
        readyz, healthz = await http.get("/readyz"), await http.get("/healthz")

    assert readyz.status_code == status
    assert readyz.json()["status"] == ("ready" if status == 200 else "unavailable")
    assert healthz.status_code == 200


# --- Traces


def test_tracing_is_wired_only_when_enabled() -> None:
    off = Settings(_env_file=None)
    on = Settings(_env_file=None, tracing=True)

    assert client_interceptors(off) == [] and configure_tracing(off, "prsaga-test") is None
    assert [type(i) for i in client_interceptors(on)] == [TracingInterceptor]


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def traced(client: Client, exporter: InMemorySpanExporter) -> tuple[Client, Any]:
    """A client (and tracer) tracing into ``exporter`` instead of the global provider."""
    tracer = build_tracer_provider("prsaga-test", exporter, batch=False).get_tracer("test")
    config = client.config()
    config["interceptors"] = [TracingInterceptor(tracer)]
    return Client(**config), tracer


def parents(spans: Sequence[ReadableSpan]) -> dict[str, str | None]:
    """Each span's name, mapped to its parent's name."""
    names = {span.context.span_id: span.name for span in spans}
    return {span.name: names.get(span.parent.span_id) if span.parent else None for span in spans}


async def test_the_signal_with_start_is_a_child_of_the_delivery_span(
    temporal_client: Client, spans: InMemorySpanExporter
) -> None:
    settings = settings_for(temporal_client)
    client, tracer = traced(temporal_client, spans)
    body, pr = opened_delivery(delivery_id := str(uuid.uuid4()))

    app = create_app(settings, TemporalSubmitter(settings, client), tracer=tracer)
    async with asgi_client(app) as http:
        assert (await deliver(http, body, delivery_id)).status_code == 202
    # No worker runs this task queue: only the client side is traced here.
    await temporal_client.get_workflow_handle(pr.workflow_id).terminate("test done")

    finished = spans.get_finished_spans()
    [delivery] = [s for s in finished if s.name == f"POST {WEBHOOK_PATH}"]
    assert delivery.attributes is not None
    assert delivery.attributes["prsaga.delivery_id"] == delivery_id
    assert delivery.attributes["prsaga.workflow_id"] == pr.workflow_id
    assert delivery.attributes["prsaga.outcome"] == "accepted"
    [start] = [s for s in finished if s.name.startswith("SignalWithStartWorkflow:")]
    assert start.parent is not None and start.parent.span_id == delivery.context.span_id
    assert start.context.trace_id == delivery.context.trace_id


async def test_one_trace_runs_from_the_delivery_through_the_activity(
    temporal_client: Client, spans: InMemorySpanExporter
) -> None:
    settings = settings_for(temporal_client)
    client, tracer = traced(temporal_client, spans)
    body, _ = opened_delivery(delivery_id := str(uuid.uuid4()))

    async with probe_worker(client) as submit:  # the worker inherits the client's interceptor
        async with asgi_client(create_app(settings, submit, tracer=tracer)) as http:
            assert (await deliver(http, body, delivery_id)).status_code == 202
        await submit.handles[0].result()

    finished = spans.get_finished_spans()
    delivery = f"POST {WEBHOOK_PATH}"
    start = "SignalWithStartWorkflow:ProbeWorkflow"
    # The interceptor parents the workflow's spans (zero-length, for replay safety) and the
    # activities it schedules to the client span that started it.
    assert parents(finished) == {
        delivery: None,
        start: delivery,
        "HandleSignal:on_event": start,
        "RunWorkflow:ProbeWorkflow": start,
        "StartActivity:probe_llm_call": start,
        "RunActivity:probe_llm_call": "StartActivity:probe_llm_call",
        "CompleteWorkflow:ProbeWorkflow": start,
    }
    assert len({span.context.trace_id for span in finished}) == 1


# --- Dashboards

DASHBOARDS = REPO_ROOT / "deploy" / "grafana" / "dashboards"
_METRIC = re.compile(r"\b((?:prsaga|temporal)_[a-z0-9_]+)\b")
_GROUPING = re.compile(r"\bby \(([^)]*)\)")
_MATCHERS = re.compile(r"\{([^}]*)\}")


def dashboard_queries() -> list[tuple[str, str]]:
    """``(where, PromQL)`` of every query of every provisioned dashboard."""
    return [
        (f"{path.name}: {panel['title']}", target["expr"])
        for path in sorted(DASHBOARDS.glob("*.json"))
        for panel in json.loads(path.read_text())["panels"]
        for target in panel.get("targets", [])
    ]


async def test_every_dashboard_query_reads_metrics_and_labels_a_worker_exports(
    temporal_client: Client,
) -> None:
    """Scrape a worker and a webhook server after a review that records every metric (with
    failed attempts, so the SDK's failure metrics exist too), then check that every metric a
    dashboard reads is exported, with the labels it groups and filters by."""
    settings = settings_for(temporal_client, metrics_address=free_address())
    client = await connect(settings)
    body, _ = opened_delivery(delivery_id := str(uuid.uuid4()))
    async with probe_worker(client, failed_attempts=2) as submit:
        async with asgi_client(create_app(settings, submit)) as http:
            assert (await deliver(http, body, delivery_id)).status_code == 202
            rejected = await deliver(http, body, str(uuid.uuid4()), secret="not the secret")
            assert rejected.status_code == 401
        await submit.handles[0].result()
    async with httpx.AsyncClient() as http:
        exposition = (await http.get(f"http://{settings.metrics_address}/metrics")).text
    exported: dict[str, set[str]] = {}
    for name, labels, _ in scrape(exposition):
        exported.setdefault(name, set()).update(labels)

    queries = dashboard_queries()
    assert len(queries) >= 10
    problems = []
    for where, expr in queries:
        metrics = set(_METRIC.findall(expr))
        if not metrics:
            problems.append(f"{where}: reads no prsaga or Temporal metric")
        for metric in metrics - exported.keys():
            problems.append(f"{where}: {metric} is not exported")
        labels = set().union(*(exported.get(metric, set()) for metric in metrics))
        used = {
            label.strip()
            for clause in _GROUPING.findall(expr)
            for label in clause.split(",")
            if label.strip()
        } | {
            matcher.split("=")[0].strip().rstrip("!~")
            for clause in _MATCHERS.findall(expr)
            for matcher in clause.split(",")
        }
        for label in used - labels:
            problems.append(f"{where}: no label {label!r} on {', '.join(sorted(metrics))}")
    assert problems == [], "\n".join(problems)


def test_the_dashboard_check_catches_a_renamed_metric_and_label() -> None:
    assert _METRIC.findall("sum by (agent) (increase(prsaga_llm_cost_usd_sum[1d]))") == [
        "prsaga_llm_cost_usd_sum"
    ]
    assert _GROUPING.findall("histogram_quantile(0.9, sum by (le, task_queue) (rate(x[5m])))") == [
        "le, task_queue"
    ]
    assert _MATCHERS.findall('prsaga_reviews{outcome="posted"}') == ['outcome="posted"']
