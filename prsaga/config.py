"""Settings for every prsaga process, read from the environment (``PRSAGA_*``) or a ``.env`` file.

Secrets are ``SecretStr`` so that they never print in a repr, a log line or a traceback, and they
are never put into workflow inputs: workflow and activity inputs are recorded in the workflow
history and shown in the Temporal UI.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_STATE_DIR = Path(".prsaga")


class Settings(BaseSettings):
    """Every setting of prsaga, with defaults that suit the embedded (single machine) mode."""

    model_config = SettingsConfigDict(
        env_prefix="PRSAGA_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Temporal
    temporal_address: str = "127.0.0.1:7233"
    """host:port of the Temporal frontend (the embedded dev server by default)."""
    temporal_namespace: str = "default"
    task_queue: str = "prsaga"
    temporal_ui_url: str = "http://127.0.0.1:8233"
    """Base URL of the Temporal Web UI, used to print links to a PR's workflow."""

    # Webhook server
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8000
    webhook_secret: SecretStr | None = None
    """The secret configured on the GitHub webhook. The server refuses to start without one."""
    webhook_max_body_bytes: int = 25 * 1024 * 1024
    """GitHub caps payloads at 25 MB; anything larger is not from GitHub."""

    # GitHub
    github_api_url: str = "https://api.github.com"
    github_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("PRSAGA_GITHUB_TOKEN", "GITHUB_TOKEN")
    )
    github_timeout_seconds: float = 15.0
    github_min_request_interval: float = 0.25
    """Seconds between GitHub requests from one client (PyGithub's throttle, which keeps clear
    of GitHub's secondary rate limits). The local GitHub server needs none."""
    status_context: str = "prsaga/review"
    """The commit status context prsaga owns on each head SHA."""

    local_github_port: int = 8765
    """Port of the local GitHub-compatible server that ``prsaga demo`` (and ``prsaga dev`` without
    a token) run; the real GitHub is used whenever a token is configured for ``prsaga dev``."""

    # LLM (the Claude reviewer arrives in its own issue; the settings are here already)
    anthropic_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("PRSAGA_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"),
    )
    anthropic_base_url: str | None = None
    anthropic_model: str = "claude-sonnet-4-5"

    # Review
    max_inline_comments: int = Field(default=20, ge=0)
    """Inline comments per review; findings beyond the cap are listed in the summary."""
    analyze_batch_files: int = Field(default=50, ge=1)
    """Changed files per analyze activity: larger PRs fan out over several activities."""
    ruff_select: list[str] = ["E4", "E7", "E9", "F", "W", "B"]
    """Ruff rule codes the offline reviewer reports on changed lines."""

    # Local state (embedded mode): the dev server's SQLite file and the parsed-diff cache
    state_dir: Path = DEFAULT_STATE_DIR

    @property
    def blob_dir(self) -> Path:
        """Where parsed diffs are cached; activities pass references to them, not the data."""
        return self.state_dir / "blobs"

    def workflow_ui_url(self, workflow_id: str) -> str:
        """The Temporal Web UI page of a workflow."""
        return (
            f"{self.temporal_ui_url}/namespaces/{quote(self.temporal_namespace, safe='')}"
            f"/workflows/{quote(workflow_id, safe='')}"
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
