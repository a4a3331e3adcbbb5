"""The guardian's pure decisions, the enclosing-scope context, and model chains."""

from __future__ import annotations

import pytest

from prsaga.review.context import enclosing_range, render_scopes, render_window
from prsaga.review.models import ModelSpec, chain_for, parse_chain
from prsaga.review.repo_config import RepoConfig, load_repo_config
from prsaga.review.verification import (
    VERIFIER_AGENT,
    apply_verifications,
    select_for_verification,
    unverified,
)
from prsaga.schema import AgentReport, Finding, Severity, TokenUsage, Verification
from tests.git_diff import parse_unified_diff


def finding(agent: str, line: int, title: str, severity: Severity = Severity.HIGH) -> Finding:
    return Finding(
        agent=agent,
        tool="claude-sonnet-4-6" if agent != "offline" else "ruff",
        rule=f"{agent}/correctness",
        path="app.py",
        line=line,
        severity=severity,
        title=title,
        message="Because.",
        category="correctness",
    )


def report(agent: str, *findings: Finding, model: str | None = "anthropic:m") -> AgentReport:
    return AgentReport(
        agent=agent,
        batch=0,
        files=1,
        paths=["app.py"],
        findings=list(findings),
        duration_ms=1,
        model=model,
    )


def verdict(f: Finding, answer: str, confidence: int) -> Verification:
    return unverified(f, "checked").model_copy(
        update={
            "verdict": answer,
            "confidence": confidence,
            "usage": TokenUsage(input_tokens=100, output_tokens=10),
            "cost_usd": 0.001,
            "model": "claude-haiku-4-5",
        }
    )


def test_only_model_findings_are_verified_once_per_problem_worst_first() -> None:
    bug = finding("claude-correctness", 3, "None is dereferenced here")
    same_bug = finding("claude-security", 3, "None is dereferenced here").model_copy(
        update={"rule": "claude-security/correctness"}
    )
    minor = finding("claude-correctness", 9, "Misleading loop name", Severity.LOW)
    linted = finding("offline", 5, "Unused import")
    reports = [
        report("offline", linted, model=None),
        report("claude-correctness", minor, bug),
        report("claude-security", same_bug),
    ]
    selection = select_for_verification(reports, allowance=1)
    assert [f.title for f in selection.to_verify] == ["None is dereferenced here"]
    assert [f.title for f in selection.over_allowance] == ["Misleading loop name"]


def test_findings_not_confirmed_over_the_threshold_are_dropped_and_counted() -> None:
    confirmed = finding("claude-correctness", 3, "None is dereferenced here")
    duplicate = finding("claude-security", 3, "None is dereferenced here").model_copy(
        update={"rule": "claude-security/correctness"}
    )
    refuted = finding("claude-correctness", 7, "Off-by-one in the slice")
    unsure = finding("claude-correctness", 11, "Possible race on the cache", Severity.MEDIUM)
    over = finding("claude-correctness", 20, "Name shadows a builtin", Severity.LOW)
    linted = finding("offline", 5, "Unused import")
    reports = [
        report("offline", linted, model=None),
        report("claude-correctness", confirmed, refuted, unsure, over),
        report("claude-security", duplicate),
    ]
    selection = select_for_verification(reports, allowance=3)
    verdicts = {
        confirmed.title: verdict(confirmed, "confirmed", 92),
        refuted.title: verdict(refuted, "refuted", 85),
        unsure.title: verdict(unsure, "confirmed", 60),
    }
    result = apply_verifications(
        reports, [verdicts[f.title] for f in selection.to_verify], selection, threshold=80
    )
    offline, correctness, security, verifier = result
    assert offline == reports[0]
    assert [f.title for f in correctness.findings] == [confirmed.title]
    assert correctness.dropped == {
        "refuted by the verifier": 1,
        "verifier confidence under 80": 1,
        "not verified": 1,
    }
    assert [f.title for f in security.findings] == [confirmed.title]  # its duplicate held
    assert verifier.agent == VERIFIER_AGENT and verifier.findings == []
    assert verifier.dropped == correctness.dropped
    by_title = {v.title: v for v in verifier.verifications}
    assert by_title[confirmed.title].kept and not by_title[unsure.title].kept
    assert by_title[over.title].verdict == "unverified"
    assert by_title[over.title].reason == "over the review's verification allowance"
    assert verifier.usage == TokenUsage(input_tokens=300, output_tokens=30)
    assert verifier.cost_usd == pytest.approx(0.003)
    assert verifier.model == "claude-haiku-4-5"


def test_a_failed_verification_drops_the_finding_with_its_reason() -> None:
    bug = finding("claude-correctness", 3, "None is dereferenced here")
    reports = [report("claude-correctness", bug)]
    selection = select_for_verification(reports, allowance=5)
    failed = unverified(bug, "no model could be used:\n  circuit open")
    *_, verifier = apply_verifications(reports, [failed], selection, threshold=80)
    (record,) = verifier.verifications
    assert record.reason == "no model could be used: circuit open"
    assert verifier.dropped == {"not verified": 1}


# --- context ------------------------------------------------------------------------------------

PYTHON = """\
import os


class Store:
    def load(self, key):
        value = self.cache.get(key)
        if value is None:
            value = self.fetch(key)
        return value.strip()

    def save(self, key, value):
        self.cache[key] = value
"""

GO = """\
package store

func Load(key string) string {
\tvalue := cache[key]
\tif value == "" {
\t\tvalue = fetch(key)
\t}
\treturn value
}

func Save() {}
"""


def test_the_enclosing_function_is_found_in_python_and_by_indentation_elsewhere() -> None:
    assert enclosing_range(PYTHON, "store.py", 8, 50) == (5, 9)  # Store.load
    assert enclosing_range(PYTHON, "store.py", 1, 50) == (1, 13)  # module level: a window
    assert enclosing_range(GO, "store.go", 6, 50) == (3, 9)  # func Load, its brace included


def test_a_long_scope_is_cut_around_the_line() -> None:
    body = "".join(f"    x{n} = {n}\n" for n in range(200))
    text = f"def big():\n{body}"
    first, last = enclosing_range(text, "big.py", 120, 20)
    assert last - first + 1 == 20 and first <= 120 <= last


def test_scopes_of_a_chunk_add_the_enclosing_code_and_mark_added_lines() -> None:
    before = PYTHON.replace("        return value.strip()\n", "        return value\n")
    diff = (
        "diff --git a/store.py b/store.py\n--- a/store.py\n+++ b/store.py\n"
        "@@ -9,1 +9,1 @@\n-        return value\n+        return value.strip()\n"
    )
    files = parse_unified_diff(diff)
    assert before != PYTHON
    scopes = render_scopes(files, {"store.py": PYTHON}, 40)
    assert scopes.startswith('file: "store.py" lines 5-9\n')
    assert "\n9 +         return value.strip()" in scopes
    assert "\n5       def load(self, key):" in scopes
    assert render_scopes(files, {"store.py": PYTHON}, 0) == ""
    assert render_scopes(files, {}, 40) == ""
    window = render_window(PYTHON, "store.py", 12, 40, frozenset({12}))
    assert window.splitlines()[0] == 'file: "store.py" lines 11-12'


# --- model chains -------------------------------------------------------------------------------


def test_chains_are_provider_model_pairs_with_fallbacks() -> None:
    chain = parse_chain("anthropic:claude-sonnet-4-6, bedrock:us.anthropic.claude-opus-4-1-v1:0")
    assert chain == [
        ModelSpec(provider="anthropic", model="claude-sonnet-4-6"),
        ModelSpec(provider="bedrock", model="us.anthropic.claude-opus-4-1-v1:0"),
    ]
    assert str(chain[1]) == "bedrock:us.anthropic.claude-opus-4-1-v1:0"
    default = [ModelSpec(provider="anthropic", model="claude-sonnet-4-6")]
    configured = {"default": "openai:gpt-5", "verifier": "anthropic:claude-haiku-4-5"}
    assert chain_for("verifier", configured, default)[0].model == "claude-haiku-4-5"
    assert chain_for("security", configured, default)[0].provider == "openai"
    assert chain_for("security", {}, default) == default


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("claude-sonnet-4-6", "is not provider:model"),
        ("mistral:large", "unknown provider 'mistral'"),
        ("openai:", "is not provider:model"),
        (",".join(["openai:gpt-5"] * 5), "at most 4"),
    ],
)
def test_a_bad_chain_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_chain(text)


def test_the_repository_file_can_choose_models_and_is_told_when_it_cannot() -> None:
    good = load_repo_config(
        'models: {security: "openai:gpt-5"}\nverify_threshold: 90\n', RepoConfig()
    )
    assert good.error is None
    assert good.config.models == {"security": "openai:gpt-5"}
    assert good.config.verify_threshold == 90
    bad = load_repo_config('models: {security: "gpt-5"}\n', RepoConfig())
    assert bad.config == RepoConfig()
    assert bad.error is not None and "line 1, `models`" in bad.error
    assert "'gpt-5' is not provider:model" in bad.error
