"""Extract, from GitHub's OpenAPI description, the operations the local GitHub server serves.

For every operation in ``prsaga.local.github_fake.SERVED_OPERATIONS`` this writes its request-body
schema and, for every status the server can answer it with, the response schema, into one small
self-contained JSON document: each ``$ref`` to ``#/components/responses/...`` is inlined and each
``#/components/schemas/...`` it reaches is copied under ``components.schemas``, so every
reference resolves inside the subset. Schemas are copied as they are (OpenAPI 3.0, with
``nullable``); only ``description`` and ``example(s)``, which do not validate anything, are left
out to keep the file small.

A status GitHub does not document for an operation (e.g. 401, which GitHub documents once for the
whole API) gets the schema of GitHub's shared response for that status and is marked
``"documented": false``.

Usage (see tests/contract/PROVENANCE.md for the npm command that fetches the description)::

    python scripts/extract_github_openapi.py \\
        --spec /tmp/octo/node_modules/@octokit/openapi/generated/api.github.com.json \\
        --out tests/contract/github-openapi-subset.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prsaga.local.github_fake import SERVED_OPERATIONS  # noqa: E402

SCHEMA_PREFIX = "#/components/schemas/"
RESPONSE_PREFIX = "#/components/responses/"
JSON_CONTENT_TYPE = "application/json"
_ANNOTATIONS = {"description", "example", "examples"}

# GitHub's shared responses, for statuses an operation does not list itself.
FALLBACK_RESPONSES = {
    400: "bad_request",
    401: "requires_authentication",
    403: "forbidden",
    404: "not_found",
    422: "validation_failed",
}


def _strip_annotations(value: Any) -> Any:
    """``value`` without ``description``/``example(s)`` keys of schema objects.

    A schema's ``properties`` maps property names to schemas, so a property that happens to be
    called ``description`` (a status has one) is kept.
    """
    if isinstance(value, list):
        return [_strip_annotations(item) for item in value]
    if not isinstance(value, dict):
        return value
    stripped = {}
    for key, item in value.items():
        if key == "properties" and isinstance(item, dict):
            stripped[key] = {name: _strip_annotations(schema) for name, schema in item.items()}
        elif key not in _ANNOTATIONS:
            stripped[key] = _strip_annotations(item)
    return stripped


def _schema_refs(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMA_PREFIX):
            yield ref.removeprefix(SCHEMA_PREFIX)
        for item in value.values():
            yield from _schema_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _schema_refs(item)


def _resolve_response(spec: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    ref = response.get("$ref")
    if isinstance(ref, str):
        return spec["components"]["responses"][ref.removeprefix(RESPONSE_PREFIX)]
    return response


def _json_content(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The ``application/json`` content of a request body or response, if it has one."""
    content = entry.get("content") or {}
    return content.get(JSON_CONTENT_TYPE)


def extract_operation(
    spec: dict[str, Any], method: str, path: str, statuses: Iterable[int]
) -> dict[str, Any]:
    """The subset entry of one operation: its request body and the listed responses."""
    operation = spec["paths"][path][method.lower()]
    responses: dict[str, Any] = {}
    for status in sorted(set(statuses)):
        documented = operation["responses"].get(str(status))
        source = f"#/paths/{path}/{method.lower()}/responses/{status}"
        if documented is None:
            fallback = FALLBACK_RESPONSES.get(status)
            if fallback is None:
                raise SystemExit(f"{method} {path}: no schema for status {status}")
            documented = {"$ref": RESPONSE_PREFIX + fallback}
            source = RESPONSE_PREFIX + fallback
        response = _resolve_response(spec, documented)
        content = _json_content(response)
        responses[str(status)] = {
            "documented": str(status) in operation["responses"],
            "source": source,
            "content_type": JSON_CONTENT_TYPE if content else None,
            "schema": _strip_annotations(content["schema"]) if content else None,
        }
    request_body = None
    if "requestBody" in operation:
        content = _json_content(operation["requestBody"])
        if content is None:
            raise SystemExit(f"{method} {path}: request body is not JSON")
        request_body = {
            "required": bool(operation["requestBody"].get("required")),
            "content_type": JSON_CONTENT_TYPE,
            "schema": _strip_annotations(content["schema"]),
        }
    return {
        "method": method,
        "path": path,
        "operationId": operation["operationId"],
        "docs_url": operation["externalDocs"]["url"],
        "request_body": request_body,
        "responses": responses,
    }


def referenced_schemas(spec: dict[str, Any], roots: Iterable[Any]) -> dict[str, Any]:
    """Every component schema reachable from ``roots``, annotations stripped, sorted by name."""
    schemas = spec["components"]["schemas"]
    found: dict[str, Any] = {}
    pending = [name for root in roots for name in _schema_refs(root)]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found[name] = _strip_annotations(schemas[name])
        pending.extend(_schema_refs(found[name]))
    return dict(sorted(found.items()))


def _package_of(spec_path: Path) -> dict[str, str]:
    """Name and version of the npm package the description came from, when it is one."""
    for directory in spec_path.resolve().parents:
        manifest = directory / "package.json"
        if manifest.is_file():
            package = json.loads(manifest.read_text(encoding="utf-8"))
            return {"package": package["name"], "version": package["version"]}
    return {}


def build_subset(spec_path: Path) -> dict[str, Any]:
    """The whole subset document for the description at ``spec_path``."""
    raw = spec_path.read_bytes()
    spec = json.loads(raw)
    statuses: dict[tuple[str, str], set[int]] = {}
    for served in SERVED_OPERATIONS:
        key = (served.method, served.documented_path)
        statuses.setdefault(key, set()).update(served.statuses)
    operations = [
        extract_operation(spec, method, path, codes) for (method, path), codes in statuses.items()
    ]
    return {
        "source": {
            **_package_of(spec_path),
            "file": spec_path.name,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "openapi": spec["openapi"],
            "info_version": spec["info"]["version"],
        },
        "served_aliases": [
            {"method": s.method, "path": s.path, "documented_path": s.spec_path}
            for s in SERVED_OPERATIONS
            if s.spec_path
        ],
        "operations": operations,
        "components": {"schemas": referenced_schemas(spec, operations)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, required=True, help="api.github.com.json")
    parser.add_argument("--out", type=Path, required=True, help="where to write the subset")
    args = parser.parse_args(argv)
    subset = build_subset(args.spec)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(subset, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(
        f"wrote {len(subset['operations'])} operations and "
        f"{len(subset['components']['schemas'])} schemas to {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
