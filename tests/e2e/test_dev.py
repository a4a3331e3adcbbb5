# --- End to end: `prsaga dev` runs the services; `prsaga review` and a signed webhook use them ---
from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from prsaga.local.demo import load_demo_pull_request
from prsaga.local.embedded import temporal_cli
from prsaga.schema.search_attributes import AWAITING_APPROVAL_QUERY
from starter.demo import deliver
from tests.e2e.test_demo import REPO, WEBHOOK_SECRET, demo_env, processes_mentioning


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_dev_stack_serves_webhooks_and_the_review_command(tmp_path: Path):
    state_dir = tmp_path / "state"
    env = demo_env(state_dir)
    del env["PRSAGA_WEBHOOK_SECRET"]  # `prsaga dev` makes one and keeps it in the state folder
    with running_dev(env, until="Webhook secret in") as banner:
        assert any("(local, seeded with the demo pull request)" in line for line in banner)
        secret_file = state_dir / "webhook-secret"
        assert secret_file.stat().st_mode & 0o777 == 0o600

        # A signed delivery is accepted; an unsigned one is refused.
        webhook = f"http://127.0.0.1:{env['PRSAGA_WEBHOOK_PORT']}"
        payload = load_demo_pull_request().webhook_payload
        accepted = deliver(
            webhook, secret_file.read_text().strip(), "pull_request", payload, str(uuid.uuid4())
        )
        assert accepted.status_code == 202, accepted.text
        refused = deliver(webhook, "wrong-secret", "pull_request", payload, str(uuid.uuid4()))
        assert refused.status_code == 401
        head = payload["pull_request"]["head"]["sha"]
        assert workflow_state(env, wait=True)["reviewed_shas"] == [head]

        review = run_prsaga(env, "review", "psf/requests#2400", "--wait")
        assert "workflow pr-psf/requests-2400" in review
        assert "Review posted:" in review and "(2 findings)" in review

        # The webhook's review, then the manual re-review of the same head: one workflow.
        state = workflow_state(env)
        assert state["reviews_started"] == 2
        assert state["reviewed_shas"] == [head]

        # The README's `temporal` CLI lines do the same against the same workflow.
        cli_env = dict(env, TEMPORAL_ADDRESS=env["PRSAGA_TEMPORAL_ADDRESS"])
        commands = readme_temporal_commands()
        assert [c[:4] for c in commands] == [
            ["temporal", "workflow", "signal-with-start", "--workflow-id"],
            ["temporal", "workflow", "update", "execute"],
            ["temporal", "workflow", "query", "--workflow-id"],
            ["temporal", "workflow", "update", "execute"],
        ]
        *review_commands, decide_command = commands
        for command in review_commands:
            done = subprocess.run(
                [temporal_cli(), *command[1:]],
                env=cli_env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stdout + done.stderr
        # Nothing awaits a decision here: the README's `decide` reaches the workflow's validator.
        refused = subprocess.run(
            [temporal_cli(), *decide_command[1:]],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode != 0
        assert "no proposal awaiting a decision" in refused.stdout + refused.stderr
        assert "step:completed" in done.stdout or '"step":"completed"' in done.stdout
        assert workflow_state(env)["reviews_started"] == 3
    assert processes_mentioning(str(state_dir)) == []


@contextmanager
def running_dev(env: dict[str, str], *, until: str) -> Iterator[list[str]]:
    """`prsaga dev` as a user runs it, until its banner prints ``until``; Ctrl-C at the end."""
    dev = subprocess.Popen(
        [sys.executable, "-m", "starter.cli", "dev"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert dev.stdout is not None
        banner = []
        for line in dev.stdout:
            banner.append(line)
            if until in line:
                break
        else:
            pytest.fail("prsaga dev did not start:\n" + "".join(banner))
        yield banner
    finally:
        dev.send_signal(signal.SIGINT)
        try:
            dev.wait(timeout=30)
        finally:
            if dev.poll() is None:
                dev.kill()


def readme_temporal_commands(
    section: str = "## Driving it from the `temporal` CLI",
) -> list[list[str]]:
    """The `temporal workflow ...` commands shown in a section of the README, as argv lists."""
    text = (REPO / "README.md").read_text().replace("\\\n", " ")
    start = text.index(section)
    end = text.find("\n## ", start + len(section))
    body = text[start : end if end != -1 else None]
    return [shlex.split(line) for line in body.splitlines() if line.startswith("temporal workflow")]


def run_prsaga(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "starter.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_open_push_twice_and_approve_as_a_maintainer_on_the_dev_stack(tmp_path: Path):
    """The lifecycle story of the README, on `prsaga dev` with its local GitHub."""
    state_dir = tmp_path / "state"
    config = tmp_path / "prsaga.yml"
    config.write_text("require_approval: true\nrequest_changes_at: low\n")
    env = demo_env(state_dir)
    env.update({"PRSAGA_DEFAULT_REPO_CONFIG": str(config), "PRSAGA_DEBOUNCE_SECONDS": "2"})
    with running_dev(env, until="  GitHub API"):
        payload = load_demo_pull_request().webhook_payload
        webhook = f"http://127.0.0.1:{env['PRSAGA_WEBHOOK_PORT']}"
        opened = deliver(webhook, WEBHOOK_SECRET, "pull_request", payload, str(uuid.uuid4()))
        assert opened.status_code == 202
        first = run_prsaga(env, "local", "push", "--file", "docs/one.md")
        second = run_prsaga(env, "local", "push", "--file", "docs/two.md")
        head = second.split()[1].rstrip(";")
        assert "pull_request delivery" in first and "HTTP 202" in second

        state = workflow_state(env, wait=True)
        assert state["step"] == "awaiting_approval"
        assert state["approval"]["head_sha"].startswith(head)
        for _ in range(40):  # the list (visibility) follows the workflow a moment later
            found = subprocess.run(
                [temporal_cli(), "workflow", "list", "--query", AWAITING_APPROVAL_QUERY],
                env=dict(env, TEMPORAL_ADDRESS=env["PRSAGA_TEMPORAL_ADDRESS"]),
                capture_output=True,
                text=True,
                timeout=60,
            )
            if "pr-psf/requests-2400" in found.stdout:
                break
            time.sleep(0.25)
        assert "pr-psf/requests-2400" in found.stdout, found.stdout + found.stderr

        run_prsaga(env, "local", "grant", "maintainer-1", "write")
        run_prsaga(env, "local", "comment", "--as", "maintainer-1", "/agent approve")
        state = workflow_state(env, wait=True)
        assert state["step"] == "completed", state
        assert state["reviewed_shas"] == [state["head_sha"]]
        assert state["head_sha"].startswith(head)
        assert state["decisions"][-1]["decided_by"] == "maintainer-1"
        status = run_prsaga(env, "status", "psf/requests#2400")
        assert "completed" in status and state["last_review"]["html_url"] in status
        trail = json.loads(run_prsaga(env, "audit", "psf/requests#2400", "--json"))
        kinds = [entry["kind"] for entry in trail["entries"]]
        assert {"delivery", "plan", "agent", "human", "review"} <= set(kinds)
        [human] = [entry for entry in trail["entries"] if entry["kind"] == "human"]
        assert (human["decided_by"], human["channel"]) == ("maintainer-1", "comment")

        # Every step of the story is in the workflow's history.
        shown = subprocess.run(
            [
                temporal_cli(),
                "workflow",
                "show",
                "-o",
                "json",
                "--workflow-id",
                "pr-psf/requests-2400",
            ],
            env=dict(env, TEMPORAL_ADDRESS=env["PRSAGA_TEMPORAL_ADDRESS"]),
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        for step in ("on_event", "on_command", "plan_review", "get_permission", "publish_review"):
            assert step in shown, step
    assert processes_mentioning(str(state_dir)) == []


def workflow_state(env: dict[str, str], wait: bool = False) -> dict:
    """The demo PR workflow's state, read by a separate client process as a user would."""
    result = subprocess.run(
        [sys.executable, "-c", _STATE_SCRIPT, "wait" if wait else ""],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


_STATE_SCRIPT = """
import asyncio, os, sys
from prsaga.runtime.config import get_settings
from prsaga.schema import WaitForReviewInput
from prsaga.runtime.temporal import connect
from workflows.pull_request import PullRequestWorkflow

async def main(wait):
    client = await connect(get_settings())
    handle = client.get_workflow_handle_for(PullRequestWorkflow.run, "pr-psf/requests-2400")
    if wait:
        await handle.execute_update(
            PullRequestWorkflow.wait_for_review, WaitForReviewInput()
        )
    print((await handle.query(PullRequestWorkflow.get_state)).model_dump_json())

asyncio.run(main(sys.argv[1]))
sys.stdout.flush()
os._exit(0)  # temporalio/sdk-python#300: a short-lived client can abort at interpreter exit
"""
