"""Settings for every prsaga process, read from the environment (``PRSAGA_*``) or a ``.env`` file.

Secrets are ``SecretStr`` so that they never print in a repr, a log line or a traceback, and they
are never put into workflow inputs: workflow and activity inputs are recorded in the workflow
history and shown in the Temporal UI.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from prsaga.review.models import ModelSpec, chain_for, parse_chain
from prsaga.review.repo_config import Budget, RepoConfig, overridden

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
    temporal_api_key: SecretStr | None = None
    """API key for Temporal Cloud (or any server that takes one); turns TLS on."""
    temporal_tls: bool = False
    """Connect with TLS (system roots) even without an API key."""
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
    github_app_id: int | None = None
    """With a private key: authenticate as this GitHub App (installation tokens per repository)
    instead of with ``github_token``."""
    github_app_private_key: SecretStr | None = None
    """The App's PEM private key itself (or see ``github_app_private_key_path``)."""
    github_app_private_key_path: Path | None = None
    github_app_installation_id: int | None = None
    """Fixed installation to use; by default it is looked up per repository."""
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
    """Messages API base URL (a gateway, or the local fake server in tests and the demo)."""
    anthropic_model: str = "claude-sonnet-4-6"
    local_llm_port: int = 8766
    """Port of the local Messages-API server that ``prsaga demo --local-claude`` runs."""
    anthropic_max_tokens: int = Field(default=4096, ge=256)
    anthropic_timeout_seconds: float = Field(default=120.0, gt=0)
    llm_batch_tokens: int = Field(default=24_000, ge=1000)
    """Token budget of the diff text in one Claude request: larger diffs are chunked."""
    llm_max_parallel_batches: int = Field(default=4, ge=1)
    """Claude requests one pull request runs at once (the worker and task queue bound the rest)."""
    llm_budget_tokens: int = Field(default=400_000, ge=0)
    """Default per-PR budget of input+output tokens across every specialist (0: no Claude)."""
    llm_budget_usd: float = Field(default=2.0, ge=0)
    """Default per-PR cost budget, estimated from the model's list prices."""
    llm_task_queue: str | None = None
    """Optional separate task queue for Claude activities, so that its own workers and
    ``llm_activities_per_second`` bound LLM traffic across every workflow."""
    llm_activities_per_second: float | None = None
    """Task-queue-wide rate limit of Claude activities (Temporal enforces it on the server)."""

    # Model providers (the Anthropic API above is one of them): every model call goes through
    # prsaga.adapters.llm, with a fallback chain per agent and a circuit breaker per provider.
    llm_models: dict[str, str] = {}
    """Agent -> ``provider:model[, provider:model...]`` (a fallback chain). Agents: the
    specialists, ``verifier``, ``judge``, and ``default`` for the rest. Without an entry an agent
    uses ``anthropic:{anthropic_model}``. E.g. PRSAGA_LLM_MODELS='{"default":
    "anthropic:claude-sonnet-4-6, openai:gpt-5", "verifier": "anthropic:claude-opus-4-5"}'."""
    bedrock_region: str | None = None
    bedrock_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("PRSAGA_BEDROCK_API_KEY", "AWS_BEARER_TOKEN_BEDROCK"),
    )
    """A Bedrock API key (bearer token); or the SigV4 keys below (they need ``boto3``)."""
    bedrock_access_key_id: str | None = None
    bedrock_secret_access_key: SecretStr | None = None
    bedrock_session_token: SecretStr | None = None
    bedrock_base_url: str | None = None
    """Default ``https://bedrock-runtime.{region}.amazonaws.com``."""
    vertex_region: str | None = None
    vertex_project_id: str | None = None
    vertex_access_token: SecretStr | None = None
    """An OAuth access token; without one, Application Default Credentials (``google-auth``)."""
    vertex_base_url: str | None = None
    """Default ``https://{region}-aiplatform.googleapis.com/v1``."""
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("PRSAGA_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    openai_base_url: str | None = None
    """Any OpenAI-compatible server: vLLM, Ollama, llama.cpp (``http://host:port/v1``)."""
    azure_openai_endpoint: str | None = None
    azure_openai_api_key: SecretStr | None = None
    azure_openai_api_version: str = "2024-10-21"
    llm_circuit_failures: int = Field(default=5, ge=1)
    """Consecutive failures of a provider that open its circuit (calls then fail fast)."""
    llm_circuit_failure_rate: float = Field(default=0.5, gt=0, le=1)
    llm_circuit_min_calls: int = Field(default=10, ge=1)
    llm_circuit_window_seconds: float = Field(default=60.0, gt=0)
    llm_circuit_cooldown_seconds: float = Field(default=30.0, ge=0)
    """How long an open circuit waits before one probe call."""

    # The verifier ("guardian"): an independent call per model finding before it is posted
    verify_findings: bool = True
    verify_threshold: int = Field(default=80, ge=0, le=100)
    """Findings the verifier confirms with less confidence than this are dropped."""
    verify_max_findings: int = Field(default=30, ge=0)
    """Model findings verified per review (worst first); the rest are dropped unverified."""
    verify_context_lines: int = Field(default=80, ge=5)
    """Head-file lines the verifier sees around a finding (its enclosing function if smaller)."""
    llm_context_lines: int = Field(default=40, ge=0)
    """Lines of each hunk's enclosing function or class (from the head file) sent with a chunk;
    0 sends the diff alone. Unmeasured default: published results show more context can hurt."""

    # Review
    max_inline_comments: int = Field(default=20, ge=0)
    """Inline comments per review; findings beyond the cap are listed in the summary."""
    analyze_batch_files: int = Field(default=50, ge=1)
    """Changed files per analyze activity: larger PRs fan out over several activities."""
    repo_config_path: str = ".github/prsaga.yml"
    """The per-repository configuration file, read from the pull request's base branch."""
    default_repo_config: Path | None = None
    """Optional YAML file with the server's defaults (same schema as the per-repository file)."""

    # Lifecycle and approval
    debounce_seconds: float = Field(default=5.0, ge=0)
    """Quiet period after a push before reviewing, so that quick successive pushes make one
    review."""
    review_drafts: bool = False
    """Review draft pull requests too (otherwise they wait until ready for review)."""
    approval_timeout_seconds: float = Field(default=24 * 3600, gt=0)
    command_prefix: str = "/agent"
    permission_cache_seconds: float = Field(default=60.0, ge=0)

    # Observability
    metrics_address: str | None = None
    """``host:port`` where a worker (or the webhook server) serves Prometheus metrics."""
    tracing: bool = False
    """Export OpenTelemetry traces (OTLP, configured by the standard ``OTEL_*`` variables)."""
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"

    # Local state (embedded mode): the dev server's SQLite file and the parsed-diff cache
    state_dir: Path = DEFAULT_STATE_DIR

    @field_validator("llm_models")
    @classmethod
    def _valid_chains(cls, models: dict[str, str]) -> dict[str, str]:
        for agent, text in models.items():
            try:
                parse_chain(text)
            except ValueError as problem:
                raise ValueError(f"llm_models[{agent!r}]: {problem}") from None
        return models

    def model_chain(self, agent: str) -> list[ModelSpec]:
        """The fallback chain of ``agent`` (a specialist, ``verifier``, ``judge``)."""
        default = [ModelSpec(provider="anthropic", model=self.anthropic_model)]
        return chain_for(agent, self.llm_models, default)

    def llm_configured(self) -> bool:
        """Whether any provider has credentials (else no model agent runs)."""
        return any(
            (
                self.anthropic_api_key,
                self.bedrock_api_key,
                self.bedrock_secret_access_key,
                self.vertex_project_id,
                self.openai_api_key,
                self.azure_openai_api_key,
            )
        )

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


def server_repo_config(settings: Settings) -> RepoConfig:
    """The server's defaults for every repository: ``max_inline_comments``, the LLM budget,
    ``review_drafts`` and the approval timeout from ``settings``, overridden by
    ``settings.default_repo_config`` (same schema as the repository file) when set.

    Raises ``ValueError`` when that file is unreadable or invalid: it is the operator's own file,
    so the server refuses to start rather than review with a surprise.
    """
    base = RepoConfig(
        max_inline_comments=settings.max_inline_comments,
        budget=Budget(tokens=settings.llm_budget_tokens, usd=settings.llm_budget_usd),
        review_drafts=settings.review_drafts,
        approval_timeout_hours=settings.approval_timeout_seconds / 3600,
    )
    path = settings.default_repo_config
    if path is None:
        return base
    try:
        return overridden(path.read_text(encoding="utf-8"), base, str(path))
    except (OSError, UnicodeDecodeError, ValueError) as problem:
        raise ValueError(f"default_repo_config: {problem}") from None
