"""The provider layer: every model call goes through one interface with structured output.

- :mod:`.base`: :class:`Prompt`, :class:`Tool`, :class:`Provider` and :func:`structured_call`
  (tool use / function calling -> pydantic, retried once with the validation error).
- :mod:`.anthropic_api`: Claude on Anthropic's API, Amazon Bedrock and Google Vertex.
- :mod:`.openai_api`: any OpenAI-compatible endpoint (the optional ``openai`` extra).
- :mod:`.chain`: the worker's providers, fallback chains and circuit breakers (:mod:`.breaker`).
- :mod:`.prices`: the one price table for cost estimates.
"""

from prsaga.adapters.llm.base import Prompt, Provider, Structured, Tool, structured_call
from prsaga.adapters.llm.breaker import BreakerPolicy, Breakers, CircuitState, Transition
from prsaga.adapters.llm.chain import CIRCUIT_OPEN, Models
from prsaga.adapters.llm.prices import estimate_cost_usd, model_family

__all__ = [
    "CIRCUIT_OPEN",
    "BreakerPolicy",
    "Breakers",
    "CircuitState",
    "Models",
    "Prompt",
    "Provider",
    "Structured",
    "Tool",
    "Transition",
    "estimate_cost_usd",
    "model_family",
    "structured_call",
]
