"""The local Messages API's answer delay: in proportion to the tokens, configurable."""

from __future__ import annotations

import time

import anthropic
import pytest

from prsaga.local.llm_fake import FakeMessages, Latency, serve_in_thread
from tests.conftest import ANTHROPIC_KEY

MODEL = "claude-sonnet-4-5"


def test_the_delay_grows_with_output_and_prompt_and_the_cache_is_faster() -> None:
    latency = Latency(
        first_token_seconds=0.5,
        input_tokens_per_second=1000,
        cached_tokens_per_second=10_000,
        output_tokens_per_second=50,
    )
    assert latency.seconds({}) == 0.5
    assert latency.seconds({"output_tokens": 100}) == pytest.approx(2.5)
    assert latency.seconds({"input_tokens": 500, "cache_creation_input_tokens": 500}) == 1.5
    assert latency.seconds({"cache_read_input_tokens": 1000}) == pytest.approx(0.6)
    assert (
        Latency(scale=0.5).seconds({"output_tokens": 60})
        == Latency().seconds({"output_tokens": 60}) / 2
    )


def test_a_latency_is_parsed_from_its_terms() -> None:
    assert Latency.parse("default") == Latency()
    assert Latency.parse("output=30, scale=0.1") == Latency(output_tokens_per_second=30, scale=0.1)
    with pytest.raises(ValueError, match="unknown latency term"):
        Latency.parse("speed=2")
    with pytest.raises(ValueError, match="must be positive"):
        Latency.parse("output=0")


def test_the_server_answers_after_the_delay_of_its_usage() -> None:
    latency = Latency(first_token_seconds=0.3, output_tokens_per_second=1e9)
    with serve_in_thread(FakeMessages(ANTHROPIC_KEY, latency=latency)) as base_url:
        client = anthropic.Anthropic(api_key=ANTHROPIC_KEY, base_url=base_url, max_retries=0)
        started = time.monotonic()
        message = client.messages.create(
            model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "hello"}]
        )
        waited = time.monotonic() - started
    assert message.usage.output_tokens > 0
    assert waited >= latency.seconds(message.usage.model_dump())
