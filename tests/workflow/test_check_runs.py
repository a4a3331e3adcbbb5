# --- Check runs as a GitHub App: real dev server -> worker -> local GitHub with the App ---
"""With App credentials (and no token) the review reports on its head with one check run: in
progress while it runs, then completed with a conclusion, a summary and annotations; retries
update that run instead of making a second one. The token path (commit statuses) is covered by
``test_review_workflow.py`` and ``test_lifecycle_workflow.py``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.comment import MAX_ANNOTATIONS_PER_REQUEST, CommentAgent
from prsaga.adapters.github_auth import clear_auth_cache
from prsaga.local.github_fake import FakeGitHub
from prsaga.schema import (
    ApprovalDecision,
    CommitStatusInput,
    Finding,
    PullRequestState,
    ReviewStep,
    Severity,
    WaitForReviewInput,
)
from starter.temporal import decide
from tests.conftest import Harness, make_settings, renumbered_demo, running_harness
from tests.local.test_github_fake import rsa_keys
from workflows.pull_request import PullRequestWorkflow

APP_ID = 4242
# Every finding of the demo pull request is low or medium: asking for changes at "low" makes
# its review a proposal that waits for a human.
GATED_CONFIG = "require_approval: true\nrequest_changes_at: low\n"
CHECK_RUN_PATH = r"/check-runs(/\d+)?$"
# The first line of an inline comment: "<icon> **title** · `tool` rule · severity".
COMMENT_HEAD = re.compile(r"· `(?P<tool>[^`]+)` (?P<rule>.+) · (?P<severity>\w+)$")
LEVELS = {"critical": "failure", "high": "failure", "medium": "warning"}


def as_app() -> dict[str, Any]:
    """Settings overrides that make prsaga a GitHub App, with no token to fall back on."""
    return {
        "github_token": None,
        "github_app_id": APP_ID,
        "github_app_private_key": SecretStr(rsa_keys().private_pem),
    }


@pytest.fixture(autouse=True)
def fresh_installation_tokens() -> Iterator[None]:
    clear_auth_cache()
    yield
    clear_auth_cache()


def install_app(fake: FakeGitHub, repo: str, installation_id: int) -> None:
    """Register the test App on the local GitHub, installed on ``repo`` (``OWNER/NAME``)."""
    fake.register_app(APP_ID, rsa_keys().public_pem, {installation_id: [repo]})


@pytest.fixture
async def app_harness(
    temporal_client: Client, github: tuple[FakeGitHub, str], tmp_path: Path
) -> AsyncIterator[Harness]:
    """The demo pull request reviewed by prsaga authenticated as an App installation."""
    fake, _ = github
    async with running_harness(temporal_client, github, tmp_path, **as_app()) as harness:
        install_app(fake, harness.pr.ref.full_name, installation_of(harness))
        yield harness


@pytest.fixture
async def gated_app_harness(app_harness: Harness) -> Harness:
    """The same, with a repository that wants approval before requesting changes."""
    source = app_harness.pr.source
    app_harness.github.seed_pull_request(
        source.pull,
        source.files,
        source.contents,
        base_contents={".github/prsaga.yml": GATED_CONFIG},
    )
    return app_harness


def installation_of(harness: Harness) -> int:
    return int(harness.pr.webhook_payload["installation"]["id"])


async def settle(harness: Harness) -> PullRequestState:
    handle = harness.client.get_workflow_handle_for(
        PullRequestWorkflow.run, harness.pr.ref.workflow_id
    )
    return await handle.execute_update(PullRequestWorkflow.wait_for_review, WaitForReviewInput())


def check_runs(harness: Harness, sha: str | None = None) -> list[dict[str, Any]]:
    head = sha or harness.pr.head_sha
    return [run for run in harness.github.state()["check_runs"] if run["head_sha"] == head]


def check_run_writes(fake: FakeGitHub) -> list[tuple[str, int]]:
    """(method, answer) of every check-run write, in order."""
    return [
        (r["method"], r["status"])
        for r in fake.state()["requests"]
        if re.search(CHECK_RUN_PATH, r["path"]) and r["method"] != "GET"
    ]


def review_comments(harness: Harness) -> list[dict[str, Any]]:
    number = harness.pr.ref.number
    [review] = [r for r in harness.github.state()["reviews"] if r["pull_number"] == number]
    return list(review["comments"])


def expected_annotations(comments: list[dict[str, Any]]) -> set[tuple[str, int, str, str]]:
    """(path, first line, level, "tool rule") of each inline comment, parsed from its body."""
    expected = set()
    for comment in comments:
        head = COMMENT_HEAD.search(comment["body"].splitlines()[0])
        assert head is not None, comment["body"]
        level = LEVELS.get(head["severity"], "notice")
        first = comment.get("start_line") or comment["line"]
        expected.add((comment["path"], first, level, f"{head['tool']} {head['rule']}"))
    return expected


def annotations_of(run: dict[str, Any]) -> set[tuple[str, int, str, str]]:
    found = set()
    for annotation in run["annotations"]:
        rule = re.search(r"\(([^()]+)\)$", annotation["title"])
        assert rule is not None, annotation["title"]
        key = (annotation["path"], annotation["start_line"], annotation["annotation_level"])
        found.add((*key, rule[1]))
    return found


async def test_a_review_completes_one_check_run_with_annotations_and_no_status(
    app_harness: Harness,
):
    harness = app_harness
    await harness.deliver(harness.pr.webhook_payload)
    state = await settle(harness)
    assert state.step == ReviewStep.COMPLETED and state.last_review is not None

    [run] = check_runs(harness)
    assert (run["name"], run["app"]["id"]) == (harness.settings.status_context, APP_ID)
    assert (run["status"], run["conclusion"]) == ("completed", "success")
    assert harness.pr.ref.workflow_id.replace("/", "%2F") in run["details_url"]
    # Created in progress, then completed by one update (the demo has fewer than 50).
    assert check_run_writes(harness.github) == [("POST", 201), ("PATCH", 200)]
    assert harness.github.state()["statuses"] == []  # an App reports with its check run only

    # One annotation per inline comment (the demo's line findings all go inline), and none
    # for the committed swap file, which has no line: the summary lists it instead.
    comments = review_comments(harness)
    assert comments and annotations_of(run) == expected_annotations(comments)
    assert run["output"]["annotations_count"] == len(comments)
    assert all(a["end_line"] >= a["start_line"] for a in run["annotations"])
    summary = run["output"]["summary"]
    assert f"**{state.findings_count} findings**" in summary
    assert f"{len(comments)} annotated on their lines" in summary
    assert ".server.py.swo" in summary
    assert not any(a["path"].endswith(".swo") for a in run["annotations"])
    assert state.last_review.html_url in summary and "Audit trail" in summary
    assert run["output"]["title"].startswith(f"{state.findings_count} findings")


async def test_the_check_run_is_in_progress_while_awaiting_approval_then_fails(
    gated_app_harness: Harness,
):
    harness = gated_app_harness
    await harness.deliver(harness.pr.webhook_payload)
    assert (await settle(harness)).step == ReviewStep.AWAITING_APPROVAL

    [waiting] = check_runs(harness)
    assert (waiting["status"], waiting["conclusion"]) == ("in_progress", None)
    assert waiting["output"]["title"] == "Awaiting approval to request changes"
    assert "`/agent approve`" in waiting["output"]["summary"]
    assert waiting["annotations"] == []

    await decide(harness.client, harness.pr.ref, ApprovalDecision(approve=True, decided_by="lead"))
    assert (await settle(harness)).step == ReviewStep.COMPLETED
    [done] = check_runs(harness)
    assert done["id"] == waiting["id"]
    # Requesting changes is the failing verdict, with the human decision in the summary.
    assert (done["status"], done["conclusion"]) == ("completed", "failure")
    assert "@lead approved the proposal to request changes" in done["output"]["summary"]
    assert annotations_of(done) == expected_annotations(review_comments(harness))


async def test_retried_check_run_writes_leave_one_run_without_duplicate_annotations(
    app_harness: Harness,
):
    harness = app_harness
    # GitHub does the work, then the answer is lost: the create (pending) and the completing
    # update (with the annotations) are both retried by Temporal.
    harness.github.inject_fault(502, CHECK_RUN_PATH, method="POST", after_handling=True)
    # The first update is the retried pending call's; the second completes the run.
    harness.github.inject_fault(502, CHECK_RUN_PATH, method="PATCH", skip=1, after_handling=True)
    await harness.deliver(harness.pr.webhook_payload)
    assert (await settle(harness)).step == ReviewStep.COMPLETED

    [run] = check_runs(harness)
    assert (run["status"], run["conclusion"]) == ("completed", "success")
    comments = review_comments(harness)
    assert len(run["annotations"]) == len(comments)
    assert annotations_of(run) == expected_annotations(comments)
    assert check_run_writes(harness.github) == [
        ("POST", 502),
        ("PATCH", 200),  # the retry found the run it had made and updated it
        ("PATCH", 502),
        ("PATCH", 200),
    ]


async def test_a_stopped_review_cancels_its_check_run_with_the_reason(app_harness: Harness):
    harness = app_harness
    harness.github.inject_fault(403, r"/pulls/\d+/reviews$", method="POST", times=10)
    await harness.deliver(harness.pr.webhook_payload)
    state = await settle(harness)
    assert state.step == ReviewStep.FAILED and state.last_error is not None

    [run] = check_runs(harness)
    assert (run["status"], run["conclusion"]) == ("completed", "cancelled")
    assert run["output"]["title"].startswith("Review stopped:")
    assert state.last_error in run["output"]["summary"]
    assert "403" in run["output"]["summary"]
    assert run["annotations"] == []


async def test_annotations_beyond_50_go_in_further_updates_and_a_retry_adds_only_the_rest(
    github: tuple[FakeGitHub, str], tmp_path: Path
):
    fake, url = github
    demo = renumbered_demo(7001)
    fake.seed_pull_request(demo.source.pull, demo.source.files, demo.source.contents)
    install_app(fake, demo.ref.full_name, 31)
    agent = CommentAgent(make_settings(url, tmp_path, **as_app()))
    on_lines = [
        Finding(
            agent="offline",
            tool="ruff",
            rule=f"E{n:03}",
            path="tests/testserver/server.py",
            line=n,
            severity=list(Severity)[n % len(Severity)],
            title=f"problem {n}",
            message=f"line {n} has a problem",
        )
        for n in range(1, 121)
    ]
    whole_file = Finding(
        agent="offline",
        tool="hygiene",
        rule="editor-swap-file",
        path="tests/testserver/.server.py.swo",
        severity=Severity.MEDIUM,
        title="Editor swap file committed",
        message="remove it",
    )

    def report(state: str, findings: list[Finding]) -> None:
        status = CommitStatusInput(
            pr=demo.ref,
            head_sha=demo.head_sha,
            state=state,  # type: ignore[arg-type]
            description=f"{state}: {len(findings)} findings",
            installation_id=31,
            findings=findings,
        )
        ActivityEnvironment().run(agent.set_commit_status, status)

    report("pending", [])
    # The second batch is written, then its answer is lost: the activity fails and is retried.
    fake.inject_fault(502, CHECK_RUN_PATH, method="PATCH", skip=1, after_handling=True)
    with pytest.raises(ApplicationError) as lost:
        report("failure", [*on_lines, whole_file])
    assert lost.value.type == "GitHubServerError"
    report("failure", [*on_lines, whole_file])

    [run] = [r for r in fake.state()["check_runs"] if r["head_sha"] == demo.head_sha]
    assert (run["status"], run["conclusion"]) == ("completed", "failure")
    assert [a["start_line"] for a in run["annotations"]] == list(range(1, 121))
    levels = {f.line: LEVELS.get(f.severity.value, "notice") for f in on_lines}
    assert [a["annotation_level"] for a in run["annotations"]] == [levels[n] for n in levels]
    assert "Editor swap file committed" in run["output"]["summary"]
    patches = [status for method, status in check_run_writes(fake) if method == "PATCH"]
    # pending create; completion + 50, batch 2 (lost); retry: completion + the last 20.
    assert len(on_lines) > 2 * MAX_ANNOTATIONS_PER_REQUEST
    assert patches == [200, 502, 200]
