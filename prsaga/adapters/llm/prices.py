"""The one price table: USD per million tokens, per provider and model, for cost estimates.

Budgets are enforced on these estimates (``llm_budget_usd``), so an unknown model is priced like
Claude Sonnet 4.x ($3 / $15 per million input / output tokens): a budget then still holds
roughly. Batch, long-context and regional price variants are not modelled. A self-hosted
OpenAI-compatible server (a ``base_url``) costs what the operator pays for it, which no table
knows: it is priced like an unknown model unless its model id is in the table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from prsaga.schema import TokenUsage

__all__ = ["Price", "estimate_cost_usd", "model_family", "price_of"]


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    cache_write: float
    """5-minute cache writes (1.25 x input for Anthropic; OpenAI charges none)."""
    cache_read: float
    output: float


_OPUS_4_5 = Price(input=5.0, cache_write=6.25, cache_read=0.50, output=25.0)
_OPUS_4 = Price(input=15.0, cache_write=18.75, cache_read=1.50, output=75.0)
_SONNET_4 = Price(input=3.0, cache_write=3.75, cache_read=0.30, output=15.0)
_SONNET_5 = Price(input=2.0, cache_write=2.50, cache_read=0.20, output=10.0)
_HAIKU_4_5 = Price(input=1.0, cache_write=1.25, cache_read=0.10, output=5.0)
_FABLE_5 = Price(input=10.0, cache_write=12.50, cache_read=1.0, output=50.0)
_FABLE_5_1 = Price(input=10.0, cache_write=12.50, cache_read=0.25, output=50.0)

# Anthropic's list prices (platform.claude.com/docs/en/about-claude/pricing and the model
# pages), by model id without a date suffix. Bedrock and Vertex list the same prices for their
# global endpoints.
_ANTHROPIC: Mapping[str, Price] = MappingProxyType(
    {
        "claude-fable-5-1": _FABLE_5_1,
        "claude-mythos-5-1": _FABLE_5_1,
        "claude-fable-5": _FABLE_5,
        "claude-mythos-5": _FABLE_5,
        "claude-opus-5": _OPUS_4_5,
        "claude-opus-4-8": _OPUS_4_5,
        "claude-opus-4-7": _OPUS_4_5,
        "claude-opus-4-6": _OPUS_4_5,
        "claude-opus-4-5": _OPUS_4_5,
        "claude-opus-4-1": _OPUS_4,
        "claude-opus-4-0": _OPUS_4,
        "claude-opus-4": _OPUS_4,
        "claude-3-opus": _OPUS_4,
        "claude-sonnet-5-5": _SONNET_5,
        "claude-sonnet-5": _SONNET_5,
        "claude-sonnet-4-6": _SONNET_4,
        "claude-sonnet-4-5": _SONNET_4,
        "claude-sonnet-4-0": _SONNET_4,
        "claude-sonnet-4": _SONNET_4,
        "claude-3-7-sonnet": _SONNET_4,
        "claude-3-5-sonnet": _SONNET_4,
        "claude-haiku-4-5": _HAIKU_4_5,
        "claude-3-5-haiku": Price(input=0.80, cache_write=1.0, cache_read=0.08, output=4.0),
        "claude-3-haiku": Price(input=0.25, cache_write=0.30, cache_read=0.03, output=1.25),
    }
)

# OpenAI's list prices (openai.com/api/pricing), standard tier; cached input is read at the
# discounted rate and never billed as a write.
_OPENAI: Mapping[str, Price] = MappingProxyType(
    {
        "gpt-5": Price(input=1.25, cache_write=0.0, cache_read=0.125, output=10.0),
        "gpt-5-mini": Price(input=0.25, cache_write=0.0, cache_read=0.025, output=2.0),
        "gpt-5-nano": Price(input=0.05, cache_write=0.0, cache_read=0.005, output=0.40),
        "gpt-4.1": Price(input=2.0, cache_write=0.0, cache_read=0.50, output=8.0),
        "gpt-4.1-mini": Price(input=0.40, cache_write=0.0, cache_read=0.10, output=1.60),
        "gpt-4o": Price(input=2.50, cache_write=0.0, cache_read=1.25, output=10.0),
        "gpt-4o-mini": Price(input=0.15, cache_write=0.0, cache_read=0.075, output=0.60),
        "o4-mini": Price(input=1.10, cache_write=0.0, cache_read=0.275, output=4.40),
    }
)

PRICES: Mapping[str, Mapping[str, Price]] = MappingProxyType(
    {
        "anthropic": _ANTHROPIC,
        "bedrock": _ANTHROPIC,
        "vertex": _ANTHROPIC,
        "openai": _OPENAI,
        "azure": _OPENAI,
    }
)
"""Provider -> model family -> price."""
DEFAULT_PRICE = _SONNET_4

_DATE_SUFFIX = re.compile(r"(?:-\d{8}|-\d{4}-\d{2}-\d{2}|-latest|@\d{8}|@latest)$")
_BEDROCK_ID = re.compile(
    r"^(?:(?:us|eu|apac|global|jp|au)\.)?anthropic\.(?P<model>.+?)(?:-v\d+(?::\d+)?)?$"
)


def model_family(model: str) -> str:
    """A model id without its provider decorations: Bedrock's ``[region.]anthropic.`` prefix
    and ``-v1:0`` suffix, and a date or ``-latest`` suffix (``claude-sonnet-4-5-20250929``,
    ``claude-sonnet-4-5@20250929``, ``gpt-4o-2024-08-06`` -> without it)."""
    family = model.strip().lower()
    if bedrock := _BEDROCK_ID.match(family):
        family = bedrock["model"]
    return _DATE_SUFFIX.sub("", family)


def price_of(provider: str, model: str) -> Price:
    return PRICES.get(provider, {}).get(model_family(model), DEFAULT_PRICE)


def estimate_cost_usd(provider: str, model: str, usage: TokenUsage) -> float:
    """The list-price cost of ``usage`` on ``provider``'s ``model``, cache writes and reads
    included."""
    price = price_of(provider, model)
    total = (
        usage.input_tokens * price.input
        + usage.cache_creation_input_tokens * price.cache_write
        + usage.cache_read_input_tokens * price.cache_read
        + usage.output_tokens * price.output
    )
    return total / 1_000_000
