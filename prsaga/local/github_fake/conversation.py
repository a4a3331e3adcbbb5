"""A pull request's conversation: reviews, review comments, issue comments and reactions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from prsaga.local.github_fake.objects import (
    CANONICAL_API_URL,
    CANONICAL_WEB_URL,
    GitHubError,
    NotFoundError,
    github_timestamp,
    invalid_request,
    legacy_node_id,
    load_template,
    unprocessable,
)
from prsaga.local.github_fake.records import PullRecord, of_pull, pull_key
from prsaga.local.github_fake.review_lines import ResolvedComment, resolve_review_comment
from prsaga.local.github_fake.state import StoreState

REVIEW_EVENTS = {
    "APPROVE": "APPROVED",
    "REQUEST_CHANGES": "CHANGES_REQUESTED",
    "COMMENT": "COMMENTED",
}

REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")


class Conversation(StoreState):
    """Reviews, review comments, issue comments and reactions."""

    def add_issue_comment(
        self, owner: str, repo: str, number: int, body: str, *, login: str, user_type: str
    ) -> dict[str, Any]:
        """A comment written by someone else (a user typing a command, another bot)."""
        with self._lock:
            record = self._record_or_value_error(owner, repo, number)
            author = self._user(login, self._user_id(login), user_type)
            association = (
                "OWNER"
                if login == record.pull["base"]["repo"]["owner"]["login"]
                else (
                    "COLLABORATOR"
                    if login.lower() in self._roles.get(record.full_name, {})
                    else "NONE"
                )
            )
            return self._new_issue_comment(record, body, author, association)

    def list_reviews(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        with self._lock:
            record = self._record(owner, repo, number)
            return [self._public(review) for review in of_pull(self._reviews, record)]

    def get_review(self, owner: str, repo: str, number: int, review_id: int) -> dict[str, Any]:
        with self._lock:
            return self._public(self._review(self._record(owner, repo, number), review_id))

    def _review(self, record: PullRecord, review_id: int) -> dict[str, Any]:
        review = self._reviews.get(review_id)
        if review is None or review["_pull"] != pull_key(record):
            raise NotFoundError()
        return review

    def create_review(
        self,
        owner: str,
        repo: str,
        number: int,
        payload: Mapping[str, Any],
        *,
        login: str | None = None,
    ) -> dict[str, Any]:
        """``POST .../reviews``: all-or-nothing, as on GitHub (one bad comment fails the lot).
        Written by the bot, or by ``login`` (``FakeGitHub.add_review``)."""
        with self._lock:
            record = self._record(owner, repo, number)
            author = self.bot if login is None else self._user(login, self._user_id(login))
            event = payload.get("event")
            if event is not None and event not in REVIEW_EVENTS:
                raise invalid_request(
                    f"For 'properties/event', {json.dumps(event)} is not a member of "
                    f"{json.dumps(list(REVIEW_EVENTS))}."
                )
            commit_id = payload.get("commit_id") or record.pull["head"]["sha"]
            head = record.heads.get(commit_id)
            if head is None:
                raise unprocessable(f"No commit found for SHA: {commit_id}")
            comments = payload.get("comments") or []
            if not isinstance(comments, list):
                raise invalid_request("For 'properties/comments', the value is not an array.")
            resolved = [resolve_review_comment(head.diffs, comment) for comment in comments]
            body = payload.get("body") or ""
            if event in ("REQUEST_CHANGES", "COMMENT") and not body and not resolved:
                raise unprocessable("Review body can't be blank")
            if any(
                r["state"] == "PENDING" and r["_pull"] == pull_key(record)
                for r in self._reviews.values()
            ):
                raise unprocessable("User can only have one pending review per pull request")

            review_id = self._new_id()
            api = f"{CANONICAL_API_URL}/repos/{record.full_name}"
            web = f"{CANONICAL_WEB_URL}/{record.full_name}"
            html = f"{web}/pull/{number}#pullrequestreview-{review_id}"
            review = load_template("pulls.create-review.response.200.json")
            review.update(
                id=review_id,
                node_id=legacy_node_id("PullRequestReview", review_id),
                user=author,
                body=body,
                state=REVIEW_EVENTS[event] if event else "PENDING",
                html_url=html,
                pull_request_url=f"{api}/pulls/{number}",
                _links={"html": {"href": html}, "pull_request": {"href": f"{api}/pulls/{number}"}},
                submitted_at=github_timestamp(datetime.now(UTC)),
                commit_id=commit_id,
                author_association="NONE",
            )
            if not event:
                del review["submitted_at"]  # A pending review has not been submitted.
            review["_pull"] = pull_key(record)
            self._reviews[review_id] = review
            for comment in resolved:
                self._add_review_comment(record, review_id, commit_id, comment, author)
            return self._public(review)

    def _add_review_comment(
        self,
        record: PullRecord,
        review_id: int,
        commit_id: str,
        comment: ResolvedComment,
        author: dict[str, Any],
    ) -> None:
        comment_id = self._new_id()
        api = f"{CANONICAL_API_URL}/repos/{record.full_name}"
        pull_url = f"{api}/pulls/{record.number}"
        html = (
            f"{CANONICAL_WEB_URL}/{record.full_name}/pull/{record.number}#discussion_r{comment_id}"
        )
        now = github_timestamp(datetime.now(UTC))
        built = load_template("pulls.list-review-comments.response.200.json")[0]
        del built["in_reply_to_id"]  # Only replies have it.
        built.update(
            url=f"{api}/pulls/comments/{comment_id}",
            pull_request_review_id=review_id,
            id=comment_id,
            node_id=legacy_node_id("PullRequestReviewComment", comment_id),
            diff_hunk=comment.diff_hunk,
            path=comment.path,
            position=comment.end.position,
            original_position=comment.end.position,
            commit_id=commit_id,
            original_commit_id=commit_id,
            user=author,
            body=comment.body,
            created_at=now,
            updated_at=now,
            html_url=html,
            pull_request_url=pull_url,
            author_association="NONE",
            _links={
                "self": {"href": f"{api}/pulls/comments/{comment_id}"},
                "html": {"href": html},
                "pull_request": {"href": pull_url},
            },
            start_line=comment.start_line,
            original_start_line=comment.start_line,
            start_side=comment.start_side,
            line=comment.line,
            original_line=comment.line,
            side=comment.side,
            subject_type="line",
        )
        built["_pull"] = pull_key(record)
        self._review_comments[comment_id] = built

    def update_review(
        self, owner: str, repo: str, number: int, review_id: int, payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            review = self._review(self._record(owner, repo, number), review_id)
            body = payload.get("body")
            if not isinstance(body, str):
                raise invalid_request('"body" wasn\'t supplied.')
            review["body"] = body
            return self._public(review)

    def dismiss_review(
        self, owner: str, repo: str, number: int, review_id: int, payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``PUT .../reviews/{id}/dismissals``: only approvals and change requests can be."""
        with self._lock:
            review = self._review(self._record(owner, repo, number), review_id)
            if not isinstance(payload.get("message"), str):
                raise invalid_request('"message" wasn\'t supplied.')
            event = payload.get("event", "DISMISS")
            if event != "DISMISS":
                raise invalid_request(
                    f"For 'properties/event', {json.dumps(event)} is not a member of [\"DISMISS\"]."
                )
            state = review["state"]
            if state not in ("APPROVED", "CHANGES_REQUESTED"):
                kind = {"COMMENTED": "commented"}.get(state, state.lower())
                raise GitHubError(
                    422, "Validation Failed", [f"Can not dismiss a {kind} pull request review"]
                )
            review["state"] = "DISMISSED"
            return self._public(review)

    def list_review_comments_for_review(
        self, owner: str, repo: str, number: int, review_id: int
    ) -> list[dict[str, Any]]:
        with self._lock:
            self._review(self._record(owner, repo, number), review_id)
            return [
                self._public(c)
                for c in self._review_comments.values()
                if c["pull_request_review_id"] == review_id
            ]

    def list_pull_review_comments(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        with self._lock:
            return [
                self._public(c)
                for c in self._visible_review_comments(self._record(owner, repo, number))
            ]

    def _visible_review_comments(self, record: PullRecord) -> list[dict[str, Any]]:
        # Comments of a pending review are its author's draft: GitHub lists them only with
        # their review.
        return [
            c
            for c in of_pull(self._review_comments, record)
            if self._reviews[c["pull_request_review_id"]]["state"] != "PENDING"
        ]

    def delete_review_comment(self, owner: str, repo: str, comment_id: int) -> None:
        with self._lock:
            comment = self._review_comments.get(comment_id)
            if comment is None or not comment["_pull"].startswith(f"{owner}/{repo}#"):
                raise NotFoundError()
            del self._review_comments[comment_id]

    def list_issue_comments(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        with self._lock:
            record = self._record(owner, repo, number)
            return [self._public(c) for c in of_pull(self._issue_comments, record)]

    def create_issue_comment(
        self, owner: str, repo: str, number: int, payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            record = self._record(owner, repo, number)
            body = payload.get("body")
            if not isinstance(body, str):
                raise invalid_request('"body" wasn\'t supplied.')
            return self._new_issue_comment(record, body, self.bot, "NONE")

    def _new_issue_comment(
        self, record: PullRecord, body: str, author: dict[str, Any], association: str
    ) -> dict[str, Any]:
        comment_id = self._new_id()
        api = f"{CANONICAL_API_URL}/repos/{record.full_name}"
        web = f"{CANONICAL_WEB_URL}/{record.full_name}"
        now = github_timestamp(datetime.now(UTC))
        comment = load_template("issues.create-comment.response.201.json")
        comment.update(
            id=comment_id,
            node_id=legacy_node_id("IssueComment", comment_id),
            url=f"{api}/issues/comments/{comment_id}",
            html_url=f"{web}/pull/{record.number}#issuecomment-{comment_id}",
            body=body,
            user=author,
            created_at=now,
            updated_at=now,
            issue_url=f"{api}/issues/{record.number}",
            author_association=association,
        )
        comment["_pull"] = pull_key(record)
        self._issue_comments[comment_id] = comment
        return self._public(comment)

    def get_issue_comment(self, owner: str, repo: str, comment_id: int) -> dict[str, Any]:
        with self._lock:
            return self._public(self._issue_comment(owner, repo, comment_id))

    def _issue_comment(self, owner: str, repo: str, comment_id: int) -> dict[str, Any]:
        comment = self._issue_comments.get(comment_id)
        if comment is None or not comment["_pull"].startswith(f"{owner}/{repo}#"):
            raise NotFoundError()
        return comment

    def update_issue_comment(
        self, owner: str, repo: str, comment_id: int, payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            comment = self._issue_comment(owner, repo, comment_id)
            body = payload.get("body")
            if not isinstance(body, str):
                raise invalid_request('"body" wasn\'t supplied.')
            comment.update(body=body, updated_at=github_timestamp(datetime.now(UTC)))
            return self._public(comment)

    def create_reaction(
        self, owner: str, repo: str, comment_id: int, payload: Mapping[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """React to an issue comment; ``False`` when the same reaction already existed (200)."""
        with self._lock:
            self._issue_comment(owner, repo, comment_id)
            content = payload.get("content")
            if content is None:
                raise invalid_request('"content" wasn\'t supplied.')
            if content not in REACTIONS:
                raise invalid_request(
                    f"For 'properties/content', {json.dumps(content)} is not a member of "
                    f"{json.dumps(list(REACTIONS))}."
                )
            for reaction in self._reactions.values():
                if (
                    reaction["_comment"] == comment_id
                    and reaction["content"] == content
                    and reaction["user"]["id"] == self.bot["id"]
                ):
                    return self._public(reaction), False
            reaction_id = self._new_id()
            reaction = load_template("reactions.create-for-issue-comment.response.201.json")
            reaction.update(
                id=reaction_id,
                node_id=legacy_node_id("Reaction", reaction_id),
                user=self.bot,
                content=content,
                created_at=github_timestamp(datetime.now(UTC)),
            )
            reaction["_comment"] = comment_id
            self._reactions[reaction_id] = reaction
            return self._public(reaction), True
