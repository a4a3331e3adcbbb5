"""What the store keeps per pull request, per fault and for the rate limit."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prsaga.local.github_fake.review_lines import FileDiff


@dataclass
class HeadCommit:
    """A head of a pull request: the pull request's files (its diff against the base) there."""

    sha: str
    files: list[dict[str, Any]]
    diffs: dict[str, FileDiff]


@dataclass
class PullRecord:
    """A seeded pull request, every head it has had, and its current history."""

    full_name: str
    number: int
    pull: dict[str, Any]
    heads: dict[str, HeadCommit] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)
    """The pull request's commits on top of its base, oldest first (what a push appends to)."""
    labels: list[str] = field(default_factory=list)

    @property
    def head(self) -> HeadCommit:
        return self.heads[self.pull["head"]["sha"]]


@dataclass
class Fault:
    """An injected failure: the next ``times`` matching requests get this answer."""

    status: int
    path_regex: re.Pattern[str]
    method: str | None = None
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    skip: int = 0
    """Matching requests to let through before the fault starts answering."""
    after_handling: bool = False
    """Handle the request first (its writes happen), then lose the answer: a timeout or a 502
    after GitHub did the work, the case that makes retries post twice."""

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and bool(self.path_regex.search(path))

    def describe(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path_regex": self.path_regex.pattern,
            "status": self.status,
            "times": self.times,
            "headers": self.headers,
            "body": self.body,
            "skip": self.skip,
            "after_handling": self.after_handling,
        }


@dataclass(frozen=True)
class RateLimit:
    """The ``x-ratelimit-*`` numbers of one response."""

    limit: int
    remaining: int
    used: int
    reset: int

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset),
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-resource": "core",
        }


def pull_key(record: PullRecord) -> str:
    return f"{record.full_name}#{record.number}"


def of_pull(objects: Mapping[int, dict[str, Any]], record: PullRecord) -> list[dict[str, Any]]:
    """The stored objects (reviews, comments) that belong to one pull request, oldest first."""
    key = pull_key(record)
    return [obj for obj in objects.values() if obj["_pull"] == key]


def split_key(key: str) -> dict[str, Any]:
    full_name, number = key.rsplit("#", 1)
    return {"repository": full_name, "pull_number": int(number)}
