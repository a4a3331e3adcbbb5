"""Run the local Messages API server: ``python -m prsaga.local.llm_fake --port 8766``.

The key is read from ``$PRSAGA_ANTHROPIC_API_KEY`` or ``$ANTHROPIC_API_KEY`` (never from the
command line, where ``ps`` and shell history would show it).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import uvicorn

from prsaga.local.llm_fake import FakeMessages, Latency

logger = logging.getLogger("prsaga.local.llm_fake")

KEY_VARIABLES = ("PRSAGA_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m prsaga.local.llm_fake",
        description="A local server speaking the Anthropic Messages API, with a pattern-matching "
        "reviewer behind it.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument(
        "--min-cache-tokens",
        type=int,
        default=0,
        help="shortest prompt prefix (tokens) that prompt caching stores",
    )
    parser.add_argument(
        "--latency",
        type=Latency.parse,
        help="answer after a delay in proportion to the tokens: 'default', or terms like "
        "'first=0.6,input=8000,cached=80000,output=60,scale=0.25' (seconds, tokens per second)",
    )
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    key = next((os.environ[name] for name in KEY_VARIABLES if os.environ.get(name)), "")
    if not key:
        logger.error("set %s to the key the server should accept", " or ".join(KEY_VARIABLES))
        return 2
    fake = FakeMessages(key, min_cache_tokens=args.min_cache_tokens, latency=args.latency)
    logger.info("Messages API on http://%s:%d/v1/messages", args.host, args.port)
    uvicorn.run(fake.app, host=args.host, port=args.port, log_level=args.log_level.lower())
    return 0


if __name__ == "__main__":
    sys.exit(main())
