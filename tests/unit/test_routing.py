# --- Unit tests: routing (event + facts + config -> agents) and the per-PR budget ---
from __future__ import annotations

import json

import pytest

from prsaga.review.chunking import Chunk, ChunkItem
from prsaga.review.diff import diff_file_from_github
from prsaga.review.repo_config import RepoConfig, RoutingRule, RuleCondition
from prsaga.review.routing import FileFacts, PullRequestFacts, apply_budget, route
from tests.paths import TESTS_DIR

FIXTURES = TESTS_DIR / "fixtures" / "diffs"
DEFAULT_FOUR = ["security", "correctness", "performance", "tests_docs"]


def facts(*files: FileFacts | str, **kw: object) -> PullRequestFacts:
    values: dict[str, object] = {
        "action": "opened",
        "author": "octocat",
        "files": [
            f if isinstance(f, FileFacts) else FileFacts(path=f, status="modified", additions=5)
            for f in files
        ],
    }
    values.update(kw)
    return PullRequestFacts.model_validate(values)


def rule(
    run: list[str] | None = None, skip: list[str] | None = None, **when: object
) -> RoutingRule:
    return RoutingRule.model_validate(
        {"when": RuleCondition.model_validate(when), "run": run or [], "skip": skip or []}
    )


def test_default_specialists_and_offline_run_on_every_reviewable_file():
    decision = route(facts("src/app.py", "README.md"), RepoConfig(), llm_available=True)
    assert decision.offline is True
    assert decision.specialists == DEFAULT_FOUR
    assert decision.paths == ["src/app.py", "README.md"]
    assert decision.paths_by_specialist == {}
    assert decision.paths_for("security") == ["src/app.py", "README.md"]
    assert "security: in the default specialists" in decision.reasons
    assert any(r.startswith("style: not enabled") for r in decision.reasons)


def test_without_an_llm_only_the_offline_reviewer_runs_even_if_disabled():
    config = RepoConfig(offline=False)
    decision = route(facts("src/app.py"), config, llm_available=False)
    assert decision.specialists == []
    assert decision.offline is True
    assert "Claude specialists: not run (no model provider configured)" in decision.reasons
    assert "offline: runs although disabled, because no Claude specialist runs" in decision.reasons
    # With an LLM, offline: false is honoured.
    assert route(facts("src/app.py"), config, llm_available=True).offline is False


def test_a_zero_token_budget_turns_claude_off():
    config = RepoConfig.model_validate({"budget": {"tokens": 0}})
    decision = route(facts("src/app.py"), config, llm_available=True)
    assert decision.specialists == []
    assert "Claude specialists: not run (budget.tokens is 0)" in decision.reasons


def test_generated_vendored_lock_and_ignored_files_are_set_aside():
    pr = facts(
        "src/app.py",
        "yarn.lock",
        "vendor/lib/x.go",
        "fixtures/big.json",
        FileFacts(path="api/types.go", status="added", additions=90, generated=True),
        FileFacts(path="old.py", status="removed", deletions=40),
    )
    decision = route(pr, RepoConfig(ignore=["fixtures/**"]), llm_available=True)
    assert decision.paths == ["src/app.py"]
    assert decision.skipped_files == [
        ("yarn.lock", "lock file"),
        ("vendor/lib/x.go", "vendored dependency (vendor/)"),
        ("fixtures/big.json", "ignored by configuration (fixtures/**)"),
        ("api/types.go", "generated file (header)"),
    ]


def test_nothing_runs_when_every_file_is_skipped():
    decision = route(facts("package-lock.json"), RepoConfig(), llm_available=True)
    assert (decision.offline, decision.specialists, decision.paths) == (False, [], [])
    assert decision.skipped_files == [("package-lock.json", "lock file")]
    assert decision.reasons == ["no file to review: every changed file is removed or skipped"]


def test_a_label_adds_a_specialist_case_insensitively():
    config = RepoConfig(labels={"needs-style": ["style"]})
    decision = route(facts("src/app.py", labels=["Needs-Style"]), config, llm_available=True)
    assert decision.specialists == [*DEFAULT_FOUR, "style"]
    assert "style: label 'needs-style'" in decision.reasons


def test_a_rule_with_paths_limits_what_it_adds_to_the_matching_files():
    config = RepoConfig(rules=[rule(run=["style"], paths=["docs/**", "*.md"])])
    pr = facts("src/app.py", "docs/guide.md", "docs/img/logo.txt", "README.md")
    decision = route(pr, config, llm_available=True)
    assert decision.specialists == [*DEFAULT_FOUR, "style"]
    assert decision.paths_by_specialist == {
        "style": ["docs/guide.md", "docs/img/logo.txt", "README.md"]
    }
    assert decision.paths_for("security") == [f.path for f in pr.files]
    assert "style: rule 1 (paths docs/**, *.md), 3 of 4 files" in decision.reasons


def test_a_rule_that_skips_for_some_paths_keeps_the_specialist_elsewhere():
    config = RepoConfig(rules=[rule(skip=["performance"], paths=["docs/**"])])
    mixed = route(facts("src/app.py", "docs/guide.md"), config, llm_available=True)
    assert "performance" in mixed.specialists
    assert mixed.paths_for("performance") == ["src/app.py"]
    docs_only = route(facts("docs/guide.md"), config, llm_available=True)
    assert "performance" not in docs_only.specialists
    assert "performance: not run, skipped by rule 1 (paths docs/**)" in docs_only.reasons


def test_a_rule_whose_paths_match_nothing_does_not_apply():
    config = RepoConfig(rules=[rule(run=["style"], paths=["docs/**"])])
    decision = route(facts("src/app.py"), config, llm_available=True)
    assert "style" not in decision.specialists


def test_size_conditions_count_only_reviewed_lines():
    config = RepoConfig(rules=[rule(skip=["performance"], max_changed_lines=20)])
    small = facts(
        FileFacts(path="src/app.py", status="modified", additions=8, deletions=2),
        FileFacts(path="yarn.lock", status="modified", additions=4000, deletions=3000),
    )
    assert small.changed_lines == 7010  # the pull request's own count
    assert "performance" not in route(small, config, llm_available=True).specialists
    big = facts(FileFacts(path="src/app.py", status="modified", additions=30))
    assert "performance" in route(big, config, llm_available=True).specialists
    at_least = RepoConfig(rules=[rule(run=["style"], min_changed_lines=30)])
    assert "style" in route(big, at_least, llm_available=True).specialists
    assert "style" not in route(small, at_least, llm_available=True).specialists


def test_rule_labels_conditions_and_later_rules_override_earlier_ones():
    config = RepoConfig(
        rules=[
            rule(skip=["security"], labels=["trivial"]),
            rule(run=["security"], paths=["auth/**"]),
        ]
    )
    plain = route(facts("auth/login.py", "ui/x.ts"), config, llm_available=True)
    assert plain.paths_for("security") == ["auth/login.py", "ui/x.ts"]  # rule 1 did not apply
    trivial = route(
        facts("auth/login.py", "ui/x.ts", labels=["TRIVIAL"]), config, llm_available=True
    )
    assert trivial.paths_for("security") == ["auth/login.py"]  # skipped, then re-added for auth
    assert "security: rule 2 (paths auth/**), 1 of 2 files" in trivial.reasons


def test_skip_wins_over_run_within_one_rule_and_labels_win_over_rules():
    config = RepoConfig(
        rules=[rule(run=["style"], skip=["style", "security"])],
        labels={"security-review": ["security"]},
    )
    decision = route(facts("a.py", labels=["security-review"]), config, llm_available=True)
    assert "style" not in decision.specialists
    assert "security" in decision.specialists
    assert "security: label 'security-review'" in decision.reasons


@pytest.mark.parametrize(
    ("action", "draft", "review_drafts", "runs"),
    [
        ("closed", False, None, False),
        ("opened", True, None, False),
        ("opened", True, False, False),
        ("opened", True, True, True),
        ("review", True, None, True),  # a person asked for it
        ("synchronize", False, None, True),
    ],
)
def test_closed_and_draft_pull_requests(action, draft, review_drafts, runs):
    config = RepoConfig(review_drafts=review_drafts)
    decision = route(facts("a.py", action=action, draft=draft), config, llm_available=True)
    assert decision.offline is runs
    assert bool(decision.specialists) is runs


def test_facts_from_a_real_pull_request_diff():
    items = json.loads((FIXTURES / "10-binary-mixed.pr-files.json").read_text())
    files = [diff_file_from_github(item) for item in items]
    pr = PullRequestFacts.from_diff(files, action="synchronize", labels=["docs"], author="me")
    assert [f.path for f in pr.files] == [f.path for f in files]
    assert pr.changed_lines == sum(f.additions + f.deletions for f in files)
    assert [f.binary for f in pr.files] == [f.is_binary for f in files]
    decision = route(pr, RepoConfig(), llm_available=True)
    assert "ext/flourish.jpg" not in decision.paths  # removed
    assert decision.paths == ["README.md", "ext/LICENSE", "ext/flower-of-life.jpg"]


def test_routing_decision_is_deterministic_and_serialisable():
    config = RepoConfig(rules=[rule(run=["style"], paths=["*.md"])])
    pr = facts("b.md", "a.py", labels=["x"])
    first = route(pr, config, llm_available=True)
    assert route(pr, config, llm_available=True) == first
    assert type(first).model_validate_json(first.model_dump_json()) == first


# --- budget ------------------------------------------------------------------------------------


def chunk(path: str, tokens: int) -> Chunk:
    return Chunk(items=[ChunkItem(path=path)], tokens=tokens)


def test_budget_keeps_chunks_by_priority_then_order():
    chunks = {
        "style": [chunk("s.py", 100)],
        "performance": [chunk("p1.py", 300), chunk("p2.py", 300)],
        "security": [chunk("a.py", 300), chunk("b.py", 300)],
    }
    kept, notes = apply_budget(chunks, 1000)
    assert kept == {
        "style": [chunk("s.py", 100)],  # first fit: the small style chunk still fits
        "performance": [chunk("p1.py", 300)],
        "security": [chunk("a.py", 300), chunk("b.py", 300)],
    }
    assert notes == [
        "performance: 1 of 2 batches not reviewed (p2.py): over the per-PR budget of 1,000 tokens"
    ]


def test_budget_counts_overhead_and_cost_and_says_what_was_skipped():
    chunks = {
        "correctness": [chunk("a.py", 1000), chunk("b.py", 1000)],
        "tests_docs": [chunk(f"t{i}.py", 1000) for i in range(7)],
        "custom": [chunk("c.py", 10)],
    }
    kept, notes = apply_budget(
        chunks, 1_000_000, budget_usd=0.10, usd_per_token=0.00001, overhead_tokens=1000
    )
    # Each chunk costs 2000 tokens = $0.02: five fit in $0.10, in priority order.
    assert [len(kept[s]) for s in ("correctness", "tests_docs", "custom")] == [2, 3, 0]
    assert notes == [
        "tests_docs: 4 of 7 batches not reviewed (t3.py, t4.py, t5.py, t6.py): over the per-PR "
        "budget of 1,000,000 tokens / $0.10",
        "custom: not run (c.py): over the per-PR budget of 1,000,000 tokens / $0.10",
    ]


def test_a_generous_budget_keeps_everything():
    chunks = {"security": [chunk(f"f{i}.py", 50) for i in range(12)]}
    kept, notes = apply_budget(chunks, 10_000)
    assert kept == chunks and notes == []
