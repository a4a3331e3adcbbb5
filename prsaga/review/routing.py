"""Routing: which review agents look at a pull request, and at which of its files.

A pure function of the event, facts about the pull request and the repository's configuration,
so that it is unit-tested on its own and may run in workflow code:

1. Files no agent should read are set aside (lock, vendored and generated files, the
   repository's ``ignore`` globs); removed files are not reviewed either.
2. Claude specialists start from ``specialists``, then every rule whose conditions hold adds
   (``run``) or removes (``skip``) specialists, in order; a rule with ``paths`` adds or removes
   them for the matching files only. Labels come last: a person asked for them.
3. Without an LLM (no API key, or a zero budget) no specialist runs; the offline reviewer runs
   when configured, and also whenever no specialist does, so that a review is never empty.

:func:`apply_budget` then decides which of the specialists' chunks fit the per-PR budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, model_validator

from prsaga.review.chunking import Chunk, generated_reason, is_skipped_path, match_globs
from prsaga.review.diff import DiffFile
from prsaga.review.repo_config import SPECIALISTS, RepoConfig, RuleCondition

if TYPE_CHECKING:
    from prsaga.review.diff import ParsedPullRequest

__all__ = [
    "FileFacts",
    "PullRequestFacts",
    "RoutingDecision",
    "apply_budget",
    "route",
]


class FileFacts(BaseModel):
    """What routing needs to know about one changed file (no content)."""

    path: str
    status: str
    """GitHub's file status (``added``, ``modified``, ``removed``, ``renamed``...)."""
    additions: int = 0
    deletions: int = 0
    binary: bool = False
    generated: bool = False
    """The diff shows a generator's header (``@generated``, ``Code generated ... DO NOT EDIT``)."""

    @classmethod
    def from_diff(cls, diff_file: DiffFile) -> FileFacts:
        return cls(
            path=diff_file.path,
            status=diff_file.status.value,
            additions=diff_file.additions,
            deletions=diff_file.deletions,
            binary=diff_file.is_binary,
            generated=generated_reason(diff_file) is not None,
        )


class PullRequestFacts(BaseModel):
    """The event and the pull request, as routing sees them."""

    action: str = "opened"
    """The event's action (``opened``, ``synchronize``, ``review`` for a manual request...)."""
    labels: list[str] = []
    draft: bool = False
    author: str = ""
    files: list[FileFacts] = []
    changed_lines: int = Field(default=0, ge=0)
    """Added plus removed lines of the whole pull request (computed from ``files`` if omitted)."""

    @model_validator(mode="before")
    @classmethod
    def _count_changed_lines(cls, data: object) -> object:
        if isinstance(data, dict) and "changed_lines" not in data:
            files = [
                f if isinstance(f, FileFacts) else FileFacts.model_validate(f)
                for f in data.get("files", [])
            ]
            data = {**data, "changed_lines": sum(f.additions + f.deletions for f in files)}
        return data

    @classmethod
    def from_diff(
        cls,
        files: Sequence[DiffFile],
        *,
        action: str,
        labels: Sequence[str] = (),
        draft: bool = False,
        author: str = "",
    ) -> PullRequestFacts:
        return cls(
            action=action,
            labels=list(labels),
            draft=draft,
            author=author,
            files=[FileFacts.from_diff(f) for f in files],
        )

    @classmethod
    def from_parsed(
        cls, parsed: ParsedPullRequest, *, action: str, labels: Sequence[str] = ()
    ) -> PullRequestFacts:
        """Facts of a parsed pull request (its labels come from the event or the API)."""
        return cls.from_diff(
            parsed.files, action=action, labels=labels, draft=parsed.draft, author=parsed.author
        )


class RoutingDecision(BaseModel):
    """Which agents review which files, and why (recorded in the workflow history)."""

    offline: bool
    """Run the offline reviewer on ``paths``."""
    specialists: list[str]
    """Claude specialists to run, in priority order."""
    paths: list[str]
    """The files agents review: changed, present at the head, not skipped."""
    paths_by_specialist: dict[str, list[str]] = {}
    """For a specialist that rules limited to some files, those files; any specialist not listed
    reviews all of ``paths`` (see :meth:`paths_for`)."""
    skipped_files: list[tuple[str, str]] = []
    """``(path, reason)`` of changed files no agent reviews."""
    reasons: list[str] = []
    """Why each agent runs or does not, for people reading the review or the history."""

    def paths_for(self, specialist: str) -> list[str]:
        """The files ``specialist`` reviews."""
        return self.paths_by_specialist.get(specialist, self.paths)


def route(facts: PullRequestFacts, config: RepoConfig, *, llm_available: bool) -> RoutingDecision:
    """Decide which agents review the pull request (see the module's docstring for the order)."""
    if facts.action == "closed":
        return _nothing(["closed pull request: nothing is reviewed"])
    if facts.draft and not config.review_drafts and facts.action != "review":
        return _nothing(
            ["draft pull request: drafts are reviewed once ready (or with review_drafts: true)"]
        )

    paths: list[str] = []
    skipped: list[tuple[str, str]] = []
    for file in facts.files:
        if file.status == "removed":
            continue
        reason = is_skipped_path(file.path, config.ignore) or (
            "generated file (header)" if file.generated else None
        )
        if reason is None:
            paths.append(file.path)
        else:
            skipped.append((file.path, reason))
    if not paths:
        return _nothing(["no file to review: every changed file is removed or skipped"], skipped)

    reviewed = set(paths)
    reviewed_lines = sum(f.additions + f.deletions for f in facts.files if f.path in reviewed)
    reasons: list[str] = []
    specialists: list[str] = []
    scopes: dict[str, set[str]] = {}
    if not llm_available:
        reasons.append("Claude specialists: not run (no model provider configured)")
    elif config.budget.tokens == 0:
        reasons.append("Claude specialists: not run (budget.tokens is 0)")
    else:
        scopes, why = _specialist_scopes(facts, config, paths, reviewed_lines)
        specialists = [s for s in SPECIALISTS if scopes.get(s)]
        reasons += [_explain(s, scopes.get(s, set()), why.get(s), len(paths)) for s in SPECIALISTS]

    offline = config.offline or not specialists
    if config.offline:
        reasons.append("offline: enabled")
    elif offline:
        reasons.append("offline: runs although disabled, because no Claude specialist runs")
    else:
        reasons.append("offline: disabled by configuration (offline: false)")

    return RoutingDecision(
        offline=offline,
        specialists=specialists,
        paths=paths,
        paths_by_specialist={
            s: [p for p in paths if p in scopes[s]]
            for s in specialists
            if len(scopes[s]) < len(paths)
        },
        skipped_files=skipped,
        reasons=reasons,
    )


def _nothing(reasons: list[str], skipped: list[tuple[str, str]] | None = None) -> RoutingDecision:
    return RoutingDecision(
        offline=False, specialists=[], paths=[], skipped_files=skipped or [], reasons=reasons
    )


def _specialist_scopes(
    facts: PullRequestFacts, config: RepoConfig, paths: list[str], changed_lines: int
) -> tuple[dict[str, set[str]], dict[str, str]]:
    """Each specialist's files and the last thing that decided them."""
    everything = set(paths)
    scopes: dict[str, set[str]] = {}
    why: dict[str, str] = {}
    for specialist in config.specialists:
        scopes[specialist] = set(everything)
        why[specialist] = "in the default specialists"
    labels = {label.casefold() for label in facts.labels}
    for number, rule in enumerate(config.rules, start=1):
        matched = _rule_scope(rule.when, labels, paths, changed_lines)
        if matched is None:
            continue
        described = _describe_rule(number, rule.when)
        for specialist in rule.run:
            scopes.setdefault(specialist, set()).update(matched)
            why[specialist] = described
        # Within one rule, skip wins over run.
        for specialist in rule.skip:
            scopes[specialist] = scopes.get(specialist, set()) - matched
            why[specialist] = f"skipped by {described}"
    configured = {name.casefold(): (name, added) for name, added in config.labels.items()}
    for label in facts.labels:
        name, added = configured.get(label.casefold(), (label, []))
        for specialist in added:
            scopes[specialist] = set(everything)
            why[specialist] = f"label '{name}'"
    return scopes, why


def _rule_scope(
    when: RuleCondition, labels: set[str], paths: list[str], changed_lines: int
) -> set[str] | None:
    """The files a rule applies to, or ``None`` when its conditions do not hold."""
    if when.labels and not labels & {label.casefold() for label in when.labels}:
        return None
    if when.min_changed_lines is not None and changed_lines < when.min_changed_lines:
        return None
    if when.max_changed_lines is not None and changed_lines > when.max_changed_lines:
        return None
    if not when.paths:
        return set(paths)
    matched = {path for path in paths if match_globs(path, when.paths) is not None}
    return matched or None


def _describe_rule(number: int, when: RuleCondition) -> str:
    conditions = []
    if when.paths:
        conditions.append("paths " + ", ".join(when.paths))
    if when.labels:
        conditions.append("labels " + ", ".join(when.labels))
    if when.min_changed_lines is not None:
        conditions.append(f"≥ {when.min_changed_lines} changed lines")
    if when.max_changed_lines is not None:
        conditions.append(f"≤ {when.max_changed_lines} changed lines")
    return f"rule {number}" + (f" ({'; '.join(conditions)})" if conditions else "")


def _explain(specialist: str, scope: set[str], why: str | None, total: int) -> str:
    if scope:
        limited = f", {len(scope)} of {total} files" if len(scope) < total else ""
        return f"{specialist}: {why}{limited}"
    if why is None:
        return f"{specialist}: not enabled (not a default specialist; no rule or label adds it)"
    if why.startswith("skipped by "):
        return f"{specialist}: not run, {why}"
    return f"{specialist}: not run, no file left to review ({why})"


# --- budget ------------------------------------------------------------------------------------


def apply_budget(
    chunks_by_specialist: Mapping[str, Sequence[Chunk]],
    budget_tokens: int,
    *,
    budget_usd: float | None = None,
    usd_per_token: float = 0.0,
    overhead_tokens: int = 0,
) -> tuple[dict[str, list[Chunk]], list[str]]:
    """Keep the chunks that fit the per-PR budget, most important first.

    Chunks are considered by specialist priority (security, correctness, performance,
    tests_docs, style; any other name after them, alphabetically), then in their order. A chunk
    costs its ``tokens`` plus ``overhead_tokens`` (the system prompt and the expected answer),
    and ``usd_per_token`` per token of that against ``budget_usd``. A chunk that does not fit is
    skipped and smaller later ones may still fit (first fit), so the budget is used as fully as
    possible. Returns the kept chunks per specialist (every specialist given appears) and one
    note per specialist that lost chunks, for the review's summary.
    """
    order = [s for s in SPECIALISTS if s in chunks_by_specialist] + sorted(
        s for s in chunks_by_specialist if s not in SPECIALISTS
    )
    kept: dict[str, list[Chunk]] = {s: [] for s in chunks_by_specialist}
    dropped: dict[str, list[Chunk]] = {}
    spent_tokens = 0
    spent_usd = 0.0
    for specialist in order:
        for chunk in chunks_by_specialist[specialist]:
            tokens = chunk.tokens + overhead_tokens
            usd = tokens * usd_per_token
            fits = spent_tokens + tokens <= budget_tokens and (
                budget_usd is None or spent_usd + usd <= budget_usd
            )
            if fits:
                kept[specialist].append(chunk)
                spent_tokens += tokens
                spent_usd += usd
            else:
                dropped.setdefault(specialist, []).append(chunk)
    limit = f"{budget_tokens:,} tokens" + (
        f" / ${budget_usd:.2f}" if budget_usd is not None else ""
    )
    notes = []
    for specialist in order:
        if specialist not in dropped:
            continue
        lost = dropped[specialist]
        total = len(chunks_by_specialist[specialist])
        what = "not run" if len(lost) == total else f"{len(lost)} of {total} batches not reviewed"
        notes.append(f"{specialist}: {what} ({_files(lost)}): over the per-PR budget of {limit}")
    return kept, notes


def _files(chunks: Sequence[Chunk], shown: int = 5) -> str:
    paths = list(dict.fromkeys(path for chunk in chunks for path in chunk.paths))
    listed = ", ".join(paths[:shown])
    more = len(paths) - shown
    return listed + (f" and {more} more file{'s' if more != 1 else ''}" if more > 0 else "")
