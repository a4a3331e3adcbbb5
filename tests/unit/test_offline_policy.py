"""The offline reviewer's pure decisions: grading by evidence, the repository's settings, the
project's own tool configuration, and the verdict policy that only sure, severe findings block."""

from __future__ import annotations

import json
import tomllib

import pytest

from prsaga.review.lifecycle import blocks, final_status, propose
from prsaga.review.offline_policy import (
    Candidate,
    configured,
    distinct_skipped,
    ruff_default,
    ruff_grade,
    secret_grade,
    shellcheck_grade,
)
from prsaga.review.repo_config import RepoConfig, ToolSettings, load_repo_config
from prsaga.review.tool_config import bandit_configured, ruff_config, secrets_baseline
from prsaga.schema import Confidence, Finding, ReviewPolicy, Severity, SkippedFile

SHA = "0470f7c" + "e" * 33


def finding(rule: str = "F821", path: str = "src/app.py", **update: object) -> Finding:
    base = Finding(
        agent="offline",
        tool="ruff",
        rule=rule,
        path=path,
        line=3,
        severity=Severity.LOW,
        title="A title",
        message="Details.",
    )
    return base.model_copy(update=update)


# --- secrets graded by evidence -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (".pre-commit-config.yaml", f"    rev: {SHA}  # frozen: v0.9.1"),
        (".github/workflows/ci.yml", f"      - uses: actions/checkout@{SHA} # v4"),
        ("versions.json", f'      "sha256": "{SHA}{SHA[:24]}",'),
        ("Dockerfile", f"ENV PYTHON_SHA256 {SHA}{SHA[:24]}"),
        ("package-lock.json", f'"integrity": "sha512-{SHA}"'),
        ("uv.lock", f'hash = "sha256:{SHA}"'),
        ("SHA256SUMS", f"{SHA}  file.tar.gz"),
    ],
)
def test_pinned_commits_checksums_and_lock_hashes_are_not_secrets(path: str, line: str) -> None:
    assert secret_grade("Hex High Entropy String", path, line) is None


def test_provider_credentials_are_critical_but_lower_in_docs_and_tests() -> None:
    assert secret_grade("AWS Access Key", "deploy/settings.py", "") == (
        Severity.CRITICAL,
        Confidence.HIGH,
    )
    for path in ("docs/setup.md", "tests/test_s3.py", "examples/upload.py", "README.rst"):
        assert secret_grade("GitHub Token", path, "") == (Severity.HIGH, Confidence.MEDIUM)


def test_entropy_and_keyword_guesses_are_low_and_never_block() -> None:
    policy = ReviewPolicy(request_changes_at=Severity.LOW)
    for kind in ("Secret Keyword", "Base64 High Entropy String", "Basic Auth Credentials"):
        severity, confidence = secret_grade(kind, "app/settings.py", 'password = "password"') or (
            None,
            None,
        )
        assert (severity, confidence) == (Severity.LOW, Confidence.LOW)
        guess = finding(kind, severity=severity, confidence=confidence)
        assert not blocks(guess, policy)


# --- the verdict policy -------------------------------------------------------------------------


def test_only_sure_and_severe_findings_request_changes_or_fail_the_status() -> None:
    policy = ReviewPolicy()  # request_changes_at high, request_changes_confidence high
    sure = finding(severity=Severity.HIGH, confidence=Confidence.HIGH)
    fairly_sure = finding(severity=Severity.CRITICAL, confidence=Confidence.MEDIUM)
    minor = finding(severity=Severity.MEDIUM, confidence=Confidence.HIGH)

    assert propose([fairly_sure, minor], policy) == "COMMENT"
    assert final_status([fairly_sure, minor], "COMMENT", None)[0] == "success"
    assert propose([minor, sure], policy) == "REQUEST_CHANGES"
    assert final_status([sure], "REQUEST_CHANGES", None)[0] == "failure"
    lenient = ReviewPolicy(request_changes_confidence=Confidence.MEDIUM)
    assert propose([fairly_sure], lenient) == "REQUEST_CHANGES"
    assert propose([sure], ReviewPolicy(request_changes_at=None)) == "COMMENT"


def test_findings_recorded_before_confidence_existed_decode_as_sure() -> None:
    old = finding().model_dump(mode="json")
    del old["confidence"]
    assert Finding.model_validate(old).confidence == Confidence.HIGH


# --- the repository's tools: settings -----------------------------------------------------------


def test_settings_select_ignore_per_path_and_set_severities() -> None:
    candidates = [
        Candidate(finding("F821"), default=True),
        Candidate(finding("B008"), default=False),
        Candidate(finding("B011", path="tests/test_app.py"), default=False),
        Candidate(finding("F401", path="tests/test_app.py"), default=True),
        Candidate(finding("E501"), default=False),
    ]
    settings = ToolSettings(
        select=["B"],
        ignore=["B008"],
        severity={"B": Severity.MEDIUM, "B011": Severity.HIGH},
        per_path=[{"paths": ["tests/**"], "ignore": ["F401"]}],  # type: ignore[list-item]
    )

    kept = configured(candidates, settings)

    assert [(f.rule, f.severity) for f in kept] == [
        ("F821", Severity.LOW),
        ("B011", Severity.HIGH),  # the longest matching code sets the severity
    ]
    assert [f.rule for f in configured(candidates, None)] == ["F821", "F401"]


def test_prsaga_yml_validates_tool_settings() -> None:
    loaded = load_repo_config("tools:\n  ruff:\n    ignore: [F401]\n", RepoConfig())
    assert loaded.error is None and loaded.config.tools["ruff"].ignore == ["F401"]
    unknown = load_repo_config("tools:\n  pylint:\n    enabled: true\n", RepoConfig())
    assert unknown.error is not None and "tools.pylint" in unknown.error
    typo = load_repo_config("tools:\n  ruff:\n    ignored: [F401]\n", RepoConfig())
    assert typo.error is not None and "line 3" in typo.error


def test_ruff_reports_bugs_by_default_and_a_projects_style_only_when_selected() -> None:
    for rule in ("invalid-syntax", "E999", "F821", "F632", "F701", "T100"):
        assert ruff_default(rule, project_configured=False)
    assert ruff_default("B006", project_configured=True)
    assert not ruff_default("B006", project_configured=False)
    for rule in ("I001", "UP007", "CPY001", "E501"):
        assert not ruff_default(rule, project_configured=True)
    assert ruff_grade("F821") == (Severity.HIGH, Confidence.HIGH)
    assert ruff_grade("F821", in_annotation=True) == (Severity.HIGH, Confidence.MEDIUM)
    assert ruff_grade("I001") == (Severity.LOW, Confidence.HIGH)


def test_shellcheck_reports_errors_warnings_and_unquoted_variables_by_default() -> None:
    assert shellcheck_grade("error", "SC1009")[2]
    assert shellcheck_grade("warning", "SC2154")[2]
    assert shellcheck_grade("info", "SC2086")[2]
    assert not shellcheck_grade("style", "SC2250")[2]


def test_each_skipped_file_is_named_once_with_its_first_reason() -> None:
    skipped = [
        SkippedFile(path="b.bin", reason="not UTF-8 text"),
        SkippedFile(path="a/../x", reason="unsafe path"),
        SkippedFile(path="b.bin", reason="content not available"),
    ]
    assert distinct_skipped(skipped) == [
        SkippedFile(path="a/../x", reason="unsafe path"),
        SkippedFile(path="b.bin", reason="not UTF-8 text"),
    ]


# --- the project's own configuration, from the base commit --------------------------------------


def test_ruff_settings_from_pyproject_drop_what_points_outside_the_project() -> None:
    pyproject = """
[project]
requires-python = ">=3.9"

[tool.ruff]
extend = "../../etc/shared-ruff.toml"
cache-dir = "/tmp/elsewhere"
line-length = 79

[tool.ruff.lint]
select = ["E", "F", "B"]
ignore = ["B008"]

[tool.ruff.lint.per-file-ignores]
"tests/*" = ["B011"]
"""
    config, problem = ruff_config({"pyproject.toml": pyproject})

    assert problem is None and config is not None and config.source == "pyproject.toml"
    written = tomllib.loads(config.toml)
    assert written == {
        "target-version": "py39",
        "line-length": 79,
        "lint": {
            "select": ["E", "F", "B"],
            "ignore": ["B008"],
            "per-file-ignores": {"tests/*": ["B011"]},
        },
    }


def test_ruff_toml_wins_over_pyproject_and_no_config_is_no_config() -> None:
    config, _ = ruff_config({"ruff.toml": "line-length = 120\n", "pyproject.toml": ""})
    assert config is not None and config.source == "ruff.toml"
    assert ruff_config({"pyproject.toml": "[tool.black]\n"}) == (None, None)
    broken, problem = ruff_config({"ruff.toml": "line-length = \n"})
    assert broken is None and problem is not None and "not valid TOML" in problem


def test_bandit_runs_where_the_project_configures_it() -> None:
    assert bandit_configured({".bandit": "[bandit]\n"})
    assert bandit_configured({"pyproject.toml": "[tool.bandit]\nskips = []\n"})
    assert not bandit_configured({"pyproject.toml": "[tool.ruff]\n"})
    assert not bandit_configured({})


def test_the_detect_secrets_baseline_lists_accepted_secrets() -> None:
    baseline = {"results": {"tests/keys.py": [{"hashed_secret": "abc", "line_number": 3}]}}
    assert secrets_baseline({".secrets.baseline": json.dumps(baseline)}) == {
        ("tests/keys.py", "abc")
    }
    assert secrets_baseline({".secrets.baseline": "not json"}) == frozenset()
