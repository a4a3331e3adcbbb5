# --- Crashes: SIGKILLed workers, a restarted dev server, a killed webhook server ---
"""Crash and restart trials against real processes: nothing lost, nothing duplicated.

Workers run as subprocesses (``python -m worker``, exactly as deployed) and are killed with
SIGKILL, which no code can intercept. The local GitHub is put behind :class:`Gate`, which holds a
chosen request at a chosen step (before GitHub handles it, or after GitHub did the work but
before its answer reaches the worker) so that each kill lands exactly where a test wants it.

A killed worker's running activities are noticed by Temporal through their short heartbeat
timeout (every activity heartbeats every few seconds), and its workflows move off its sticky queue
after the sticky timeout: nothing here stands in for either, so the trials measure the real crash
recovery, from the new worker polling to every review in flight settled (printed, and recorded as
the ``recovery_seconds`` property; the README's reliability table shows the max over trials).

Counts: ``PRSAGA_TRIALS`` random kills (default 3, the full run is 20; see the README's
"Reliability" section); ``PRSAGA_SEED`` picks their moments (default 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import hmac
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter

from prsaga.local.embedded import temporal_cli
from prsaga.local.github_fake import FakeGitHub
from prsaga.local.github_fake.objects import github_timestamp
from prsaga.runtime.config import Settings
from prsaga.schema import PullRequestEvent, PullRequestRef, PullRequestState, WaitForReviewInput
from prsaga.schema.search_attributes import dev_server_args
from tests.conftest import (
    GITHUB_TOKEN,
    WEBHOOK_SECRET,
    make_settings,
    next_pr_number,
    renumbered_demo,
)
from tests.e2e.test_demo import processes_mentioning
from tests.paths import REPO_ROOT
from worker import MAX_CONCURRENT_ACTIVITIES, build_worker
from workflows.pull_request import PullRequestWorkflow

REPO = REPO_ROOT
TRIALS = int(os.environ.get("PRSAGA_TRIALS", "3"))
"""Random worker kills in :func:`test_random_worker_kills_lose_and_duplicate_nothing`."""
READY_TIMEOUT = 30.0
SERVER_PY = "tests/testserver/server.py"

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="needs Linux process groups")


# ------------------------------------------------------------------------------------------------
# The local GitHub behind a gate: hold a request at a chosen step, or answer it slowly


@dataclass
class Hold:
    """One request to hold: the first matching request after ``skip`` others."""

    method: str
    pattern: re.Pattern[str]
    after_handling: bool = False
    """Let GitHub handle the request (its write happens), then hold the answer."""
    skip: int = 0
    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    abandoned: bool = False

    def wait_reached(self, timeout: float = READY_TIMEOUT) -> None:
        if not self.reached.wait(timeout):
            raise AssertionError(f"no {self.method} {self.pattern.pattern} within {timeout} s")

    def release(self) -> None:
        """Let the request go on (the answer goes to whoever still listens)."""
        self.released.set()

    def abandon(self) -> None:
        """Drop a request held before handling: it never reaches GitHub (its sender is dead)."""
        self.abandoned = True
        self.released.set()


@dataclass
class _Delay:
    seconds: float
    method: str
    pattern: re.Pattern[str]
    times: int


class Gate:
    """ASGI middleware in front of the local GitHub: holds and delays chosen requests.

    Patterns are searched in ``PATH?QUERY``. Each hold matches once; delays match ``times``.
    """

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._holds: list[Hold] = []
        """Holds still waiting for their request."""
        self._made: list[Hold] = []
        self._delays: list[_Delay] = []

    def hold(
        self, method: str, pattern: str, *, after_handling: bool = False, skip: int = 0
    ) -> Hold:
        hold = Hold(method, re.compile(pattern), after_handling=after_handling, skip=skip)
        with self._lock:
            self._holds.append(hold)
            self._made.append(hold)
        return hold

    def delay(self, seconds: float, method: str, pattern: str, *, times: int = 1) -> None:
        with self._lock:
            self._delays.append(_Delay(seconds, method, re.compile(pattern), times))

    def release_all(self) -> None:
        """Let every request go, held or not yet arrived (so that the server can stop)."""
        with self._lock:
            self._holds.clear()
            made = list(self._made)
        for hold in made:
            if not hold.released.is_set():
                hold.abandon()

    def _take(self, method: str, target: str) -> tuple[Hold | None, float]:
        with self._lock:
            seconds = 0.0
            for delay in self._delays:
                if delay.method == method and delay.pattern.search(target):
                    seconds = delay.seconds
                    delay.times -= 1
                    if delay.times <= 0:
                        self._delays.remove(delay)
                    break
            for hold in self._holds:
                if hold.method == method and hold.pattern.search(target):
                    if hold.skip > 0:
                        hold.skip -= 1
                        continue
                    self._holds.remove(hold)
                    return hold, seconds
            return None, seconds

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode()
        target = scope["path"] + (f"?{query}" if query else "")
        hold, seconds = self._take(scope["method"], target)
        if seconds:
            await asyncio.sleep(seconds)
        if hold is None:
            await self.app(scope, receive, send)
        elif hold.after_handling:
            answer: list[Any] = []

            async def keep(message: Any) -> None:
                answer.append(message)

            await self.app(scope, receive, keep)
            hold.reached.set()
            await _until(hold.released)
            for message in answer:
                await send(message)
        else:
            hold.reached.set()
            await _until(hold.released)
            if not hold.abandoned:
                await self.app(scope, receive, send)
                return
            await send({"type": "http.response.start", "status": 502, "headers": []})
            await send({"type": "http.response.body", "body": b""})


async def _until(event: threading.Event) -> None:
    while not event.is_set():
        await asyncio.sleep(0.01)


@contextlib.contextmanager
def serve_asgi(app: Any, name: str) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a thread; yield its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="critical",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class GatedGitHub:
    fake: FakeGitHub
    gate: Gate
    url: str

    def reviews(self, number: int) -> list[dict[str, Any]]:
        return [r for r in self.fake.state()["reviews"] if r["pull_number"] == number]

    def statuses(self, sha: str) -> list[str]:
        return [s["state"] for s in self.fake.state()["statuses"] if s["sha"] == sha]


@contextlib.contextmanager
def gated_github() -> Iterator[GatedGitHub]:
    fake = FakeGitHub(token=GITHUB_TOKEN)
    gate = Gate(fake.app)
    with serve_asgi(gate, "gated-github") as url:
        try:
            yield GatedGitHub(fake, gate, url)
        finally:
            gate.release_all()


# ------------------------------------------------------------------------------------------------
# Pull requests with their own base and head, so that every request names its pull request


@dataclass
class SeededPR:
    ref: PullRequestRef
    head_sha: str
    base_sha: str
    payload: dict[str, Any]


def seed_unique_pr(fake: FakeGitHub) -> SeededPR:
    """The demo pull request under a number no other test uses, with a base and a head no
    other pull request has (so statuses, contents and config reads name it), as a force push
    leaves it."""
    number = next_pr_number()
    demo = renumbered_demo(number)
    pull = copy.deepcopy(demo.source.pull)
    pull["base"]["sha"] = hashlib.sha1(f"base-{number}".encode()).hexdigest()
    fake.seed_pull_request(pull, demo.source.files, demo.source.contents)
    server_py = demo.source.contents[SERVER_PY]
    assert isinstance(server_py, bytes)
    head = fake.push(
        demo.ref.owner,
        demo.ref.repo,
        number,
        contents={SERVER_PY: server_py + f"# pull request {number}\n".encode()},
        force=True,
    )
    return SeededPR(demo.ref, head, pull["base"]["sha"], event_payload(demo.webhook_payload, head))


def event_payload(
    payload: Mapping[str, Any], head_sha: str, action: str = "opened"
) -> dict[str, Any]:
    event = copy.deepcopy(dict(payload))
    event["action"] = action
    event["pull_request"]["head"]["sha"] = head_sha
    # As GitHub sends it: the pull request's ``updated_at`` as of the event.
    event["pull_request"]["updated_at"] = github_timestamp(datetime.now(UTC))
    return event


def signed_headers(body: bytes, delivery_id: str, event: str = "pull_request") -> dict[str, str]:
    signature = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id,
        "X-Hub-Signature-256": f"sha256={signature}",
    }


# ------------------------------------------------------------------------------------------------
# Subprocesses: workers, the webhook server, a dev server with its SQLite file


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(settings: Settings, temporal_address: str) -> dict[str, str]:
    """The environment of a prsaga child process: these settings, and none of this process's
    own ``PRSAGA_*`` or credential variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PRSAGA_") and k not in ("GITHUB_TOKEN", "ANTHROPIC_API_KEY")
    }
    env.update(
        {
            "PRSAGA_TEMPORAL_ADDRESS": temporal_address,
            "PRSAGA_TASK_QUEUE": settings.task_queue,
            "PRSAGA_GITHUB_API_URL": settings.github_api_url,
            "PRSAGA_GITHUB_TOKEN": GITHUB_TOKEN,
            "PRSAGA_GITHUB_MIN_REQUEST_INTERVAL": "0",
            "PRSAGA_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "PRSAGA_STATE_DIR": str(settings.state_dir),
            "PRSAGA_DEBOUNCE_SECONDS": str(settings.debounce_seconds),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class ChildProcess:
    """A prsaga process in its own process group (so that SIGKILL takes its linters too)."""

    def __init__(self, argv: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.argv, self.env, self.log_path = argv, dict(env), log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, ready: Callable[[], bool]) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"{self.argv} did not start:\n{self.log_tail()}")
            time.sleep(0.05)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL the whole group: nothing runs any cleanup."""
        self._signal_group(signal.SIGKILL)
        assert self.process is not None
        self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()

    def _signal_group(self, signum: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)


class WorkerProcess(ChildProcess):
    """``python -m worker``; ready once it logs that it polls its task queue."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        super().__init__([sys.executable, "-m", "worker"], env, log_path)

    def start_polling(self) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.start(lambda: b"worker polling task queue" in self._log_bytes()[offset:])

    def _log_bytes(self) -> bytes:
        return self.log_path.read_bytes() if self.log_path.exists() else b""


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code < 500
    except httpx.HTTPError:
        return False


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def children() -> Iterator[list[ChildProcess]]:
    """Children started in the block, all stopped on the way out, whatever happens."""
    started: list[ChildProcess] = []
    try:
        yield started
    finally:
        for child in reversed(started):
            child.stop()


# ------------------------------------------------------------------------------------------------
# Temporal helpers


async def attempts_of(client: Client, workflow_ids: list[str], pid: int) -> int:
    """How many activity attempts the worker ``pid`` had started and not finished."""
    started = 0
    for workflow_id in workflow_ids:
        description = await client.get_workflow_handle(workflow_id).describe()
        started += sum(
            pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            and pending.last_worker_identity.startswith(f"{pid}@")
            for pending in description.raw_description.pending_activities
        )
    return started


async def recover(
    client: Client, worker: WorkerProcess, prs: list[SeededPR]
) -> tuple[float, list[PullRequestState]]:
    """Start ``worker`` and wait for every pull request to settle: the seconds from the worker
    polling to the last review in flight settled, and the states."""
    worker.start_polling()
    available = time.monotonic()
    states = await asyncio.gather(*(settled(client, pr.ref, timeout=90) for pr in prs))
    return time.monotonic() - available, list(states)


CRASH_RECOVERY_BOUND = 60.0
"""Seconds: a generous bound (the target, 30 s, is measured and shown in the README)."""


async def settled(client: Client, pr: PullRequestRef, timeout: float = 60) -> PullRequestState:
    handle = client.get_workflow_handle_for(PullRequestWorkflow.run, pr.workflow_id)
    return await asyncio.wait_for(
        handle.execute_update(PullRequestWorkflow.wait_for_review, WaitForReviewInput()),
        timeout,
    )


async def activity_attempts(handle: WorkflowHandle[Any, Any]) -> dict[str, int]:
    """Activity type -> the highest attempt that ran it."""
    scheduled: dict[int, str] = {}
    attempts: dict[str, int] = {}
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attributes = event.activity_task_started_event_attributes
            name = scheduled[attributes.scheduled_event_id]
            attempts[name] = max(attempts.get(name, 0), attributes.attempt)
    return attempts


def collapse(states: list[str]) -> list[str]:
    """Statuses without consecutive repeats: a status posted again by a retried activity is the
    same status (GitHub shows the newest per context)."""
    return [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]


def assert_reviewed_once(github: GatedGitHub, pr: SeededPR, state: PullRequestState) -> None:
    """The pull request's head is reviewed, with one review, one verdict and no comment twice."""
    assert state.step.value == "completed", (state.step, state.last_error)
    assert state.last_reviewed_sha == pr.head_sha
    [review] = github.reviews(pr.ref.number)
    assert review["commit_id"] == pr.head_sha
    assert "withdrawn" not in review["body"]
    comments = [(c["path"], c["line"], c["body"]) for c in review["comments"]]
    assert comments and len(comments) == len(set(comments))
    assert collapse(github.statuses(pr.head_sha)) == ["pending", "success"]


# ------------------------------------------------------------------------------------------------
# Fixtures


@dataclass
class Crashable:
    """A gated local GitHub and the settings of workers that will be killed."""

    client: Client
    github: GatedGitHub
    settings: Settings
    env: dict[str, str]
    log_dir: Path

    def worker(self) -> WorkerProcess:
        return WorkerProcess(self.env, self.log_dir / "worker.log")

    async def deliver(self, http: httpx.AsyncClient, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        response = await http.post(
            "/webhooks/github", content=body, headers=signed_headers(body, str(uuid.uuid4()))
        )
        assert response.status_code == 202, response.text


@pytest.fixture(autouse=True)
def nothing_left_running(tmp_path: Path) -> Iterator[None]:
    """Every process a trial started (workers and their linters, servers) is gone after it."""
    yield
    assert processes_mentioning(str(tmp_path)) == []


@pytest.fixture
async def crashable(temporal_client: Client, tmp_path: Path) -> AsyncIterator[Crashable]:
    address = temporal_client.service_client.config.target_host
    with gated_github() as github:
        settings = make_settings(github.url, tmp_path / "state")
        yield Crashable(temporal_client, github, settings, child_env(settings, address), tmp_path)


def webhook_client(settings: Settings, client: Client) -> httpx.AsyncClient:
    from starter.temporal import TemporalSubmitter
    from starter.webhook import create_app

    app = create_app(settings, TemporalSubmitter(settings, client))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hook")


# ------------------------------------------------------------------------------------------------
# Trials


KILL_POINTS: dict[str, tuple[str, str, bool, int]] = {
    # step -> (method, pattern, after GitHub handled it, matching requests to let through);
    # {n}, {head} and {base} name the pull request.
    "parse": ("GET", r"/pulls/{n}/files", False, 0),
    "plan": ("GET", r"/contents/\.github/prsaga\.yml\?ref={base}", False, 0),
    "pending status": ("POST", r"/statuses/{head}", False, 0),
    "analyze": ("GET", r"/contents/tests/testserver/server\.py\?ref={head}", False, 0),
    "post review": ("POST", r"/pulls/{n}/reviews$", False, 0),
    "review posted, not recorded": ("POST", r"/pulls/{n}/reviews$", True, 0),
    "verdict status, not recorded": ("POST", r"/statuses/{head}", True, 1),
}
KILLED_ACTIVITY = {
    "parse": "parse_pull_request",
    "plan": "plan_review",
    "pending status": "set_commit_status",
    "analyze": "offline_review",
    "post review": "publish_review",
    "review posted, not recorded": "publish_review",
    "verdict status, not recorded": "set_commit_status",
}


async def test_worker_killed_in_every_step_reviews_each_pr_exactly_once(
    crashable: Crashable, record_property: Callable[[str, object], None]
):
    """One pull request held at each step, one SIGKILL for all of them, a new worker: each pull
    request ends with exactly one review and one verdict, and the killed step ran again."""
    github, client = crashable.github, crashable.client
    prs: dict[str, SeededPR] = {}
    holds = {}
    for step, (method, pattern, after, skip) in KILL_POINTS.items():
        pr = seed_unique_pr(github.fake)
        prs[step] = pr
        holds[step] = github.gate.hold(
            method,
            pattern.format(n=pr.ref.number, head=pr.head_sha, base=pr.base_sha),
            after_handling=after,
            skip=skip,
        )

    first = crashable.worker()
    with children() as running:
        running.append(first)
        first.start_polling()
        async with webhook_client(crashable.settings, client) as http:
            await asyncio.gather(*(crashable.deliver(http, pr.payload) for pr in prs.values()))
        for hold in holds.values():
            await asyncio.to_thread(hold.wait_reached)
        first.kill()
        for hold in holds.values():
            # A request held before GitHub saw it dies with its sender; one GitHub handled
            # has its answer sent to nobody.
            if hold.after_handling:
                hold.release()
            else:
                hold.abandon()

        ids = [pr.ref.workflow_id for pr in prs.values()]
        assert await attempts_of(client, ids, first.pid) == len(prs)
        second = crashable.worker()
        running.append(second)
        recovery, settled_states = await recover(client, second, list(prs.values()))
        states = dict(zip(prs, settled_states, strict=True))

    print(f"crash recovery after a kill in every step: {recovery:.1f} s")
    record_property("recovery_seconds", round(recovery, 1))
    assert recovery < CRASH_RECOVERY_BOUND

    for step, pr in prs.items():
        assert_reviewed_once(github, pr, states[step])
        handle = client.get_workflow_handle(pr.ref.workflow_id)
        assert (await activity_attempts(handle))[KILLED_ACTIVITY[step]] == 2, step
    # The review that GitHub had posted when the worker died was found, not posted again.
    reused = states["review posted, not recorded"].last_review
    assert reused is not None and reused.reused


@pytest.mark.slow
async def test_random_worker_kills_lose_and_duplicate_nothing(
    crashable: Crashable, record_property: Callable[[str, object], None]
):
    """``TRIALS`` times: a push to one of the pull requests, then a SIGKILL at a random moment
    and a new worker. Every pull request's newest head ends reviewed exactly once."""
    github, client = crashable.github, crashable.client
    rng = random.Random(os.environ.get("PRSAGA_SEED", "0"))
    prs = [seed_unique_pr(github.fake) for _ in range(3)]
    heads = {pr.ref.number: pr.head_sha for pr in prs}
    # Slow every request a little, so that a review spans a few seconds of kill points.
    github.gate.delay(0.03, "GET", ".", times=1_000_000)
    github.gate.delay(0.03, "POST", ".", times=1_000_000)
    ids = [pr.ref.workflow_id for pr in prs]
    mid_activity, recoveries = 0, []
    with children() as running:
        async with webhook_client(crashable.settings, client) as http:
            worker = crashable.worker()
            running.append(worker)
            worker.start_polling()
            await asyncio.gather(*(crashable.deliver(http, pr.payload) for pr in prs))
            for trial in range(TRIALS):
                pr = rng.choice(prs)
                if trial:  # a new head on one pull request, and its webhook
                    # Something new to say on every head (a trailing space on a line no earlier
                    # head had one on), so that each head gets its review: quiet mode posts none
                    # when everything was said before.
                    filler = "x = 1\n" * (200 + trial)
                    server_py = f"{filler}print({trial}) \n# pull request {pr.ref.number}\n"
                    head = github.fake.push(
                        pr.ref.owner, pr.ref.repo, pr.ref.number, contents={SERVER_PY: server_py}
                    )
                    heads[pr.ref.number] = head
                    await crashable.deliver(http, event_payload(pr.payload, head, "synchronize"))
                await asyncio.sleep(rng.uniform(0.1, 1.5))
                worker.kill()
                mid_activity += bool(await attempts_of(client, ids, worker.pid))
                worker = crashable.worker()
                running.append(worker)
                recovery, states = await recover(client, worker, prs)
                recoveries.append(recovery)

    print(
        f"crash recovery over {TRIALS} kills ({mid_activity} mid-activity): "
        f"max {max(recoveries):.1f} s, each {[round(r, 1) for r in recoveries]}"
    )
    record_property("recovery_seconds_max", round(max(recoveries), 1))
    assert max(recoveries) < CRASH_RECOVERY_BOUND
    record_property("kills", TRIALS)
    record_property("kills_mid_activity", mid_activity)
    for pr, state in zip(prs, states, strict=True):
        head = heads[pr.ref.number]
        # "idle": a later event named the head just reviewed, and was found to have nothing new.
        assert state.step.value in ("completed", "idle"), (state.step, state.last_error)
        assert state.last_reviewed_sha == head
        kept = [r for r in github.reviews(pr.ref.number) if "withdrawn" not in r["body"]]
        reviewed = [r["commit_id"] for r in kept]
        assert len(reviewed) == len(set(reviewed)), f"a head reviewed twice: {reviewed}"
        assert head in reviewed
        current = [
            (c["path"], c["body"]) for r in kept for c in r["comments"] if c["line"] is not None
        ]
        assert len(current) == len(set(current)), "a comment posted twice"
        assert collapse(github.statuses(head))[-2:] == ["pending", "success"]


class DevServer(ChildProcess):
    """``temporal server start-dev`` with its SQLite file: what ``prsaga dev`` runs."""

    def __init__(self, db: Path, port: int, log_path: Path) -> None:
        argv = [
            temporal_cli(),
            "server",
            "start-dev",
            "--db-filename",
            str(db),
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--headless",
            "--log-level",
            "error",
            *dev_server_args(),
        ]
        super().__init__(argv, os.environ, log_path)
        self.port = port

    def start_serving(self) -> None:
        self.start(lambda: port_open(self.port))


async def test_dev_server_restarted_mid_review_resumes_from_its_sqlite_file(
    crashable: Crashable, tmp_path: Path
):
    """The dev server is SIGKILLed while a review is in flight and started again on the same
    SQLite file: the review resumes and finishes once; a delivery made while it was down is
    answered 503 (so GitHub would mark it failed) and recorded when redelivered."""
    github = crashable.github
    port = free_port()
    server = DevServer(tmp_path / "temporal.db", port, tmp_path / "temporal.log")
    settings = crashable.settings
    in_flight, arrives_meanwhile = (seed_unique_pr(github.fake) for _ in range(2))
    held = github.gate.hold(
        "GET", rf"/contents/tests/testserver/server\.py\?ref={in_flight.head_sha}"
    )
    with children() as running:
        running.append(server)
        server.start_serving()
        client = await Client.connect(f"127.0.0.1:{port}", data_converter=pydantic_data_converter)
        worker = WorkerProcess(child_env(settings, f"127.0.0.1:{port}"), tmp_path / "w.log")
        running.append(worker)
        worker.start_polling()
        async with webhook_client(settings, client) as http:
            await crashable.deliver(http, in_flight.payload)
            await asyncio.to_thread(held.wait_reached)

            server.kill()
            body = json.dumps(arrives_meanwhile.payload).encode()
            delivery = str(uuid.uuid4())
            refused = await http.post(
                "/webhooks/github", content=body, headers=signed_headers(body, delivery)
            )
            assert refused.status_code == 503, refused.text
            assert "redeliver" in refused.json()["error"]

            server.start_serving()
            held.release()
            redelivered = await http.post(
                "/webhooks/github", content=body, headers=signed_headers(body, delivery)
            )
            assert redelivered.status_code == 202, redelivered.text
        states = [await settled(client, pr.ref) for pr in (in_flight, arrives_meanwhile)]
        # The review in flight was not started again: it went on from its history.
        handle = client.get_workflow_handle(in_flight.ref.workflow_id)
        assert (await activity_attempts(handle))["parse_pull_request"] == 1

    assert states[0].reviews_started == 1
    for pr, state in zip((in_flight, arrives_meanwhile), states, strict=True):
        assert_reviewed_once(github, pr, state)


class WebhookProcess(ChildProcess):
    """``python -m starter.webhook``; ready once ``/healthz`` answers."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.port = free_port()
        super().__init__(
            [sys.executable, "-m", "starter.webhook"],
            {**env, "PRSAGA_WEBHOOK_PORT": str(self.port)},
            log_path,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def start_serving(self) -> None:
        self.start(lambda: answers(f"{self.url}/healthz"))


async def signalled_deliveries(client: Client, workflow_id: str) -> list[str]:
    """The delivery ids of the events Temporal recorded for a workflow (its signals)."""
    ids = []
    converter = pydantic_data_converter.payload_converter
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            payloads = event.workflow_execution_signaled_event_attributes.input.payloads
            [signalled] = converter.from_payloads(payloads, [PullRequestEvent])
            ids.append(signalled.delivery_id)
    return ids


async def post_delivery(
    http: httpx.AsyncClient, url: str, payload: Mapping[str, Any], delivery_id: str
) -> int | None:
    """POST one signed delivery; its status, or ``None`` when no answer came."""
    body = json.dumps(payload).encode()
    try:
        response = await http.post(url, content=body, headers=signed_headers(body, delivery_id))
    except httpx.HTTPError:
        return None
    return response.status_code


WEBHOOK_BURST_PRS = 4
WEBHOOK_BURST_DELIVERIES = 40
"""Per pull request: opened, reopened, synchronize and ready_for_review of one head."""


async def test_webhook_killed_mid_burst_keeps_every_delivery_it_accepted(
    crashable: Crashable, tmp_path: Path, record_property: Callable[[str, object], None]
):
    """The webhook server is SIGKILLed in the middle of a burst. Every delivery it answered 2xx
    for is in Temporal; the others got no answer, so GitHub marks them failed and they are
    redelivered (by hand or by the API: GitHub does not redeliver by itself). After that, each
    pull request has every delivery once and one review."""
    github, client = crashable.github, crashable.client
    prs = [seed_unique_pr(github.fake) for _ in range(WEBHOOK_BURST_PRS)]
    actions = ("opened", "reopened", "synchronize", "ready_for_review")
    deliveries = [
        (str(uuid.uuid4()), event_payload(pr.payload, pr.head_sha, actions[i % len(actions)]))
        for pr in prs
        for i in range(WEBHOOK_BURST_DELIVERIES)
    ]
    random.shuffle(deliveries)
    statuses: dict[str, int | None] = {}
    with children() as running:
        webhook = WebhookProcess(crashable.env, tmp_path / "webhook.log")
        running.append(webhook)
        webhook.start_serving()
        url = f"{webhook.url}/webhooks/github"
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(timeout=10, limits=limits) as http:

            async def send(delivery_id: str, payload: dict[str, Any]) -> None:
                statuses[delivery_id] = await post_delivery(http, url, payload, delivery_id)

            burst = [asyncio.create_task(send(d, p)) for d, p in deliveries]
            while sum(status == 202 for status in statuses.values()) < len(deliveries) // 4:
                await asyncio.sleep(0.005)
            webhook.kill()
            await asyncio.gather(*burst)

        accepted = {d for d, status in statuses.items() if status == 202}
        unanswered = {d for d, status in statuses.items() if status is None}
        assert accepted | unanswered == set(statuses), "every answer was 202 or none"
        assert unanswered, "the kill came after the burst: it proved nothing"
        recorded = {d for pr in prs for d in await signalled_deliveries(client, pr.ref.workflow_id)}
        assert accepted <= recorded
        record_property("webhook_accepted_before_kill", len(accepted))
        record_property("webhook_unanswered", len(unanswered))
        record_property("webhook_unanswered_but_recorded", len(unanswered & recorded))

    # GitHub's "Redeliver" for each failed delivery, to a webhook server that is up again (the
    # same app, in process: the server keeps no state of its own), then a worker reviews.
    async with webhook_client(crashable.settings, client) as http:
        for delivery_id, payload in deliveries:
            if delivery_id in unanswered:
                assert await post_delivery(http, "/webhooks/github", payload, delivery_id) == 202
    with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_ACTIVITIES) as executor:
        async with build_worker(client, crashable.settings, executor):
            states = [await settled(client, pr.ref) for pr in prs]

    by_pr = {pr.ref.number: set[str]() for pr in prs}
    for delivery_id, payload in deliveries:
        by_pr[payload["number"]].add(delivery_id)
    for pr, state in zip(prs, states, strict=True):
        assert sorted(state.recent_deliveries) == sorted(by_pr[pr.ref.number])
        assert state.reviews_started == 1
        assert_reviewed_once(github, pr, state)
