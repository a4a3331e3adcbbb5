"""Pull requests: seeding, pushes, closing and reopening, their files and labels."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from prsaga.local.github_fake.conversation import Conversation
from prsaga.local.github_fake.gitdata import (
    Commit,
    changed_files,
    map_line,
    new_commit_sha,
)
from prsaga.local.github_fake.objects import (
    CANONICAL_API_URL,
    CANONICAL_WEB_URL,
    TEMPLATE_LOGIN,
    deep_merge,
    github_timestamp,
    invalid_request,
    legacy_node_id,
    load_template,
)
from prsaga.local.github_fake.records import HeadCommit, PullRecord, of_pull
from prsaga.local.github_fake.repositories import Repositories
from prsaga.local.github_fake.review_lines import DiffLine, FileDiff

MAX_PULL_FILES = 3000
"""GitHub lists at most 3000 files of a pull request."""


def _pull_links(full_name: str, number: int, head_sha: str) -> dict[str, Any]:
    """The URL fields of a pull request object, in GitHub's key order."""
    api = f"{CANONICAL_API_URL}/repos/{full_name}"
    web = f"{CANONICAL_WEB_URL}/{full_name}"
    return {
        "url": f"{api}/pulls/{number}",
        "html_url": f"{web}/pull/{number}",
        "diff_url": f"{web}/pull/{number}.diff",
        "patch_url": f"{web}/pull/{number}.patch",
        "issue_url": f"{api}/issues/{number}",
        "commits_url": f"{api}/pulls/{number}/commits",
        "review_comments_url": f"{api}/pulls/{number}/comments",
        "review_comment_url": f"{api}/pulls/comments{{/number}}",
        "comments_url": f"{api}/issues/{number}/comments",
        "statuses_url": f"{api}/statuses/{head_sha}",
        "_links": {
            "self": {"href": f"{api}/pulls/{number}"},
            "html": {"href": f"{web}/pull/{number}"},
            "issue": {"href": f"{api}/issues/{number}"},
            "comments": {"href": f"{api}/issues/{number}/comments"},
            "review_comments": {"href": f"{api}/pulls/{number}/comments"},
            "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
            "commits": {"href": f"{api}/pulls/{number}/commits"},
            "statuses": {"href": f"{api}/statuses/{head_sha}"},
        },
    }


def _blobs(contents: Mapping[str, bytes | str]) -> dict[str, bytes]:
    return {
        path: data.encode("utf-8") if isinstance(data, str) else bytes(data)
        for path, data in contents.items()
    }


def _diffs(files: Sequence[Mapping[str, Any]]) -> dict[str, FileDiff]:
    return {item["filename"]: FileDiff.parse(item.get("patch")) for item in files}


def _label_names(payload: Any) -> list[str]:
    """Label names from any body ``POST .../labels`` accepts (names, ``{"name"}`` objects, or
    either under ``labels``)."""
    items = payload.get("labels") if isinstance(payload, dict) else payload
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, list) or not items:
        raise invalid_request("For 'labels', the value is not an array of labels.")
    names = []
    for item in items:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name:
            raise invalid_request(f"For 'items', {json.dumps(item)} is not a label.")
        names.append(name)
    return names


class PullRequests(Conversation, Repositories):
    """Pull requests, their files and labels."""

    def seed_pull_request(
        self,
        pull: Mapping[str, Any],
        files: Sequence[Mapping[str, Any]],
        contents: Mapping[str, bytes | str],
        *,
        base_contents: Mapping[str, bytes | str] | None = None,
    ) -> dict[str, Any]:
        """Add (or move to a new head) a pull request; see ``FakeGitHub.seed_pull_request``."""
        try:
            number = int(pull["number"])
            head_sha = str(pull["head"]["sha"])
            base_sha = str(pull["base"]["sha"])
            full_name = str(pull["base"]["repo"]["full_name"])
        except (KeyError, TypeError) as missing:
            raise ValueError(
                "a seeded pull request needs number, head.sha, base.sha and base.repo.full_name"
            ) from missing
        if "/" not in full_name:
            raise ValueError(f"base.repo.full_name must be OWNER/REPO, got {full_name!r}")
        blobs = _blobs(contents)
        with self._lock:
            known = self._repositories.get(full_name)
            repo_overlay = pull["base"]["repo"]
            if known is not None:  # Keep the repository's identity across seeds.
                repo_overlay = deep_merge(
                    {"id": known["id"], "owner": known["owner"]}, repo_overlay
                )
            repository = self._repository(full_name, repo_overlay)
            self._repositories[full_name] = self._full_repository(full_name, repository)
            file_items = [self._file_item(full_name, head_sha, item, blobs) for item in files]
            record = self._pulls.get((full_name, number))
            if record is not None:  # A new head of a known pull request (a "synchronize").
                pull = deep_merge(
                    {"id": record.pull["id"], "created_at": record.pull["created_at"]}, pull
                )
            built = self._pull_object(
                full_name, number, head_sha, base_sha, repository, pull, file_items
            )
            base = self._base_commit(full_name, base_sha, _blobs(base_contents or {}))
            self._branches[full_name][built["base"]["ref"]] = base_sha
            tree = {**base.tree, **blobs}
            for item in file_items:
                if item["status"] == "removed":
                    tree.pop(item["filename"], None)
            self._commits[full_name][head_sha] = Commit(
                sha=head_sha,
                parents=(base_sha,),
                tree=tree,
                message=str(built["title"]),
                author=built["user"],
                date=built["updated_at"],
                files=file_items,
            )
            old_head = None if record is None else record.pull["head"]["sha"]
            if record is None:
                record = PullRecord(full_name, number, built)
                self._pulls[(full_name, number)] = record
            else:
                record.pull = built
            record.commits = [head_sha]
            self._move_head(record, old_head, HeadCommit(head_sha, file_items, _diffs(file_items)))
            return copy.deepcopy(built)

    def _move_head(self, record: PullRecord, old_sha: str | None, head: HeadCommit) -> None:
        """Make ``head`` the pull request's head and re-anchor its review comments there."""
        record.heads[head.sha] = head
        record.pull["head"]["sha"] = head.sha
        record.pull.update(_pull_links(record.full_name, record.number, head.sha))
        record.pull.update(
            additions=sum(item["additions"] for item in head.files),
            deletions=sum(item["deletions"] for item in head.files),
            changed_files=len(head.files),
            commits=len(record.commits),
        )
        self._branches[record.full_name][record.pull["head"]["ref"]] = head.sha
        if old_sha is not None and old_sha != head.sha:
            for comment in of_pull(self._review_comments, record):
                self._reanchor(record, comment, head)

    def _reanchor(self, record: PullRecord, comment: dict[str, Any], head: HeadCommit) -> None:
        """Follow a review comment to a new head, or mark it outdated as GitHub does.

        A comment stays current when its lines are untouched by the push and still shown by
        the pull request's new diff: its ``line`` and ``position`` move with them and
        ``commit_id`` becomes the new head. Otherwise GitHub keeps it with ``position`` and
        ``line`` set to ``null`` (the ``original_*`` fields keep where it was written).
        """
        if comment["position"] is None:
            return  # already outdated: GitHub never revives it
        commits = self._commits[record.full_name]
        path = comment["path"]
        old_blob = commits[comment["commit_id"]].tree.get(path)
        new_blob = commits[head.sha].tree.get(path)
        old_diff = record.heads[comment["commit_id"]].diffs.get(path)
        new_diff = head.diffs.get(path)

        def follow(side: str | None, number: int | None) -> DiffLine | None:
            if side is None or number is None or new_diff is None:
                return None
            moved: int | None = number
            if side == "RIGHT":  # LEFT lines belong to the base, which a push does not change
                if old_blob is not None and new_blob is not None:
                    moved = map_line(old_blob, new_blob, number)
                elif old_diff is None or old_diff.patch_lines != new_diff.patch_lines:
                    moved = None  # contents unknown: only an identical diff keeps the line
            return None if moved is None else new_diff.find(side, moved)

        end = follow(comment["side"], comment["line"])
        start = follow(comment["start_side"], comment["start_line"])
        if end is None or (comment["start_line"] is not None and start is None):
            comment.update(position=None, line=None, start_line=None)
            return
        comment.update(
            position=end.position,
            line=end.new_line if comment["side"] == "RIGHT" else end.old_line,
            commit_id=head.sha,
        )
        if start is not None:
            comment["start_line"] = (
                start.new_line if comment["start_side"] == "RIGHT" else start.old_line
            )

    def push(
        self,
        owner: str,
        repo: str,
        number: int,
        files: Sequence[Mapping[str, Any]] | None,
        contents: Mapping[str, bytes | str | None] | None,
        *,
        force: bool = False,
        message: str | None = None,
    ) -> str:
        """Add a commit to a pull request's branch; see ``FakeGitHub.push``."""
        with self._lock:
            record = self._record_or_value_error(owner, repo, number)
            full_name = record.full_name
            commits = self._commits[full_name]
            old_sha = record.pull["head"]["sha"]
            base_sha = record.pull["base"]["sha"]
            tree = dict(commits[old_sha].tree)
            for path, data in (contents or {}).items():
                if data is None:
                    tree.pop(path, None)
                else:
                    tree[path] = data.encode("utf-8") if isinstance(data, str) else bytes(data)
            parent = base_sha if force else old_sha
            message = message or f"Commit {len(record.commits) + 1} of #{number}"
            sha = new_commit_sha(full_name, parent, message, str(self._new_id()))
            if files is None:
                files = changed_files(commits[base_sha].tree, tree)
            file_items = [self._file_item(full_name, sha, item, tree) for item in files]
            now = github_timestamp(datetime.now(UTC))
            commits[sha] = Commit(sha, (parent,), tree, message, record.pull["user"], now)
            record.commits = [sha] if force else [*record.commits, sha]
            record.pull["updated_at"] = now
            self._move_head(record, old_sha, HeadCommit(sha, file_items, _diffs(file_items)))
            return sha

    def close_pull_request(
        self, owner: str, repo: str, number: int, *, merged: bool
    ) -> dict[str, Any]:
        """Close a pull request, merged or not; see ``FakeGitHub.close``."""
        with self._lock:
            record = self._record_or_value_error(owner, repo, number)
            if record.pull["state"] == "closed":
                raise ValueError(f"{record.full_name}#{number} is already closed")
            now = github_timestamp(datetime.now(UTC))
            record.pull.update(state="closed", closed_at=now, updated_at=now, mergeable=None)
            if merged:
                head_sha = record.pull["head"]["sha"]
                record.pull.update(
                    merged=True,
                    merged_at=now,
                    merged_by=record.pull["base"]["repo"]["owner"],
                    merge_commit_sha=new_commit_sha(record.full_name, "merge", head_sha),
                )
            return copy.deepcopy(record.pull)

    def reopen_pull_request(self, owner: str, repo: str, number: int) -> dict[str, Any]:
        """Reopen a closed, unmerged pull request; see ``FakeGitHub.reopen``."""
        with self._lock:
            record = self._record_or_value_error(owner, repo, number)
            if record.pull["state"] != "closed" or record.pull["merged"]:
                raise ValueError(f"{record.full_name}#{number} is not closed without merging")
            now = github_timestamp(datetime.now(UTC))
            record.pull.update(state="open", closed_at=None, updated_at=now, mergeable=True)
            return copy.deepcopy(record.pull)

    def set_labels(
        self, owner: str, repo: str, number: int, labels: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Replace a pull request's labels (creating unknown ones as GitHub does)."""
        with self._lock:
            record = self._record_or_value_error(owner, repo, number)
            record.labels = []
            return self._add_labels(record, [str(name) for name in labels])

    def _pull_object(
        self,
        full_name: str,
        number: int,
        head_sha: str,
        base_sha: str,
        repository: dict[str, Any],
        seed: Mapping[str, Any],
        files: list[dict[str, Any]],
    ) -> dict[str, Any]:
        owner = repository["owner"]
        seed_user = seed.get("user") or {}
        author = self._user(
            seed_user.get("login", TEMPLATE_LOGIN), seed_user.get("id") or self._new_id()
        )
        pull_id = seed.get("id") or self._new_id()
        now = github_timestamp(datetime.now(UTC))
        head_ref = seed.get("head", {}).get("ref", f"pr-{number}")
        base_ref = seed.get("base", {}).get("ref", repository["default_branch"])
        pull = load_template("pulls.get.response.200.json")
        pull.update(
            id=pull_id,
            node_id=legacy_node_id("PullRequest", pull_id),
            number=number,
            state="open",
            locked=False,
            title=f"Pull request #{number}",
            user=author,
            body=None,
            labels=[],
            milestone=None,
            active_lock_reason=None,
            created_at=now,
            updated_at=now,
            closed_at=None,
            merged_at=None,
            merge_commit_sha=None,
            assignee=None,
            assignees=[],
            requested_reviewers=[],
            requested_teams=[],
            head={
                "label": f"{owner['login']}:{head_ref}",
                "ref": head_ref,
                "sha": head_sha,
                "user": owner,
                "repo": repository,
            },
            base={
                "label": f"{owner['login']}:{base_ref}",
                "ref": base_ref,
                "sha": base_sha,
                "user": owner,
                "repo": repository,
            },
            author_association="CONTRIBUTOR",
            auto_merge=None,
            draft=False,
            merged=False,
            mergeable=True,
            rebaseable=True,
            mergeable_state="clean",
            merged_by=None,
            comments=0,
            review_comments=0,
            maintainer_can_modify=False,
            commits=1,
        )
        pull = deep_merge(pull, seed)
        # These follow from the repository, number, head and diff, whatever a seeded copy of an
        # older object (say, the demo renumbered) still says.
        pull.update(_pull_links(full_name, number, head_sha))
        pull.update(
            additions=sum(item["additions"] for item in files),
            deletions=sum(item["deletions"] for item in files),
            changed_files=len(files),
        )
        return pull

    def get_pull(self, owner: str, repo: str, number: int) -> dict[str, Any]:
        with self._lock:
            record = self._record(owner, repo, number)
            pull = copy.deepcopy(record.pull)
            pull["comments"] = len(of_pull(self._issue_comments, record))
            pull["review_comments"] = len(self._visible_review_comments(record))
            pull["labels"] = self._label_objects(record)
            return pull

    def list_pull_files(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        with self._lock:
            record = self._record(owner, repo, number)
            return copy.deepcopy(record.head.files[:MAX_PULL_FILES])

    def list_issue_labels(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        with self._lock:
            return self._label_objects(self._record(owner, repo, number))

    def add_issue_labels(
        self, owner: str, repo: str, number: int, payload: Any
    ) -> list[dict[str, Any]]:
        """``POST .../issues/{n}/labels``: every body form GitHub takes; answers all labels."""
        with self._lock:
            record = self._record(owner, repo, number)
            return self._add_labels(record, _label_names(payload))

    def _add_labels(self, record: PullRecord, names: list[str]) -> list[dict[str, Any]]:
        labels = self._labels.setdefault(record.full_name, {})
        for name in names:
            if name.lower() not in labels:  # GitHub creates a label it does not know yet
                label_id = self._new_id()
                labels[name.lower()] = {
                    "id": label_id,
                    "node_id": legacy_node_id("Label", label_id),
                    "url": f"{CANONICAL_API_URL}/repos/{record.full_name}/labels/"
                    + quote(name, safe=""),
                    "name": name,
                    "description": None,
                    "color": "ededed",
                    "default": False,
                }
            if name.lower() not in (known.lower() for known in record.labels):
                record.labels.append(labels[name.lower()]["name"])
        return self._label_objects(record)

    def _label_objects(self, record: PullRecord) -> list[dict[str, Any]]:
        labels = self._labels.get(record.full_name, {})
        return [copy.deepcopy(labels[name.lower()]) for name in record.labels]
