"""Repositories and their git data (contents, commits, comparisons) and collaborators."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from prsaga.local.github_fake.gitdata import (
    Commit,
    changed_files,
    commits_between,
    git_blob_sha,
    merge_base,
)
from prsaga.local.github_fake.objects import (
    CANONICAL_API_URL,
    CANONICAL_WEB_URL,
    GitHubError,
    NotFoundError,
    deep_merge,
    github_timestamp,
    legacy_node_id,
    load_template,
    wrapped_base64,
)
from prsaga.local.github_fake.state import StoreState

MAX_CONTENT_BYTES = 1024 * 1024
"""Above 1 MB the contents API answers ``encoding: "none"`` and an empty ``content``."""

MAX_COMPARE_FILES = 300
"""The compare API lists at most 300 files."""

ROLES = ("none", "read", "triage", "write", "maintain", "admin")
"""Repository roles, weakest first."""

LEGACY_PERMISSIONS = {
    "none": "none",
    "read": "read",
    "triage": "read",
    "write": "write",
    "maintain": "write",
    "admin": "admin",
}
"""The collaborator-permission API's ``permission``: maintain reads as write, triage as read."""


def _strip_owner(ref: str, owner: str) -> str | None:
    """A compare side: ``ref`` or ``owner:ref`` of this repository (forks are not modelled)."""
    if ":" not in ref:
        return ref
    ref_owner, _, name = ref.partition(":")
    return name if ref_owner.lower() == owner.lower() else None


class Repositories(StoreState):
    """Repositories, git data and collaborators."""

    def _base_commit(self, full_name: str, sha: str, blobs: Mapping[str, bytes]) -> Commit:
        """The base commit of a pull request (a root: its own history is not modelled)."""
        commits = self._commits.setdefault(full_name, {})
        self._branches.setdefault(full_name, {})
        base = commits.get(sha)
        if base is None:
            owner = self._repositories[full_name]["owner"]
            date = github_timestamp(datetime.now(UTC))
            base = Commit(sha, (), {}, "Base commit", owner, date, files=[])
            commits[sha] = base
        base.tree.update(blobs)
        return base

    def set_permission(self, full_name: str, login: str, permission: str) -> None:
        """Give ``login`` a role on a repository; see ``FakeGitHub.set_permission``."""
        if permission not in ROLES:
            raise ValueError(f"permission must be one of {', '.join(ROLES)}, got {permission!r}")
        with self._lock:
            if full_name not in self._repositories:
                raise ValueError(f"seed a pull request of {full_name} first")
            self._roles.setdefault(full_name, {})[login.lower()] = permission

    def get_repository(self, owner: str, repo: str) -> dict[str, Any]:
        with self._lock:
            full_name = self._require_repository(owner, repo)
            repository = copy.deepcopy(self._repositories[full_name])
            open_pulls = sum(
                1
                for (name, _), record in self._pulls.items()
                if name == full_name and record.pull["state"] == "open"
            )
            repository["open_issues_count"] = repository["open_issues"] = open_pulls
            return repository

    def get_content(self, owner: str, repo: str, path: str, ref: str | None) -> dict[str, Any]:
        """A file at a commit or branch (the default branch without ``ref``), as GitHub does."""
        with self._lock:
            full_name = self._require_repository(owner, repo)
            commit = self._resolve(full_name, ref)
            if commit is None or path not in commit.tree:
                raise NotFoundError()
            data = commit.tree[path]
            ref = ref or self._repositories[full_name]["default_branch"]
        sha = git_blob_sha(data)
        quoted = quote(path, safe="/")
        self_url = f"{CANONICAL_API_URL}/repos/{full_name}/contents/{quoted}?ref={ref}"
        git_url = f"{CANONICAL_API_URL}/repos/{full_name}/git/blobs/{sha}"
        html_url = f"{CANONICAL_WEB_URL}/{full_name}/blob/{ref}/{quoted}"
        content = load_template("repos.get-content.response.200.response-if-content-is-a-file.json")
        too_large = len(data) > MAX_CONTENT_BYTES
        content.update(
            type="file",
            encoding="none" if too_large else "base64",
            size=len(data),
            name=path.rsplit("/", 1)[-1],
            path=path,
            content="" if too_large else wrapped_base64(data),
            sha=sha,
            url=self_url,
            git_url=git_url,
            html_url=html_url,
            download_url=f"https://raw.githubusercontent.com/{full_name}/{ref}/{quoted}",
            _links={"self": self_url, "git": git_url, "html": html_url},
        )
        return content

    def get_commit(self, owner: str, repo: str, ref: str) -> dict[str, Any]:
        with self._lock:
            full_name = self._require_repository(owner, repo)
            commit = self._resolve(full_name, ref)
            if commit is None:
                raise GitHubError(422, f"No commit found for SHA: {ref}")
            return self._commit_object(full_name, commit, with_files=True)

    def _commit_files(self, full_name: str, commit: Commit) -> list[dict[str, Any]]:
        """A commit's own changes: as seeded, or computed against its parent's tree."""
        if commit.files is not None:
            return copy.deepcopy(commit.files)
        parent = self._commits[full_name][commit.parents[0]]
        return [
            self._file_item(full_name, commit.sha, item, commit.tree)
            for item in changed_files(parent.tree, commit.tree)
        ]

    def _file_item(
        self,
        full_name: str,
        head_sha: str,
        item: Mapping[str, Any],
        blobs: Mapping[str, bytes],
    ) -> dict[str, Any]:
        """GitHub's item of one changed file (``/pulls/{n}/files``, commits, comparisons)."""
        filename = str(item["filename"])
        sha = item.get("sha")
        if sha is None and filename in blobs:
            sha = git_blob_sha(blobs[filename])
        quoted = quote(filename, safe="/")
        built = load_template("pulls.list-files.response.200.json")[0]
        built.update(
            sha=sha,
            filename=filename,
            status=item.get("status", "modified"),
            additions=int(item.get("additions", 0)),
            deletions=int(item.get("deletions", 0)),
            changes=int(item.get("changes", 0)),
            blob_url=f"{CANONICAL_WEB_URL}/{full_name}/blob/{head_sha}/{quoted}",
            raw_url=f"{CANONICAL_WEB_URL}/{full_name}/raw/{head_sha}/{quoted}",
            contents_url=f"{CANONICAL_API_URL}/repos/{full_name}/contents/{quoted}?ref={head_sha}",
        )
        del built["patch"]  # Binary and hunk-less files have none; the seed says which.
        merged = deep_merge(built, item)
        for key in ("blob_url", "raw_url", "contents_url"):  # they follow from the head SHA
            merged[key] = built[key]
        return merged

    def _commit_object(self, full_name: str, commit: Commit, *, with_files: bool) -> dict[str, Any]:
        """GitHub's ``commit`` object; ``stats`` and ``files`` only where GitHub sends them."""
        api = f"{CANONICAL_API_URL}/repos/{full_name}"
        web = f"{CANONICAL_WEB_URL}/{full_name}"
        author = commit.author
        signature = {
            "name": author["login"],
            "email": f"{author['id']}+{author['login']}@users.noreply.github.com",
            "date": commit.date,
        }
        built = load_template("repos.get-commit.response.200.json")
        built.update(
            url=f"{api}/commits/{commit.sha}",
            sha=commit.sha,
            node_id=legacy_node_id("Commit", f"{self._repositories[full_name]['id']}:{commit.sha}"),
            html_url=f"{web}/commit/{commit.sha}",
            comments_url=f"{api}/commits/{commit.sha}/comments",
            author=author,
            committer=author,
            parents=[
                {
                    "url": f"{api}/commits/{parent}",
                    "sha": parent,
                    "html_url": f"{web}/commit/{parent}",
                }
                for parent in commit.parents
            ],
        )
        if with_files:
            files = self._commit_files(full_name, commit)
            built.update(
                stats={
                    "additions": sum(f["additions"] for f in files),
                    "deletions": sum(f["deletions"] for f in files),
                    "total": sum(f["changes"] for f in files),
                },
                files=files,
            )
        else:
            del built["stats"], built["files"]
        # The fake has no git trees; the tree id is derived from the commit so it is stable.
        tree_sha = hashlib.sha1(f"tree-of-{commit.sha}".encode(), usedforsecurity=False).hexdigest()
        built["commit"].update(
            url=f"{api}/git/commits/{commit.sha}",
            author=signature,
            committer=signature,
            message=commit.message,
            tree={"url": f"{api}/git/trees/{tree_sha}", "sha": tree_sha},
            comment_count=0,
        )
        return built

    def compare(
        self, owner: str, repo: str, basehead: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """``GET .../compare/{base}...{head}``: the comparison, and its commits to paginate.

        Like GitHub, commits that a force push left behind can still be compared (they
        answer ``diverged``); a ref the server never saw, or two histories with nothing in
        common, answer 404.
        """
        with self._lock:
            full_name = self._require_repository(owner, repo)
            base_ref, separator, head_ref = basehead.partition("...")
            if not separator:
                raise NotFoundError()
            base = self._resolve(full_name, _strip_owner(base_ref, owner))
            head = self._resolve(full_name, _strip_owner(head_ref, owner))
            if base is None or head is None:
                raise NotFoundError()
            commits = self._commits[full_name]
            merge = merge_base(commits, base.sha, head.sha)
            if merge is None:
                raise GitHubError(404, f"No common ancestor between {base_ref} and {head_ref}.")
            ahead = commits_between(commits, base.sha, head.sha)
            behind = commits_between(commits, head.sha, base.sha)
            status = (
                ("diverged" if behind else "ahead")
                if ahead
                else ("behind" if behind else "identical")
            )
            comparison = load_template("repos.compare-commits.response.200.json")
            api = f"{CANONICAL_API_URL}/repos/{full_name}"
            web = f"{CANONICAL_WEB_URL}/{full_name}"
            comparison.update(
                url=f"{api}/compare/{basehead}",
                html_url=f"{web}/compare/{basehead}",
                permalink_url=f"{web}/compare/{owner}:{base.sha}...{owner}:{head.sha}",
                diff_url=f"{web}/compare/{basehead}.diff",
                patch_url=f"{web}/compare/{basehead}.patch",
                base_commit=self._commit_object(full_name, base, with_files=False),
                merge_base_commit=self._commit_object(full_name, commits[merge], with_files=False),
                status=status,
                ahead_by=len(ahead),
                behind_by=len(behind),
                total_commits=len(ahead),
                files=self._compared_files(full_name, commits[merge], head),
            )
            listed = [
                self._commit_object(full_name, commits[sha], with_files=False) for sha in ahead
            ]
            return comparison, listed

    def _compared_files(self, full_name: str, merge: Commit, head: Commit) -> list[dict[str, Any]]:
        """Files changed from the merge base to the head (three-dot), as GitHub lists them.

        From a pull request's base to one of its heads that is exactly the pull request's
        files at that head (seeded or computed); otherwise the trees are compared.
        """
        for (name, _), record in self._pulls.items():
            if (
                name == full_name
                and record.pull["base"]["sha"] == merge.sha
                and head.sha in record.heads
            ):
                return copy.deepcopy(record.heads[head.sha].files[:MAX_COMPARE_FILES])
        entries = changed_files(merge.tree, head.tree)
        return [
            self._file_item(full_name, head.sha, item, head.tree)
            for item in entries[:MAX_COMPARE_FILES]
        ]

    def collaborator_permission(self, owner: str, repo: str, username: str) -> dict[str, Any]:
        """A user's role on a repository, with the legacy ``permission`` GitHub derives from it.

        The repository's owner is an admin; anyone else without a role reads a public
        repository (``read``) and has ``none`` on a private one, as on GitHub.
        """
        with self._lock:
            full_name = self._require_repository(owner, repo)
            if username.lower() == owner.lower():
                role = "admin"
            else:
                default = "read" if self._is_public(full_name) else "none"
                role = self._roles.get(full_name, {}).get(username.lower(), default)
            user = self._user(username, self._user_id(username))
        rank = ROLES.index(role)
        user.update(
            permissions={
                name: rank >= ROLES.index(needed)
                for name, needed in (
                    ("admin", "admin"),
                    ("maintain", "maintain"),
                    ("push", "write"),
                    ("triage", "triage"),
                    ("pull", "read"),
                )
            },
            role_name=role,
        )
        answer = load_template("repos.get-collaborator-permission-level.response.200.json")
        answer.update(permission=LEGACY_PERMISSIONS[role], role_name=role, user=user)
        return answer
