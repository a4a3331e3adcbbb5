"""How long the local Messages API takes to answer: in proportion to the tokens, like a model.

A real answer costs a time to first token, then reading the prompt (cached prefixes much faster)
and writing the answer one token at a time; the output dominates. The defaults are of the order
of a Sonnet-class model's public figures; ``scale`` shrinks every term alike, so a benchmark can
run faster and keep the proportions (which call is on the critical path, how much waiting the
fan-out hides).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class Latency:
    first_token_seconds: float = 0.6
    input_tokens_per_second: float = 8_000.0
    """Prompt tokens not read from the cache (written to it or plain)."""
    cached_tokens_per_second: float = 80_000.0
    output_tokens_per_second: float = 60.0
    scale: float = 1.0

    def seconds(self, usage: Mapping[str, Any]) -> float:
        """The delay of an answer with this ``usage`` (the API's field names)."""
        fresh = usage.get("input_tokens", 0) + usage.get("cache_creation_input_tokens", 0)
        cached = usage.get("cache_read_input_tokens", 0)
        output = usage.get("output_tokens", 0)
        unscaled = (
            self.first_token_seconds
            + fresh / self.input_tokens_per_second
            + cached / self.cached_tokens_per_second
            + output / self.output_tokens_per_second
        )
        return unscaled * self.scale

    @classmethod
    def parse(cls, spec: str) -> Latency:
        """``"scale=0.25"`` or ``"first=0.5,input=8000,cached=80000,output=60,scale=1"``
        (each optional; ``default`` alone keeps every default).

        Raises:
            ValueError: An unknown name or a value that is not a positive number.
        """
        names = {
            "first": "first_token_seconds",
            "input": "input_tokens_per_second",
            "cached": "cached_tokens_per_second",
            "output": "output_tokens_per_second",
            "scale": "scale",
        }
        assert set(names.values()) == {f.name for f in fields(cls)}
        latency = cls()
        for item in filter(None, (part.strip() for part in spec.split(","))):
            if item == "default":
                continue
            name, _, value = item.partition("=")
            if name not in names:
                raise ValueError(f"unknown latency term {name!r} (known: {', '.join(names)})")
            number = float(value)
            if number < 0 or (number == 0 and name != "first"):
                raise ValueError(f"latency term {name} must be positive: {value!r}")
            latency = replace(latency, **{names[name]: number})
        return latency
