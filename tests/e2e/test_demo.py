# --- End to end: `prsaga demo` as a user runs it, in a subprocess, and nothing left behind ---
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from starter.demo import DEMO_TOKEN_PREFIX
from tests.paths import REPO_ROOT

REPO = REPO_ROOT
WEBHOOK_SECRET = "demo-webhook-secret-" + "9f" * 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def processes_mentioning(marker: str) -> list[int]:
    """PIDs whose command line or environment mentions ``marker`` (our demo's own state dir)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            text = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in text:
            found.append(int(proc.name))
    return found


def demo_env(state_dir: Path) -> dict[str, str]:
    ui_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRSAGA_")}
    env.update(
        {
            "PRSAGA_STATE_DIR": str(state_dir),
            "PRSAGA_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
            "PRSAGA_TEMPORAL_UI_URL": f"http://127.0.0.1:{ui_port}",
            "PRSAGA_WEBHOOK_PORT": str(free_port()),
            "PRSAGA_LOCAL_GITHUB_PORT": str(free_port()),
            "PRSAGA_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
    )
    return env


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_demo_prints_the_review_and_cleans_up(tmp_path: Path):
    state_dir = tmp_path / "state"
    env = demo_env(state_dir)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "starter.cli", "demo"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    out = result.stdout
    assert result.returncode == 0, f"stdout:\n{out}\nstderr:\n{result.stderr}"

    assert "Webhook pull_request.opened for psf/requests#2400 -> HTTP 202" in out
    assert "by prsaga[bot] (COMMENTED)" in out
    assert "inline comment on tests/testserver/server.py:3" in out
    assert "Trailing whitespace" in out
    assert "Editor swap file committed" in out
    assert "prsaga/review: success" in out and "prsaga/review: pending" in out
    assert "reviews on the pull request: 1 (nothing posted twice)" in out
    ui = env["PRSAGA_TEMPORAL_UI_URL"]
    assert (
        f"Temporal UI for this run: {ui}/namespaces/default/workflows/pr-psf%2Frequests-2400" in out
    )
    assert "its workflow ended in state 'closed'" in out
    assert (state_dir / "temporal.db").exists(), "histories persist for `prsaga dev`"
    assert elapsed < 90

    assert processes_mentioning(str(state_dir)) == []

    # No secret in any log, in the workflow histories (the SQLite file) or in the diff store.
    leaks = [
        path
        for path in state_dir.rglob("*")
        if path.is_file()
        and any(
            s in path.read_bytes() for s in (WEBHOOK_SECRET.encode(), DEMO_TOKEN_PREFIX.encode())
        )
    ]
    assert leaks == []
    assert WEBHOOK_SECRET not in out + result.stderr


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_demo_with_the_local_messages_api_merges_claude_findings(tmp_path: Path):
    state_dir = tmp_path / "state"
    env = demo_env(state_dir)
    env["PRSAGA_LOCAL_LLM_PORT"] = str(free_port())
    result = subprocess.run(
        [sys.executable, "-m", "starter.cli", "demo", "--local-claude"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = result.stdout
    assert result.returncode == 0, f"stdout:\n{out}\nstderr:\n{result.stderr}"
    # Claude's grounded finding sits on the line it names, beside the offline reviewer's.
    assert "inline comment on tests/testserver/server.py:19" in out
    assert "· `claude-sonnet-4-6` performance/performance · low" in out
    assert "· `hygiene` trailing-whitespace · low" in out
    for agent in ("claude-security", "claude-correctness", "claude-performance", "offline"):
        assert f"| {agent} |" in out
    assert "<!-- prsaga:" not in out  # hidden markers are not shown
    assert processes_mentioning(str(state_dir)) == []
    leaks = [
        path
        for path in state_dir.rglob("*")
        if path.is_file() and b"sk-ant-demo" in path.read_bytes()
    ]
    assert leaks == []


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_ctrl_c_stops_every_child(tmp_path: Path):
    state_dir = tmp_path / "state"
    process = subprocess.Popen(
        [sys.executable, "-m", "starter.cli", "demo", "--keep-running"],
        cwd=REPO,
        env=demo_env(state_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "press Ctrl-C" in line:
                break
        else:
            pytest.fail("the demo never reached its keep-running state")
        assert len(processes_mentioning(str(state_dir))) >= 4  # temporal, github, worker, webhook
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
    finally:
        if process.poll() is None:
            process.kill()
    assert processes_mentioning(str(state_dir)) == []
