"""The demo pull request: a real psf/requests commit, served by the local GitHub server.

The diff is commit ``ca35c847a203`` ("Moved testserver to tests/"): a new text file, a new
empty file and a new binary editor swap file (``.server.py.swo``), which is what the offline
reviewer has to cope with. See ``fixtures/PROVENANCE.md`` for where every value comes from and
which ones (number, author, body) are illustrative.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

FIXTURES = "fixtures"


@dataclass(frozen=True)
class DemoPullRequest:
    """Everything the local GitHub server and the webhook server need to replay the demo."""

    pull: dict[str, Any]
    """The pull request object, as ``GET /repos/psf/requests/pulls/2400`` returns it."""
    files: list[dict[str, Any]]
    """Items of ``GET .../pulls/2400/files``."""
    contents: dict[str, bytes]
    """File contents at the head SHA. The binary ``.server.py.swo`` is absent on purpose: its
    bytes are not in the source diff, so the contents API answers 404 for it."""
    webhook_payload: dict[str, Any]
    """The ``pull_request`` ``opened`` delivery body announcing this pull request."""

    @property
    def full_name(self) -> str:
        return str(self.pull["base"]["repo"]["full_name"])

    @property
    def number(self) -> int:
        return int(self.pull["number"])

    @property
    def head_sha(self) -> str:
        return str(self.pull["head"]["sha"])


def _fixture_json(name: str) -> Any:
    return json.loads(resources.files(__package__).joinpath(FIXTURES, name).read_text("utf-8"))


@cache
def _load() -> str:
    # Cached as text so every caller gets its own mutable copy.
    return json.dumps(
        {
            "pull": _fixture_json("pull.json"),
            "files": _fixture_json("files.json"),
            "contents": _fixture_json("contents.json"),
            "webhook_payload": _fixture_json("webhook-pull_request-opened.json"),
        }
    )


def load_demo_pull_request() -> DemoPullRequest:
    """The demo pull request (psf/requests#2400, head ``ca35c847a203``), freshly loaded."""
    data = json.loads(_load())
    return DemoPullRequest(
        pull=data["pull"],
        files=data["files"],
        contents={path: text.encode("utf-8") for path, text in data["contents"].items()},
        webhook_payload=data["webhook_payload"],
    )
