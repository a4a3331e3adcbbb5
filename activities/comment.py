"""The comment agent: the commit status, the review, and the review's compensation.

Posting is idempotent: every review carries a hidden marker with its review key, and a retried
activity that finds its marker returns that review instead of posting a second one.
"""

from __future__ import annotations

import re
from typing import cast

from github import GithubException
from github.GithubObject import NotSet
from github.PullRequest import PullRequest, ReviewComment
from github.PullRequestReview import PullRequestReview
from temporalio import activity

from prsaga.config import Settings
from prsaga.contracts import (
    CommitStatusInput,
    PublishedReview,
    PublishReviewInput,
    WithdrawReviewInput,
)
from prsaga.github_client import github_errors, make_github
from prsaga.models import Finding, PullRequestRef
from prsaga.review import (
    finding_marker,
    plan_review,
    render_summary,
    review_marker,
    truncate_body,
)

from .parse import load_parsed

WITHDRAWN_MARKER = "<!-- prsaga:withdrawn -->"
FINDING_MARKER = re.compile(r"<!-- prsaga:finding .*? -->")


def find_review(pull: PullRequest, review_key: str) -> PullRequestReview | None:
    """The review prsaga posted under ``review_key``, if any."""
    marker = review_marker(review_key)
    return next((r for r in pull.get_reviews() if marker in (r.body or "")), None)


def _not_yet_commented(pull: PullRequest, findings: list[Finding]) -> tuple[list[Finding], int]:
    """The findings no earlier prsaga comment already makes on a line still in the diff (GitHub
    keeps a comment whose line changed as outdated, with no line: such findings are new again),
    and how many were left out."""
    current = {
        marker
        for comment in pull.get_review_comments()
        if comment.line is not None
        for marker in FINDING_MARKER.findall(comment.body or "")
    }
    fresh = [f for f in findings if f.line is None or finding_marker(f) not in current]
    return fresh, len(findings) - len(fresh)


class CommentAgent:
    """Activities of the comment agent, bound to the worker's settings."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _pull(self, pr: PullRequestRef, installation_id: int | None) -> PullRequest:
        gh = make_github(self._settings, installation_id=installation_id)
        return gh.get_repo(pr.full_name).get_pull(pr.number)

    def _workflow_url(self) -> str | None:
        workflow_id = activity.info().workflow_id
        return self._settings.workflow_ui_url(workflow_id) if workflow_id else None

    @activity.defn(name="set_commit_status")
    def set_commit_status(self, input: CommitStatusInput) -> None:
        pr = input.pr
        with github_errors(f"setting the {input.state} status of {pr}"):
            gh = make_github(self._settings, installation_id=input.installation_id)
            repo = gh.get_repo(pr.full_name)
            repo.get_commit(input.head_sha).create_status(
                state=input.state,
                description=input.description,
                context=self._settings.status_context,
                target_url=self._workflow_url() or NotSet,
            )

    @activity.defn(name="publish_review")
    def publish_review(self, input: PublishReviewInput) -> PublishedReview:
        pr = input.diff.pr
        parsed = load_parsed(self._settings, input.diff, input.installation_id)
        with github_errors(f"posting the review on {pr}"):
            gh = make_github(self._settings, installation_id=input.installation_id)
            repo = gh.get_repo(pr.full_name)
            pull = repo.get_pull(pr.number)
            existing = find_review(pull, input.review_key)
            if existing is not None:
                comments = pull.get_single_review_comments(existing.id).totalCount
                activity.logger.info(
                    "review %s already posted as %s", input.review_key, existing.id
                )
                return PublishedReview(
                    review_id=existing.id,
                    html_url=existing.html_url,
                    inline_comments=comments,
                    summary_findings=len(input.findings) - comments,
                    reused=True,
                )
            files = parsed.files_by_path()
            findings, repeated = _not_yet_commented(pull, input.findings)
            notes = list(input.notes)
            if repeated:
                notes.append(
                    f"{repeated} finding{'s are' if repeated != 1 else ' is'} already commented "
                    "on unchanged lines by an earlier review, and not repeated."
                )
            max_inline = input.max_inline_comments
            commit = repo.get_commit(input.diff.head_sha)
            while True:
                plan = plan_review(findings, files, max_inline=max_inline)
                body = render_summary(
                    review_key=input.review_key,
                    head_sha=input.diff.head_sha,
                    plan=plan,
                    agents=input.agents,
                    workflow_url=self._workflow_url(),
                    omitted=input.omitted_findings,
                    notes=notes,
                )
                try:
                    review = pull.create_review(
                        commit=commit,
                        body=body,
                        event=input.event,
                        comments=[
                            cast(ReviewComment, comment.as_github()) for _, comment in plan.inline
                        ],
                    )
                    break
                except GithubException as err:
                    # Comments are placed on diff lines only, but if GitHub still refuses one
                    # (the diff changed under us), post everything in the summary instead.
                    if err.status != 422 or max_inline == 0:
                        raise
                    activity.logger.warning("GitHub refused inline comments; summary only")
                    max_inline = 0
        return PublishedReview(
            review_id=review.id,
            html_url=review.html_url,
            inline_comments=len(plan.inline),
            summary_findings=len(plan.summary_only),
            reused=False,
        )

    @activity.defn(name="withdraw_review")
    def withdraw_review(self, input: WithdrawReviewInput) -> None:
        """Compensation: a review posted by a saga that failed afterwards is marked withdrawn and
        its inline comments deleted (GitHub cannot delete a submitted review). Idempotent."""
        with github_errors(f"withdrawing the review on {input.pr}"):
            pull = self._pull(input.pr, input.installation_id)
            review = find_review(pull, input.review_key)
            if review is None or WITHDRAWN_MARKER in (review.body or ""):
                return
            for comment in pull.get_single_review_comments(review.id):
                comment.delete()
            if review.state in ("CHANGES_REQUESTED", "APPROVED"):
                # A blocking (or approving) verdict must not outlive its withdrawn review.
                review.dismiss(f"prsaga withdrew this review: {input.reason}"[:1000])
            review.edit(
                body=truncate_body(
                    f"~~prsaga review withdrawn~~: {input.reason}\n\n"
                    "The review's inline comments were removed; a later review replaces it.\n\n"
                    f"{WITHDRAWN_MARKER}\n{review_marker(input.review_key)}"
                )
            )
