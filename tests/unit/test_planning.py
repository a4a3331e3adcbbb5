# --- Unit tests: the review plan (parsed diff + configuration + changes -> batches, chunks) ---
from __future__ import annotations

from dataclasses import replace

import pytest

from prsaga.review.diff import DiffFile, diff_file_from_github
from prsaga.review.models import ModelSpec
from prsaga.review.planning import MAX_CONFIG_ERROR_CHARS, PlanOptions, decide_plan
from prsaga.review.repo_config import Budget, RepoConfig
from prsaga.schema import DiffRef, PlanInput, PullRequestRef
from tests.git_diff import parsed_pull_request

HEAD = "b" * 40
OPTIONS = PlanOptions(
    analyze_batch_files=2,
    llm_batch_tokens=24_000,
    llm_available=True,
    server_models={},
    default_models=[ModelSpec(provider="anthropic", model="claude-sonnet-4-6")],
    usd_per_input_token=lambda spec: 3e-6,
    verify_findings=False,
    verify_threshold=80,
    verify_max_findings=30,
    review_drafts=False,
    llm_parallelism=4,
    llm_task_queue=None,
)


def changed_file(path: str, status: str = "modified", previous: str | None = None) -> DiffFile:
    item = {
        "filename": path,
        "status": status,
        "additions": 1,
        "deletions": 0,
        "patch": "@@ -0,0 +1 @@\n+x = 1",
    }
    if previous:
        item["previous_filename"] = previous
    return diff_file_from_github(item)


def plan_input(since: str | None = None) -> PlanInput:
    pr = PullRequestRef(owner="o", repo="r", number=1)
    return PlanInput(diff=DiffRef(pr=pr, head_sha=HEAD), base_sha="a" * 40, since_sha=since)


PR = parsed_pull_request(
    changed_file("src/a.py"),
    changed_file("src/b.py"),
    changed_file("src/c.py", "renamed", previous="src/old_c.py"),
    changed_file("gone.py", "removed"),
)


def test_every_present_file_is_batched_in_a_stable_order():
    plan = decide_plan(plan_input(), PR, RepoConfig(), OPTIONS)
    assert plan.offline_batches == [["src/a.py", "src/b.py"], ["src/c.py"]]
    assert plan.summary.files == 3 and plan.summary.offline_batches == 2
    assert plan.summary.incremental is False
    assert set(plan.chunks) == set(plan.summary.specialists)
    assert (plan.summary.llm_parallelism, plan.summary.llm_task_queue) == (4, None)


def test_an_incremental_plan_reviews_what_changed_including_renames_from_a_changed_path():
    plan = decide_plan(plan_input("c" * 40), PR, RepoConfig(), OPTIONS, changed={"src/old_c.py"})
    assert plan.offline_batches == [["src/c.py"]]
    assert plan.summary.incremental is True
    assert f"Incremental review: files changed since {'c' * 12}." in plan.summary.notes


def test_a_lost_base_of_the_increment_reviews_everything_and_says_why():
    plan = decide_plan(plan_input("c" * 40), PR, RepoConfig(), OPTIONS, changed=None)
    assert plan.summary.files == 3 and plan.summary.incremental is False
    assert any("no longer in the branch's history" in note for note in plan.summary.notes)


def test_a_huge_configuration_error_is_clipped():
    plan = decide_plan(plan_input(), PR, RepoConfig(), OPTIONS, config_error="bad " * 5_000)
    assert plan.summary.config_error is not None
    assert len(plan.summary.config_error) == MAX_CONFIG_ERROR_CHARS


@pytest.mark.parametrize(("configured", "expected"), [(None, False), (True, True)])
def test_drafts_follow_the_repository_else_the_server(configured: bool | None, expected: bool):
    config = RepoConfig(review_drafts=configured)
    assert decide_plan(plan_input(), PR, config, OPTIONS).summary.policy.review_drafts is expected


def test_without_an_llm_or_budget_no_specialist_is_planned():
    no_llm = decide_plan(plan_input(), PR, RepoConfig(), replace(OPTIONS, llm_available=False))
    assert no_llm.summary.specialists == {} and no_llm.chunks == {}
    assert no_llm.offline_batches  # the offline reviewer still runs
    no_budget = decide_plan(plan_input(), PR, RepoConfig(budget=Budget(tokens=0)), OPTIONS)
    assert no_budget.summary.specialists == {}
