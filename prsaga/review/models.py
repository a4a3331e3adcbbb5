"""Which model reviews what: ``provider:model`` chains per agent, with fallbacks.

A chain is written ``"anthropic:claude-sonnet-4-6, openai:gpt-5"``: the first model answers
unless its provider fails for good or its circuit is open, then the next one does. Only the
first ``:`` separates the provider (Bedrock model ids contain colons). Agents are the specialists
(``security``, ``correctness``...), ``verifier`` (the guardian that checks each finding) and
``judge`` (the quality benchmark's judge); ``default`` applies to every agent without a chain
of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

ProviderName = Literal["anthropic", "bedrock", "vertex", "openai", "azure"]
PROVIDERS: tuple[str, ...] = get_args(ProviderName)
MAX_CHAIN = 4
"""Models in one chain: a fallback of a fallback of a fallback is enough."""


class ModelSpec(BaseModel):
    """One model of one provider."""

    model_config = ConfigDict(frozen=True)

    provider: ProviderName
    model: str

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"


def parse_chain(text: str) -> list[ModelSpec]:
    """``"provider:model, provider:model"`` as specs. Raises ``ValueError`` naming the fault."""
    specs: list[ModelSpec] = []
    for item in (part.strip() for part in text.split(",")):
        provider, sep, model = item.partition(":")
        if not sep or not model.strip():
            raise ValueError(f"{item!r} is not provider:model (e.g. anthropic:claude-sonnet-4-6)")
        if provider.strip() not in PROVIDERS:
            raise ValueError(
                f"unknown provider {provider.strip()!r} in {item!r}: one of {', '.join(PROVIDERS)}"
            )
        specs.append(
            ModelSpec.model_validate({"provider": provider.strip(), "model": model.strip()})
        )
    if len(specs) > MAX_CHAIN:
        raise ValueError(f"{text!r} names {len(specs)} models; at most {MAX_CHAIN}")
    return specs


def chain_for(
    agent: str, configured: Mapping[str, str], default: list[ModelSpec]
) -> list[ModelSpec]:
    """The chain ``configured`` (agent -> chain text, already validated) gives ``agent``: its
    own, else ``default`` 's entry, else ``default``."""
    text = configured.get(agent) or configured.get("default")
    return parse_chain(text) if text else list(default)
