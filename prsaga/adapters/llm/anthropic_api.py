"""Claude through the official ``anthropic`` SDK: Anthropic's API, Amazon Bedrock, Google Vertex.

The three clients take the same Messages request; they differ in where it goes and how it is
authenticated:

- ``anthropic``: ``x-api-key``/bearer key, ``{base_url}/v1/messages``.
- ``bedrock``: ``anthropic.AnthropicBedrock``, ``{base_url}/model/{model}/invoke``, the model
  out of the body and ``anthropic_version`` in it; authenticated with a Bedrock API key (a
  bearer token) or, with ``boto3`` installed (``anthropic[bedrock]``), AWS SigV4 keys.
- ``vertex``: ``anthropic.AnthropicVertex``,
  ``{base_url}/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:rawPredict``,
  with an OAuth access token, or Application Default Credentials with ``google-auth``
  installed (``anthropic[vertex]``).

All three accept a ``base_url``, so a gateway (or the local Messages API server) can stand in.

The shared system prompt and the context block carry ``cache_control`` so that every call after
the first reads them from the prompt cache.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
from temporalio.exceptions import ApplicationError

from prsaga.adapters.llm.base import ApiLabels, Prompt, Provider, Reply, Tool, classify_status
from prsaga.adapters.llm.prices import model_family
from prsaga.runtime.config import Settings
from prsaga.schema import TokenUsage

ANTHROPIC_LABELS = ApiLabels(
    prefix="Claude",
    api="the Messages API",
    key_setting="PRSAGA_ANTHROPIC_API_KEY",
    model_setting="PRSAGA_ANTHROPIC_MODEL",
)
ANTHROPIC_PROVIDERS = ("anthropic", "bedrock", "vertex")

# Models that answer a forced tool_choice with a 400 (Claude Sonnet 5.5's release notes; the
# other two as reported by SDK users).
_NO_FORCED_TOOL_MODELS = frozenset({"claude-sonnet-5-5", "claude-opus-5-5", "claude-fable-5-1"})

AnthropicClient = anthropic.Anthropic | anthropic.AnthropicBedrock | anthropic.AnthropicVertex


def _not_configured(what: str) -> ApplicationError:
    return ApplicationError(what, type="ClaudeNotConfigured", non_retryable=True)


def make_client(settings: Settings, provider: str = "anthropic") -> AnthropicClient:
    """A client for ``provider`` (``anthropic``, ``bedrock`` or ``vertex``), retries left to
    Temporal.

    Raises:
        ApplicationError: The provider has no credentials configured (non-retryable).
    """
    timeout = settings.anthropic_timeout_seconds
    common: dict[str, Any] = {
        "max_retries": 0,
        "timeout": anthropic.Timeout(timeout, connect=min(timeout, 10.0)),
    }
    if provider == "bedrock":
        if settings.bedrock_region is None:
            raise _not_configured("Bedrock needs a region: set PRSAGA_BEDROCK_REGION")
        keys = settings.bedrock_access_key_id, settings.bedrock_secret_access_key
        if settings.bedrock_api_key is None and None in keys:
            raise _not_configured(
                "no Bedrock credentials: set PRSAGA_BEDROCK_API_KEY (a Bedrock API key), or "
                "PRSAGA_BEDROCK_ACCESS_KEY_ID and PRSAGA_BEDROCK_SECRET_ACCESS_KEY"
            )
        if settings.bedrock_api_key is not None:
            credentials: dict[str, Any] = {"api_key": settings.bedrock_api_key.get_secret_value()}
        else:
            access, secret = keys
            assert access is not None and secret is not None
            credentials = {
                "aws_access_key": access,
                "aws_secret_key": secret.get_secret_value(),
                "aws_session_token": (
                    settings.bedrock_session_token.get_secret_value()
                    if settings.bedrock_session_token
                    else None
                ),
            }
        return anthropic.AnthropicBedrock(
            aws_region=settings.bedrock_region,
            base_url=settings.bedrock_base_url,
            **credentials,
            **common,
        )
    if provider == "vertex":
        if settings.vertex_region is None or settings.vertex_project_id is None:
            raise _not_configured("Vertex needs PRSAGA_VERTEX_REGION and PRSAGA_VERTEX_PROJECT_ID")
        token = settings.vertex_access_token
        return anthropic.AnthropicVertex(
            region=settings.vertex_region,
            project_id=settings.vertex_project_id,
            # Without a token the SDK uses Application Default Credentials (google-auth).
            access_token=token.get_secret_value() if token else None,
            base_url=settings.vertex_base_url,
            **common,
        )
    if settings.anthropic_api_key is None:
        raise _not_configured(
            "no Anthropic API key: set PRSAGA_ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY)"
        )
    return anthropic.Anthropic(
        api_key=settings.anthropic_api_key.get_secret_value(),
        base_url=settings.anthropic_base_url,
        **common,
    )


class AnthropicProvider(Provider):
    """The Messages API through one of the SDK's clients."""

    def __init__(self, client: AnthropicClient, name: str = "anthropic") -> None:
        self.client = client
        self.name = name

    def start(self, model: str, max_tokens: int, prompt: Prompt, tool: Tool[Any]) -> Any:
        """The keyword arguments of ``client.messages.create``.

        Models that refuse a forced ``tool_choice`` get ``auto``: the prompt asks for the tool,
        and an answer without it is retried like any malformed answer. No ``temperature`` is
        sent: API version 2026-10-21, which the ``anthropic`` SDK 2.x speaks, removed the
        sampling parameters.

        Prefix order (tools, system, then the first user message's blocks) is what prompt
        caching keys on: the tool and the system prompt are shared by every request of a
        prompt kind, the context block by every chunk of the pull request.
        """
        ephemeral = {"type": "ephemeral"}
        return {
            "model": model,
            "max_tokens": max_tokens,
            "system": [{"type": "text", "text": prompt.system, "cache_control": ephemeral}],
            "tools": [
                {
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": tool.input_schema(),
                }
            ],
            "tool_choice": (
                {"type": "auto"}
                if model_family(model) in _NO_FORCED_TOOL_MODELS
                else {"type": "tool", "name": tool.name}
            ),
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": prompt.context, "cache_control": ephemeral},
                        {"type": "text", "text": prompt.task},
                    ],
                }
            ],
        }

    def send(self, request: Any) -> Reply:
        try:
            response = self.client.messages.create(**request)
        except (anthropic.AnthropicError, json.JSONDecodeError) as error:
            raise classify_anthropic_error(error) from error
        content = getattr(response, "content", None)
        if not isinstance(content, list):
            raise ApplicationError(
                "the Messages API answered something that is not a message",
                type="ClaudeBadResponse",
            )
        tool_name = request["tools"][0]["name"]
        inputs = [
            block.input
            for block in content
            if getattr(block, "type", None) == "tool_use"
            and getattr(block, "name", None) == tool_name
        ]
        return Reply(
            inputs=inputs,
            usage=_usage(response),
            truncated=getattr(response, "stop_reason", None) == "max_tokens",
            transcript=content,
        )

    def correct(self, request: Any, reply: Reply, note: str) -> Any:
        """The Messages API requires every ``tool_use`` block to be answered by a
        ``tool_result`` block at the start of the next user message; the correction rides on
        those (``is_error``)."""
        messages: list[dict[str, Any]] = request["messages"]
        echoed: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        for block in reply.transcript:
            kind = getattr(block, "type", None)
            if kind == "text" and getattr(block, "text", ""):
                echoed.append({"type": "text", "text": block.text})
            elif kind == "tool_use":
                # The API only ever sends an object, and only takes one back.
                tool_input = block.input if isinstance(block.input, dict) else {}
                echoed.append(
                    {"type": "tool_use", "id": block.id, "name": block.name, "input": tool_input}
                )
                results.append(
                    {
                        "type": "tool_result",
                        "tool_use_id": block.id,
                        "is_error": True,
                        "content": note,
                    }
                )
        if not echoed:
            # An empty assistant turn is invalid: the correction goes into the user's turn.
            *earlier, last = messages
            corrected = [
                *earlier,
                {**last, "content": [*last["content"], {"type": "text", "text": note}]},
            ]
        else:
            corrected = [
                *messages,
                {"role": "assistant", "content": echoed},
                {"role": "user", "content": results or [{"type": "text", "text": note}]},
            ]
        return {**request, "messages": corrected}


def _usage(response: Any) -> TokenUsage:
    usage = getattr(response, "usage", None)

    def count(name: str) -> int:
        value = getattr(usage, name, None)
        return value if isinstance(value, int) else 0

    return TokenUsage(
        input_tokens=count("input_tokens"),
        output_tokens=count("output_tokens"),
        cache_creation_input_tokens=count("cache_creation_input_tokens"),
        cache_read_input_tokens=count("cache_read_input_tokens"),
    )


def classify_anthropic_error(error: Exception) -> ApplicationError:
    """Turn a Messages API failure into a retryable or non-retryable ``ApplicationError``
    (:func:`~prsaga.adapters.llm.base.classify_status` for HTTP answers)."""
    if isinstance(error, ApplicationError):
        return error
    if isinstance(error, anthropic.APITimeoutError):
        return ApplicationError("Claude did not answer in time", type="ClaudeTimeout")
    if isinstance(error, anthropic.APIConnectionError):
        return ApplicationError(
            f"could not reach the Messages API ({type(error.__cause__ or error).__name__})",
            type="ClaudeUnavailable",
        )
    if isinstance(error, anthropic.APIStatusError):
        return classify_status(
            ANTHROPIC_LABELS,
            error.status_code,
            error.type if isinstance(error.type, str) else None,
            error.api_message if isinstance(error.api_message, str) else "",
            error.response.headers,
        )
    if isinstance(error, (anthropic.APIResponseValidationError, json.JSONDecodeError)):
        return ApplicationError(
            "the Messages API answered a body that could not be read", type="ClaudeBadResponse"
        )
    return ApplicationError(
        f"the Claude request failed: {type(error).__name__}", type="ClaudeError"
    )
