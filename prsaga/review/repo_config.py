"""Per-repository configuration: ``.github/prsaga.yml`` on the base branch, over server defaults.

The file is read from the pull request's *base* branch, never its head, so a pull request cannot
reconfigure its own review. Every key is optional: values in the file replace the server's
defaults (nested mappings such as ``budget`` and ``labels`` are merged key by key, lists are
replaced). A file that is not valid YAML or does not fit the schema never fails a review: the
server defaults are used, and :attr:`ConfigResult.error` holds a message for a pull-request comment
that names the line and the setting at fault.

Only the standard library, pydantic and PyYAML are used; nothing here does I/O except
:meth:`RepoConfig.from_settings`, which reads the server's optional defaults file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from prsaga.review.models import parse_chain
from prsaga.schema import Confidence, Severity

__all__ = [
    "DEFAULT_SPECIALISTS",
    "EXAMPLE_CONFIG",
    "MAX_CONFIG_BYTES",
    "SPECIALISTS",
    "OFFLINE_TOOLS",
    "Budget",
    "ConfigResult",
    "PathRules",
    "ToolSettings",
    "RepoConfig",
    "RuleCondition",
    "RoutingRule",
    "Specialist",
    "load_repo_config",
]

Specialist = Literal["security", "correctness", "performance", "style", "tests_docs"]
SPECIALISTS: tuple[Specialist, ...] = (
    "security",
    "correctness",
    "performance",
    "tests_docs",
    "style",
)
"""Every Claude specialist, in priority order (what a tight budget keeps first)."""
DEFAULT_SPECIALISTS: list[Specialist] = ["security", "correctness", "performance", "tests_docs"]
"""Specialists that run unless configured otherwise (``style`` is opt-in: it is the noisiest)."""
MAX_CONFIG_BYTES = 64 * 1024
"""A configuration file larger than this is refused (it is a few dozen lines in practice)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleCondition(_Strict):
    """When a routing rule applies. Every condition given must hold; none given: always."""

    paths: list[str] = []
    """Gitignore-style globs: the rule applies when a reviewed file matches, and only to the
    matching files."""
    labels: list[str] = []
    """The pull request carries at least one of these labels (case-insensitive)."""
    min_changed_lines: int | None = Field(default=None, ge=0)
    max_changed_lines: int | None = Field(default=None, ge=0)


class RoutingRule(_Strict):
    """Add (``run``) or remove (``skip``) specialists when a condition holds."""

    when: RuleCondition = RuleCondition()
    run: list[Specialist] = []
    skip: list[Specialist] = []


class Budget(_Strict):
    """The most one pull request's review may spend on Claude."""

    tokens: int = Field(default=400_000, ge=0)
    """Input plus output tokens across every specialist; 0 turns Claude off."""
    usd: float = Field(default=2.0, ge=0)
    """Estimated cost, from the model's list prices."""


OfflineTool = Literal[
    "ruff", "bandit", "detect-secrets", "hygiene", "shellcheck", "zizmor", "hadolint"
]
OFFLINE_TOOLS: tuple[OfflineTool, ...] = (
    "ruff",
    "bandit",
    "detect-secrets",
    "hygiene",
    "shellcheck",
    "zizmor",
    "hadolint",
)
"""The offline reviewer's tools, as ``tools:`` names them."""


class PathRules(_Strict):
    """Rules selected or ignored for the files matching ``paths`` only."""

    paths: list[str] = Field(min_length=1)
    """Gitignore-style globs."""
    select: list[str] = []
    ignore: list[str] = []


class ToolSettings(_Strict):
    """What one offline tool reports. Rules are codes or code prefixes (``F``, ``F821``,
    ``SC2086``, ``template-injection``, ``AWS Access Key``); ``ALL`` matches every rule."""

    enabled: bool | None = None
    """Run the tool; ``null``: its default (bandit runs only where the project configures it)."""
    select: list[str] = []
    """Rules reported on top of the tool's defaults (for ruff: on top of the project's own
    configuration, which prsaga reads from the base branch)."""
    ignore: list[str] = []
    """Rules never reported (wins over ``select``)."""
    severity: dict[str, Severity] = {}
    """Rule or prefix -> the severity its findings get (the longest matching prefix wins)."""
    per_path: list[PathRules] = []
    """Further ``select``/``ignore`` for some paths (applied in order, after the above)."""


class RepoConfig(_Strict):
    """What a repository's reviews do; every field defaults to the server's default."""

    specialists: list[Specialist] = list(DEFAULT_SPECIALISTS)
    """Claude specialists that run on every pull request (before rules and labels)."""
    rules: list[RoutingRule] = []
    """Applied in order after ``specialists``; a later rule overrides an earlier one."""
    labels: dict[str, list[Specialist]] = {}
    """Pull-request label → specialists it adds (applied last: a person asked for them)."""
    offline: bool = True
    """Run the offline reviewer (ruff, bandit, detect-secrets, hygiene). It also runs whenever
    no Claude specialist can, so that a review is never empty."""
    ignore: list[str] = []
    """Gitignore-style globs no agent reviews (on top of lock, vendored and generated files)."""
    max_inline_comments: int = Field(default=20, ge=0)
    """Inline comments per review; the rest are listed in the review's summary."""
    budget: Budget = Budget()
    tools: dict[OfflineTool, ToolSettings] = {}
    """Per offline tool: on or off, rules selected or ignored (per path glob), severities."""
    request_changes_at: Severity | None = Severity.HIGH
    """The review requests changes when a finding is at least this severe (and sure, see
    ``request_changes_confidence``); ``null``: never."""
    request_changes_confidence: Confidence = Confidence.HIGH
    """How sure a finding must be to request changes: ``high`` (deterministic evidence) by
    default, so heuristics and model claims comment but never block."""
    quiet: bool = True
    """Post no review when there is nothing (new) to say; the commit status says so."""
    approve_when_clean: bool = False
    """Approve the pull request when no finding reaches ``request_changes_at``."""
    require_approval: bool = False
    """A maintainer must approve consequential actions (requesting changes, approving)."""
    approval_timeout_hours: float = Field(default=24.0, gt=0)
    """How long a proposed action waits for that approval."""
    on_approval_timeout: Literal["comment", "proceed"] = "comment"
    """Without a decision in time: post the review as a plain comment, or go ahead."""
    review_drafts: bool | None = None
    """Review draft pull requests; ``null`` leaves it to the server's setting."""
    models: dict[str, str] = {}
    """Agent (a specialist, ``verifier`` or ``default``) -> ``provider:model`` fallback chain,
    over the server's ``llm_models``; the providers' credentials stay on the server."""
    verify_threshold: int | None = Field(default=None, ge=0, le=100)
    """The verifier's confidence a model finding needs to be posted; ``null``: the server's."""

    @field_validator("models")
    @classmethod
    def _valid_chains(cls, models: dict[str, str]) -> dict[str, str]:
        for text in models.values():
            parse_chain(text)
        return models


class ConfigResult(BaseModel):
    """The configuration in force, and why the repository's file was not used (if it was not)."""

    config: RepoConfig
    error: str | None = None


EXAMPLE_CONFIG = """\
# .github/prsaga.yml: read from the pull request's base branch. Every key is optional.

# Claude specialists that review every pull request:
# security, correctness, performance, style, tests_docs.
specialists: [security, correctness, performance, tests_docs]

# Rules, applied in order. `when` conditions must all hold; `paths` also limits
# the rule to the matching files.
rules:
  - when: {paths: ["docs/**", "**/*.md"]}
    run: [tests_docs]
    skip: [performance]        # no performance review of documentation
  - when: {paths: ["src/**/*.py"], min_changed_lines: 50}
    run: [style]
  - when: {labels: [trivial], max_changed_lines: 20}
    skip: [performance, style]

# A label on the pull request adds specialists.
labels:
  security-review: [security]
  needs-tests: [tests_docs]

offline: true                  # the offline tools (ruff, bandit, detect-secrets, hygiene,
                               # shellcheck, zizmor, hadolint)
tools:                         # per tool: enabled, select, ignore, severity, per_path
  ruff:
    select: [B]                # also report bugbear (ruff reads pyproject.toml/ruff.toml too)
    ignore: [B008]
    per_path:
      - paths: ["tests/**"]
        ignore: [B011]
  bandit:
    enabled: true              # on by default only where the project configures bandit
    severity: {B105: low}
  hygiene:
    select: [todo-comment]     # off by default
  shellcheck:
    ignore: [SC2086]
ignore:                        # never reviewed (lock, vendored and generated files never are)
  - "fixtures/**"
  - "*.snap"
max_inline_comments: 15        # the rest go in the review summary
budget:
  tokens: 300000               # per pull request, all specialists together
  usd: 1.50
request_changes_at: high       # info, low, medium, high, critical, or null for never
request_changes_confidence: high  # low, medium or high: how sure a blocking finding must be
quiet: true                    # post nothing when there is nothing new to say
approve_when_clean: false      # approve when nothing reaches request_changes_at
require_approval: false        # a maintainer approves requesting changes / approving first
approval_timeout_hours: 24
on_approval_timeout: comment   # comment (post as a plain comment) or proceed
review_drafts: false
models:                        # provider:model fallback chains per agent (the server's providers)
  security: "anthropic:claude-opus-4-5, openai:gpt-5"
  verifier: "anthropic:claude-sonnet-4-6"
verify_threshold: 80           # the verifier's confidence a model finding needs to be posted
"""
"""A documented example of the file (shown in the README; the tests load it)."""


def load_repo_config(
    text: str | None, defaults: RepoConfig, *, source: str = ".github/prsaga.yml"
) -> ConfigResult:
    """The configuration for a repository whose file (if any) holds ``text``.

    ``None`` (no file) gives ``defaults``. An invalid file gives ``defaults`` and an ``error``
    saying what is wrong and where, fit for a pull-request comment. Never raises.
    """
    if text is None:
        return ConfigResult(config=defaults)
    try:
        return ConfigResult(config=overridden(text, defaults, source))
    except _ConfigError as problem:
        return ConfigResult(
            config=defaults,
            error=f"{problem} The server's default configuration is used instead.",
        )


# --- loading -----------------------------------------------------------------------------------


class _ConfigError(ValueError):
    """A configuration file that cannot be used; the message is for the pull request's author."""


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without anchors or aliases (a few lines of aliases can expand to gigabytes) and
    without duplicate keys (a repeated key would silently drop the first value)."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not supported", event.start_mark
            )
        return super().compose_node(parent, index)  # type: ignore[no-any-return]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def overridden(text: str, defaults: RepoConfig, source: str) -> RepoConfig:
    """``defaults`` overridden by the YAML ``text`` (named ``source`` in messages); raises
    ``ValueError`` saying what is wrong and where."""
    if len(text.encode("utf-8", errors="replace")) > MAX_CONFIG_BYTES:
        raise _ConfigError(f"`{source}` is larger than {MAX_CONFIG_BYTES // 1024} KiB.")
    try:
        data = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = error.problem or "invalid YAML"
        raise _ConfigError(f"`{source}`{where}: {problem}.") from None
    except yaml.YAMLError as error:
        raise _ConfigError(f"`{source}`: {error}.") from None
    if data is None:
        return defaults  # an empty file (or only comments) changes nothing
    if not isinstance(data, dict):
        raise _ConfigError(
            f"`{source}` must be a mapping of settings, not a {type(data).__name__}."
        )
    merged = _merge(defaults.model_dump(mode="json"), data)
    try:
        return RepoConfig.model_validate(merged)
    except ValidationError as error:
        raise _ConfigError(_describe(error, text, source)) from None


def _merge(base: Mapping[str, Any], override: Mapping[Any, Any]) -> dict[Any, Any]:
    """``override`` over ``base``: mappings merged recursively, anything else replaced."""
    merged: dict[Any, Any] = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merge(base[key], value)
        else:
            merged[key] = value
    return merged


def _describe(error: ValidationError, text: str, source: str) -> str:
    """One line per problem, each with the setting's path and, when known, its line."""
    root = _compose(text)
    problems = []
    for detail in error.errors()[:5]:
        loc = detail["loc"]
        field = _field_path(loc)
        line = _line_of(root, loc)
        where = f"line {line}, " if line is not None else ""
        message = "unknown setting" if detail["type"] == "extra_forbidden" else detail["msg"]
        problems.append(f"{where}`{field}`: {message}")
    more = len(error.errors()) - len(problems)
    if more > 0:
        problems.append(f"and {more} more problem{'s' if more != 1 else ''}")
    return f"`{source}` is not valid: " + "; ".join(problems) + "."


def _field_path(loc: Sequence[int | str], longest: int = 100) -> str:
    path = ""
    for part in loc:
        name = str(part) if len(str(part)) <= longest else f"{str(part)[:longest]}…"
        path += f"[{part}]" if isinstance(part, int) else (f".{name}" if path else name)
    return path or "(top level)"


def _compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        return None


def _line_of(node: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """The 1-based line of the setting at ``loc`` in the file, if the file has it."""
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if str(key_node.value) == str(part):
                    line, node = key_node.start_mark.line + 1, value_node
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
