"""`prsaga doctor` against the dev stack (Temporal, a worker, the webhook server), a local GitHub
and a local Messages API, with each check made to fail on purpose."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from prsaga.local.demo import load_demo_pull_request
from prsaga.local.embedded import temporal_cli
from prsaga.local.github_fake import DEFAULT_APP_PERMISSIONS, FakeGitHub, serve_in_thread
from prsaga.local.llm_fake import FakeMessages
from prsaga.local.llm_fake import serve_in_thread as serve_messages
from tests.e2e.test_demo import demo_env
from tests.e2e.test_dev import running_dev
from tests.local.test_github_fake import rsa_keys

TOKEN = "ghp_" + "d0ct0r" * 6
LLM_KEY = "sk-ant-doctor-" + "k3y" * 8
APP_ID = 4711
INVALID_CONFIG = "specialists: [astrology]\nmax_inline_comments: many\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Doctor:
    """`prsaga doctor` run as a user runs it, in an empty folder (no .env)."""

    env: dict[str, str]
    cwd: Path

    def run(self, *args: str, **env: str | None) -> tuple[int, str]:
        merged = {**self.env, **env}
        done = subprocess.run(
            [sys.executable, "-m", "starter.cli", "doctor", *args],
            cwd=self.cwd,
            env={k: v for k, v in merged.items() if v is not None},
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.returncode, done.stdout + done.stderr


def line_of(report: str, name: str, area: str | None = None) -> str:
    """The report's line for the check ``name`` (of ``area``) and its fix line, if any."""
    lines = report.splitlines()
    if area is not None:
        lines = lines[lines.index(area) :]
    for index, line in enumerate(lines):
        if f" {name}  " in line:
            following = lines[index + 1] if index + 1 < len(lines) else ""
            return line + ("\n" + following if "fix:" in following else "")
    raise AssertionError(f"no {name!r} check in:\n{report}")


@pytest.fixture(scope="module")
def github() -> Iterator[tuple[FakeGitHub, str]]:
    fake = FakeGitHub(TOKEN)
    demo = load_demo_pull_request()
    fake.seed_pull_request(demo.pull, demo.files, demo.contents)
    fake.seed_pull_request(
        {
            "number": 1,
            "head": {"sha": "a" * 40, "ref": "feature"},
            "base": {"sha": "b" * 40, "repo": {"full_name": "acme/widgets"}},
        },
        [],
        {},
        base_contents={".github/prsaga.yml": INVALID_CONFIG},
    )
    with serve_in_thread(fake) as url:
        yield fake, url


@pytest.fixture(scope="module")
def llm_url() -> Iterator[str]:
    with serve_messages(FakeMessages(LLM_KEY)) as url:
        yield url


@pytest.fixture(scope="module")
def doctor(
    tmp_path_factory: pytest.TempPathFactory, github: tuple[FakeGitHub, str], llm_url: str
) -> Iterator[Doctor]:
    if not Path("/proc/self/environ").exists():
        pytest.skip("needs Linux /proc")
    state_dir = tmp_path_factory.mktemp("doctor") / "state"
    env = demo_env(state_dir)
    with running_dev(env, until="GitHub API"):
        env.update(
            {
                "PRSAGA_GITHUB_API_URL": github[1],
                "PRSAGA_GITHUB_TOKEN": TOKEN,
                "PRSAGA_GITHUB_MIN_REQUEST_INTERVAL": "0",
                "PRSAGA_ANTHROPIC_API_KEY": LLM_KEY,
                "PRSAGA_ANTHROPIC_BASE_URL": llm_url,
            }
        )
        doctor = Doctor(env, tmp_path_factory.mktemp("cwd"))
        yield doctor


def test_a_working_configuration_is_all_ok(doctor: Doctor) -> None:
    # The worker starts polling shortly after the stack answers.
    deadline = time.monotonic() + 60
    while True:
        status, report = doctor.run("--repo", "psf/requests")
        if status == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert status == 0, report
    assert "ERROR" not in report and "WARNING" not in report
    for name in ("reachable", "namespace", "search attributes", "worker", "secret", "token"):
        assert line_of(report, name).split()[0] == "ok", report
    assert "a classic token of prsaga[bot] with the repo scope" in report
    assert "none in psf/requests: the server's defaults apply" in report
    assert "claude-sonnet-4-6 at " in report
    for tool in ("ruff", "bandit", "detect-secrets"):
        assert line_of(report, tool).split()[0] == "ok"
    assert report.rstrip().endswith("nothing blocks reviews; 0 warning(s).")


def test_unreachable_services_a_wrong_secret_and_a_bad_token_are_errors(doctor: Doctor) -> None:
    status, report = doctor.run(
        "--repo",
        "psf/requests",
        PRSAGA_TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
        PRSAGA_WEBHOOK_SECRET="not-the-servers-secret",
        PRSAGA_GITHUB_TOKEN="ghp_revoked",
        PRSAGA_ANTHROPIC_BASE_URL=f"http://127.0.0.1:{free_port()}",
    )
    assert status == 1
    assert "cannot reach Temporal at 127.0.0.1:" in line_of(report, "reachable")
    assert "connection refused" in report and "fix: start Temporal" in report
    assert line_of(report, "worker").split()[0] == "skipped"
    assert "its secret differs" in line_of(report, "signed delivery")
    assert "refused the token (401 Bad credentials)" in line_of(report, "token")
    assert "cannot reach http://127.0.0.1:" in line_of(report, "model")
    assert "fix: check PRSAGA_ANTHROPIC_BASE_URL" in report
    assert "4 error(s) block reviews" in report


def test_a_wrong_webhook_url_namespace_repository_and_model_are_errors(doctor: Doctor) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    status, report = doctor.run(
        "--webhook-url",
        nowhere,
        "--repo",
        "acme/nothing",
        PRSAGA_TEMPORAL_NAMESPACE="reviews",
        PRSAGA_ANTHROPIC_MODEL="gpt-4o",
        PRSAGA_WEBHOOK_SECRET=None,
    )
    assert status == 1
    assert "namespace 'reviews' does not exist" in line_of(report, "namespace")
    assert line_of(report, "worker").split()[0] == "skipped"
    assert f"nothing answers at {nowhere}/healthz" in line_of(report, "reachable", "Webhook")
    assert "PRSAGA_WEBHOOK_SECRET is not set" in line_of(report, "secret")
    assert "acme/nothing is not visible with these credentials" in report
    assert "does not know the model 'gpt-4o'" in line_of(report, "model")


async def test_a_bare_temporal_lacks_the_search_attributes_and_a_worker(
    doctor: Doctor,
) -> None:
    bare = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(), dev_server_log_level="error"
    )
    try:
        address = bare.client.service_client.config.target_host
        status, report = doctor.run(PRSAGA_TEMPORAL_ADDRESS=address)
    finally:
        await bare.shutdown()
    assert status == 1
    attributes = line_of(report, "search attributes")
    assert "PrRepository missing" in attributes and "fix: `prsaga setup`" in attributes
    assert "no worker polls prsaga (WORKFLOW), prsaga (ACTIVITY)" in line_of(report, "worker")


def test_an_app_without_a_permission_prsaga_needs_is_an_error(
    doctor: Doctor, github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    fake, _ = github
    without_checks = {k: v for k, v in DEFAULT_APP_PERMISSIONS.items() if k != "checks"}
    keys = rsa_keys("doctor")
    fake.register_app(
        APP_ID,
        keys.public_pem,
        {77: ["psf/requests"]},
        slug="prsaga-doctor",
        permissions=without_checks,
        events=["pull_request"],
    )
    key_file = tmp_path / "app.pem"
    key_file.write_text(keys.private_pem)
    app_env = {
        "PRSAGA_GITHUB_TOKEN": None,
        "PRSAGA_GITHUB_APP_ID": str(APP_ID),
        "PRSAGA_GITHUB_APP_PRIVATE_KEY_PATH": str(key_file),
    }
    status, report = doctor.run("--repo", "psf/requests", **app_env)
    assert status == 1
    assert "prsaga-doctor (id 4711)" in line_of(report, "App")
    assert "missing checks: write (has none)" in line_of(report, "App permissions")
    assert "not subscribed to issue_comment" in line_of(report, "App events")
    installations = line_of(report, "App installations")
    assert "installations without the permissions prsaga needs: psf" in installations

    wrong_key = tmp_path / "other.pem"
    wrong_key.write_text(rsa_keys("someone else").private_pem)
    status, report = doctor.run(**{**app_env, "PRSAGA_GITHUB_APP_PRIVATE_KEY_PATH": str(wrong_key)})
    assert status == 1
    assert "GitHub refused the App's JWT (401" in line_of(report, "App")


def test_an_app_not_installed_on_the_repository_is_an_error(
    doctor: Doctor, github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    fake, _ = github
    keys = rsa_keys("installed elsewhere")
    fake.register_app(APP_ID + 1, keys.public_pem, {78: ["psf/requests"]}, slug="prsaga-psf")
    key_file = tmp_path / "app.pem"
    key_file.write_text(keys.private_pem)
    status, report = doctor.run(
        "--repo",
        "acme/widgets",
        PRSAGA_GITHUB_TOKEN=None,
        PRSAGA_GITHUB_APP_ID=str(APP_ID + 1),
        PRSAGA_GITHUB_APP_PRIVATE_KEY_PATH=str(key_file),
    )
    assert status == 1
    assert line_of(report, "App permissions").split()[0] == "ok"
    installations = line_of(report, "App installations")
    assert "installed on psf: psf/requests, but not on acme/widgets" in installations
    assert "fix: add acme/widgets to the installation: https://github.com/apps/prsaga-psf/" in (
        installations
    )


def test_an_invalid_prsaga_yml_is_a_warning_that_quotes_the_problem(doctor: Doctor) -> None:
    status, report = doctor.run("--repo", "acme/widgets")
    line = line_of(report, ".github/prsaga.yml")
    assert line.split()[0] == "WARNING"
    assert "line 1, `specialists[0]`: Input should be" in line
    assert "line 2, `max_inline_comments`" in line
    assert "fix: fix .github/prsaga.yml on acme/widgets's default branch" in line
    assert status == 0, report  # reviews still run, on the server's defaults
