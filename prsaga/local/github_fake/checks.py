"""What is reported on a commit: commit statuses and check runs."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from prsaga.local.github_fake.installations import Installations
from prsaga.local.github_fake.objects import (
    CANONICAL_API_URL,
    CANONICAL_WEB_URL,
    GitHubError,
    NotFoundError,
    github_timestamp,
    invalid_request,
    legacy_node_id,
    load_template,
)

STATUS_STATES = ("error", "failure", "pending", "success")

MAX_STATUS_DESCRIPTION = 140

CHECK_STATUSES = ("queued", "in_progress", "completed")

CHECK_CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "timed_out",
)

ANNOTATION_LEVELS = ("notice", "warning", "failure")

MAX_ANNOTATIONS_PER_REQUEST = 50

MAX_CHECK_OUTPUT_CHARS = 65535


def _check_run_changes(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The validated writable fields of a check-run request, or GitHub's 422."""
    changes: dict[str, Any] = {}
    status = _member_or_none(payload, "status", CHECK_STATUSES)
    if status is not None:
        changes["status"] = status
    conclusion = _member_or_none(payload, "conclusion", CHECK_CONCLUSIONS)
    if conclusion is not None:
        changes["conclusion"] = conclusion
    elif status == "completed" or payload.get("completed_at") is not None:
        # GitHub's docs: conclusion is "required if you provide completed_at or a status of
        # completed" (the wording of the error is the server's own).
        raise invalid_request('"conclusion" wasn\'t supplied.')
    for key in ("started_at", "completed_at"):
        if payload.get(key) is not None:
            changes[key] = payload[key]
    output = payload.get("output")
    if output is not None:
        changes["output"] = _check_run_output(output)
    return changes


def _member_or_none(payload: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> Any:
    value = payload.get(key)
    if value is not None and value not in allowed:
        raise invalid_request(
            f"For 'properties/{key}', {json.dumps(value)} is not a member of "
            f"{json.dumps(list(allowed))}."
        )
    return value


def _check_run_output(output: Any) -> dict[str, Any]:
    if not isinstance(output, dict):
        raise invalid_request("For 'properties/output', the value is not an object.")
    for required in ("title", "summary"):
        if not isinstance(output.get(required), str):
            raise invalid_request(f'"{required}" wasn\'t supplied.')
    for key in ("summary", "text"):
        text = output.get(key)
        if isinstance(text, str) and len(text) > MAX_CHECK_OUTPUT_CHARS:
            raise invalid_request(
                f"Only {MAX_CHECK_OUTPUT_CHARS} characters are allowed; {len(text)} were supplied."
            )
    annotations = output.get("annotations") or []
    if not isinstance(annotations, list):
        raise invalid_request("For 'properties/annotations', the value is not an array.")
    if len(annotations) > MAX_ANNOTATIONS_PER_REQUEST:
        raise invalid_request(
            f"No more than {MAX_ANNOTATIONS_PER_REQUEST} items are allowed; "
            f"{len(annotations)} were supplied."
        )
    for annotation in annotations:
        if not isinstance(annotation, dict):
            raise invalid_request("For 'items', the value is not an annotation.")
        for required in ("path", "start_line", "end_line", "annotation_level", "message"):
            if annotation.get(required) is None:
                raise invalid_request(f'"{required}" wasn\'t supplied.')
        if annotation["annotation_level"] not in ANNOTATION_LEVELS:
            raise invalid_request(
                f"For 'properties/annotation_level', {json.dumps(annotation['annotation_level'])}"
                f" is not a member of {json.dumps(list(ANNOTATION_LEVELS))}."
            )
    return dict(output)


class Checks(Installations):
    """Commit statuses and check runs."""

    def create_status(
        self, owner: str, repo: str, sha: str, payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            full_name = self._require_repository(owner, repo)
            state = payload.get("state")
            if state is None:
                raise invalid_request('"state" wasn\'t supplied.')
            if state not in STATUS_STATES:
                raise invalid_request(
                    f"For 'properties/state', {json.dumps(state)} is not a member of "
                    f"{json.dumps(list(STATUS_STATES))}."
                )
            description = payload.get("description")
            if isinstance(description, str) and len(description) > MAX_STATUS_DESCRIPTION:
                raise GitHubError(
                    422,
                    "Validation Failed",
                    [
                        {
                            "resource": "Status",
                            "code": "custom",
                            "field": "description",
                            "message": "description is too long (maximum is 140 characters)",
                        }
                    ],
                )
            commit = self._resolve(full_name, sha)
            if commit is None or commit.sha != sha:
                raise GitHubError(422, f"No commit found for SHA: {sha}")
            status_id = self._new_id()
            now = github_timestamp(datetime.now(UTC))
            status = load_template("repos.create-commit-status.response.201.json")
            status.update(
                url=f"{CANONICAL_API_URL}/repos/{full_name}/statuses/{sha}",
                avatar_url=self.bot["avatar_url"],
                id=status_id,
                node_id=legacy_node_id("Status", status_id),
                state=state,
                description=description,
                target_url=payload.get("target_url"),
                context=payload.get("context") or "default",
                created_at=now,
                updated_at=now,
                creator=self.bot,
            )
            status["_ref"] = f"{full_name}@{sha}"
            self._statuses.append(status)
            return self._public(status)

    def _statuses_for(
        self, owner: str, repo: str, ref: str
    ) -> tuple[str, str, list[dict[str, Any]]]:
        """Statuses of a ref (SHA or head branch), newest first."""
        full_name = self._require_repository(owner, repo)
        commit = self._resolve(full_name, ref)
        sha = commit.sha if commit is not None else ref
        found = [s for s in reversed(self._statuses) if s["_ref"] == f"{full_name}@{sha}"]
        return full_name, sha, found

    def list_statuses(self, owner: str, repo: str, ref: str) -> list[dict[str, Any]]:
        with self._lock:
            return [self._public(s) for s in self._statuses_for(owner, repo, ref)[2]]

    def combined_status(self, owner: str, repo: str, ref: str) -> dict[str, Any]:
        with self._lock:
            full_name, sha, statuses = self._statuses_for(owner, repo, ref)
            if self._resolve(full_name, ref) is None:
                raise NotFoundError()
            latest: dict[str, dict[str, Any]] = {}
            for status in statuses:  # newest first: the first per context wins
                latest.setdefault(status["context"], status)
            states = {s["state"] for s in latest.values()}
            if states & {"error", "failure"}:
                combined_state = "failure"
            elif not states or "pending" in states:
                combined_state = "pending"
            else:
                combined_state = "success"
            repository = self._pulls_repository(full_name)
        combined = load_template("repos.get-combined-status-for-ref.response.200.json")
        combined.update(
            state=combined_state,
            statuses=[
                {k: v for k, v in self._public(s).items() if k != "creator"}
                for s in latest.values()
            ],
            sha=sha,
            total_count=len(latest),
            repository=repository,
            commit_url=f"{CANONICAL_API_URL}/repos/{full_name}/commits/{sha}",
            url=f"{CANONICAL_API_URL}/repos/{full_name}/commits/{sha}/status",
        )
        return combined

    def _pulls_repository(self, full_name: str) -> dict[str, Any]:
        record = next(r for (name, _), r in self._pulls.items() if name == full_name)
        return copy.deepcopy(record.pull["base"]["repo"])

    def create_check_run(
        self, owner: str, repo: str, payload: Mapping[str, Any], app_id: int
    ) -> dict[str, Any]:
        """``POST .../check-runs``: an App's check run on a commit."""
        with self._lock:
            full_name = self._require_repository(owner, repo)
            for required in ("name", "head_sha"):
                if not isinstance(payload.get(required), str):
                    raise invalid_request(f'"{required}" wasn\'t supplied.')
            head_sha = payload["head_sha"]
            commit = self._resolve(full_name, head_sha)
            if commit is None or commit.sha != head_sha:
                raise GitHubError(422, f"No commit found for SHA: {head_sha}")
            changes = _check_run_changes(payload)
            run_id = self._new_id()
            now = github_timestamp(datetime.now(UTC))
            suite_key = (full_name, head_sha, app_id)
            suite_id = self._check_suites.setdefault(suite_key, self._new_id())
            api = f"{CANONICAL_API_URL}/repos/{full_name}"
            run = load_template("checks.create.response.201.example-of-in-progress-conclusion.json")
            run.update(
                id=run_id,
                head_sha=head_sha,
                node_id=legacy_node_id("CheckRun", run_id),
                external_id=payload.get("external_id") or "",
                url=f"{api}/check-runs/{run_id}",
                html_url=f"{CANONICAL_WEB_URL}/{full_name}/runs/{run_id}",
                details_url=payload.get("details_url"),
                status="queued",
                conclusion=None,
                started_at=now,
                completed_at=None,
                output={
                    "title": None,
                    "summary": None,
                    "text": None,
                    "annotations_count": 0,
                    "annotations_url": f"{api}/check-runs/{run_id}/annotations",
                },
                name=payload["name"],
                check_suite={"id": suite_id},
                app=self._integration(app_id),
                pull_requests=self._check_run_pulls(full_name, head_sha),
            )
            run["_ref"], run["_annotations"] = full_name, []
            self._apply_check_run_changes(run, changes, now)
            self._check_runs[run_id] = run
            return self._public(run)

    def update_check_run(
        self, owner: str, repo: str, check_run_id: int, payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``PATCH .../check-runs/{id}``: new annotations are added to the earlier ones."""
        with self._lock:
            run = self._check_run(owner, repo, check_run_id)
            changes = _check_run_changes(payload)
            if isinstance(payload.get("name"), str):
                run["name"] = payload["name"]
            for key in ("details_url", "external_id"):
                if key in payload:
                    run[key] = payload[key]
            self._apply_check_run_changes(run, changes, github_timestamp(datetime.now(UTC)))
            return self._public(run)

    def get_check_run(self, owner: str, repo: str, check_run_id: int) -> dict[str, Any]:
        with self._lock:
            return self._public(self._check_run(owner, repo, check_run_id))

    def list_check_run_annotations(
        self, owner: str, repo: str, check_run_id: int
    ) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._check_run(owner, repo, check_run_id)["_annotations"])

    def list_check_runs_for_ref(
        self, owner: str, repo: str, ref: str, query: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """Check runs of a commit, newest first; by default only the latest run of each name."""
        with self._lock:
            full_name = self._require_repository(owner, repo)
            commit = self._resolve(full_name, ref)
            if commit is None:
                raise NotFoundError()
            runs = [
                run
                for run in reversed(self._check_runs.values())
                if run["_ref"] == full_name
                and run["head_sha"] == commit.sha
                and query.get("check_name", run["name"]) == run["name"]
                and query.get("status", run["status"]) == run["status"]
            ]
            if query.get("filter", "latest") == "latest":
                newest: dict[str, dict[str, Any]] = {}
                for run in runs:
                    newest.setdefault(run["name"], run)
                runs = list(newest.values())
            return [self._public(run) for run in runs]

    def _check_run(self, owner: str, repo: str, check_run_id: int) -> dict[str, Any]:
        run = self._check_runs.get(check_run_id)
        if run is None or run["_ref"] != f"{owner}/{repo}":
            raise NotFoundError()
        return run

    def _apply_check_run_changes(
        self, run: dict[str, Any], changes: Mapping[str, Any], now: str
    ) -> None:
        # GitHub: giving a conclusion completes the run.
        if changes.get("conclusion") is not None:
            run.update(status="completed", conclusion=changes["conclusion"])
        elif changes.get("status") is not None:
            run["status"] = changes["status"]
        if "started_at" in changes:
            run["started_at"] = changes["started_at"]
        if run["status"] == "completed":
            run["completed_at"] = changes.get("completed_at") or run["completed_at"] or now
        output = changes.get("output")
        if output is not None:
            for key in ("title", "summary", "text"):
                if key in output:
                    run["output"][key] = output[key]
            for annotation in output.get("annotations") or []:
                run["_annotations"].append(
                    self._annotation(run["_ref"], run["head_sha"], annotation)
                )
            run["output"]["annotations_count"] = len(run["_annotations"])

    @staticmethod
    def _annotation(full_name: str, head_sha: str, given: Mapping[str, Any]) -> dict[str, Any]:
        path = str(given["path"])
        return {
            "path": path,
            "start_line": given["start_line"],
            "end_line": given["end_line"],
            "start_column": given.get("start_column"),
            "end_column": given.get("end_column"),
            "annotation_level": given["annotation_level"],
            "title": given.get("title"),
            "message": given["message"],
            "raw_details": given.get("raw_details"),
            "blob_href": f"{CANONICAL_WEB_URL}/{full_name}/blob/{head_sha}/{quote(path, safe='/')}",
        }

    def _check_run_pulls(self, full_name: str, head_sha: str) -> list[dict[str, Any]]:
        """The ``pull_requests`` of a check run: open pull requests whose head is the commit."""
        pulls = []
        for (name, number), record in self._pulls.items():
            if name != full_name or record.pull["head"]["sha"] != head_sha:
                continue
            repo = record.pull["base"]["repo"]
            short_repo = {"id": repo["id"], "url": repo["url"], "name": repo["name"]}
            pulls.append(
                {
                    "url": record.pull["url"],
                    "id": record.pull["id"],
                    "number": number,
                    "head": {
                        "ref": record.pull["head"]["ref"],
                        "sha": head_sha,
                        "repo": short_repo,
                    },
                    "base": {
                        "ref": record.pull["base"]["ref"],
                        "sha": record.pull["base"]["sha"],
                        "repo": short_repo,
                    },
                }
            )
        return pulls
