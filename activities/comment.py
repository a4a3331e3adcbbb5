"""The comment agent: the commit status (or check run), the review, and the review's compensation.

Posting is idempotent: every review carries a hidden marker with its review key, and a retried
activity that finds its marker returns that review instead of posting a second one.

As a GitHub App prsaga reports on the head commit with a check run (only Apps may write them):
in progress while the review runs, then completed with a conclusion, a summary and the findings
as annotations. With a plain token it sets a commit status under the same name.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, cast

from github import GithubException
from github.CheckRun import CheckRun
from github.GithubObject import NotSet
from github.PullRequest import PullRequest, ReviewComment
from github.PullRequestReview import PullRequestReview
from github.Repository import Repository
from temporalio import activity

from prsaga.adapters.github_auth import uses_app
from prsaga.adapters.github_client import OwnIdentity, authored_by, github_errors, make_github
from prsaga.review.findings import (
    MAX_FINDINGS,
    finding_marker,
    plan_review,
    render_summary,
    review_marker,
    truncate_body,
)
from prsaga.review.redact import redact
from prsaga.review.texts import truncate
from prsaga.runtime.config import Settings
from prsaga.schema import (
    CommitStatusInput,
    Finding,
    PublishedReview,
    PublishReviewInput,
    Severity,
    StatusState,
    WithdrawReviewInput,
)

from .heartbeat import heartbeats
from .parse import ParsedDiffs

WITHDRAWN_MARKER = "<!-- prsaga:withdrawn -->"
FINDING_MARKER = re.compile(r"<!-- prsaga:finding .*? -->")

MAX_ANNOTATIONS_PER_REQUEST = 50
"""GitHub takes at most 50 annotations per check-run request; more go in further updates."""
MAX_CHECK_OUTPUT_CHARS = 65_535
"""GitHub refuses a check run's ``summary`` or ``text`` longer than this (422)."""
MAX_ANNOTATION_TITLE = 255
CHECK_CONCLUSIONS: dict[StatusState, str] = {
    "success": "success",
    "failure": "failure",
    # The compensation: the review started and was stopped (superseded, cancelled, failed).
    # GitHub documents ``cancelled`` for a check "planned or started but then stopped", by hand
    # or by a service problem; ``neutral`` would pass a required check for a commit nobody
    # reviewed (branch protection accepts success, skipped or neutral), as ``error`` does not.
    "error": "cancelled",
}
_ANNOTATION_LEVELS = {
    Severity.CRITICAL: "failure",
    Severity.HIGH: "failure",
    Severity.MEDIUM: "warning",
}
"""GitHub's annotation level of a finding's severity (``notice`` for the others)."""

Annotation = dict[str, str | int]
CheckRunOutput = dict[str, str | list[Annotation]]


def find_review(pull: PullRequest, review_key: str, own_login: str) -> PullRequestReview | None:
    """The review prsaga (``own_login``) posted under ``review_key``, if any: a copy of the
    marker in someone else's review is not prsaga's review."""
    marker = review_marker(review_key)
    return next(
        (
            r
            for r in pull.get_reviews()
            if marker in (r.body or "") and authored_by(r.user, own_login)
        ),
        None,
    )


def _not_yet_commented(
    pull: PullRequest, findings: list[Finding], own_login: str
) -> tuple[list[Finding], int]:
    """The findings no earlier prsaga review already makes, and how many were left out: inline
    on a line still in the diff (GitHub keeps a comment whose line changed as outdated, with no
    line: such findings are new again), or in the summary of a review not withdrawn. Only
    prsaga's own comments and reviews count: a marker copied into someone else's must not
    silence a finding."""
    current = {
        marker
        for comment in pull.get_review_comments()
        if comment.line is not None and authored_by(comment.user, own_login)
        for marker in FINDING_MARKER.findall(comment.body or "")
    }
    current |= {
        marker
        for review in pull.get_reviews()
        if WITHDRAWN_MARKER not in (review.body or "") and authored_by(review.user, own_login)
        for marker in FINDING_MARKER.findall(review.body or "")
    }
    fresh = [f for f in findings if finding_marker(f) not in current]
    return fresh, len(findings) - len(fresh)


class CommentAgent:
    """Activities of the comment agent, bound to the worker's settings and parsed diffs."""

    def __init__(self, settings: Settings, diffs: ParsedDiffs | None = None) -> None:
        self._settings = settings
        self._diffs = diffs or ParsedDiffs(settings)
        self._identity = OwnIdentity(settings)

    def _workflow_url(self) -> str | None:
        workflow_id = activity.info().workflow_id
        return self._settings.workflow_ui_url(workflow_id) if workflow_id else None

    @activity.defn(name="set_commit_status")
    @heartbeats
    def set_commit_status(self, input: CommitStatusInput) -> None:
        """Report the review's state on the head commit: a check run as a GitHub App, a commit
        status with a token. Idempotent: a retry updates the check run it finds."""
        pr = input.pr
        with github_errors(f"setting the {input.state} status of {pr}"):
            gh = make_github(self._settings, installation_id=input.installation_id)
            repo = gh.get_repo(pr.full_name)
            if uses_app(self._settings):
                self._report_check_run(repo, input)
                return
            repo.get_commit(input.head_sha).create_status(
                state=input.state,
                description=input.description,
                context=self._settings.status_context,
                target_url=self._workflow_url() or NotSet,
            )

    def _report_check_run(self, repo: Repository, input: CommitStatusInput) -> None:
        """Create or update prsaga's check run on the head: in progress while ``pending``,
        then completed with the findings as annotations (in batches GitHub accepts)."""
        workflow_url = self._workflow_url()
        details_url = workflow_url or NotSet
        name = self._settings.status_context
        run = _latest_check_run(repo, input.head_sha, name, self._settings.github_app_id)
        title = input.description
        if input.state == "pending":
            output: CheckRunOutput = {
                "title": title,
                "summary": check_run_summary(input, workflow_url),
            }
            if run is None or run.status == "completed":
                # A completed run cannot go back in progress: a new review gets a new run,
                # which GitHub then shows as the latest of that name.
                repo.create_check_run(
                    name=name,
                    head_sha=input.head_sha,
                    status="in_progress",
                    details_url=details_url,
                    output=output,
                )
            else:
                run.edit(status="in_progress", details_url=details_url, output=output)
            return
        summary = check_run_summary(input, workflow_url)
        annotations = [a for a in map(check_annotation, input.findings) if a is not None]
        # Each update appends its annotations: a retry sends only those not there yet (the
        # input, hence the order, is the same on every attempt).
        done = run.output.annotations_count if run is not None else 0
        batches = annotation_batches(annotations[done:])
        completion: dict[str, Any] = {
            "status": "completed",
            "conclusion": CHECK_CONCLUSIONS[input.state],
            "details_url": details_url,
            "output": {"title": title, "summary": summary, "annotations": batches[0]},
        }
        if run is None:
            run = repo.create_check_run(name=name, head_sha=input.head_sha, **completion)
        else:
            run.edit(**completion)
        for batch in batches[1:]:
            run.edit(output={"title": title, "summary": summary, "annotations": batch})

    @activity.defn(name="publish_review")
    @heartbeats
    def publish_review(self, input: PublishReviewInput) -> PublishedReview:
        pr = input.diff.pr
        parsed = self._diffs.load(input.diff, input.installation_id)
        with github_errors(f"posting the review on {pr}"):
            gh = make_github(self._settings, installation_id=input.installation_id)
            repo = gh.get_repo(pr.full_name)
            pull = repo.get_pull(pr.number)
            own_login = self._identity.login(gh, pr.full_name)
            existing = find_review(pull, input.review_key, own_login)
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
            findings, repeated = _not_yet_commented(pull, input.findings, own_login)
            if input.quiet and not findings and input.event == "COMMENT":
                # Quiet: nothing (new) to say, so say nothing; the commit status reports it.
                activity.logger.info("nothing new to post for %s", input.review_key)
                return PublishedReview(posted=False, summary_findings=0)
            notes = list(input.notes)
            if repeated:
                notes.append(
                    f"{repeated} finding{'s were' if repeated != 1 else ' was'} already "
                    "reported by an earlier review, and not repeated."
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
    @heartbeats
    def withdraw_review(self, input: WithdrawReviewInput) -> None:
        """Compensation: a review posted by a saga that failed afterwards is marked withdrawn and
        its inline comments deleted (GitHub cannot delete a submitted review). Idempotent."""
        pr = input.pr
        with github_errors(f"withdrawing the review on {pr}"):
            gh = make_github(self._settings, installation_id=input.installation_id)
            pull = gh.get_repo(pr.full_name).get_pull(pr.number)
            review = find_review(pull, input.review_key, self._identity.login(gh, pr.full_name))
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


def _latest_check_run(
    repo: Repository, head_sha: str, name: str, app_id: int | None
) -> CheckRun | None:
    """The newest check run named ``name`` that this App made on ``head_sha``, if any (another
    App may use the same name; GitHub gives the newest run the highest id)."""
    runs = repo.get_commit(head_sha).get_check_runs(check_name=name, filter="all")
    return max((run for run in runs if run.app.id == app_id), key=lambda run: run.id, default=None)


def check_annotation(finding: Finding) -> Annotation | None:
    """A finding as a check-run annotation on its lines of the head commit; ``None`` for a
    finding about a whole file (it has no line: the summary lists it)."""
    if finding.line is None:
        return None
    message = finding.message
    if finding.also_on_lines:
        more = f" and {finding.also_on_more} more" if finding.also_on_more else ""
        message += f"\n\nAlso on lines {', '.join(map(str, finding.also_on_lines))}{more}."
    title = f"{finding.title} ({finding.tool} {finding.rule})"
    annotation: Annotation = {
        "path": finding.path,
        "start_line": finding.line,
        "end_line": max(finding.end_line or finding.line, finding.line),
        "annotation_level": _ANNOTATION_LEVELS.get(finding.severity, "notice"),
        "title": truncate(redact(title), MAX_ANNOTATION_TITLE),
        "message": redact(message),
    }
    if finding.suggestion is not None:
        annotation["raw_details"] = redact(f"Suggested replacement:\n{finding.suggestion}")
    return annotation


def annotation_batches(annotations: Sequence[Annotation]) -> list[list[Annotation]]:
    """Annotations in requests GitHub accepts; always at least one (maybe empty) batch."""
    size = MAX_ANNOTATIONS_PER_REQUEST
    return [list(annotations[i : i + size]) for i in range(0, len(annotations), size)] or [[]]


def check_run_summary(input: CommitStatusInput, workflow_url: str | None) -> str:
    """The check run's summary: the findings by severity and those about whole files (once
    the review is posted), what the workflow adds, and the link to its audit trail."""
    parts: list[str] = []
    if input.state in ("success", "failure"):
        parts += _findings_summary(input.findings, input.omitted_findings)
    if input.summary:
        parts += ["", input.summary]
    if not parts:
        parts.append(input.description)
    if workflow_url:
        parts += ["", f"Audit trail: [Temporal workflow]({workflow_url})"]
    return truncate(redact("\n".join(parts).strip()), MAX_CHECK_OUTPUT_CHARS)


def _findings_summary(findings: Sequence[Finding], omitted: int) -> list[str]:
    if not findings:
        return ["No findings on the lines this pull request changes."]
    counts = Counter(finding.severity for finding in findings)
    breakdown = ", ".join(
        f"{counts[severity]} {severity.value}" for severity in sorted(counts, key=lambda s: -s.rank)
    )
    whole_files = [finding for finding in findings if finding.line is None]
    total = len(findings)
    parts = [
        f"**{total} finding{'s' if total != 1 else ''}** ({breakdown}): "
        f"{total - len(whole_files)} annotated on their lines, "
        f"{len(whole_files)} about whole files."
    ]
    if omitted:
        parts += [
            "",
            f"{omitted} lower-ranked finding{'s were' if omitted != 1 else ' was'} left out "
            f"(at most {MAX_FINDINGS} per review).",
        ]
    if whole_files:
        parts += ["", "#### About whole files", ""]
        parts += [
            f"- `{f.path}`: **{f.title}** (`{f.tool}` {f.rule}, {f.severity.value}) — {f.message}"
            for f in whole_files
        ]
    return parts
