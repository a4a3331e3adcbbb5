"""``prsaga demo``: the whole path on one machine, against a real pull request's diff.

It starts the embedded stack with the local GitHub seeded with the demo pull request, sends the
signed ``pull_request.opened`` delivery GitHub would send, waits for the review saga, prints what
was posted on the pull request (through the GitHub API, as a user would see it), shows that a
redelivery posts nothing new, closes the pull request and stops everything.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import sys
import uuid
from typing import Any, TextIO

import httpx
from pydantic import SecretStr
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from prsaga.adapters.github_client import make_github
from prsaga.local.demo import load_demo_pull_request
from prsaga.local.embedded import Endpoints, Stack, start_stack
from prsaga.runtime.config import Settings
from prsaga.runtime.temporal import connect
from prsaga.schema import PullRequestRef, PullRequestState
from starter.temporal import wait_for_review

REVIEW_TIMEOUT_SECONDS = 60


def sign(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature-256`` header GitHub computes for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(
    webhook_url: str, secret: str, event: str, payload: dict[str, Any], delivery_id: str
) -> httpx.Response:
    """POST one delivery exactly as GitHub does (headers, signature over the raw bytes)."""
    body = json.dumps(payload).encode()
    return httpx.post(
        f"{webhook_url}/webhooks/github",
        content=body,
        headers={
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/prsaga-demo",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery_id,
            "X-Hub-Signature-256": sign(body, secret),
        },
        timeout=10.0,
    )


DEMO_TOKEN_PREFIX = "ghp_demo"


def demo_settings(base: Settings, *, local_claude: bool = False) -> Settings:
    """The demo's settings: the base ones, pointed at the local GitHub with a token made for this
    run only (never a real token someone has in their environment); with ``local_claude``, at the
    local Messages API too, with a key made for this run."""
    updates: dict[str, object] = {
        "webhook_secret": base.webhook_secret or SecretStr(secrets.token_hex(20)),
        "github_token": SecretStr(DEMO_TOKEN_PREFIX + secrets.token_hex(16)),
        "github_api_url": f"http://127.0.0.1:{base.local_github_port}",
        "github_min_request_interval": 0.0,
    }
    if local_claude:
        updates["anthropic_api_key"] = SecretStr("sk-ant-demo-" + secrets.token_hex(16))
        updates["anthropic_base_url"] = f"http://127.0.0.1:{base.local_llm_port}"
    return base.model_copy(update=updates)


def run_demo(
    base: Settings,
    *,
    keep_running: bool = False,
    local_claude: bool = False,
    out: TextIO = sys.stdout,
) -> int:
    settings = demo_settings(base, local_claude=local_claude)
    endpoints = Endpoints.from_settings(settings, local_github=True, local_llm=local_claude)
    demo = load_demo_pull_request()
    pr = PullRequestRef(
        owner=demo.webhook_payload["repository"]["owner"]["login"],
        repo=demo.webhook_payload["repository"]["name"],
        number=demo.webhook_payload["number"],
    )
    head_sha = demo.webhook_payload["pull_request"]["head"]["sha"]
    secret = settings.webhook_secret.get_secret_value()  # type: ignore[union-attr]
    with Stack(settings.state_dir / "logs") as stack:
        print(f"Starting the embedded stack (logs in {stack.log_dir}) ...", file=out, flush=True)
        start_stack(stack, settings, endpoints)
        asyncio.run(_reset_demo_workflow(settings, pr))

        delivery_id = str(uuid.uuid4())
        response = deliver(
            endpoints.webhook_url, secret, "pull_request", demo.webhook_payload, delivery_id
        )
        print(f"Webhook pull_request.opened for {pr} -> HTTP {response.status_code}", file=out)
        response.raise_for_status()
        state = asyncio.run(_wait_for_review(settings, pr))
        if state.last_review is None:
            print(f"The review failed: {state.last_error}", file=out)
            return 1
        print_review(settings, pr, head_sha, out)

        again = deliver(
            endpoints.webhook_url, secret, "pull_request", demo.webhook_payload, delivery_id
        )
        reviews_after = len(_reviews(settings, pr))
        print(
            f"\nRedelivered the same delivery -> HTTP {again.status_code}; "
            f"reviews on the pull request: {reviews_after} (nothing posted twice)",
            file=out,
        )
        print(f"\nTemporal UI for this run: {settings.workflow_ui_url(pr.workflow_id)}", file=out)
        if keep_running:
            print("Services keep running; press Ctrl-C to stop.", file=out, flush=True)
            stack.supervise()
        closed = dict(demo.webhook_payload, action="closed")
        deliver(endpoints.webhook_url, secret, "pull_request", closed, str(uuid.uuid4()))
        final = asyncio.run(_result(settings, pr))
        print(
            f"Closed the pull request; its workflow ended in state {final.step.value!r}. "
            "Run `prsaga dev` to browse its history in the Temporal UI.",
            file=out,
        )
    return 0


async def _reset_demo_workflow(settings: Settings, pr: PullRequestRef) -> None:
    """A previous demo interrupted half-way may have left the demo PR's workflow running."""
    client = await connect(settings)
    handle = client.get_workflow_handle(pr.workflow_id)
    try:
        description = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return
        raise
    if description.status == WorkflowExecutionStatus.RUNNING:
        await handle.terminate(reason="a new `prsaga demo` run starts over")


async def _wait_for_review(settings: Settings, pr: PullRequestRef) -> PullRequestState:
    client = await connect(settings)
    return await asyncio.wait_for(wait_for_review(client, pr), timeout=REVIEW_TIMEOUT_SECONDS)


async def _result(settings: Settings, pr: PullRequestRef) -> PullRequestState:
    client = await connect(settings)
    handle = client.get_workflow_handle(pr.workflow_id, result_type=PullRequestState)
    return await asyncio.wait_for(handle.result(), timeout=REVIEW_TIMEOUT_SECONDS)


def _reviews(settings: Settings, pr: PullRequestRef) -> list[Any]:
    pull = make_github(settings).get_repo(pr.full_name).get_pull(pr.number)
    return list(pull.get_reviews())


_HIDDEN_MARKER = re.compile(r"\n*<!-- prsaga:[^>]*-->")


def _visible(body: str) -> str:
    """A comment as GitHub renders it: without prsaga's hidden markers."""
    return _HIDDEN_MARKER.sub("", body).rstrip()


def print_review(settings: Settings, pr: PullRequestRef, head_sha: str, out: TextIO) -> None:
    """Print what is on the pull request now, read back through the GitHub API."""
    repo = make_github(settings).get_repo(pr.full_name)
    pull = repo.get_pull(pr.number)
    rule = "─" * 72
    for review in pull.get_reviews():
        print(
            f"\n{rule}\nReview {review.id} by {review.user.login} ({review.state})\n{rule}",
            file=out,
        )
        print(_visible(review.body), file=out)
        for comment in pull.get_single_review_comments(review.id):
            print(f"\n  ▸ inline comment on {comment.path}:{comment.line}", file=out)
            print("    " + _visible(comment.body).replace("\n", "\n    "), file=out)
    print(f"\n{rule}\nCommit status on {head_sha[:12]}\n{rule}", file=out)
    # GitHub lists statuses newest first; print them in the order they happened.
    for status in reversed(list(repo.get_commit(head_sha).get_statuses())):
        print(f"  {status.context}: {status.state} — {status.description}", file=out)
