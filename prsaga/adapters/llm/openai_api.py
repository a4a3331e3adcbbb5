"""Any OpenAI-compatible Chat Completions endpoint through the official ``openai`` SDK.

``openai``: OpenAI itself, or any server speaking its API at a ``base_url`` (vLLM, Ollama,
llama.cpp's server, a gateway). ``azure``: Azure OpenAI (``openai.AzureOpenAI``: the model is the
deployment's name, the key goes in ``api-key``). The SDK is an optional extra
(``pip install 'prsaga[openai]'``): this module is imported only when such a provider is
configured.

Structured output is a forced function call whose ``parameters`` are the tool's JSON schema; a
malformed call is answered with a ``tool`` message carrying the validation error.
"""

from __future__ import annotations

import json
from typing import Any

import openai
from temporalio.exceptions import ApplicationError

from prsaga.adapters.llm.base import ApiLabels, Prompt, Provider, Reply, Tool, classify_status
from prsaga.runtime.config import Settings
from prsaga.schema import TokenUsage

OPENAI_LABELS = ApiLabels(
    prefix="OpenAI",
    api="the Chat Completions API",
    key_setting="PRSAGA_OPENAI_API_KEY",
    model_setting="PRSAGA_LLM_MODELS",
)
OPENAI_PROVIDERS = ("openai", "azure")

OpenAIClient = openai.OpenAI | openai.AzureOpenAI


def _not_configured(what: str) -> ApplicationError:
    return ApplicationError(what, type="OpenAINotConfigured", non_retryable=True)


def make_client(settings: Settings, provider: str = "openai") -> OpenAIClient:
    """A client for ``provider`` (``openai`` or ``azure``), retries left to Temporal.

    Raises:
        ApplicationError: The provider is not configured (non-retryable).
    """
    timeout = settings.anthropic_timeout_seconds
    common: dict[str, Any] = {
        "max_retries": 0,
        "timeout": openai.Timeout(timeout, connect=min(timeout, 10.0)),
    }
    if provider == "azure":
        if settings.azure_openai_endpoint is None or settings.azure_openai_api_key is None:
            raise _not_configured(
                "Azure OpenAI needs PRSAGA_AZURE_OPENAI_ENDPOINT and PRSAGA_AZURE_OPENAI_API_KEY"
            )
        return openai.AzureOpenAI(
            azure_endpoint=settings.azure_openai_endpoint,
            api_key=settings.azure_openai_api_key.get_secret_value(),
            api_version=settings.azure_openai_api_version,
            **common,
        )
    if settings.openai_api_key is None:
        raise _not_configured(
            "no OpenAI API key: set PRSAGA_OPENAI_API_KEY (or OPENAI_API_KEY); a self-hosted "
            "server that checks none takes any value"
        )
    return openai.OpenAI(
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=settings.openai_base_url,
        **common,
    )


class OpenAIProvider(Provider):
    """Chat Completions with one forced function."""

    def __init__(self, client: OpenAIClient, name: str = "openai") -> None:
        self.client = client
        self.name = name

    def start(self, model: str, max_tokens: int, prompt: Prompt, tool: Tool[Any]) -> Any:
        """The keyword arguments of ``client.chat.completions.create``. The system prompt and
        the context come first, so that providers with automatic prefix caching reuse them."""
        return {
            "model": model,
            "max_completion_tokens": max_tokens,
            "messages": [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": f"{prompt.context}\n{prompt.task}"},
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.input_schema(),
                    },
                }
            ],
            "tool_choice": {"type": "function", "function": {"name": tool.name}},
        }

    def send(self, request: Any) -> Reply:
        try:
            response = self.client.chat.completions.create(**request)
        except (openai.OpenAIError, json.JSONDecodeError) as error:
            raise classify_openai_error(error) from error
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise ApplicationError(
                "the Chat Completions API answered something that is not a completion",
                type="OpenAIBadResponse",
            )
        choice = choices[0]
        message = choice.message
        tool_name = request["tools"][0]["function"]["name"]
        inputs = [
            _arguments(call.function.arguments)
            for call in message.tool_calls or []
            if getattr(call, "type", "function") == "function" and call.function.name == tool_name
        ]
        return Reply(
            inputs=inputs,
            usage=_usage(response),
            truncated=choice.finish_reason == "length",
            transcript=message,
        )

    def correct(self, request: Any, reply: Reply, note: str) -> Any:
        """Every ``tool_call`` must be answered by a ``tool`` message: the correction rides on
        them (or on a user message when the model called nothing)."""
        message = reply.transcript
        calls = list(message.tool_calls or [])
        echoed: dict[str, Any] = {"role": "assistant", "content": message.content or None}
        if calls:
            echoed["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
                for call in calls
            ]
            answers = [{"role": "tool", "tool_call_id": call.id, "content": note} for call in calls]
        else:
            answers = [{"role": "user", "content": note}]
        if echoed["content"] is None and not calls:
            return {**request, "messages": [*request["messages"], *answers]}
        return {**request, "messages": [*request["messages"], echoed, *answers]}


def _arguments(text: Any) -> Any:
    """A call's arguments: JSON text, or ``None`` when it is not JSON (the validation error then
    says so)."""
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _usage(response: Any) -> TokenUsage:
    usage = getattr(response, "usage", None)

    def count(owner: Any, name: str) -> int:
        value = getattr(owner, name, None)
        return value if isinstance(value, int) else 0

    cached = count(getattr(usage, "prompt_tokens_details", None), "cached_tokens")
    return TokenUsage(
        input_tokens=max(0, count(usage, "prompt_tokens") - cached),
        output_tokens=count(usage, "completion_tokens"),
        cache_read_input_tokens=cached,
    )


def classify_openai_error(error: Exception) -> ApplicationError:
    """Turn a Chat Completions failure into a retryable or non-retryable ``ApplicationError``."""
    if isinstance(error, ApplicationError):
        return error
    if isinstance(error, openai.APITimeoutError):
        return ApplicationError("the model did not answer in time", type="OpenAITimeout")
    if isinstance(error, openai.APIConnectionError):
        return ApplicationError(
            f"could not reach the Chat Completions API ({type(error.__cause__ or error).__name__})",
            type="OpenAIUnavailable",
        )
    if isinstance(error, openai.APIStatusError):
        body = error.body if isinstance(error.body, dict) else {}
        nested = body.get("error")
        details = nested if isinstance(nested, dict) else body
        message = details.get("message")
        return classify_status(
            OPENAI_LABELS,
            error.status_code,
            error.type if isinstance(error.type, str) else None,
            message if isinstance(message, str) else "",
            error.response.headers,
        )
    if isinstance(error, (openai.APIResponseValidationError, json.JSONDecodeError)):
        return ApplicationError(
            "the Chat Completions API answered a body that could not be read",
            type="OpenAIBadResponse",
        )
    return ApplicationError(
        f"the Chat Completions request failed: {type(error).__name__}", type="OpenAIError"
    )
