"""The in-memory state of the local GitHub server, and the GitHub-shaped objects built from it.

Everything here is HTTP-free: the store answers with plain dicts shaped like GitHub's REST
responses, or raises :class:`GitHubError` with the message and ``errors`` GitHub would send. The
HTTP layer (``app.py``) turns those into responses.

Objects are built from GitHub's own examples (``templates/``, see its PROVENANCE.md) and stored
with GitHub's canonical ``https://api.github.com`` URLs; the HTTP layer rewrites that prefix to
the server's own base URL on the way out, so that PyGithub follows links back to this server.
"""

from __future__ import annotations

import copy
from typing import Any

from prsaga.local.github_fake.checks import Checks
from prsaga.local.github_fake.pulls import PullRequests
from prsaga.local.github_fake.records import split_key
from prsaga.local.github_fake.traffic import Traffic


class Store(PullRequests, Checks, Traffic):
    """The local GitHub's state and its REST operations, one part per responsibility
    (see the modules of the base classes); :meth:`snapshot` is the admin view of it all.
    """

    def snapshot(self) -> dict[str, Any]:
        """Everything written so far, plus the request log (no headers, so no token).

        Reviews, statuses, issue comments, reactions and check runs are GitHub's objects with a
        few keys of the server's own added: ``repository`` and ``pull_number`` (or ``sha`` for
        a status, ``comment_id`` for a reaction), a review's ``comments`` and a check run's
        ``annotations``. Apps appear by id and slug with their installations and how many
        tokens each was issued: never a key or a token.
        """
        with self._lock:
            return {
                "pulls": [
                    {
                        "repository": record.full_name,
                        "number": record.number,
                        "head_sha": record.pull["head"]["sha"],
                        "base_sha": record.pull["base"]["sha"],
                        "files": len(record.head.files),
                        "commits": list(record.commits),
                        "state": record.pull["state"],
                        "merged": record.pull["merged"],
                        "labels": list(record.labels),
                    }
                    for record in self._pulls.values()
                ],
                "reviews": [
                    {
                        **self._public(review),
                        **split_key(review["_pull"]),
                        "comments": [
                            self._public(c)
                            for c in self._review_comments.values()
                            if c["pull_request_review_id"] == review_id
                        ],
                    }
                    for review_id, review in self._reviews.items()
                ],
                "statuses": [
                    {
                        **self._public(status),
                        "repository": status["_ref"].split("@")[0],
                        "sha": status["_ref"].split("@")[1],
                    }
                    for status in self._statuses
                ],
                "issue_comments": [
                    {**self._public(comment), **split_key(comment["_pull"])}
                    for comment in self._issue_comments.values()
                ],
                "reactions": [
                    {**self._public(reaction), "comment_id": reaction["_comment"]}
                    for reaction in self._reactions.values()
                ],
                "check_runs": [
                    {
                        **self._public(run),
                        "repository": run["_ref"],
                        "annotations": copy.deepcopy(run["_annotations"]),
                    }
                    for run in self._check_runs.values()
                ],
                "permissions": {full_name: dict(roles) for full_name, roles in self._roles.items()},
                "apps": [
                    {
                        "app_id": app.app_id,
                        "slug": app.slug,
                        "installations": [
                            {
                                "id": installation.installation_id,
                                "repositories": list(installation.repositories),
                                "permissions": dict(installation.permissions),
                                "tokens_issued": installation.tokens_issued,
                            }
                            for installation in self._installations.values()
                            if installation.app_id == app.app_id
                        ],
                    }
                    for app in self._apps.values()
                ],
                "faults": [fault.describe() for fault in self._faults],
                "requests": copy.deepcopy(self._requests),
            }
