"""The benchmark's services, each in its own process as in ``prsaga dev``: the Temporal dev
server (SQLite file), the local GitHub, prsaga's worker (instant agents) and prsaga's webhook
server (``python -m starter.webhook``, unchanged).

Children run in a scratch folder with an environment built here (no ``PRSAGA_*`` variable or
``.env`` file of the user's leaks in), and are stopped by ``prsaga.local.embedded.Stack`` (process
groups, SIGTERM then SIGKILL, and SIGTERM if the bench itself dies).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
from pydantic import SecretStr
from temporalio.client import Client

import prsaga.local.embedded
from prsaga.local.embedded import Child, Stack, StackError, temporal_cli
from prsaga.runtime.config import Settings
from prsaga.runtime.temporal import connect
from prsaga.schema.search_attributes import dev_server_args

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 60.0
PROFILED_STOP_SECONDS = 120.0
INSTANT_LLM_KEY = "sk-ant-bench-instant-agents-never-call-anthropic"
"""Makes the plan route Claude specialists (their activities are instant: no call is made)."""


@dataclass(frozen=True)
class ServerConfig:
    """How the dev server stores its data: a SQLite file with these pragmas."""

    name: str
    pragmas: tuple[str, ...] = ()

    def args(self) -> list[str]:
        return [arg for pragma in self.pragmas for arg in ("--sqlite-pragma", pragma)]


def embedded_config() -> ServerConfig:
    """The pragmas ``prsaga dev`` uses (``prsaga.local.embedded.SQLITE_PRAGMAS`` when it declares
    them; SQLite's defaults otherwise)."""
    pragmas = tuple(getattr(prsaga.local.embedded, "SQLITE_PRAGMAS", ()))
    return ServerConfig("embedded" if pragmas else "default", pragmas)


SERVER_CONFIGS = {
    "default": ServerConfig("default"),
    "wal-normal": ServerConfig("wal-normal", ("journal_mode=wal", "synchronous=normal")),
    "wal-off": ServerConfig("wal-off", ("journal_mode=wal", "synchronous=off")),
}


def _terminate_and_wait(child: Child, timeout: float) -> None:
    if child.process.poll() is None:
        child.process.terminate()
        try:
            child.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass  # Stack.stop_all kills it


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _clean_environment() -> dict[str, str]:
    # PYTHONDONTWRITEBYTECODE too: the production image has bytecode (pip compiles the wheel),
    # and without it every workflow run compiles workflows/pull_request.py in the sandbox again.
    drop = (
        "PRSAGA_",
        "ANTHROPIC_",
        "GITHUB_TOKEN",
        "OTEL_",
        "TEMPORAL_",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONPYCACHEPREFIX",
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith(drop)}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PROJECT_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class BenchStack:
    """Start with ``async with BenchStack(...) as stack``; children stop on exit."""

    work_dir: Path
    config: ServerConfig
    agents: str = "instant"
    profile_dir: Path | None = None
    log_level: str = "INFO"
    llm_latency: str | None = None
    """Start the local Messages API with this latency (``Latency.parse``) for real Claude
    specialists (``agents="llm"``)."""
    settings: Settings = field(init=False)
    bare_task_queue: str = field(init=False)
    client: Client = field(init=False)
    github_url: str = field(init=False)
    webhook_url: str = field(init=False)
    worker_pid: int = field(init=False)
    worker_pids: list[int] = field(init=False, default_factory=list)
    """Every worker process (``start_worker(count=...)``); ``worker_pid`` is the first."""
    llm_url: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._log_dir = self.work_dir / "logs"
        self._log_dir.mkdir(exist_ok=True)
        self._services = Stack(self._log_dir)
        self._workers = Stack(self._log_dir)
        temporal_port, github_port, webhook_port = free_port(), free_port(), free_port()
        self.github_url = f"http://127.0.0.1:{github_port}"
        if self.llm_latency is not None:
            self.llm_url = f"http://127.0.0.1:{free_port()}"
        self.webhook_url = f"http://127.0.0.1:{webhook_port}"
        self.bare_task_queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
        self.settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            temporal_address=f"127.0.0.1:{temporal_port}",
            task_queue=f"bench-prsaga-{uuid.uuid4().hex[:8]}",
            github_api_url=self.github_url,
            github_token=SecretStr("ghp_bench" + secrets.token_hex(16)),
            github_min_request_interval=0.0,
            webhook_secret=SecretStr(secrets.token_hex(20)),
            webhook_port=webhook_port,
            debounce_seconds=0.0,
            state_dir=self.work_dir / "state",
            log_level=self.log_level,
        )

    def _env(self) -> dict[str, str]:
        settings = self.settings
        assert settings.github_token and settings.webhook_secret
        return {
            **_clean_environment(),
            # Bytecode in the scratch folder, never in the source tree.
            "PYTHONPYCACHEPREFIX": str((self.work_dir / "pycache").resolve()),
            "PRSAGA_TEMPORAL_ADDRESS": settings.temporal_address,
            "PRSAGA_TASK_QUEUE": settings.task_queue,
            "PRSAGA_GITHUB_API_URL": settings.github_api_url,
            "PRSAGA_GITHUB_TOKEN": settings.github_token.get_secret_value(),
            "PRSAGA_GITHUB_MIN_REQUEST_INTERVAL": "0",
            "PRSAGA_WEBHOOK_SECRET": settings.webhook_secret.get_secret_value(),
            "PRSAGA_WEBHOOK_HOST": "127.0.0.1",
            "PRSAGA_WEBHOOK_PORT": str(settings.webhook_port),
            "PRSAGA_DEBOUNCE_SECONDS": "0",
            "PRSAGA_STATE_DIR": str(settings.state_dir.resolve()),
            "PRSAGA_LOG_LEVEL": self.log_level,
            "PRSAGA_ANTHROPIC_API_KEY": INSTANT_LLM_KEY,
            **({"PRSAGA_ANTHROPIC_BASE_URL": self.llm_url} if self.llm_url else {}),
        }

    def _python(self, name: str, module: str, *args: str) -> list[str]:
        if self.profile_dir is None:
            return [sys.executable, "-m", module, *args]
        profiled = [str(self.profile_dir), module, *args]
        return [sys.executable, "-m", "bench.profiled", f"{name}-{self.config.name}", *profiled]

    async def __aenter__(self) -> BenchStack:
        try:
            await self._start()
        except BaseException:
            self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        if self.profile_dir is not None:
            # Profiled children write their reports on SIGTERM, which can take longer than
            # the Stack's grace period.
            for child in [*self._workers.children, *self._services.children]:
                _terminate_and_wait(child, PROFILED_STOP_SECONDS)
        self._workers.stop_all()
        for child in self._services.children:
            if child.name == "temporal" and child.process.poll() is None:
                # Its database is scratch: no need to wait for a graceful shutdown.
                os.killpg(child.process.pid, signal.SIGKILL)
        self._services.stop_all()

    async def _start(self) -> None:
        env = self._env()
        host, _, port = self.settings.temporal_address.rpartition(":")
        self._run(
            "temporal",
            self._services,
            [
                temporal_cli(),
                "server",
                "start-dev",
                "--db-filename",
                str((self.work_dir / "temporal.db").resolve()),
                "--ip",
                host,
                "--port",
                port,
                "--headless",
                "--log-level",
                "error",
                *dev_server_args(),
                *self.config.args(),
            ],
            env,
        )
        self._run(
            "github",
            self._services,
            [
                sys.executable,
                "-m",
                "bench.github_server",
                "--port",
                self.github_url.rsplit(":", 1)[1],
            ],
            env,
        )
        if self.llm_url is not None and self.llm_latency is not None:
            llm = [sys.executable, "-m", "prsaga.local.llm_fake", "--log-level", "warning"]
            llm += ["--port", self.llm_url.rsplit(":", 1)[1], "--latency", self.llm_latency]
            self._run("llm", self._services, llm, env)
        self.client = await self._connect_temporal()
        await self._wait_http(f"{self.github_url}/_bench/now", "the local GitHub")
        if self.llm_url is not None:
            await self._wait_http(f"{self.llm_url}/v1/messages", "the local Messages API")
        await self.start_worker(self.agents)
        self._run("webhook", self._services, self._python("webhook", "starter.webhook"), env)
        await self._wait_http(f"{self.webhook_url}/healthz", "the webhook server")

    def _run(self, name: str, stack: Stack, argv: list[str], env: dict[str, str]) -> None:
        # Each child's cwd is the scratch folder, so no .env file of the user's is read.
        cwd = os.getcwd()
        os.chdir(self.work_dir)
        try:
            stack.start(name, argv, env)
        finally:
            os.chdir(cwd)

    async def start_worker(self, agents: str, count: int = 1) -> None:
        """(Re)start ``count`` worker processes with ``agents`` on the same task queues and wait
        until each polls."""
        self._workers.stop_all()
        self.agents = agents
        ready_files = []
        for index in range(count):
            ready = self.work_dir / f"worker-ready-{uuid.uuid4().hex[:6]}"
            argv = [sys.executable, "-m", "bench.worker", "--agents", agents]
            argv += ["--bare-task-queue", self.bare_task_queue, "--ready", str(ready)]
            if self.profile_dir is not None:
                argv += ["--profile-dir", str(self.profile_dir)]
                suffix = f"-{index}" if index else ""
                argv += ["--profile-name", f"worker-{agents}-{self.config.name}{suffix}"]
            name = "worker" if index == 0 else f"worker-{index}"
            self._run(name, self._workers, argv, self._env())
            ready_files.append(ready)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not all(ready.exists() for ready in ready_files):
            self._workers.check_alive()
            if time.monotonic() > deadline:
                raise StackError("the bench worker did not start polling")
            await asyncio.sleep(0.05)
        self.worker_pids = [int(ready.read_text()) for ready in ready_files]
        self.worker_pid = self.worker_pids[0]

    async def _connect_temporal(self) -> Client:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            self._services.check_alive()
            try:
                client = await connect(self.settings)
                if await client.service_client.check_health():
                    return client
            except RuntimeError:
                pass
            if time.monotonic() > deadline:
                raise StackError("the Temporal dev server did not come up")
            await asyncio.sleep(0.1)

    async def _wait_http(self, url: str, what: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        async with httpx.AsyncClient(timeout=1.0) as http:
            while True:
                self._services.check_alive()
                try:
                    if (await http.get(url)).status_code < 500:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise StackError(f"{what} did not come up")
                await asyncio.sleep(0.05)
