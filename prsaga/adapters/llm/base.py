"""One interface for every model call: a prompt and a tool in, a validated pydantic model out.

A :class:`Provider` speaks one API (the Messages API, Chat Completions); :func:`structured_call`
is the same for all of them: the model must call the tool, whose input schema is generated from
a pydantic model and whose input is validated with it, never scraped from prose. A malformed
answer is sent back once with the validation error; a second malformed answer is a
:class:`Structured` with ``problem`` set, never an exception.

Retries belong to Temporal: providers are built with ``max_retries=0`` and raise API failures
as ``ApplicationError`` s that say whether retrying can help (:func:`classify_status`).
"""

from __future__ import annotations

import email.utils
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.exceptions import ApplicationError

from prsaga.adapters.llm.prices import estimate_cost_usd
from prsaga.review.redact import redact
from prsaga.review.texts import truncate
from prsaga.schema import TokenUsage

MAX_ATTEMPTS = 2
"""One answer plus one retry with the validation error."""
MAX_RETRY_WAIT = timedelta(minutes=10)
"""Longest pause honoured from ``retry-after``; beyond it the retry policy's backoff applies."""
_ERROR_TEXT_MAX = 1500

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Prompt:
    """What a model is asked: a system prompt, a context block shared by related calls (both
    cacheable), and the task itself."""

    system: str
    context: str
    task: str


@dataclass(frozen=True)
class Tool(Generic[M]):
    """The one tool the model must call; its input is an instance of ``schema``."""

    name: str
    description: str
    schema: type[M]
    retry_note: str = (
        "Your answer could not be used: {problem}. Call the {tool} tool again, once, following "
        "its input schema exactly."
    )

    def input_schema(self) -> dict[str, Any]:
        return inline_refs(self.schema.model_json_schema())


@dataclass
class Reply:
    """One answer of a provider: the inputs of every call of the tool, and its cost."""

    inputs: list[Any]
    """The arguments of each call of the tool (``None`` for an argument string that is not
    JSON); empty when the model did not call it."""
    usage: TokenUsage
    truncated: bool = False
    """The answer was cut off at ``max_tokens``."""
    transcript: Any = None
    """What the provider needs to echo the answer back in a correction."""


class Provider(ABC):
    """One model API behind the common interface. ``name`` is the provider's name in the
    settings (``anthropic``, ``bedrock``, ``vertex``, ``openai``, ``azure``): its circuit
    breaker's key and its price table's column."""

    name: str

    @abstractmethod
    def start(self, model: str, max_tokens: int, prompt: Prompt, tool: Tool[Any]) -> Any:
        """The first request of a conversation (provider-specific, JSON-serialisable)."""

    @abstractmethod
    def send(self, request: Any) -> Reply:
        """Send ``request``. Raises a classified ``ApplicationError`` when the API fails."""

    @abstractmethod
    def correct(self, request: Any, reply: Reply, note: str) -> Any:
        """The conversation with the unusable ``reply`` and ``note`` asking to correct it."""


@dataclass
class Structured(Generic[M]):
    """The validated answer (or why there is none), and what it cost."""

    value: M | None
    usage: TokenUsage
    cost_usd: float
    attempts: int
    provider: str
    model: str
    problem: str | None = None
    """Why no valid answer could be read (never holds secrets or prompt text)."""
    skipped: list[str] = field(default_factory=list)
    """Earlier models of the fallback chain that were passed over, and why."""


def structured_call(
    provider: Provider, model: str, max_tokens: int, prompt: Prompt, tool: Tool[M]
) -> Structured[M]:
    """Ask ``model`` through ``provider`` to call ``tool``; validate its input with the tool's
    schema, and send a malformed answer back once with the validation error.

    Raises:
        ApplicationError: The API failed (classified: retryable or not).
    """
    request = provider.start(model, max_tokens, prompt, tool)
    usage = TokenUsage()
    value: M | None = None
    problem = "no answer"
    attempts = 0
    while value is None and attempts < MAX_ATTEMPTS:
        attempts += 1
        reply = provider.send(request)
        usage += reply.usage
        value, problem = _read(reply, tool)
        if value is None:
            note = tool.retry_note.format(problem=problem, tool=tool.name)
            request = provider.correct(request, reply, note)
    return Structured(
        value=value,
        usage=usage,
        cost_usd=estimate_cost_usd(provider.name, model, usage),
        attempts=attempts,
        provider=provider.name,
        model=model,
        problem=(
            None
            if value is not None
            else truncate(f"no valid {tool.name} call after {attempts} answers: {problem}", 2000)
        ),
    )


def _read(reply: Reply, tool: Tool[M]) -> tuple[M | None, str]:
    cut_off = " (the answer was cut off at max_tokens: answer shorter)"
    suffix = cut_off if reply.truncated else ""
    if not reply.inputs:
        return None, f"it did not call the {tool.name} tool{suffix}"
    values: list[M] = []
    for arguments in reply.inputs:
        try:
            values.append(tool.schema.model_validate(arguments))
        except ValidationError as error:
            return None, f"its {tool.name} input is invalid: {describe(error)}{suffix}"
    return merge(values), ""


def merge(values: list[M]) -> M:
    """Several calls of a tool as one: list fields are concatenated (a reviewer that reports
    its findings over two calls), other fields are the first call's."""
    first, *rest = values
    if not rest:
        return first
    merged = first.model_dump()
    for value in rest:
        for name, item in value.model_dump().items():
            if isinstance(item, list) and isinstance(merged.get(name), list):
                merged[name] = [*merged[name], *item]
    return type(first).model_validate(merged)


def describe(error: ValidationError) -> str:
    """The validation errors, without the invalid values (they may be long or odd)."""
    parts = [
        f"{'.'.join(str(p) for p in item['loc']) or 'input'}: {item['msg']}"
        for item in error.errors(include_input=False, include_url=False)
    ]
    return truncate("; ".join(parts), _ERROR_TEXT_MAX)


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its ``$ref`` s replaced by their definitions (one self-contained object)."""
    definitions = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items() if key != "$defs"}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


# --- errors -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiLabels:
    """How a provider's failures are named: ``Claude`` + ``RateLimited``, "the Messages API"."""

    prefix: str
    api: str
    key_setting: str
    model_setting: str


def classify_status(
    labels: ApiLabels,
    status: int,
    error_type: str | None,
    api_message: str,
    headers: Mapping[str, str],
) -> ApplicationError:
    """An HTTP error answer as a retryable or non-retryable ``ApplicationError``.

    Rate limits (429), overload (529), server errors and 408/409 are retryable, with the pause
    ``retry-after`` asks for as ``next_retry_delay``. Invalid requests, bad credentials, missing
    models and oversized requests are not. The message holds the status, the API's error type
    and its message (secrets masked), never a credential.
    """
    detail = " ".join(part for part in (str(status), error_type) if part)
    if api_message:
        detail += f": {truncate(redact(' '.join(api_message.split())), 300)}"
    text = f"{labels.api} answered {detail}"
    delay = retry_delay(headers)
    prefix = labels.prefix
    if status == 429:
        return ApplicationError(
            f"{text} (rate limited)", type=f"{prefix}RateLimited", next_retry_delay=delay
        )
    if status == 529:
        return ApplicationError(
            f"{text} (overloaded)", type=f"{prefix}Overloaded", next_retry_delay=delay
        )
    if status >= 500 or status in (408, 409):
        return ApplicationError(text, type=f"{prefix}ServerError", next_retry_delay=delay)
    client_errors = {
        400: ("BadRequest", "the request was refused as invalid"),
        401: ("Unauthorized", f"check the API key ({labels.key_setting})"),
        402: ("BillingError", "check the account's billing"),
        403: ("Forbidden", "the API key lacks permission for this request"),
        404: ("NotFound", f"check the model name ({labels.model_setting}) and base URL"),
        413: ("RequestTooLarge", "lower PRSAGA_LLM_BATCH_TOKENS"),
    }
    kind, hint = client_errors.get(status, ("BadRequest", "the request was refused"))
    return ApplicationError(f"{text}: {hint}", type=f"{prefix}{kind}", non_retryable=True)


def retry_delay(headers: Mapping[str, str]) -> timedelta | None:
    """The pause the API asks for: ``retry-after-ms``, else ``retry-after`` (seconds or date)."""
    seconds: float | None = None
    try:
        if (milliseconds := headers.get("retry-after-ms")) is not None:
            seconds = float(milliseconds) / 1000
        elif (retry_after := headers.get("retry-after")) is not None:
            try:
                seconds = float(retry_after)
            except ValueError:
                moment = email.utils.parsedate_to_datetime(retry_after)
                seconds = moment.timestamp() - time.time()
    except (ValueError, TypeError):
        return None
    if seconds is None or seconds != seconds or seconds < 0:  # NaN or in the past
        return None
    return min(timedelta(seconds=seconds), MAX_RETRY_WAIT)


PROVIDER_DOWN_KINDS = frozenset(
    {
        "Timeout",
        "Unavailable",
        "ServerError",
        "Overloaded",
        "BadResponse",
        "Unauthorized",
        "Forbidden",
        "NotFound",
        "BillingError",
        "Error",
    }
)
"""Failures that say the provider (not this request) is unusable: they count against its circuit
breaker. A refused request (400, 413) or a rate limit (429) means the provider is up."""


def provider_is_down(error: ApplicationError, labels: ApiLabels) -> bool:
    kind = (error.type or "").removeprefix(labels.prefix)
    return kind in PROVIDER_DOWN_KINDS
