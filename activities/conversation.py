"""The conversation agent: replies in the pull request's thread, and who may steer the review."""

from __future__ import annotations

import threading
import time

from temporalio import activity

from prsaga.adapters.github_client import OwnIdentity, authored_by, github_errors, make_github
from prsaga.review.findings import truncate_body
from prsaga.runtime.config import Settings
from prsaga.schema import PermissionInput, ReplyInput

from .heartbeat import heartbeats


def reply_marker(key: str) -> str:
    return f"<!-- prsaga:reply key={key} -->"


class ConversationAgent:
    """Activities that talk in the pull request's conversation, bound to the worker's settings."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._identity = OwnIdentity(settings)
        # Permissions are asked for every privileged command; a short cache spares GitHub's rate
        # limit when a maintainer types several commands, and expires before it matters.
        self._permissions: dict[tuple[str, str], tuple[float, str]] = {}
        self._lock = threading.Lock()

    @activity.defn(name="reply")
    @heartbeats
    def reply(self, input: ReplyInput) -> int:
        """Post ``input.body`` as a comment, once: a retry finds its marker (on a comment of
        prsaga's own, never on a copy someone else posted) and posts nothing."""
        marker = reply_marker(input.key)
        gh = make_github(
            self._settings,
            installation_id=input.installation_id,
            repo_full_name=input.pr.full_name,
        )
        with github_errors(f"replying on {input.pr}"):
            issue = gh.get_repo(input.pr.full_name).get_issue(input.pr.number)
            own_login = self._identity.login(gh, input.pr.full_name)
            for comment in issue.get_comments():
                if marker in (comment.body or "") and authored_by(comment.user, own_login):
                    return comment.id
            body = truncate_body(input.body, reserve=len(marker) + 2)
            return issue.create_comment(f"{body}\n\n{marker}").id

    @activity.defn(name="get_permission")
    @heartbeats
    def get_permission(self, input: PermissionInput) -> str:
        """The sender's permission on the repository (admin, maintain, write, triage, read or
        none), as GitHub answers it, cached for ``permission_cache_seconds``."""
        key = (input.pr.full_name, input.login.lower())
        now = time.monotonic()
        with self._lock:
            cached = self._permissions.get(key)
        if cached is not None and now - cached[0] < self._settings.permission_cache_seconds:
            return cached[1]
        gh = make_github(
            self._settings,
            installation_id=input.installation_id,
            repo_full_name=input.pr.full_name,
        )
        with github_errors(f"asking the permission of {input.login} on {input.pr.full_name}"):
            permission = gh.get_repo(input.pr.full_name).get_collaborator_permission(input.login)
        with self._lock:
            self._permissions[key] = (now, permission)
        return permission
