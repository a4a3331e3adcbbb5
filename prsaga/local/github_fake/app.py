"""The HTTP face of the local GitHub server: routes, auth, rate limit, pagination and faults.

Responses follow api.github.com: compact JSON with ``content-type: application/json;
charset=utf-8``, ``x-ratelimit-*`` headers on every API response, RFC 5988 ``Link`` headers on
lists, and error bodies ``{"message", "documentation_url", "status"}`` (plus ``errors`` on 422).
The admin endpoints under ``/_fake/`` are this server's own and need no token.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prsaga.local.github_fake.apps import (
    ANONYMOUS,
    JWT_UNDECODABLE,
    TOKEN_PRINCIPAL,
    AuthError,
    Principal,
)
from prsaga.local.github_fake.objects import CANONICAL_API_URL, GitHubError
from prsaga.local.github_fake.onboarding import (
    WEB_PATH_PREFIXES,
    ManifestFlow,
    authenticated_user,
    web_routes,
)
from prsaga.local.github_fake.records import Fault
from prsaga.local.github_fake.store import Store

JSON_MEDIA_TYPE = "application/json; charset=utf-8"
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
REST_DOCS_URL = "https://docs.github.com/rest"
RATE_LIMIT_DOCS_URL = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
_COMMON_HEADERS = {
    "x-github-media-type": "github.v3; format=json",
    "x-github-api-version-selected": "2022-11-28",
}


Credential = Literal["user", "app", "installation", "anyone"]


@dataclass(frozen=True)
class ServedOperation:
    """One REST operation this server answers, and the statuses it can answer it with.

    ``scripts/extract_github_openapi.py`` extracts exactly these from GitHub's OpenAPI
    description, and the contract test checks every one of them against it.
    """

    method: str
    path: str
    """The path template served (OpenAPI style)."""
    docs_url: str
    """GitHub's ``documentation_url`` for this operation, sent in its error bodies."""
    statuses: tuple[int, ...]
    spec_path: str = ""
    """The documented path template, when ``path`` is an undocumented alias GitHub serves."""
    credential: Credential = "user"
    """Who may call it: ``user`` (the token or an installation token), ``app`` (an App's
    JWT only), ``installation`` (an installation token only, as for check runs) or ``anyone``
    (no credential needed, as for the manifest code exchange)."""

    @property
    def documented_path(self) -> str:
        return self.spec_path or self.path


_PULLS_DOCS = "https://docs.github.com/rest/pulls"
_STATUSES_DOCS = "https://docs.github.com/rest/commits/statuses"
_ISSUE_COMMENTS_DOCS = "https://docs.github.com/rest/issues/comments"
_CHECK_RUNS_DOCS = "https://docs.github.com/rest/checks/runs"
_APPS_DOCS = "https://docs.github.com/rest/apps/apps"
# Every API route can also answer 401 (bad credentials) and 403 (rate limit exhausted).
_AUTH = (401, 403)

SERVED_OPERATIONS: tuple[ServedOperation, ...] = (
    ServedOperation(
        "GET",
        "/repos/{owner}/{repo}",
        "https://docs.github.com/rest/repos/repos#get-a-repository",
        (200, *_AUTH, 404),
    ),
    ServedOperation(
        "GET",
        "/repos/{owner}/{repo}/pulls/{pull_number}",
        f"{_PULLS_DOCS}/pulls#get-a-pull-request",
        (200, *_AUTH, 404),
    ),
    ServedOperation(
        "GET",
        "/repos/{owner}/{repo}/pulls/{pull_number}/files",
        f"{_PULLS_DOCS}/pulls#list-pull-requests-files",
        (200, *_AUTH, 404),
    ),
    ServedOperation(
        "GET",
        "/repos/{owner}/{repo}/contents/{path}",
        "https://docs.github.com/rest/repos/contents#get-repository-content",
        (200, *_AUTH, 404),
    ),
    ServedOperation(
        "GET",
        "/repos/{owner}/{repo}/commits/{ref}",
        "https://docs.github.com/rest/commits/commits#get-a-commit",
        (200, *_AUTH, 404, 422),
    ),
    ServedOperation(
        "GET",
        "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
        f"{_PULLS_DOCS}/reviews#list-reviews-for-a-pull-request",
        (200, *_AUTH, 404),
    ),
    ServedOperation(
        "POST",
        "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
        f"{_PULLS_DOCS}/reviews#create-a-review-for-a-pull-request",
        (200, 400, *_AUTH, 404, 422),
    ),
    ServedOperation(
        "GET",
        "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}",
        f"{_PULLS_DOCS}/reviews#get-a-review-for-a-pull-request",
        (200, *_AUTH, 404),
    ),
    ServedOperation(
        "PUT",
        "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}",
        f"{_PULLS_DOCS}/reviews#update-a-review-for-a-pull-request",
        (200, 400, *_AUTH, 404, 422),
    ),
    ServedOperation(
        "GET",
        "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/comments",
        f"{_PULLS_DOCS}/reviews#list-comments-for-a-pull-request-review",
        (200, *_AUTH, 404),
    ),
    ServedOperation(
        "GET",
        "/repos/{owner}/{repo}/pulls/{pull_number}/comments",
        f"{_PULLS_DOCS}/comments#list-review-comments-on-a-pull-request",
        (200, *_AUTH, 404),
    ),
    ServedOperation(
        "DELETE",
        "/repos/{owner}/{repo}/pulls/comments/{comment_id}",
        f"{_PULLS_DOCS}/comments#delete-a-review-comment-for-a-pull-request",
        (204, *_AUTH, 404),
    ),
    ServedOperation(
        "POST",
        "/repos/{owner}/{repo}/statuses/{sha}",
        f"{_STATUSES_DOCS}#create-a-commit-status",
        (201, 400, *_AUTH, 404, 422),
    ),
    ServedOperation(
        "GET",
        "/repos/{owner}/{repo}/commits/{ref}/statuses",
        f"{_STATUSES_DOCS}#list-commit-statuses-for-a-reference",
        (200, *_AUTH, 404),
    ),
    # PyGithub's Commit.get_statuses() still calls this older alias, which GitHub serves.
    ServedOperation(
        "GET",
        "/repos/{owner}/{repo}/statuses/{sha}",
        f"{_STATUSES_DOCS}#list-commit-statuses-for-a-reference",
        (200, *_AUTH, 404),
        spec_path="/repos/{owner}/{repo}/commits/{ref}/statuses",
    ),
    ServedOperation(
        "GET",
        "/repos/{owner}/{repo}/commits/{ref}/status",
        f"{_STATUSES_DOCS}#get-the-combined-status-for-a-specific-reference",
        (200, *_AUTH, 404),
    ),
    ServedOperation(
        "GET",
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        f"{_ISSUE_COMMENTS_DOCS}#list-issue-comments",
        (200, *_AUTH, 404),
    ),
    ServedOperation(
        "POST",
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        f"{_ISSUE_COMMENTS_DOCS}#create-an-issue-comment",
        (201, 400, *_AUTH, 404, 422),
    ),
    ServedOperation(
        "GET",
        "/repos/{owner}/{repo}/issues/comments/{comment_id}",
        f"{_ISSUE_COMMENTS_DOCS}#get-an-issue-comment",
        (200, *_AUTH, 404),
    ),
    ServedOperation(
        "PATCH",
        "/repos/{owner}/{repo}/issues/comments/{comment_id}",
        f"{_ISSUE_COMMENTS_DOCS}#update-an-issue-comment",
        (200, 400, *_AUTH, 404, 422),
    ),
    ServedOperation(
        "GET",
        "/repos/{owner}/{repo}/compare/{basehead}",
        "https://docs.github.com/rest/commits/commits#compare-two-commits",
        (200, *_AUTH, 404),
    ),
    ServedOperation(
        "GET",
        "/repos/{owner}/{repo}/collaborators/{username}/permission",
        "https://docs.github.com/rest/collaborators/collaborators"
        "#get-repository-permissions-for-a-user",
        (200, *_AUTH, 404),
    ),
    ServedOperation(
        "POST",
        "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
        "https://docs.github.com/rest/reactions/reactions#create-reaction-for-an-issue-comment",
        (200, 201, 400, *_AUTH, 404, 422),
    ),
    ServedOperation(
        "GET",
        "/repos/{owner}/{repo}/issues/{issue_number}/labels",
        "https://docs.github.com/rest/issues/labels#list-labels-for-an-issue",
        (200, *_AUTH, 404),
    ),
    ServedOperation(
        "POST",
        "/repos/{owner}/{repo}/issues/{issue_number}/labels",
        "https://docs.github.com/rest/issues/labels#add-labels-to-an-issue",
        (200, 400, *_AUTH, 404, 422),
    ),
    ServedOperation(
        "PUT",
        "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/dismissals",
        f"{_PULLS_DOCS}/reviews#dismiss-a-review-for-a-pull-request",
        (200, 400, *_AUTH, 404, 422),
    ),
    ServedOperation(
        "POST",
        "/repos/{owner}/{repo}/check-runs",
        "https://docs.github.com/rest/reference/checks#create-a-check-run",
        (201, 400, *_AUTH, 404, 422),
        credential="installation",
    ),
    ServedOperation(
        "GET",
        "/repos/{owner}/{repo}/check-runs/{check_run_id}",
        f"{_CHECK_RUNS_DOCS}#get-a-check-run",
        (200, *_AUTH, 404),
    ),
    ServedOperation(
        "PATCH",
        "/repos/{owner}/{repo}/check-runs/{check_run_id}",
        f"{_CHECK_RUNS_DOCS}#update-a-check-run",
        (200, 400, *_AUTH, 404, 422),
        credential="installation",
    ),
    ServedOperation(
        "GET",
        "/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations",
        f"{_CHECK_RUNS_DOCS}#list-check-run-annotations",
        (200, *_AUTH, 404),
    ),
    ServedOperation(
        "GET",
        "/repos/{owner}/{repo}/commits/{ref}/check-runs",
        f"{_CHECK_RUNS_DOCS}#list-check-runs-for-a-git-reference",
        (200, *_AUTH, 404),
    ),
    ServedOperation(
        "GET",
        "/repos/{owner}/{repo}/installation",
        f"{_APPS_DOCS}#get-a-repository-installation-for-the-authenticated-app",
        (200, *_AUTH, 404),
        credential="app",
    ),
    ServedOperation(
        "GET",
        "/app/installations/{installation_id}",
        f"{_APPS_DOCS}#get-an-installation-for-the-authenticated-app",
        (200, *_AUTH, 404),
        credential="app",
    ),
    ServedOperation(
        "POST",
        "/app/installations/{installation_id}/access_tokens",
        f"{_APPS_DOCS}#create-an-installation-access-token-for-an-app",
        (201, 400, *_AUTH, 404, 422),
        credential="app",
    ),
    ServedOperation(
        "GET",
        "/app",
        f"{_APPS_DOCS}#get-the-authenticated-app",
        (200, *_AUTH),
        credential="app",
    ),
    ServedOperation(
        "GET",
        "/app/installations",
        # The address GitHub's description gives for this operation.
        "https://docs.github.com/enterprise-server@3.9/rest/apps/apps"
        "#list-installations-for-the-authenticated-app",
        (200, *_AUTH),
        credential="app",
    ),
    ServedOperation(
        "GET",
        "/installation/repositories",
        "https://docs.github.com/rest/apps/installations"
        "#list-repositories-accessible-to-the-app-installation",
        (200, *_AUTH),
        credential="installation",
    ),
    ServedOperation(
        "POST",
        "/app-manifests/{code}/conversions",
        f"{_APPS_DOCS}#create-a-github-app-from-a-manifest",
        (201, *_AUTH, 404),
        credential="anyone",
    ),
    ServedOperation(
        "GET",
        "/user",
        "https://docs.github.com/rest/users/users#get-the-authenticated-user",
        (200, *_AUTH),
    ),
)


# ---------------------------------------------------------------------------------------------
# Responses


def github_json(
    request: Request, data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A JSON response whose canonical ``https://api.github.com`` URLs point at this server."""
    api_root = str(request.base_url).rstrip("/")
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    text = text.replace(CANONICAL_API_URL, api_root)
    return Response(text.encode("utf-8"), status, headers=headers, media_type=JSON_MEDIA_TYPE)


def error_body(
    status: int, message: str, docs_url: str, errors: list[Any] | None = None
) -> dict[str, Any]:
    """GitHub's error body: ``message``, ``errors`` (on 422), ``documentation_url``, ``status``."""
    body: dict[str, Any] = {"message": message}
    if errors is not None:
        body["errors"] = errors
    body["documentation_url"] = docs_url
    body["status"] = str(status)
    return body


def _error_response(
    status: int, message: str, docs_url: str, errors: list[Any] | None = None
) -> Response:
    body = json.dumps(error_body(status, message, docs_url, errors), separators=(",", ":"))
    return Response(body.encode("utf-8"), status, media_type=JSON_MEDIA_TYPE)


def _page_url(request: Request, page: int) -> str:
    params = [
        (k, v) for k, v in parse_qsl(request.url.query, keep_blank_values=True) if k != "page"
    ]
    params.append(("page", str(page)))
    return f"{str(request.base_url).rstrip('/')}{request.url.path}?{urlencode(params)}"


def _int_param(request: Request, name: str, default: int) -> int:
    try:
        return int(request.query_params.get(name, default))
    except ValueError:
        return default


def page_of(
    request: Request,
    items: list[Any],
    *,
    default: int = DEFAULT_PER_PAGE,
    maximum: int = MAX_PER_PAGE,
) -> tuple[list[Any], dict[str, str] | None]:
    """One page of ``items`` (``per_page``/``page``) and GitHub's ``Link`` header for it."""
    per_page = min(max(_int_param(request, "per_page", default), 1), maximum)
    page = max(_int_param(request, "page", 1), 1)
    last = max(1, -(-len(items) // per_page))
    links = []
    # GitHub's order: prev, next, last, first.
    if page > 1:
        links.append(f'<{_page_url(request, page - 1)}>; rel="prev"')
    if page < last:
        links.append(f'<{_page_url(request, page + 1)}>; rel="next"')
        links.append(f'<{_page_url(request, last)}>; rel="last"')
    if page > 1:
        links.append(f'<{_page_url(request, 1)}>; rel="first"')
    headers = {"link": ", ".join(links)} if links else None
    return items[(page - 1) * per_page : page * per_page], headers


def paginated(request: Request, items: list[Any]) -> Response:
    """One page of ``items`` with GitHub's ``Link`` header."""
    page, headers = page_of(request, items)
    return github_json(request, page, headers=headers)


async def _json_value(request: Request) -> Any:
    """The request's JSON body; GitHub answers 400 ``Problems parsing JSON`` otherwise."""
    try:
        return json.loads(await request.body() or b"{}")
    except ValueError:
        raise GitHubError(400, "Problems parsing JSON") from None


async def _json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object body (400 ``Problems parsing JSON`` for anything else)."""
    payload = await _json_value(request)
    if not isinstance(payload, dict):
        raise GitHubError(400, "Problems parsing JSON")
    return payload


# ---------------------------------------------------------------------------------------------
# API handlers: each maps a request onto the store


Handler = Callable[[Store, Request], Awaitable[Response]]


def _params(request: Request) -> tuple[str, str]:
    return request.path_params["owner"], request.path_params["repo"]


def _number(request: Request, name: str) -> int:
    try:
        return int(request.path_params[name])
    except ValueError:
        raise GitHubError(404, "Not Found") from None


async def _get_repository(store: Store, request: Request) -> Response:
    return github_json(request, store.get_repository(*_params(request)))


async def _get_pull(store: Store, request: Request) -> Response:
    return github_json(request, store.get_pull(*_params(request), _number(request, "pull_number")))


async def _list_pull_files(store: Store, request: Request) -> Response:
    files = store.list_pull_files(*_params(request), _number(request, "pull_number"))
    return paginated(request, files)


async def _get_content(store: Store, request: Request) -> Response:
    path = request.path_params["path"]
    content = store.get_content(*_params(request), path, request.query_params.get("ref"))
    return github_json(request, content)


async def _get_commit(store: Store, request: Request) -> Response:
    return github_json(request, store.get_commit(*_params(request), request.path_params["ref"]))


async def _list_reviews(store: Store, request: Request) -> Response:
    return paginated(
        request, store.list_reviews(*_params(request), _number(request, "pull_number"))
    )


async def _create_review(store: Store, request: Request) -> Response:
    payload = await _json_object(request)
    review = store.create_review(*_params(request), _number(request, "pull_number"), payload)
    return github_json(request, review)


async def _get_review(store: Store, request: Request) -> Response:
    review = store.get_review(
        *_params(request), _number(request, "pull_number"), _number(request, "review_id")
    )
    return github_json(request, review)


async def _update_review(store: Store, request: Request) -> Response:
    payload = await _json_object(request)
    review = store.update_review(
        *_params(request), _number(request, "pull_number"), _number(request, "review_id"), payload
    )
    return github_json(request, review)


async def _list_review_comments_for_review(store: Store, request: Request) -> Response:
    comments = store.list_review_comments_for_review(
        *_params(request), _number(request, "pull_number"), _number(request, "review_id")
    )
    return paginated(request, comments)


async def _list_pull_review_comments(store: Store, request: Request) -> Response:
    comments = store.list_pull_review_comments(*_params(request), _number(request, "pull_number"))
    return paginated(request, comments)


async def _delete_review_comment(store: Store, request: Request) -> Response:
    store.delete_review_comment(*_params(request), _number(request, "comment_id"))
    return Response(status_code=204)


async def _create_status(store: Store, request: Request) -> Response:
    payload = await _json_object(request)
    status = store.create_status(*_params(request), request.path_params["sha"], payload)
    return github_json(request, status, 201)


async def _list_statuses(store: Store, request: Request) -> Response:
    ref = request.path_params.get("ref") or request.path_params["sha"]
    return paginated(request, store.list_statuses(*_params(request), ref))


async def _combined_status(store: Store, request: Request) -> Response:
    return github_json(
        request, store.combined_status(*_params(request), request.path_params["ref"])
    )


async def _list_issue_comments(store: Store, request: Request) -> Response:
    comments = store.list_issue_comments(*_params(request), _number(request, "issue_number"))
    return paginated(request, comments)


async def _create_issue_comment(store: Store, request: Request) -> Response:
    payload = await _json_object(request)
    comment = store.create_issue_comment(
        *_params(request), _number(request, "issue_number"), payload
    )
    return github_json(request, comment, 201)


async def _get_issue_comment(store: Store, request: Request) -> Response:
    comment = store.get_issue_comment(*_params(request), _number(request, "comment_id"))
    return github_json(request, comment)


async def _update_issue_comment(store: Store, request: Request) -> Response:
    payload = await _json_object(request)
    comment = store.update_issue_comment(*_params(request), _number(request, "comment_id"), payload)
    return github_json(request, comment)


async def _compare(store: Store, request: Request) -> Response:
    comparison, commits = store.compare(*_params(request), request.path_params["basehead"])
    # The compare API pages its commits: 250 by default, as PyGithub's Comparison expects.
    comparison["commits"], headers = page_of(request, commits, default=250, maximum=1000)
    return github_json(request, comparison, headers=headers)


async def _collaborator_permission(store: Store, request: Request) -> Response:
    answer = store.collaborator_permission(*_params(request), request.path_params["username"])
    return github_json(request, answer)


async def _create_reaction(store: Store, request: Request) -> Response:
    payload = await _json_object(request)
    reaction, created = store.create_reaction(
        *_params(request), _number(request, "comment_id"), payload
    )
    return github_json(request, reaction, 201 if created else 200)


async def _list_issue_labels(store: Store, request: Request) -> Response:
    labels = store.list_issue_labels(*_params(request), _number(request, "issue_number"))
    return paginated(request, labels)


async def _add_issue_labels(store: Store, request: Request) -> Response:
    payload = await _json_value(request)
    labels = store.add_issue_labels(*_params(request), _number(request, "issue_number"), payload)
    return github_json(request, labels)


async def _dismiss_review(store: Store, request: Request) -> Response:
    payload = await _json_object(request)
    review = store.dismiss_review(
        *_params(request), _number(request, "pull_number"), _number(request, "review_id"), payload
    )
    return github_json(request, review)


def _principal(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


async def _create_check_run(store: Store, request: Request) -> Response:
    payload = await _json_object(request)
    app_id = _principal(request).app_id
    assert app_id is not None  # only installation tokens get here
    return github_json(request, store.create_check_run(*_params(request), payload, app_id), 201)


async def _update_check_run(store: Store, request: Request) -> Response:
    payload = await _json_object(request)
    run = store.update_check_run(*_params(request), _number(request, "check_run_id"), payload)
    return github_json(request, run)


async def _get_check_run(store: Store, request: Request) -> Response:
    run = store.get_check_run(*_params(request), _number(request, "check_run_id"))
    return github_json(request, run)


async def _list_check_run_annotations(store: Store, request: Request) -> Response:
    annotations = store.list_check_run_annotations(
        *_params(request), _number(request, "check_run_id")
    )
    return paginated(request, annotations)


async def _list_check_runs_for_ref(store: Store, request: Request) -> Response:
    filters = {
        key: value
        for key, value in request.query_params.items()
        if key in ("check_name", "status", "filter")
    }
    runs = store.list_check_runs_for_ref(*_params(request), request.path_params["ref"], filters)
    page, headers = page_of(request, runs)
    return github_json(request, {"total_count": len(runs), "check_runs": page}, headers=headers)


def _app_id(request: Request) -> int:
    app_id = _principal(request).app_id
    assert app_id is not None  # only an App's JWT gets here
    return app_id


async def _get_repo_installation(store: Store, request: Request) -> Response:
    installation = store.get_repo_installation(*_params(request), _app_id(request))
    return github_json(request, installation)


async def _get_installation(store: Store, request: Request) -> Response:
    installation = store.get_installation(_number(request, "installation_id"), _app_id(request))
    return github_json(request, installation)


async def _create_installation_token(store: Store, request: Request) -> Response:
    payload = await _json_object(request)
    token = store.create_installation_token(
        _number(request, "installation_id"), _app_id(request), payload
    )
    return github_json(request, token, 201)


async def _get_app(store: Store, request: Request) -> Response:
    return github_json(request, store.get_app(_app_id(request)))


async def _list_installations(store: Store, request: Request) -> Response:
    return paginated(request, store.list_installations(_app_id(request)))


async def _list_installation_repositories(store: Store, request: Request) -> Response:
    repositories = []
    for full_name in sorted(_principal(request).repositories):
        owner, _, name = full_name.partition("/")
        try:
            repositories.append(store.get_repository(owner, name))
        except GitHubError:
            continue  # granted, but never seeded here
    page, headers = page_of(request, repositories)
    return github_json(
        request, {"total_count": len(repositories), "repositories": page}, headers=headers
    )


async def _create_app_from_manifest(store: Store, request: Request) -> Response:
    flow: ManifestFlow = request.app.state.manifests
    return github_json(request, flow.convert(store, request.path_params["code"]), 201)


async def _get_authenticated_user(store: Store, request: Request) -> Response:
    if _principal(request).kind != "token":
        raise GitHubError(403, NOT_ACCESSIBLE_BY_INTEGRATION)
    # A classic token's scopes, which GitHub lists on every answer to it.
    scopes: str | None = request.app.state.token_scopes
    headers = {"x-oauth-scopes": scopes} if scopes is not None else None
    return github_json(request, authenticated_user(store.bot), headers=headers)


_HANDLERS: dict[tuple[str, str], Handler] = {
    ("GET", "/user"): _get_authenticated_user,
    ("GET", "/repos/{owner}/{repo}"): _get_repository,
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}"): _get_pull,
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files"): _list_pull_files,
    ("GET", "/repos/{owner}/{repo}/contents/{path}"): _get_content,
    ("GET", "/repos/{owner}/{repo}/commits/{ref}"): _get_commit,
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"): _list_reviews,
    ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"): _create_review,
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}"): _get_review,
    ("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}"): _update_review,
    (
        "GET",
        "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/comments",
    ): _list_review_comments_for_review,
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/comments"): _list_pull_review_comments,
    ("DELETE", "/repos/{owner}/{repo}/pulls/comments/{comment_id}"): _delete_review_comment,
    ("POST", "/repos/{owner}/{repo}/statuses/{sha}"): _create_status,
    ("GET", "/repos/{owner}/{repo}/commits/{ref}/statuses"): _list_statuses,
    ("GET", "/repos/{owner}/{repo}/statuses/{sha}"): _list_statuses,
    ("GET", "/repos/{owner}/{repo}/commits/{ref}/status"): _combined_status,
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments"): _list_issue_comments,
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"): _create_issue_comment,
    ("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}"): _get_issue_comment,
    ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}"): _update_issue_comment,
    ("GET", "/repos/{owner}/{repo}/compare/{basehead}"): _compare,
    (
        "GET",
        "/repos/{owner}/{repo}/collaborators/{username}/permission",
    ): _collaborator_permission,
    ("POST", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"): _create_reaction,
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/labels"): _list_issue_labels,
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels"): _add_issue_labels,
    (
        "PUT",
        "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/dismissals",
    ): _dismiss_review,
    ("POST", "/repos/{owner}/{repo}/check-runs"): _create_check_run,
    ("GET", "/repos/{owner}/{repo}/check-runs/{check_run_id}"): _get_check_run,
    ("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}"): _update_check_run,
    (
        "GET",
        "/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations",
    ): _list_check_run_annotations,
    ("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs"): _list_check_runs_for_ref,
    ("GET", "/repos/{owner}/{repo}/installation"): _get_repo_installation,
    ("GET", "/app/installations/{installation_id}"): _get_installation,
    ("POST", "/app/installations/{installation_id}/access_tokens"): _create_installation_token,
    ("GET", "/app"): _get_app,
    ("GET", "/app/installations"): _list_installations,
    ("GET", "/installation/repositories"): _list_installation_repositories,
    ("POST", "/app-manifests/{code}/conversions"): _create_app_from_manifest,
}

MUST_USE_APP = "You must authenticate via a GitHub App."
NOT_ACCESSIBLE_BY_INTEGRATION = "Resource not accessible by integration"


def check_credential(store: Store, operation: ServedOperation, request: Request) -> None:
    """Refuse a caller this operation does not serve, the way GitHub does.

    An App's JWT opens only the App endpoints, and they take nothing else; check runs can be
    written only by an App's installation; an installation token reaches only its
    installation's repositories (a public one outside answers 403, anything else 404).
    """
    principal = _principal(request)
    if operation.credential == "anyone":
        return
    if operation.credential == "app":
        if principal.kind != "app":
            raise GitHubError(401, JWT_UNDECODABLE)
        return
    if principal.kind == "app":
        raise GitHubError(403, NOT_ACCESSIBLE_BY_INTEGRATION)
    if operation.credential == "installation" and principal.kind != "installation":
        raise GitHubError(403, MUST_USE_APP)
    owner, repo = request.path_params.get("owner"), request.path_params.get("repo")
    if principal.kind == "installation" and owner is not None and repo is not None:
        if f"{owner}/{repo}" not in principal.repositories:
            if store.repository_visible(owner, repo):
                raise GitHubError(403, NOT_ACCESSIBLE_BY_INTEGRATION)
            raise GitHubError(404, "Not Found")


def _endpoint(
    store: Store, operation: ServedOperation, handler: Handler
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            check_credential(store, operation, request)
            return await handler(store, request)
        except GitHubError as error:
            return _error_response(error.status, error.message, operation.docs_url, error.errors)

    return endpoint


def _starlette_path(template: str) -> str:
    # A file path and a branch in a comparison have slashes: let starlette match them.
    return template.replace("{path}", "{path:path}").replace("{basehead}", "{basehead:path}")


def api_routes(store: Store) -> list[Route]:
    """One starlette route per served operation (methods of one path share a route)."""
    by_path: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {}
    for operation in SERVED_OPERATIONS:
        handler = _HANDLERS[(operation.method, operation.path)]
        by_path.setdefault(operation.path, {})[operation.method] = _endpoint(
            store, operation, handler
        )
    return [_method_route(path, endpoints) for path, endpoints in by_path.items()]


def _method_route(
    path: str, endpoints: dict[str, Callable[[Request], Awaitable[Response]]]
) -> Route:
    async def dispatch(request: Request) -> Response:
        return await endpoints[request.method](request)

    return Route(_starlette_path(path), dispatch, methods=list(endpoints), name=path)


# ---------------------------------------------------------------------------------------------
# Admin endpoints (not GitHub's)


def _decoded_contents(payload: dict[str, Any], key: str) -> dict[str, bytes | str | None]:
    """``<key>`` (text, or ``null`` for a deleted file) merged with ``<key>_base64`` (bytes)."""
    contents: dict[str, bytes | str | None] = dict(payload.get(key) or {})
    for path, encoded in (payload.get(f"{key}_base64") or {}).items():
        contents[path] = base64.b64decode(encoded, validate=True)
    return contents


_ADMIN_ERRORS = (ValueError, KeyError, TypeError, AttributeError, binascii.Error)
_PULL_ADMIN = "/_fake/pulls/{owner}/{repo}/{number:int}"


def admin_routes(store: Store) -> list[Route]:
    """This server's own endpoints, under ``/_fake/`` (no credential needed).

    ``POST /_fake/pulls`` seeds a pull request; ``…/pulls/{owner}/{repo}/{n}/push``, ``/close``,
    ``/reopen``, ``/labels`` (PUT) and ``/comments`` change one; ``PUT /_fake/permissions/{owner}
    /{repo}/{login}`` sets a role; ``POST /_fake/apps`` registers an App; ``/_fake/state`` and
    ``/_fake/faults`` inspect and inject. Each mirrors a method of ``FakeGitHub``.
    """

    def admin(
        action: Callable[[Request, dict[str, Any]], Any], status: int = 200
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                payload = json.loads(await request.body() or b"{}")
                if not isinstance(payload, dict):
                    raise ValueError("the body must be a JSON object")
                answer = action(request, payload)
            except _ADMIN_ERRORS as error:
                return _admin_error(f"cannot do this: {error}")
            return github_json(request, answer, status)

        return endpoint

    def pull_of(request: Request) -> tuple[str, str, int]:
        params = request.path_params
        return params["owner"], params["repo"], params["number"]

    def seed(request: Request, payload: dict[str, Any]) -> Any:
        contents = _decoded_contents(payload, "contents")
        base_contents = _decoded_contents(payload, "base_contents")
        if any(data is None for data in [*contents.values(), *base_contents.values()]):
            raise ValueError("seeded contents cannot be null")
        pull = store.seed_pull_request(
            payload["pull"],
            payload.get("files") or [],
            contents,  # type: ignore[arg-type]  # no None left, checked above
            base_contents=base_contents,  # type: ignore[arg-type]
        )
        return {"pull": pull}

    def push(request: Request, payload: dict[str, Any]) -> Any:
        sha = store.push(
            *pull_of(request),
            payload.get("files"),
            _decoded_contents(payload, "contents"),
            force=bool(payload.get("force", False)),
            message=payload.get("message"),
        )
        return {"sha": sha}

    def close(request: Request, payload: dict[str, Any]) -> Any:
        merged = bool(payload.get("merged", False))
        return {"pull": store.close_pull_request(*pull_of(request), merged=merged)}

    def reopen(request: Request, payload: dict[str, Any]) -> Any:
        return {"pull": store.reopen_pull_request(*pull_of(request))}

    def labels(request: Request, payload: dict[str, Any]) -> Any:
        return {"labels": store.set_labels(*pull_of(request), list(payload["labels"]))}

    def comment(request: Request, payload: dict[str, Any]) -> Any:
        added = store.add_issue_comment(
            *pull_of(request),
            str(payload["body"]),
            login=str(payload["login"]),
            user_type=str(payload.get("user_type", "User")),
        )
        return {"comment": added}

    def permission(request: Request, payload: dict[str, Any]) -> Any:
        params = request.path_params
        full_name = f"{params['owner']}/{params['repo']}"
        store.set_permission(full_name, params["login"], str(payload["permission"]))
        return {"repository": full_name, "login": params["login"], **payload}

    def app(request: Request, payload: dict[str, Any]) -> Any:
        installations = {
            int(installation_id): list(repositories)
            for installation_id, repositories in dict(payload["installations"]).items()
        }
        store.register_app(
            int(payload["app_id"]),
            str(payload["public_key_pem"]),
            installations,
            slug=str(payload.get("slug", "prsaga")),
            permissions=payload.get("permissions"),
            events=payload.get("events"),
        )
        return {"app_id": int(payload["app_id"]), "installations": sorted(installations)}

    async def state(request: Request) -> Response:
        return github_json(request, store.snapshot())

    async def add_faults(request: Request) -> Response:
        try:
            payload = json.loads(await request.body())
            specs = payload if isinstance(payload, list) else [payload]
            faults = [parse_fault(spec) for spec in specs]
        except (ValueError, KeyError, TypeError, AttributeError, re.error) as error:
            return _admin_error(f"cannot parse this fault: {error}")
        for fault in faults:
            store.add_fault(fault)
        return github_json(request, {"faults": [fault.describe() for fault in faults]}, 201)

    async def clear_faults(request: Request) -> Response:
        store.clear_faults()
        return Response(status_code=204)

    return [
        Route("/_fake/pulls", admin(seed, 201), methods=["POST"]),
        Route(f"{_PULL_ADMIN}/push", admin(push, 201), methods=["POST"]),
        Route(f"{_PULL_ADMIN}/close", admin(close), methods=["POST"]),
        Route(f"{_PULL_ADMIN}/reopen", admin(reopen), methods=["POST"]),
        Route(f"{_PULL_ADMIN}/labels", admin(labels), methods=["PUT"]),
        Route(f"{_PULL_ADMIN}/comments", admin(comment, 201), methods=["POST"]),
        Route("/_fake/permissions/{owner}/{repo}/{login}", admin(permission), methods=["PUT"]),
        Route("/_fake/apps", admin(app, 201), methods=["POST"]),
        Route("/_fake/state", state, methods=["GET"]),
        Route("/_fake/faults", add_faults, methods=["POST"]),
        Route("/_fake/faults", clear_faults, methods=["DELETE"]),
    ]


def _admin_error(message: str) -> Response:
    return Response(json.dumps({"message": message}).encode(), 400, media_type=JSON_MEDIA_TYPE)


def parse_fault(spec: dict[str, Any]) -> Fault:
    """A :class:`Fault` from its JSON form (see ``POST /_fake/faults``)."""
    status = HTTPStatus(int(spec["status"]))  # ValueError for a number that is no status
    times, skip = int(spec.get("times", 1)), int(spec.get("skip", 0))
    if times < 1 or skip < 0:
        raise ValueError(f"times must be at least 1 and skip at least 0, got {times}, {skip}")
    method = spec.get("method")
    return Fault(
        status=int(status),
        path_regex=re.compile(str(spec["path_regex"])),
        method=str(method).upper() if method not in (None, "*") else None,
        times=times,
        headers={str(k).lower(): str(v) for k, v in (spec.get("headers") or {}).items()},
        body=spec.get("body"),
        skip=skip,
        after_handling=bool(spec.get("after_handling", False)),
    )


# ---------------------------------------------------------------------------------------------
# The front door: faults, auth, rate limit, common headers and the request log


class GitHubFront:
    """ASGI middleware that does for every API request what GitHub's edge does.

    In order: an injected fault answers first (so a fault can stand in for any failure, even
    with a good token; an ``after_handling`` fault lets the request be handled, then replaces the
    answer); then the credential is checked (401): the plain token, an App's JWT or an
    installation token, whose holder the endpoint then checks against what it serves
    (:func:`check_credential`); then the hourly budget (403). Every API response
    gets the ``x-ratelimit-*`` and media-type headers, and goes into the request log.
    """

    def __init__(self, app: ASGIApp, store: Store, token: str | None) -> None:
        self.app = app
        self.store = store
        self._token = None if token is None else token.encode("utf-8")
        self._open_to_anyone = [
            re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", operation.path) + "$")
            for operation in SERVED_OPERATIONS
            if operation.credential == "anyone"
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"].startswith("/_fake/")
            or scope["path"].startswith(WEB_PATH_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Logged before the client can read the answer, so a test that just got its
                # response always finds the request in the log.
                self.store.record_request(method, path, query, message["status"])
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = {**_COMMON_HEADERS, **self.store.rate_limit().headers()}
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + [
                    (name.encode(), value.encode())
                    for name, value in extra.items()
                    if name.encode() not in present
                ]
            await send(message)

        fault = self.store.take_fault(method, path)
        answer: Response | None
        if fault is not None and not fault.after_handling:
            answer = self._fault_response(fault)
        else:
            answer = self._refusal(scope)
        if answer is None:
            await self.app(scope, receive, send_with_headers if fault is None else _discard)
            if fault is not None:  # after_handling: the work is done, then the answer is lost
                answer = self._fault_response(fault)
        if answer is not None:
            await answer(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope) -> Response | None:
        """GitHub's answer when the credential is refused or its budget spent; ``None`` to go on
        (with the caller in ``scope["state"]["principal"]`` for the endpoint's own checks)."""
        principal = self._principal(scope)
        if isinstance(principal, AuthError):
            return _error_response(principal.status, principal.message, REST_DOCS_URL)
        allowed, _ = self.store.consume_rate_limit()
        if not allowed:
            message = f"API rate limit exceeded for user ID {self.store.bot['id']}."
            return _error_response(403, message, RATE_LIMIT_DOCS_URL)
        scope.setdefault("state", {})["principal"] = principal
        return None

    def _principal(self, scope: Scope) -> Principal | AuthError:
        """Who the ``Authorization`` header names: the token, an App (JWT) or an installation."""
        header = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
        if not header and any(path.match(scope["path"]) for path in self._open_to_anyone):
            return ANONYMOUS
        scheme, _, raw = header.partition(b" ")
        credential = raw.strip()
        if scheme.lower() not in (b"token", b"bearer") or not credential:
            return AuthError(401, "Bad credentials")
        if self._token is not None and hmac.compare_digest(credential, self._token):
            return TOKEN_PRINCIPAL
        try:
            return self.store.authenticate(credential.decode("ascii"))
        except UnicodeDecodeError:
            return AuthError(401, "Bad credentials")
        except AuthError as refused:
            return refused

    def _default_message(self, fault: Fault) -> str:
        """GitHub's message for a fault's status, so PyGithub raises what it would raise."""
        if fault.status == 401:
            return "Bad credentials"
        if fault.status == 403 and fault.headers.get("x-ratelimit-remaining") == "0":
            return f"API rate limit exceeded for user ID {self.store.bot['id']}."
        return HTTPStatus(fault.status).phrase

    def _fault_response(self, fault: Fault) -> Response:
        headers = dict(fault.headers)
        if isinstance(fault.body, str):
            # A proxy's HTML error page, as GitHub's edge sends on 502/504.
            return Response(fault.body, fault.status, headers=headers, media_type="text/html")
        body = fault.body
        if body is None:
            body = error_body(fault.status, self._default_message(fault), REST_DOCS_URL)
        text = json.dumps(body, separators=(",", ":"))
        return Response(
            text.encode("utf-8"), fault.status, headers=headers, media_type=JSON_MEDIA_TYPE
        )


async def _discard(message: Message) -> None:
    """Where the handler's own answer goes when a fault replaces it."""


async def _not_found(request: Request, exc: Exception) -> Response:
    # GitHub answers unknown paths and unsupported methods alike with a JSON 404.
    return _error_response(404, "Not Found", REST_DOCS_URL)


def build_app(store: Store, token: str | None, *, token_scopes: str | None = "repo") -> Starlette:
    """The starlette application serving ``store`` to clients holding ``token`` (or App
    credentials registered in the store). ``token_scopes`` is what ``X-OAuth-Scopes`` says the
    token may do (``None``: a fine-grained token, which GitHub sends no scopes for)."""
    manifests = ManifestFlow()
    app = Starlette(
        routes=[*admin_routes(store), *web_routes(manifests), *api_routes(store)],
        middleware=[Middleware(GitHubFront, store=store, token=token)],
        exception_handlers={404: _not_found, 405: _not_found},
    )
    app.state.manifests = manifests
    app.state.token_scopes = token_scopes
    return app
