"""One corpus pull request reviewed as a real review is: the local GitHub server seeded with it,
and the real activities (parse, plan, offline review, publish) run in Temporal's activity test
environment, with the workflow's own decisions in between (merge, proposal, final status).

What the review posted is read back from the local GitHub's state, so the benchmark scores what a
maintainer would see, not what the reviewer computed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.testing import ActivityEnvironment

from activities.analyze import AnalyzeAgents
from activities.comment import CommentAgent
from activities.parse import ParseAgent, ParsedDiffs
from activities.plan import PlanAgent, ReviewPlans
from bench.quality.corpus import CorpusPullRequest
from prsaga.local.github_fake import FakeGitHub, serve_in_thread
from prsaga.review.findings import keep_worst
from prsaga.review.lifecycle import final_status, propose
from prsaga.runtime.config import Settings
from prsaga.schema import (
    AnalyzeInput,
    Finding,
    ParseInput,
    PlanInput,
    PublishReviewInput,
    PullRequestRef,
    ToolRun,
)

TOKEN = "bench-quality-" + "0" * 24
RATE_LIMIT = 1_000_000_000


@dataclass
class ReviewOutcome:
    """What one review did: the findings it posted, its verdict, what each tool did."""

    key: str
    posted: list[Finding]
    """Findings in the posted review (none when nothing was posted)."""
    review_posted: bool
    review_state: str | None
    event: str
    status: str
    status_description: str
    tools: list[ToolRun] = field(default_factory=list)
    skipped: int = 0

    @property
    def blocked(self) -> bool:
        return self.event == "REQUEST_CHANGES" or self.status == "failure"


def finding_key(pr_key: str, finding: Finding) -> str:
    """The stable key of a posted finding in the labels file."""
    return f"{pr_key} {finding.path}:{finding.line or 0} {finding.tool}/{finding.rule}"


class LocalReviewer:
    """A local GitHub server and the activities of one worker, bound to it."""

    def __init__(self, url: str, fake: FakeGitHub, state_dir: Path) -> None:
        self.fake = fake
        self.settings = Settings(
            github_api_url=url,
            github_token=TOKEN,
            github_min_request_interval=0,
            anthropic_api_key=None,
            state_dir=state_dir,
            default_repo_config=None,
        )
        self._env = ActivityEnvironment()
        diffs = ParsedDiffs(self.settings)
        plans = ReviewPlans(self.settings, diffs)
        self._parse = ParseAgent(self.settings, diffs)
        self._plan = PlanAgent(plans)
        self._analyze = AnalyzeAgents(self.settings, plans)
        self._comment = CommentAgent(self.settings, diffs)

    def review(self, pr: CorpusPullRequest, number: int) -> ReviewOutcome:
        owner, repo = pr.repo.split("/")
        self.fake.seed_pull_request(
            _pull_object(pr, number),
            [f.model_dump(exclude_none=True) for f in pr.files],
            dict(pr.head_contents),
            base_contents={**pr.base_contents, **pr.config_files},
        )
        ref = PullRequestRef(owner=owner, repo=repo, number=number)
        run = self._env.run
        parsed = run(self._parse.parse_pull_request, ParseInput(pr=ref))
        plan = run(
            self._plan.plan_review,
            PlanInput(diff=parsed.diff, base_sha=parsed.base_sha, labels=parsed.labels),
        )
        reports = [
            run(self._analyze.offline_review, AnalyzeInput(plan=plan.input, batch=batch))
            for batch in range(plan.offline_batches)
        ]
        # The workflow's own fan-in and decisions (workflows/pull_request.py).
        findings, omitted = keep_worst([f for report in reports for f in report.findings])
        omitted += sum(report.omitted_findings for report in reports)
        event = propose(findings, plan.policy)
        run(
            self._comment.publish_review,
            PublishReviewInput(
                diff=parsed.diff,
                review_key=f"bench-{parsed.diff.head_sha[:16]}",
                findings=findings,
                omitted_findings=omitted,
                agents=[report.summary() for report in reports],
                event=event,
                max_inline_comments=plan.policy.max_inline_comments,
                notes=plan.notes,
            ),
        )
        status, description = final_status(findings, event, None)
        posted_reviews = [
            r
            for r in self.fake.state()["reviews"]
            if r["pull_number"] == number and r.get("commit_id") == parsed.diff.head_sha
        ]
        return ReviewOutcome(
            key=pr.key,
            posted=findings if posted_reviews else [],
            review_posted=bool(posted_reviews),
            review_state=posted_reviews[-1]["state"] if posted_reviews else None,
            event=event,
            status=status,
            status_description=description,
            tools=[tool for report in reports for tool in report.tools],
            skipped=sum(len(report.skipped) for report in reports),
        )


def _pull_object(pr: CorpusPullRequest, number: int) -> dict[str, Any]:
    return {
        "number": number,
        "title": pr.title,
        "state": "open",
        "draft": False,
        "body": f"Benchmark copy of {pr.url}",
        "user": {"login": pr.author},
        "head": {"sha": pr.head_sha, "ref": f"pr-{pr.number}"},
        "base": {"sha": pr.base_sha, "ref": "main", "repo": {"full_name": pr.repo}},
    }


@contextmanager
def local_reviewer() -> Iterator[LocalReviewer]:
    """A fresh local GitHub server (nothing posted yet) and activities bound to it."""
    fake = FakeGitHub(TOKEN, rate_limit=RATE_LIMIT)
    with (
        tempfile.TemporaryDirectory(prefix="prsaga-quality-") as state_dir,
        serve_in_thread(fake) as url,
    ):
        yield LocalReviewer(url, fake, Path(state_dir))
