"""Which pull request, which head, and where its workflow is: the vocabulary every other
schema module and every process shares."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# GitHub's rules: owners are alphanumerics and single hyphens; repositories add "." and "_".
_OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"


_REPO = r"[A-Za-z0-9._-]{1,100}"


_PR_SPEC = re.compile(rf"^(?P<owner>{_OWNER})/(?P<repo>{_REPO})#(?P<number>[1-9][0-9]*)$")


class PullRequestRef(BaseModel):
    """Which pull request: the business key of its workflow."""

    model_config = ConfigDict(frozen=True)

    owner: str = Field(pattern=rf"^{_OWNER}$")
    repo: str = Field(pattern=rf"^{_REPO}$")
    number: int = Field(gt=0)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"

    @property
    def workflow_id(self) -> str:
        """``pr-OWNER/REPO-N``: readable, and unambiguous because "/" is in no owner or repo name
        (``pr-OWNER-REPO-N`` would give ``a-b/c`` and ``a/b-c`` the same id)."""
        return f"pr-{self.owner}/{self.repo}-{self.number}"

    def __str__(self) -> str:
        return f"{self.full_name}#{self.number}"

    @classmethod
    def parse(cls, spec: str) -> PullRequestRef:
        """Parse ``OWNER/REPO#N``."""
        match = _PR_SPEC.match(spec.strip())
        if match is None:
            raise ValueError(f"expected OWNER/REPO#NUMBER, got {spec!r}")
        return cls(owner=match["owner"], repo=match["repo"], number=int(match["number"]))


class DiffRef(BaseModel):
    """A reference to a parsed diff, so that activities exchange ids and not patches.

    The parsed diff of a pull request at a head SHA never changes, so (pull request, head SHA) is
    its identity: any worker can load it from the shared cache, or rebuild it from GitHub.
    """

    model_config = ConfigDict(frozen=True)

    pr: PullRequestRef
    head_sha: str = Field(pattern=r"^[0-9a-f]{40}$")


class ReviewStep(StrEnum):
    """Where a pull request's workflow is (``prsaga.review.lifecycle`` holds the allowed moves)."""

    IDLE = "idle"
    PARSING = "parsing"
    ANALYZING = "analyzing"
    AWAITING_APPROVAL = "awaiting_approval"
    COMMENTING = "commenting"
    COMPLETED = "completed"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    CANCELLED = "cancelled"
    CLOSED = "closed"


SHA = Field(pattern=r"^[0-9a-f]{40}$")


MAX_REPLY_CHARS = 60_000
"""A reply's length in history (GitHub takes 65,536; the activity adds a marker)."""


MAX_REASON_CHARS = 1000


def clip(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, saying so when cut. The workflow clips untrusted
    text (error messages, configuration problems) before putting it in a model, since a model
    that refuses it inside workflow code would fail the workflow task over and over."""
    if len(text) <= limit:
        return text
    note = " … (cut)"
    return text[: limit - len(note)] + note


def _assume_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


GitHubTime = Annotated[datetime, AfterValidator(_assume_utc)]
"""A GitHub timestamp: UTC, so that one sent without a zone still compares with the others."""
