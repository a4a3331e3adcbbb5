"""``prsaga local ...``: act on the local GitHub of ``prsaga dev`` as a user would on GitHub.

Each command changes the demo pull request on the local GitHub-compatible server (new commits, a
comment, a collaborator's permission) and then sends the signed webhook delivery GitHub would
send, so the whole story (open, push twice, ``/agent approve``) runs without a real repository.
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from prsaga.local.demo import load_demo_pull_request
from prsaga.local.github_fake.objects import github_timestamp
from prsaga.runtime.config import Settings
from starter.demo import deliver


class LocalGitHub:
    """The local GitHub's admin API, and the webhook server it delivers to."""

    def __init__(self, settings: Settings, webhook_secret: str) -> None:
        self._github = f"http://127.0.0.1:{settings.local_github_port}"
        self._webhook = f"http://{settings.webhook_host}:{settings.webhook_port}"
        self._secret = webhook_secret
        demo = load_demo_pull_request()
        self._payload = demo.webhook_payload
        repository = self._payload["repository"]
        self.owner, self.repo = repository["owner"]["login"], repository["name"]
        self.number = int(self._payload["number"])

    def _admin(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = httpx.request(method, f"{self._github}/_fake/{path}", json=body, timeout=10)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def _deliver(self, event: str, payload: dict[str, Any]) -> str:
        delivery_id = str(uuid.uuid4())
        response = deliver(self._webhook, self._secret, event, payload, delivery_id)
        response.raise_for_status()
        return f"{event} delivery {delivery_id} -> HTTP {response.status_code}"

    def push(self, contents: dict[str, str], *, force: bool = False) -> str:
        """Commit ``contents`` (path -> text) on the pull request's branch; deliver the push."""
        pull = f"pulls/{self.owner}/{self.repo}/{self.number}"
        head = self._admin("POST", f"{pull}/push", {"contents": contents, "force": force})["sha"]
        payload = copy.deepcopy(self._payload)
        payload["action"] = "synchronize"
        payload["pull_request"]["head"]["sha"] = head
        # As GitHub sends it: the push is the pull request's newest change.
        payload["pull_request"]["updated_at"] = github_timestamp(datetime.now(UTC))
        return f"pushed {head[:12]}; " + self._deliver("pull_request", payload)

    def comment(self, login: str, body: str) -> str:
        """``login`` comments ``body`` on the pull request; deliver ``issue_comment``."""
        pull = f"pulls/{self.owner}/{self.repo}/{self.number}"
        comment = self._admin("POST", f"{pull}/comments", {"body": body, "login": login})
        comment = comment["comment"]
        pull_request = self._payload["pull_request"]
        payload = {
            "action": "created",
            "issue": {
                "number": self.number,
                "title": pull_request["title"],
                "html_url": pull_request["html_url"],
                "pull_request": {"url": pull_request["url"], "html_url": pull_request["html_url"]},
            },
            "comment": comment,
            "repository": self._payload["repository"],
            "sender": comment["user"],
        }
        return f"comment {comment['id']} by {login}; " + self._deliver("issue_comment", payload)

    def grant(self, login: str, permission: str) -> str:
        self._admin(
            "PUT", f"permissions/{self.owner}/{self.repo}/{login}", {"permission": permission}
        )
        return f"{login} now has {permission} permission on {self.owner}/{self.repo}"


def read_contents(specs: list[str]) -> dict[str, str]:
    """``PATH=LOCAL_FILE`` (that file's text) or ``PATH=`` / ``PATH`` (a generated note)."""
    contents = {}
    for spec in specs:
        path, _, source = spec.partition("=")
        text = Path(source).read_text() if source else f"note pushed with prsaga local ({path})\n"
        contents[path] = text
    return contents
