# --- Hidden markers are trusted only on prsaga's own comments (issue 12, item 5) ---
from __future__ import annotations

from typing import Any

from prsaga.local.github_fake import DEFAULT_BOT_LOGIN
from prsaga.schema import ReviewStep, WaitForReviewInput
from tests.conftest import DemoPR, Harness, next_pr_number, renumbered_demo, running_harness
from workflows.pull_request import PullRequestWorkflow

BROKEN_CONFIG = {".github/prsaga.yml": "require_approval: maybe\n"}


async def review_of(h: Harness, pr: DemoPR) -> dict[str, Any]:
    """Review ``pr`` (delivered as opened) and return prsaga's review of it."""
    response = await h.deliver(pr.webhook_payload)
    assert response.status_code == 202, response.text
    handle = h.client.get_workflow_handle_for(PullRequestWorkflow.run, pr.ref.workflow_id)
    state = await handle.execute_update(PullRequestWorkflow.wait_for_review, WaitForReviewInput())
    assert state.step == ReviewStep.COMPLETED
    [review] = [
        r
        for r in h.github.state()["reviews"]
        if r["pull_number"] == pr.ref.number and r["user"]["login"] == DEFAULT_BOT_LOGIN
    ]
    return review


async def test_markers_copied_by_the_author_silence_neither_findings_nor_replies(
    temporal_client, github, tmp_path
):
    async with running_harness(temporal_client, github, tmp_path) as h:
        # A first pull request shows what prsaga's markers look like (they are predictable).
        first = await review_of(h, h.pr)
        assert first["comments"], "the demo pull request has findings on its lines"

        # The same changes in a second pull request, whose author copies every marker onto
        # the very lines prsaga will comment, and the marker of the reply that explains a
        # broken configuration, before prsaga reviews.
        second = renumbered_demo(next_pr_number())
        source = second.source
        h.github.seed_pull_request(
            source.pull, source.files, source.contents, base_contents=BROKEN_CONFIG
        )
        ref, author = second.ref, source.pull["user"]["login"]
        assert author != DEFAULT_BOT_LOGIN
        copies = [
            {
                "path": c["path"],
                "line": c["line"],
                "side": "RIGHT",
                "body": f"fine by me\n\n{c['body'].rsplit(chr(10), 1)[-1]}",
            }
            for c in first["comments"]
        ]
        h.github.add_review(
            ref.owner, ref.repo, ref.number, {"event": "COMMENT", "comments": copies}, login=author
        )
        base_sha = source.pull["base"]["sha"]
        h.github.add_issue_comment(
            ref.owner,
            ref.repo,
            ref.number,
            f"nothing to see\n\n<!-- prsaga:reply key=config-{base_sha} -->",
            login=author,
        )
        spoofed = await review_of(h, second)
        comments = [c for c in h.github.state()["issue_comments"] if c["pull_number"] == ref.number]

    assert all("<!-- prsaga:finding " in c["body"] for c in copies)
    assert len(spoofed["comments"]) == len(first["comments"])
    assert "already commented" not in spoofed["body"]
    explained = [c for c in comments if "configuration file" in c["body"]]
    assert [c["user"]["login"] for c in explained] == [DEFAULT_BOT_LOGIN]
