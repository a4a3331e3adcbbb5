"""Logging for every prsaga process: text or JSON lines, with context, and never a secret.

`configure_logging` installs one handler on the root logger with two filters:

- `ContextFilter` adds the correlation fields ``delivery_id``, ``workflow_id``, ``repository``
  and ``pr_number`` when they are known: from the record's ``extra``, from `log_context` (a
  context variable: the webhook server sets it per delivery), or from the details Temporal's
  ``workflow.logger`` / ``activity.logger`` attach (``temporal_workflow`` /
  ``temporal_activity``: workflow id, run id, type, attempt...). A ``pr-OWNER/REPO-N`` workflow
  id also gives the repository and pull request number.
- `SecretScrubber` replaces every configured secret (and anything shaped like a GitHub token, an
  Anthropic key, a JWT or a PEM private key) by ``****`` in the message, its arguments, the
  exception text and the extra fields. Secrets are ``SecretStr`` and never logged on purpose;
  this is the second line of defence, for the message that does it by mistake.

In JSON mode each record is one object per line: ``ts``, ``level``, ``logger``, ``message``, the
context fields, any other ``extra`` fields that are not ``None``, and ``exc_info`` for
exceptions.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TextIO

import temporalio.activity
import temporalio.workflow

from prsaga.runtime.config import Settings

REDACTED = "****"
CONTEXT_FIELDS = ("delivery_id", "workflow_id", "repository", "pr_number")
MIN_SECRET_LENGTH = 6
"""Shorter configured values are not scrubbed: replacing every ``abc`` would wreck the logs, and
such a value is no secret anyway."""

# Temporal's logger details, renamed where the activity's differ from the workflow's.
_TEMPORAL_DETAILS = {
    "workflow_id": "workflow_id",
    "run_id": "run_id",
    "workflow_run_id": "run_id",
    "workflow_type": "workflow_type",
    "activity_id": "activity_id",
    "activity_type": "activity_type",
    "attempt": "attempt",
    "namespace": "namespace",
    "task_queue": "task_queue",
    "update_id": "update_id",
    "update_name": "update_name",
}
# Extras JSON lines leave out: Temporal's raw details (mapped to fields instead), and
# uvicorn's ANSI-coloured copy of the message.
_OMITTED_EXTRAS = frozenset(
    {"temporal_workflow", "temporal_activity", "temporal_log", "color_message"}
)
_PR_WORKFLOW_ID = re.compile(r"^pr-(?P<repository>[^/]+/[^/]+)-(?P<number>[0-9]+)$")
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)
# Secrets prsaga may hold without them being configured: installation tokens, App JWTs.
_SECRET_PATTERNS = (
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
    r"\bgh[pousr]_[A-Za-z0-9]{20,}",
    r"\bgithub_pat_[A-Za-z0-9_]{20,}",
    r"\bsk-ant-[A-Za-z0-9_-]{10,}",
    r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+",
)

_context: ContextVar[Mapping[str, object]] = ContextVar(
    "prsaga_log_context", default=MappingProxyType({})
)


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add ``fields`` (e.g. ``delivery_id``) to every record logged in this block, by this task
    or thread; `update_log_context` adds more inside it."""
    token = _context.set({**_context.get(), **_known(fields)})
    try:
        yield
    finally:
        _context.reset(token)


def update_log_context(**fields: object) -> None:
    """Add fields to the current `log_context` block (they end with it)."""
    _context.set({**_context.get(), **_known(fields)})


def current_log_context() -> Mapping[str, object]:
    """The fields `log_context` has set here."""
    return _context.get()


def _known(fields: Mapping[str, object]) -> dict[str, object]:
    return {key: value for key, value in fields.items() if value is not None}


class ContextFilter(logging.Filter):
    """Adds the correlation fields (see the module docstring) to each record; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = dict(_temporal_fields(record))
        fields.update(_context.get())
        workflow_id = getattr(record, "workflow_id", None) or fields.get("workflow_id")
        match = _PR_WORKFLOW_ID.match(workflow_id) if isinstance(workflow_id, str) else None
        if match:
            fields.setdefault("repository", match["repository"])
            fields.setdefault("pr_number", int(match["number"]))
        for key, value in fields.items():
            # A field passed in the call's ``extra`` wins.
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        return True


def _temporal_fields(record: logging.LogRecord) -> Iterator[tuple[str, object]]:
    for extra in ("temporal_workflow", "temporal_activity"):
        details = getattr(record, extra, None)
        if isinstance(details, Mapping):
            for key, value in details.items():
                if key in _TEMPORAL_DETAILS:
                    yield _TEMPORAL_DETAILS[key], value


class SecretScrubber(logging.Filter):
    """Replaces ``secrets`` and secret-shaped strings by ``****`` in every part of a record."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        values = sorted(
            {value for value in secrets if len(value) >= MIN_SECRET_LENGTH}, key=len, reverse=True
        )
        self._pattern = re.compile(
            "|".join([*(re.escape(value) for value in values), *_SECRET_PATTERNS]), re.DOTALL
        )

    def scrub(self, text: str) -> str:
        """``text`` with every secret replaced."""
        return self._pattern.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: log what was given rather than nothing
            message = f"{record.msg} {record.args}"
        record.msg, record.args = self.scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Formatters reuse exc_text when it is set, so the traceback is printed scrubbed.
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRIBUTES:
                setattr(record, key, self._scrub_value(value))
        return True

    def _scrub_value(self, value: object) -> object:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, Mapping):
            return {key: self._scrub_value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._scrub_value(item) for item in value]
        return value


def secret_values(settings: Settings) -> list[str]:
    """Every secret ``settings`` holds: webhook secret, GitHub token, model providers' keys and
    the GitHub App private key (whole, and each line of it, as a traceback may show a part)."""
    values = [
        secret.get_secret_value()
        for secret in (
            settings.webhook_secret,
            settings.github_token,
            settings.anthropic_api_key,
            settings.temporal_api_key,
            settings.github_app_private_key,
            settings.bedrock_api_key,
            settings.bedrock_secret_access_key,
            settings.bedrock_session_token,
            settings.vertex_access_token,
            settings.openai_api_key,
            settings.azure_openai_api_key,
        )
        if secret is not None
    ]
    if settings.github_app_private_key_path is not None:
        try:
            values.append(settings.github_app_private_key_path.read_text())
        except OSError:
            pass  # the GitHub client reports an unreadable key; the logs have nothing to hide
    pem_lines = [
        line.strip()
        for value in values
        if "PRIVATE KEY-----" in value
        for line in value.splitlines()
        if "-----" not in line
    ]
    return [value.strip() for value in values] + pem_lines


class TextFormatter(logging.Formatter):
    """``time level logger message [context fields]``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        context = " ".join(
            f"{key}={value}"
            for key in CONTEXT_FIELDS
            if (value := getattr(record, key, None)) is not None
        )
        line = super().formatMessage(record)
        return f"{line} [{context}]" if context else line


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring); `ContextFilter` supplies the
    context fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_FIELDS:
            if (value := getattr(record, key, None)) is not None:
                entry[key] = value
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and key not in _OMITTED_EXTRAS and value is not None:
                entry.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Log to ``stream`` (stderr) at ``settings.log_level`` in ``settings.log_format``, with
    context fields and secrets scrubbed; returns the installed handler.

    Like ``logging.basicConfig(force=True)``, it replaces the root logger's handlers: a handler
    left from an earlier configuration would print records unscrubbed.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.addFilter(SecretScrubber(secret_values(settings)))
    json_lines = settings.log_format == "json"
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # JSON lines carry Temporal's details as fields; appending them to the message too would
    # only repeat them.
    temporalio.workflow.logger.workflow_info_on_message = not json_lines
    temporalio.activity.logger.activity_info_on_message = not json_lines
    return handler
