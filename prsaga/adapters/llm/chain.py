"""The worker's model providers and their fallback chains.

:class:`Models` builds each provider's client on first use from the settings and keeps one
circuit breaker per provider (:mod:`prsaga.adapters.llm.breaker`). :meth:`Models.call` walks a
chain: a model whose circuit is open, or that fails for good (a non-retryable error), hands over
to the next one; a retryable failure is raised for Temporal to retry the activity with backoff
(and counts against the provider's circuit, so that a provider that is down soon fails fast).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from temporalio.exceptions import ApplicationError

from prsaga.adapters.llm.anthropic_api import (
    ANTHROPIC_LABELS,
    ANTHROPIC_PROVIDERS,
    AnthropicProvider,
)
from prsaga.adapters.llm.anthropic_api import make_client as make_anthropic_client
from prsaga.adapters.llm.base import (
    ApiLabels,
    M,
    Prompt,
    Provider,
    Structured,
    Tool,
    provider_is_down,
    structured_call,
)
from prsaga.adapters.llm.breaker import Breakers
from prsaga.review.models import ModelSpec
from prsaga.review.texts import truncate
from prsaga.runtime.config import Settings

logger = logging.getLogger(__name__)

CIRCUIT_OPEN = "LLMCircuitOpen"
"""The error type of a call refused because every model of its chain is unavailable."""


class Models:
    """Providers (built on first use) and the process's breakers, for the activities."""

    def __init__(self, settings: Settings, breakers: Breakers) -> None:
        self._settings = settings
        self.breakers = breakers
        self._lock = threading.Lock()
        self._providers: dict[str, tuple[Provider, ApiLabels]] = {}

    def provider(self, name: str) -> tuple[Provider, ApiLabels]:
        """The provider called ``name`` and how its errors are named.

        Raises:
            ApplicationError: It is not configured, or its SDK is not installed (non-retryable).
        """
        with self._lock:
            if name not in self._providers:
                self._providers[name] = self._build(name)
            return self._providers[name]

    def _build(self, name: str) -> tuple[Provider, ApiLabels]:
        if name in ANTHROPIC_PROVIDERS:
            client = make_anthropic_client(self._settings, name)
            return AnthropicProvider(client, name), ANTHROPIC_LABELS
        try:
            from prsaga.adapters.llm import openai_api
        except ImportError as missing:
            raise ApplicationError(
                f"provider {name!r} needs the openai SDK: pip install 'prsaga[openai]' ({missing})",
                type="OpenAINotConfigured",
                non_retryable=True,
            ) from None
        return (
            openai_api.OpenAIProvider(openai_api.make_client(self._settings, name), name),
            openai_api.OPENAI_LABELS,
        )

    def call(
        self, chain: Sequence[ModelSpec], max_tokens: int, prompt: Prompt, tool: Tool[M]
    ) -> Structured[M]:
        """The first answer along ``chain``.

        Raises:
            ApplicationError: A retryable failure of the model whose turn it was (Temporal
                retries), or, non-retryable, why every model of the chain was passed over.
        """
        skipped: list[str] = []
        for position, spec in enumerate(chain, 1):
            closed = self.breakers.allow(spec.provider)
            if closed is not None:
                skipped.append(f"{spec}: {closed}")
                continue
            try:
                provider, labels = self.provider(spec.provider)
                result = structured_call(provider, spec.model, max_tokens, prompt, tool)
            except ApplicationError as error:
                self._record(spec, error)
                if not error.non_retryable:
                    raise
                if position == len(chain):  # the last model's own failure says most
                    if not skipped:
                        raise
                    raise ApplicationError(
                        truncate(f"{error.message} (after: {'; '.join(skipped)})", 2000),
                        type=error.type,
                        non_retryable=True,
                    ) from error
                skipped.append(f"{spec}: {error.message}")
                continue
            except BaseException:
                self.breakers.released(spec.provider)
                raise
            self.breakers.succeeded(spec.provider)
            if skipped:
                logger.warning("%s answered after: %s", spec, "; ".join(skipped))
            result.skipped = skipped
            return result
        raise ApplicationError(
            truncate("no model could be used: " + "; ".join(skipped), 2000),
            type=CIRCUIT_OPEN,
            non_retryable=True,
        )

    def _record(self, spec: ModelSpec, error: ApplicationError) -> None:
        labels = self._labels_of(spec)
        if labels is not None and provider_is_down(error, labels):
            self.breakers.failed(spec.provider, truncate(error.message, 300))
        elif (error.type or "").endswith("NotConfigured"):
            self.breakers.released(spec.provider)
        else:  # the provider answered (a refused request, a rate limit): it is up
            self.breakers.succeeded(spec.provider)

    def _labels_of(self, spec: ModelSpec) -> ApiLabels | None:
        with self._lock:
            built: Any = self._providers.get(spec.provider)
        return built[1] if built is not None else None
