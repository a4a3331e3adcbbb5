"""Run the local GitHub server: ``python -m prsaga.github_fake --port 8765 --seed demo``.

The token is read from the environment variable named by ``--token-env`` (never from the
command line, where ``ps`` and shell history would show it).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import uvicorn

from prsaga.demo import load_demo_pull_request
from prsaga.github_fake import DEFAULT_BOT_LOGIN, FakeGitHub

logger = logging.getLogger("prsaga.github_fake")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m prsaga.github_fake", description="A local GitHub-compatible REST server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--token-env",
        default="PRSAGA_GITHUB_TOKEN",
        help="environment variable holding the one token the server accepts",
    )
    parser.add_argument("--seed", choices=["demo", "none"], default="none")
    parser.add_argument("--bot-login", default=DEFAULT_BOT_LOGIN)
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    token = os.environ.get(args.token_env, "")
    if not token:
        logger.error("set %s to the token the server should accept", args.token_env)
        return 2
    fake = FakeGitHub(token, bot_login=args.bot_login)
    if args.seed == "demo":
        demo = load_demo_pull_request()
        fake.seed_pull_request(demo.pull, demo.files, demo.contents)
        logger.info("seeded %s#%d at %s", demo.full_name, demo.number, demo.head_sha)
    logger.info("GitHub API on http://%s:%d (admin under /_fake/)", args.host, args.port)
    uvicorn.run(fake.app, host=args.host, port=args.port, log_level=args.log_level.lower())
    return 0


if __name__ == "__main__":
    sys.exit(main())
