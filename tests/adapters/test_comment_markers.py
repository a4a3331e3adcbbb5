"""The comment agent trusts its hidden review marker only on reviews prsaga wrote (issue 12,
item 5): a copy in someone else's review is neither reused nor withdrawn."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.comment import CommentAgent
from prsaga.local.github_fake import DEFAULT_BOT_LOGIN, FakeGitHub
from prsaga.review.findings import review_marker
from prsaga.schema import DiffRef, PublishReviewInput, WithdrawReviewInput
from tests.conftest import make_settings, next_pr_number, renumbered_demo

REVIEW_KEY = "3f1c9a52-review-key"


def test_a_copied_review_marker_is_neither_reused_nor_withdrawn(
    github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    fake, url = github
    demo = renumbered_demo(next_pr_number())
    fake.seed_pull_request(demo.source.pull, demo.source.files, demo.source.contents)
    ref, author = demo.ref, demo.source.pull["user"]["login"]
    copied = f"All done here.\n\n{review_marker(REVIEW_KEY)}"
    fake.add_review(
        ref.owner, ref.repo, ref.number, {"event": "COMMENT", "body": copied}, login=author
    )
    agent = CommentAgent(make_settings(url, tmp_path))

    published = ActivityEnvironment().run(
        agent.publish_review,
        PublishReviewInput(
            diff=DiffRef(pr=ref, head_sha=demo.head_sha),
            review_key=REVIEW_KEY,
            findings=[],
            agents=[],
            quiet=False,  # a review with nothing to say, posted all the same
        ),
    )
    ActivityEnvironment().run(
        agent.withdraw_review,
        WithdrawReviewInput(pr=ref, review_key=REVIEW_KEY, reason="superseded by a newer push"),
    )

    reviews = {
        r["user"]["login"]: r for r in fake.state()["reviews"] if r["pull_number"] == ref.number
    }
    assert not published.reused and published.review_id == reviews[DEFAULT_BOT_LOGIN]["id"]
    assert "withdrawn" in reviews[DEFAULT_BOT_LOGIN]["body"]
    assert reviews[author]["body"] == copied
