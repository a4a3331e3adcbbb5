# --- Unit tests: .github/prsaga.yml over the server's defaults; clear errors, never a crash ---
from __future__ import annotations

import pytest
import yaml

from prsaga.review.repo_config import (
    DEFAULT_SPECIALISTS,
    EXAMPLE_CONFIG,
    MAX_CONFIG_BYTES,
    Budget,
    RepoConfig,
    load_repo_config,
)
from prsaga.runtime.config import Settings, server_repo_config
from prsaga.schema import Severity
from tests.paths import REPO_ROOT

DEFAULTS = RepoConfig(max_inline_comments=9, budget=Budget(tokens=1000, usd=5.0))


def test_the_documented_example_is_valid_and_covers_every_setting():
    result = load_repo_config(EXAMPLE_CONFIG, RepoConfig())
    assert result.error is None
    config = result.config
    assert config.budget == Budget(tokens=300_000, usd=1.5)
    assert config.max_inline_comments == 15
    assert [rule.run for rule in config.rules] == [["tests_docs"], ["style"], []]
    assert config.rules[0].when.paths == ["docs/**", "**/*.md"]
    assert config.labels["security-review"] == ["security"]
    # The README shows this example: it must document every setting there is.
    assert set(yaml.safe_load(EXAMPLE_CONFIG)) == set(RepoConfig.model_fields)


def test_no_file_and_an_empty_file_give_the_defaults():
    assert load_repo_config(None, DEFAULTS).config == DEFAULTS
    for text in ("", "# only a comment\n", "---\n"):
        result = load_repo_config(text, DEFAULTS)
        assert (result.config, result.error) == (DEFAULTS, None)


def test_file_values_override_defaults_and_nested_settings_merge():
    text = "budget:\n  tokens: 50\nignore: ['*.snap']\nrequest_changes_at: null\n"
    result = load_repo_config(text, DEFAULTS.model_copy(update={"ignore": ["old/**"]}))
    assert result.error is None
    config = result.config
    assert config.budget == Budget(tokens=50, usd=5.0)  # usd kept from the defaults
    assert config.ignore == ["*.snap"]  # lists replace
    assert config.request_changes_at is None
    assert config.max_inline_comments == 9
    assert config.specialists == DEFAULT_SPECIALISTS
    assert "style" not in DEFAULT_SPECIALISTS


def test_severity_threshold_is_validated():
    assert load_repo_config("request_changes_at: medium", DEFAULTS).config.request_changes_at == (
        Severity.MEDIUM
    )
    result = load_repo_config("request_changes_at: urgent", DEFAULTS)
    assert result.config == DEFAULTS
    assert result.error is not None and "`request_changes_at`" in result.error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Not YAML: the line and column of the problem.
        ("specialists: [security\nmax_inline_comments: 3\n", "line 2, column"),
        # An unknown setting (a typo) is named with its path and line.
        ("offline: true\nbudget:\n  tokns: 3\n", "line 3, `budget.tokns`: unknown setting"),
        # A wrong value deep in a rule.
        (
            "rules:\n  - when: {paths: [docs/**]}\n    run: [securty]\n",
            "line 3, `rules[0].run[0]`: Input should be 'security'",
        ),
        ("max_inline_comments: -1\n", "line 1, `max_inline_comments`"),
        ("labels:\n  perf: performance\n", "line 2, `labels.perf`"),
        ("- security\n- style\n", "must be a mapping of settings, not a list"),
        ("a: &anchor 1\nb: *anchor\n", "aliases (*name) are not supported"),
        ("offline: true\noffline: false\n", "line 2, column 1: duplicate key 'offline'"),
    ],
)
def test_an_invalid_file_falls_back_to_the_defaults_with_a_clear_message(text, expected):
    result = load_repo_config(text, DEFAULTS)
    assert result.config == DEFAULTS
    assert result.error is not None
    assert expected in result.error
    assert result.error.startswith("`.github/prsaga.yml`")
    assert result.error.endswith("The server's default configuration is used instead.")


def test_many_problems_are_listed_up_to_a_bound():
    text = "".join(f"unknown_{i}: 1\n" for i in range(8))
    error = load_repo_config(text, DEFAULTS, source="cfg.yml").error
    assert error is not None and error.startswith("`cfg.yml` is not valid:")
    assert error.count("unknown setting") == 5
    assert "and 3 more problems" in error


def test_an_oversized_file_is_refused():
    text = "ignore:\n" + "  - 'x'\n" * (MAX_CONFIG_BYTES // 8 + 1)
    result = load_repo_config(text, DEFAULTS)
    assert result.config == DEFAULTS
    assert result.error is not None and "larger than 64 KiB" in result.error


def test_server_defaults_come_from_settings(tmp_path):
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        max_inline_comments=7,
        llm_budget_tokens=1234,
        llm_budget_usd=0.5,
        review_drafts=True,
        approval_timeout_seconds=7200,
    )
    config = server_repo_config(settings)
    assert config.max_inline_comments == 7
    assert config.budget == Budget(tokens=1234, usd=0.5)
    assert config.review_drafts is True
    assert config.approval_timeout_hours == 2

    defaults_file = tmp_path / "defaults.yml"
    defaults_file.write_text("specialists: [security]\nbudget: {usd: 9}\n")
    config = server_repo_config(settings.model_copy(update={"default_repo_config": defaults_file}))
    assert config.specialists == ["security"]
    assert config.budget == Budget(tokens=1234, usd=9)
    assert config.max_inline_comments == 7


def test_an_invalid_server_defaults_file_stops_the_server(tmp_path):
    defaults_file = tmp_path / "defaults.yml"
    defaults_file.write_text("specialists: [everything]\n")
    settings = Settings(_env_file=None, default_repo_config=defaults_file)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="default_repo_config: .*`specialists\\[0\\]`"):
        server_repo_config(settings)
    missing = settings.model_copy(update={"default_repo_config": tmp_path / "missing.yml"})
    with pytest.raises(ValueError, match="default_repo_config"):
        server_repo_config(missing)


def test_the_readme_shows_the_example_verbatim():
    readme = (REPO_ROOT / "README.md").read_text()
    assert EXAMPLE_CONFIG in readme
