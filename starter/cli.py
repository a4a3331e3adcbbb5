"""The ``prsaga`` command: demo, dev, review, approve, reject, status, audit, setup, local,
worker, webhook, app create, doctor."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import secrets
import sys
import uuid
from pathlib import Path

from pydantic import SecretStr
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from prsaga.local.embedded import Endpoints, Stack, StackError, start_stack
from prsaga.review.audit import History, audit_trail, render_audit
from prsaga.review.texts import counted
from prsaga.runtime.config import Settings, get_settings
from prsaga.runtime.temporal import connect, register_search_attributes
from prsaga.schema import (
    ApprovalDecision,
    DecisionRecord,
    PullRequestEvent,
    PullRequestRef,
    PullRequestState,
)
from starter.temporal import decide, read_state, run_histories, signal_pull_request, wait_for_review


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from starter.demo import run_demo

    return run_demo(settings, keep_running=args.keep_running, local_claude=args.local_claude)


def _dev(args: argparse.Namespace, settings: Settings) -> int:
    local_github = args.local_github or settings.github_token is None
    updates: dict[str, object] = {}
    if local_github:
        updates["github_token"] = SecretStr(secrets.token_hex(20))
    if settings.webhook_secret is None:
        updates["webhook_secret"] = SecretStr(_local_webhook_secret(settings))
    settings = settings.model_copy(update=updates)
    endpoints = Endpoints.from_settings(settings, local_github=local_github)
    with Stack(settings.state_dir / "logs") as stack:
        start_stack(stack, settings, endpoints)
        github = endpoints.github_url or settings.github_api_url
        local_note = " (local, seeded with the demo pull request)" if local_github else ""
        namespace = settings.temporal_namespace
        print(
            f"prsaga is running (logs in {stack.log_dir}; Ctrl-C stops everything)\n"
            f"  Temporal       {settings.temporal_address} (namespace {namespace})\n"
            f"  Temporal UI    {settings.temporal_ui_url}\n"
            f"  Webhook        POST {endpoints.webhook_url}/webhooks/github\n"
            f"  GitHub API     {github}{local_note}",
            flush=True,
        )
        if "webhook_secret" in updates:
            print(f"  Webhook secret in {_secret_path(settings)}", flush=True)
        stack.supervise()
    return 0


def _local_webhook_secret(settings: Settings) -> str:
    """A webhook secret kept in the state folder (readable by the owner only), so that a local
    tool sending deliveries can sign them; real deployments set PRSAGA_WEBHOOK_SECRET."""
    path = _secret_path(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(20))
    return path.read_text().strip()


def _secret_path(settings: Settings) -> Path:
    return settings.state_dir / "webhook-secret"


def _review(args: argparse.Namespace, settings: Settings) -> int:
    pr = PullRequestRef.parse(args.pull_request)
    event = PullRequestEvent(
        delivery_id=f"cli-{uuid.uuid4()}", action="review", sender=getpass.getuser(), source="cli"
    )
    state = asyncio.run(_start_review(settings, pr, event, wait=args.wait))
    print(f"Review requested for {pr}: workflow {pr.workflow_id}")
    print(f"Temporal UI: {settings.workflow_ui_url(pr.workflow_id)}")
    if state is not None:
        if state.last_review is not None and state.step.value == "completed":
            review = state.last_review
            if review.posted:
                print(
                    f"Review posted: {review.html_url} ({counted(state.findings_count, 'finding')})"
                )
            else:
                print("Reviewed: nothing (new) to say, so no review was posted (quiet mode)")
        else:
            print(f"Review did not complete: {state.step.value} {state.last_error or ''}".rstrip())
            return 1
    return 0


async def _start_review(
    settings: Settings, pr: PullRequestRef, event: PullRequestEvent, *, wait: bool
) -> PullRequestState | None:
    client = await connect(settings)
    await signal_pull_request(client, settings, pr, event)
    if not wait:
        return None
    return await wait_for_review(client, pr)


def _decide(args: argparse.Namespace, settings: Settings) -> int:
    pr = PullRequestRef.parse(args.pull_request)
    decision = ApprovalDecision(
        approve=args.command == "approve",
        decided_by=args.by or getpass.getuser(),
        channel="cli",
        reason=args.reason or "",
        head_sha=args.head,
    )
    try:
        record = asyncio.run(_decide_now(settings, pr, decision))
    except WorkflowUpdateFailedError as err:
        print(f"prsaga: {pr} refused the decision: {err.cause or err}", file=sys.stderr)
        return 1
    verdict = "approved" if record.approved else "declined"
    print(f"{pr}: {record.decided_by} {verdict} the proposal ({record.proposal}) at {record.at}")
    print(f"Temporal UI: {settings.workflow_ui_url(pr.workflow_id)}")
    return 0


async def _decide_now(
    settings: Settings, pr: PullRequestRef, decision: ApprovalDecision
) -> DecisionRecord:
    return await decide(await connect(settings), pr, decision)


def _status(args: argparse.Namespace, settings: Settings) -> int:
    pr = PullRequestRef.parse(args.pull_request)
    try:
        state, live = asyncio.run(_read_state_now(settings, pr))
    except (RPCError, LookupError) as err:
        print(f"prsaga: {pr}: {_unreadable(err)}", file=sys.stderr)
        return 1
    if args.json:
        print(state.model_dump_json(indent=2))
    else:
        print(_status_text(state, live, settings.workflow_ui_url(pr.workflow_id)))
    return 0


async def _read_state_now(settings: Settings, pr: PullRequestRef) -> tuple[PullRequestState, bool]:
    return await read_state(await connect(settings), pr)


def _status_text(state: PullRequestState, live: bool, workflow_url: str) -> str:
    approval = state.approval
    pending = (
        f"{approval.proposal} on {approval.head_sha[:12]} ({approval.findings} findings), "
        f"until {approval.deadline:%Y-%m-%d %H:%M} UTC"
        if approval is not None
        else "none"
    )
    review = state.last_review
    rows = {
        "step": f"{state.step.value}{'' if live else ' (the workflow has ended)'}",
        "head": f"{state.head_sha[:12]} {state.title or ''}".rstrip() if state.head_sha else "-",
        "pending approval": pending,
        "last review": f"{review.html_url} ({state.findings_count} findings)" if review else "-",
        "last error": state.last_error or "-",
        "Temporal UI": workflow_url,
    }
    lines = [f"  {name + ':':<18}{value}" for name, value in rows.items()]
    return "\n".join([str(state.pr), *lines])


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    pr = PullRequestRef.parse(args.pull_request)
    try:
        histories, live = asyncio.run(_read_audit_now(settings, pr))
    except RPCError as err:
        print(f"prsaga: {pr}: {_unreadable(err)}", file=sys.stderr)
        return 1
    trail = audit_trail(pr, histories, live)
    print(trail.model_dump_json(indent=2) if args.json else render_audit(trail))
    return 0


async def _read_audit_now(
    settings: Settings, pr: PullRequestRef
) -> tuple[list[History], PullRequestState | None]:
    """The runs' histories, and the open run's state (the decisions made since the history last
    held a copy of it), if the workflow runs and a worker answers."""
    client = await connect(settings)
    histories = await run_histories(client, pr)
    try:
        state, live = await read_state(client, pr)
    except (RPCError, LookupError) as err:
        print(f"prsaga: {pr}: the live state is not included: {_unreadable(err)}", file=sys.stderr)
        return histories, None
    return histories, state if live else None


def _unreadable(err: RPCError | LookupError) -> str:
    if isinstance(err, RPCError) and err.status == RPCStatusCode.NOT_FOUND:
        return "no workflow yet (prsaga has received nothing about this pull request)"
    if isinstance(err, RPCError) and err.status == RPCStatusCode.DEADLINE_EXCEEDED:
        return "no worker answered the query (is a worker running?)"
    return str(err)


async def _register_now(settings: Settings) -> list[str]:
    return await register_search_attributes(await connect(settings))


def _setup(args: argparse.Namespace, settings: Settings) -> int:
    added = asyncio.run(_register_now(settings))
    print(
        f"search attributes on {settings.temporal_address} ({settings.temporal_namespace}): "
        + (f"added {', '.join(added)}" if added else "already registered")
    )
    return 0


def _local(args: argparse.Namespace, settings: Settings) -> int:
    from starter.local import LocalGitHub, read_contents

    secret = (
        settings.webhook_secret.get_secret_value()
        if settings.webhook_secret is not None
        else _secret_path(settings).read_text().strip()
    )
    github = LocalGitHub(settings, secret)
    if args.action == "push":
        print(github.push(read_contents(args.file or ["docs/notes.md"]), force=args.force))
    elif args.action == "comment":
        print(github.comment(args.login, args.body))
    else:
        print(github.grant(args.login, args.permission))
    return 0


def _app_create(args: argparse.Namespace, settings: Settings) -> int:
    from starter.app_create import AppRequest, ManifestFlowError, create_github_app

    name = args.name or f"prsaga-{args.org or getpass.getuser()}"
    request = AppRequest(
        name=name,
        org=args.org,
        webhook_url=args.webhook_url,
        out_dir=Path(args.out),
        port=args.port,
        open_browser=not args.no_browser,
    )
    try:
        return create_github_app(settings, request)
    except ManifestFlowError as problem:
        print(f"prsaga: {problem}", file=sys.stderr)
        return 1


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    from starter.doctor import default_webhook_url, exit_status, render, run_checks

    if args.repo is not None:
        PullRequestRef.parse(f"{args.repo}#1")  # ValueError for anything but OWNER/REPO
    webhook_url = (args.webhook_url or default_webhook_url(settings)).rstrip("/")
    results = run_checks(settings, repo=args.repo, webhook_url=webhook_url)
    print(render(results), flush=True)
    return exit_status(results)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    import worker

    worker.main()
    return 0


def _webhook(args: argparse.Namespace, settings: Settings) -> int:
    from starter import webhook

    webhook.main()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prsaga", description="Durable pull-request review agents on Temporal."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="run the whole path locally on a real pull request and print the review"
    )
    demo.add_argument(
        "--keep-running", action="store_true", help="keep the services up after the review"
    )
    demo.add_argument(
        "--local-claude",
        action="store_true",
        help="also run the Claude specialists, against the local Messages-API server",
    )
    demo.set_defaults(run=_demo)
    dev = commands.add_parser("dev", help="run Temporal, a worker and the webhook server")
    dev.add_argument(
        "--local-github",
        action="store_true",
        help="use the local GitHub-compatible server even if a token is configured",
    )
    dev.set_defaults(run=_dev)
    review = commands.add_parser("review", help="start a review of OWNER/REPO#N")
    review.add_argument("pull_request", metavar="OWNER/REPO#N")
    review.add_argument("--wait", action="store_true", help="wait for the review and report it")
    review.set_defaults(run=_review)
    for name, verb in (("approve", "approve"), ("reject", "decline")):
        decide_parser = commands.add_parser(
            name, help=f"{verb} the action a review of OWNER/REPO#N proposes (approval gate)"
        )
        decide_parser.add_argument("pull_request", metavar="OWNER/REPO#N")
        decide_parser.add_argument("--reason", help="why (recorded in the workflow history)")
        decide_parser.add_argument("--by", help="who decides (default: the current user)")
        decide_parser.add_argument(
            "--head", metavar="SHA", help="only if the proposal is for this head commit"
        )
        decide_parser.set_defaults(run=_decide)
    status = commands.add_parser(
        "status", help="the live state of OWNER/REPO#N's review (step, head, approval, errors)"
    )
    status.add_argument("pull_request", metavar="OWNER/REPO#N")
    status.add_argument("--json", action="store_true", help="the whole state, as JSON")
    status.set_defaults(run=_status)
    audit = commands.add_parser(
        "audit",
        help="every delivery, agent decision and human decision on OWNER/REPO#N, in order",
    )
    audit.add_argument("pull_request", metavar="OWNER/REPO#N")
    audit.add_argument(
        "--json", action="store_true", help="the audit trail as JSON (schema: prsaga.schema.audit)"
    )
    audit.set_defaults(run=_audit)
    commands.add_parser(
        "setup", help="register prsaga's search attributes on the Temporal server"
    ).set_defaults(run=_setup)
    local = commands.add_parser(
        "local", help="act on the demo pull request of `prsaga dev`'s local GitHub"
    )
    local_actions = local.add_subparsers(dest="action", required=True)
    push = local_actions.add_parser("push", help="push a commit and deliver `synchronize`")
    push.add_argument(
        "--file",
        action="append",
        metavar="PATH[=LOCAL_FILE]",
        help="a file to commit (its text from LOCAL_FILE, else a generated note); repeatable",
    )
    push.add_argument("--force", action="store_true", help="rewrite the branch's history")
    comment = local_actions.add_parser("comment", help="comment and deliver `issue_comment`")
    comment.add_argument("--as", dest="login", required=True, help="the commenter's login")
    comment.add_argument("body", help="the comment, e.g. '/agent approve'")
    grant = local_actions.add_parser("grant", help="set a user's permission on the repository")
    grant.add_argument("login")
    grant.add_argument("permission", choices=["admin", "maintain", "write", "triage", "read"])
    local.set_defaults(run=_local)
    app = commands.add_parser("app", help="manage prsaga's GitHub App")
    app_actions = app.add_subparsers(dest="action", required=True)
    create = app_actions.add_parser(
        "create", help="create the GitHub App from a manifest and save its credentials"
    )
    create.add_argument("--org", help="create it in this organization (default: your account)")
    create.add_argument("--name", help="the App's name, unique on GitHub (default: prsaga-ORG)")
    create.add_argument(
        "--webhook-url",
        metavar="URL",
        help="where GitHub delivers events: your webhook server's /webhooks/github",
    )
    create.add_argument(
        "--out", default=".", metavar="DIR", help="folder of the .env and the private key"
    )
    create.add_argument("--port", type=int, default=0, help="port of the local page (default: any)")
    create.add_argument("--no-browser", action="store_true", help="print the page's address only")
    create.set_defaults(run=_app_create)
    doctor = commands.add_parser(
        "doctor", help="check the whole configuration and say how to fix what is wrong"
    )
    doctor.add_argument(
        "--repo", metavar="OWNER/REPO", help="also check the App's access and its prsaga.yml"
    )
    doctor.add_argument(
        "--webhook-url",
        metavar="URL",
        help="the webhook server's address (default: from PRSAGA_WEBHOOK_HOST/PORT)",
    )
    doctor.set_defaults(run=_doctor)
    commands.add_parser("worker", help="run a worker (same as `python worker.py`)").set_defaults(
        run=_worker
    )
    commands.add_parser("webhook", help="run the webhook server").set_defaults(run=_webhook)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    try:
        code = args.run(args, get_settings())
    except KeyboardInterrupt:
        code = 130
    except (StackError, ValueError) as err:
        print(f"prsaga: {err}", file=sys.stderr)
        code = 1
    # Exit without interpreter teardown: temporalio/sdk-python#300 can abort short-lived
    # processes at exit (rc 134) after their work is done.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
