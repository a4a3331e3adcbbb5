"""The repository's own tool configuration, as read from the pull request's base commit.

Only files of the base commit are used, never the pull request's head, so a pull request cannot
silence its own findings. Pure functions over the files' text (the analyze activity fetches
them): what ruff should run with, whether the project uses bandit, the detect-secrets baseline.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_TOOL_CONFIG_BYTES",
    "TOOL_CONFIG_PATHS",
    "RuffConfig",
    "bandit_configured",
    "ruff_config",
    "secrets_baseline",
]

RUFF_CONFIG_FILES = (".ruff.toml", "ruff.toml", "pyproject.toml")
"""In ruff's own order of precedence at a project's root."""
BANDIT_CONFIG_FILES = (".bandit", "bandit.yaml", "bandit.yml", ".bandit.yaml", ".bandit.yml")
SECRETS_BASELINE = ".secrets.baseline"
TOOL_CONFIG_PATHS = (*RUFF_CONFIG_FILES, *BANDIT_CONFIG_FILES, SECRETS_BASELINE)
"""Files of the base commit the offline reviewer reads (at the repository's root)."""
MAX_TOOL_CONFIG_BYTES = 512 * 1024
"""A larger tool configuration file is not used (a baseline of a large project is ~100 KiB)."""

# Settings that name files outside the project, or change what ruff does beyond checking, are
# dropped; ruff executes nothing from its configuration, so every other setting is safe.
_RUFF_DROPPED = frozenset(
    {
        "extend",
        "cache-dir",
        "required-version",
        "fix",
        "unsafe-fixes",
        "show-fixes",
        "output-format",
        "force-exclude",
        "respect-gitignore",
        "include",
        "exclude",
        "extend-exclude",
        "extend-include",
        "namespace-packages",
    }
)


@dataclass(frozen=True)
class RuffConfig:
    """A project's ruff settings, rewritten as a standalone ``ruff.toml``."""

    toml: str
    source: str
    """The file it came from (``pyproject.toml``...)."""


def ruff_config(files: Mapping[str, str]) -> tuple[RuffConfig | None, str | None]:
    """(the project's ruff settings or ``None``, why its file could not be used).

    The first of ``.ruff.toml``, ``ruff.toml`` and ``pyproject.toml`` (with a ``[tool.ruff]``
    table) that exists wins, as in ruff. Paths in ``per-file-ignores`` stay relative to the
    project's root, where the settings file is written.
    """
    for name in RUFF_CONFIG_FILES:
        text = files.get(name)
        if text is None:
            continue
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            return None, f"{name} is not valid TOML ({error})"
        inferred: dict[str, Any] = {}
        if name == "pyproject.toml":
            tool = data.get("tool")
            if not isinstance(tool, dict) or not isinstance(tool.get("ruff"), dict):
                continue
            # Ruff infers the target version from requires-python, which the rewritten file
            # would lose (and with it the rules that depend on the version).
            target = _target_version(data.get("project"))
            inferred = {"target-version": target} if target else {}
            data = tool["ruff"]
        kept = {key: value for key, value in data.items() if key not in _RUFF_DROPPED}
        kept = {**inferred, **kept}
        lint = kept.get("lint")
        if isinstance(lint, dict):
            kept["lint"] = {k: v for k, v in lint.items() if k not in _RUFF_DROPPED}
        try:
            return RuffConfig(toml=_toml(kept), source=name), None
        except ValueError as error:
            return None, f"{name}: {error}"
    return None, None


_MINIMUM_PYTHON = re.compile(r">=\s*3\.(\d+)")


def _target_version(project: object) -> str | None:
    """``py3X`` from ``[project] requires-python = ">=3.X"``, as ruff infers it."""
    if not isinstance(project, dict):
        return None
    match = _MINIMUM_PYTHON.search(str(project.get("requires-python") or ""))
    return f"py3{match.group(1)}" if match else None


def bandit_configured(files: Mapping[str, str]) -> bool:
    """Whether the project uses bandit: a bandit file, or ``[tool.bandit]`` in pyproject.toml."""
    if any(name in files for name in BANDIT_CONFIG_FILES):
        return True
    try:
        data = tomllib.loads(files.get("pyproject.toml", ""))
    except tomllib.TOMLDecodeError:
        return False
    tool = data.get("tool")
    return isinstance(tool, dict) and "bandit" in tool


def secrets_baseline(files: Mapping[str, str]) -> frozenset[tuple[str, str]]:
    """(path, hashed secret) pairs the project's detect-secrets baseline accepts."""
    text = files.get(SECRETS_BASELINE)
    if text is None:
        return frozenset()
    try:
        results = json.loads(text).get("results", {})
    except (json.JSONDecodeError, AttributeError):
        return frozenset()
    if not isinstance(results, dict):
        return frozenset()
    return frozenset(
        (str(path), str(secret.get("hashed_secret")))
        for path, secrets in results.items()
        if isinstance(secrets, list)
        for secret in secrets
        if isinstance(secret, dict)
    )


def _toml(table: Mapping[str, Any]) -> str:
    """A table as TOML: every value inline (JSON's strings are TOML basic strings)."""
    return "".join(f"{json.dumps(key)} = {_inline(value)}\n" for key, value in table.items())


def _inline(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_inline(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_inline(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"unsupported TOML value {type(value).__name__}")
