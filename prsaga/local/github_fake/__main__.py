"""Run the local GitHub server: ``python -m prsaga.local.github_fake --port 8765 --seed demo``.

The token is read from the environment variable named by ``--token-env`` (never from the
command line, where ``ps`` and shell history would show it). A GitHub App can be registered too,
by its public key (``--app-id 1 --app-public-key app.pub.pem --installation 7=psf/requests``),
so that prsaga can run with App credentials against it; then the token is optional.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import uvicorn

from prsaga.local.demo import load_demo_pull_request
from prsaga.local.github_fake import DEFAULT_BOT_LOGIN, FakeGitHub

logger = logging.getLogger("prsaga.local.github_fake")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m prsaga.local.github_fake",
        description="A local GitHub-compatible REST server.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--token-env",
        default="PRSAGA_GITHUB_TOKEN",
        help="environment variable holding the one token the server accepts",
    )
    parser.add_argument("--seed", choices=["demo", "none"], default="none")
    parser.add_argument("--app-id", type=int, help="register a GitHub App with this id")
    parser.add_argument(
        "--app-public-key", type=Path, help="PEM file with the App's RSA public key"
    )
    parser.add_argument(
        "--installation",
        action="append",
        default=[],
        metavar="ID=OWNER/REPO[,OWNER/REPO]",
        help="an installation of the App and its repositories (repeatable)",
    )
    parser.add_argument("--bot-login", default=DEFAULT_BOT_LOGIN)
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def parse_installations(specs: list[str]) -> dict[int, list[str]]:
    """``["7=acme/a,acme/b"]`` as ``{7: ["acme/a", "acme/b"]}``."""
    installations: dict[int, list[str]] = {}
    for spec in specs:
        installation_id, separator, repositories = spec.partition("=")
        if not separator or not installation_id.strip().isdigit():
            raise ValueError(f"an installation is ID=OWNER/REPO[,OWNER/REPO], not {spec!r}")
        installations[int(installation_id)] = [r.strip() for r in repositories.split(",") if r]
    return installations


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    token = os.environ.get(args.token_env) or None
    with_app = args.app_id is not None and args.app_public_key is not None
    if token is None and not with_app:
        logger.error(
            "set %s to the token the server should accept, or register an App",
            args.token_env,
        )
        return 2
    fake = FakeGitHub(token, bot_login=args.bot_login)
    if with_app:
        try:
            installations = parse_installations(args.installation)
            fake.register_app(args.app_id, args.app_public_key.read_bytes(), installations)
        except (OSError, ValueError) as error:
            logger.error("cannot register the App: %s", error)
            return 2
        logger.info("App %d installed as %s", args.app_id, sorted(installations))
    if args.seed == "demo":
        demo = load_demo_pull_request()
        fake.seed_pull_request(demo.pull, demo.files, demo.contents)
        logger.info("seeded %s#%d at %s", demo.full_name, demo.number, demo.head_sha)
    logger.info("GitHub API on http://%s:%d (admin under /_fake/)", args.host, args.port)
    uvicorn.run(fake.app, host=args.host, port=args.port, log_level=args.log_level.lower())
    return 0


if __name__ == "__main__":
    sys.exit(main())
