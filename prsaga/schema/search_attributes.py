"""prsaga's custom search attributes: what a user filters pull requests by in the Temporal UI.

They must exist on the Temporal server before a workflow sets them: ``prsaga dev`` and the demo
pass them to ``temporal server start-dev``, docker-compose registers them at start-up, and
``prsaga setup`` registers them on any other server.
"""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.common import SearchAttributeKey

PR_REPOSITORY = SearchAttributeKey.for_keyword("PrRepository")
PR_NUMBER = SearchAttributeKey.for_int("PrNumber")
PR_HEAD_SHA = SearchAttributeKey.for_keyword("PrHeadSha")
REVIEW_STATE = SearchAttributeKey.for_keyword("ReviewState")
APPROVAL_PENDING = SearchAttributeKey.for_bool("ApprovalPending")

SEARCH_ATTRIBUTES: dict[str, IndexedValueType.ValueType] = {
    PR_REPOSITORY.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    PR_NUMBER.name: IndexedValueType.INDEXED_VALUE_TYPE_INT,
    PR_HEAD_SHA.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    REVIEW_STATE.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    APPROVAL_PENDING.name: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
}
"""Name -> type, as the server registers them."""

_CLI_TYPES = {
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
    IndexedValueType.INDEXED_VALUE_TYPE_INT: "Int",
    IndexedValueType.INDEXED_VALUE_TYPE_BOOL: "Bool",
}


def dev_server_args() -> list[str]:
    """``temporal server start-dev`` flags that register the attributes at start."""
    return [
        arg
        for name, kind in SEARCH_ATTRIBUTES.items()
        for arg in ("--search-attribute", f"{name}={_CLI_TYPES[kind]}")
    ]


AWAITING_APPROVAL_QUERY = "ApprovalPending = true"
"""The Temporal UI (or `temporal workflow list --query`) filter for PRs awaiting a human."""
