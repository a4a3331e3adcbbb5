"""``/agent ...`` commands in pull request comments: parsing, who may run them, and the help text.

Pure functions: the webhook server parses, the workflow authorizes (asking GitHub for the
sender's permission through an activity) and acts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import get_args

from prsaga.schema import MAX_COMMAND_ARGUMENT, CommandName, clip

WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})
"""Repository permissions that may steer a review (GitHub's ``permission`` field)."""

PRIVILEGED: frozenset[CommandName] = frozenset({"approve", "reject", "retry", "cancel"})
"""Commands only collaborators with write access may run."""

_KNOWN: frozenset[str] = frozenset(get_args(CommandName)) - {"unknown"}


@dataclass(frozen=True)
class ParsedCommand:
    command: CommandName
    argument: str


def parse_command(body: str, prefix: str = "/agent") -> ParsedCommand | None:
    """The command in a comment, or ``None`` when the comment holds none.

    The command is the first line that starts with ``prefix`` (outside quotes: a quoted line
    ``> /agent approve`` in a reply is someone else's words, not a command). A long argument
    (e.g. a pasted URL) is clipped with a note, which the reply quotes: any comment GitHub can
    deliver becomes a command, none is refused.
    """
    pattern = re.compile(rf"^{re.escape(prefix)}(?:\s+(\S+))?(?:\s+(.*))?$", re.IGNORECASE)
    for raw in body.splitlines():
        match = pattern.match(raw.strip())
        if match is None:
            continue
        word = (match[1] or "").lower()
        rest = (match[2] or "").strip()
        if word in _KNOWN:
            return ParsedCommand(
                command=word,  # type: ignore[arg-type]
                argument=clip(rest, MAX_COMMAND_ARGUMENT),
            )
        unknown = f"{match[1] or ''} {rest}".strip()
        return ParsedCommand(command="unknown", argument=clip(unknown, MAX_COMMAND_ARGUMENT))
    return None


def may_run(command: CommandName, permission: str, *, is_author: bool) -> bool:
    """Whether someone with ``permission`` on the repository may run ``command``.

    Anyone may ask for status or help; a full re-review costs money, so it is for the pull
    request's author and writers; decisions and cancellations are for writers only.
    """
    if command in PRIVILEGED:
        return permission in WRITE_PERMISSIONS
    if command == "review":
        return is_author or permission in WRITE_PERMISSIONS
    return True


def help_text(prefix: str = "/agent") -> str:
    return "\n".join(
        [
            "prsaga understands these commands (one per comment):",
            "",
            f"- `{prefix} review`: review the whole pull request again",
            f"- `{prefix} approve`: let the proposed action (e.g. requesting changes) go ahead",
            f"- `{prefix} reject [reason]`: post the findings as a plain comment instead",
            f"- `{prefix} retry`: retry the last failed review",
            f"- `{prefix} cancel`: stop the review in progress or awaiting approval",
            f"- `{prefix} status`: where the review of this pull request is",
            f"- `{prefix} help`: this message",
            "",
            "`approve`, `reject`, `retry` and `cancel` need write access to the repository.",
        ]
    )
