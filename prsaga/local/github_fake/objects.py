"""GitHub-shaped objects of the local GitHub: its errors, ids, timestamps and the
example objects (``templates/``) every answer is built from.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

CANONICAL_API_URL = "https://api.github.com"

CANONICAL_WEB_URL = "https://github.com"

TEMPLATES_DIR = Path(__file__).with_name("templates")

BOOKKEEPING_KEYS = frozenset({"_pull", "_ref", "_comment", "_annotations"})
"""Keys the store adds to GitHub's objects for itself (never sent)."""

# The example values the templates are filled from (GitHub's docs use octocat/Hello-World).
TEMPLATE_FULL_NAME = "octocat/Hello-World"

TEMPLATE_LOGIN = "octocat"


class GitHubError(Exception):
    """An error GitHub answers with: an HTTP status, a ``message`` and optionally ``errors``."""

    def __init__(self, status: int, message: str, errors: list[Any] | None = None) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.errors = errors


class NotFoundError(GitHubError):
    """404 ``Not Found``: GitHub's answer for anything missing (or invisible to the token)."""

    def __init__(self) -> None:
        super().__init__(404, "Not Found")


def unprocessable(*errors: str) -> GitHubError:
    """A 422 as the review endpoints send it: ``Unprocessable Entity`` and one sentence."""
    return GitHubError(422, "Unprocessable Entity", [_to_sentence(list(errors))])


def invalid_request(detail: str) -> GitHubError:
    """A 422 as GitHub sends it when a request body does not match the endpoint's schema."""
    return GitHubError(422, f"Invalid request.\n\n{detail}")


def _to_sentence(parts: list[str]) -> str:
    """Join messages the way GitHub (Rails' ``to_sentence``) does."""
    if len(parts) <= 2:
        return " and ".join(parts)
    return ", ".join(parts[:-1]) + ", and " + parts[-1]


def legacy_node_id(type_name: str, object_id: int | str) -> str:
    """A node id in GitHub's legacy format, e.g. ``MDQ6VXNlcjE=`` for ``04:User1``."""
    return base64.b64encode(f"0{len(type_name)}:{type_name}{object_id}".encode()).decode()


def github_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, as GitHub writes every timestamp."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def wrapped_base64(data: bytes) -> str:
    """Base64 the way the contents API sends it: a newline after every 60 characters."""
    encoded = base64.b64encode(data).decode()
    return "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))


def deep_merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``overlay``, recursing into dicts present in both."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def replace_in_strings(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [replace_in_strings(item, old, new) for item in value]
    if isinstance(value, dict):
        return {key: replace_in_strings(item, old, new) for key, item in value.items()}
    return value


@cache
def _template_text(name: str) -> str:
    return (TEMPLATES_DIR / name).read_text(encoding="utf-8")


def load_template(name: str) -> Any:
    """A fresh copy of one of GitHub's example objects in ``templates/``."""
    return json.loads(_template_text(name))
