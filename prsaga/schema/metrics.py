"""The names of prsaga's own metrics (``prsaga_*``), shared by the processes that record them and
by the dashboards that read them (``prsaga.runtime.telemetry`` says who records which)."""

from __future__ import annotations

from typing import Literal

WEBHOOKS_RECEIVED = "prsaga_webhooks_received"
REVIEWS = "prsaga_reviews"
REVIEW_LATENCY = "prsaga_review_latency"
FINDINGS = "prsaga_findings"
LLM_TOKENS = "prsaga_llm_tokens"
LLM_COST_USD = "prsaga_llm_cost_usd"
LLM_CIRCUIT_TRANSITIONS = "prsaga_llm_circuit_transitions"
"""A provider's circuit breaker changed state (``provider``, ``state``: the new state)."""
FINDINGS_VERIFIED = "prsaga_findings_verified"
"""Model findings the verifier judged (``verdict``: ``kept`` or ``dropped``)."""

ReviewOutcome = Literal["posted", "skipped", "failed", "cancelled"]
"""``posted``: a review reached GitHub; ``skipped``: nothing to review (closed, no changes);
``failed``: the saga failed and compensated; ``cancelled``: the review was cancelled."""
