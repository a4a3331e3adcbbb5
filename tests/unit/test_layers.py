"""The layers' import direction, and what each process loads.

``lint-imports`` checks the contracts in pyproject.toml ([tool.importlinter]); a second run on a
copy of the code with one import added in the wrong direction proves the contracts can fail.
"""

from __future__ import annotations

import inspect
import json
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from temporalio import activity

from tests.paths import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("prsaga", "workflows", "activities", "starter")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_hold():
    result = lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("module", "wrong_import", "contract"),
    [
        ("prsaga/schema/findings.py", "import prsaga.review.findings", "history schema"),
        ("prsaga/review/lifecycle.py", "import prsaga.runtime.config", "Pure decisions"),
        ("workflows/saga.py", "import activities.parse", "Workflows import only"),
        ("prsaga/runtime/logs.py", "import prsaga.local.embedded", "local servers"),
        ("starter/github_events.py", "import anthropic", "webhook server loads"),
    ],
)
def test_an_import_in_the_wrong_direction_breaks_a_contract(
    tmp_path: Path, module: str, wrong_import: str, contract: str
):
    for package in PACKAGES:
        shutil.copytree(
            REPO_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{wrong_import}  # added by the test\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout


WEBHOOK_PROCESS = """
import hashlib, hmac, json, sys
from starlette.testclient import TestClient
from prsaga.runtime.config import Settings
from starter.webhook import create_app

async def submit(pr, event):
    return pr.workflow_id

settings = Settings(webhook_secret="layers-test-secret")
app = create_app(settings, submit)
body = open(sys.argv[1], "rb").read()
signature = "sha256=" + hmac.new(b"layers-test-secret", body, hashlib.sha256).hexdigest()
with TestClient(app) as client:
    answer = client.post("/webhooks/github", content=body, headers={
        "X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "layers-1",
        "X-Hub-Signature-256": signature, "Content-Type": "application/json"})
heavy = ("anthropic", "github", "ruff", "bandit", "detect_secrets", "activities", "workflows")
print(json.dumps({"status": answer.status_code,
                  "loaded": sorted({m.split(".")[0] for m in sys.modules} & set(heavy))}))
"""


def test_the_webhook_server_process_loads_no_sdk_client_or_tool():
    """A real delivery through the webhook app, in a fresh interpreter: it is accepted, and
    neither anthropic, PyGithub, the analysis tools nor the workflow code got imported."""
    delivery = REPO_ROOT / "prsaga/local/demo/fixtures/webhook-pull_request-opened.json"
    result = subprocess.run(
        [sys.executable, "-c", WEBHOOK_PROCESS, str(delivery)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"status": 202, "loaded": []}


def test_each_activity_stub_matches_the_activity_the_worker_registers():
    from prsaga.runtime.config import Settings
    from worker import review_activities
    from workflows import stubs

    def signature(fn: typing.Callable[..., typing.Any]) -> tuple[str, tuple[object, ...], object]:
        definition = activity._Definition.must_from_callable(fn)
        hints = typing.get_type_hints(fn)
        params = tuple(hints[n] for n in inspect.signature(fn).parameters if n != "self")
        return definition.name, params, hints.get("return")

    registered = {signature(fn) for fn in review_activities(Settings())}
    declared = {
        signature(fn)
        for _, fn in inspect.getmembers(stubs, inspect.isfunction)
        if activity._Definition.from_callable(fn) is not None
    }
    assert declared == registered
