"""Masking secrets in text before it reaches a model's prompt or a GitHub comment.

A pull request may add a real token. prsaga reports *that* it did (the offline reviewer's
detect-secrets finding) but never repeats the value: diffs are masked before they are put in a
prompt, and every comment is masked before it is posted. A masked value keeps a short prefix so
that people can tell which value is meant (``ghp_ab****``).

Detection combines:

* regular expressions for common token formats (GitHub, AWS, Anthropic, OpenAI, Slack, Stripe,
  Google, GitLab, npm, PyPI, JWTs, bearer tokens, ``*_TOKEN=...`` style assignments) and the
  bodies of PEM private-key blocks;
* detect-secrets' own plugins, in-process: its regex plugins, its high-entropy string plugins
  (default limits, strings of 20 characters or more) and its keyword plugin, with detect-secrets'
  default false-positive filters. Plugins are called directly, never through ``scan_line``: that
  path may *verify* a candidate against a third-party API, and it reconfigures detect-secrets'
  global settings, which threads share.

Speed: the patterns only run on the lines that can hold a match (a long run of token characters
with a digit in it; a secret keyword), found with one cheap scan; a 100k-line diff takes well
under a second.

A value found by a precise detector is masked wherever it occurs in the text. Masking never adds
or removes a line, so line numbers in a masked diff stay right, and masking twice changes nothing.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from detect_secrets.filters import heuristic
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.high_entropy_strings import HighEntropyStringsPlugin
from detect_secrets.plugins.keyword import (
    CONFIG_DENYLIST_REGEX_TO_GROUP,
    QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP,
)

__all__ = ["MASK", "redact"]

MASK = "****"

_MAX_PASSES = 3
_MIN_GLOBAL = 8
"""Values at least this long are masked wherever they occur, not only where they were found."""
_MIN_ENTROPY_LENGTH = 20
"""High-entropy strings shorter than this are left alone: short quoted hex and base64 strings
are mostly ids, colours and numbers, and real keys are longer."""
# Plugins that are not about secrets (public IPs), that only flag a private key's header line
# (the key's body is masked by the block rule), or that are run separately.
_SEPARATE_PLUGINS = frozenset({"IPPublicDetector", "PrivateKeyDetector", "KeywordDetector"})


@dataclass(frozen=True)
class _Token:
    pattern: re.Pattern[str]
    keep: int
    """Characters of the value left visible (its well-known prefix and a little more)."""


def _token(pattern: str, keep: int) -> _Token:
    return _Token(re.compile(pattern), keep)


# Group 1 is the value. Each pattern starts with a literal where it can, which lets the regex
# engine skip ahead quickly; the word boundary before a match is checked in code instead.
_TOKENS = (
    _token(r"(gh[pousr]_[A-Za-z0-9]{36,255})(?![A-Za-z0-9])", 6),
    _token(r"(github_pat_[A-Za-z0-9_]{22,255})", 13),
    _token(r"((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})(?![A-Za-z0-9])", 6),
    _token(
        r"(?:aws|AWS)_?(?:secret|SECRET)_?(?:access|ACCESS)_?(?:key|KEY)\W{0,5}[:=]\W{0,3}"
        r"([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
        2,
    ),
    _token(r"(sk-ant-[A-Za-z0-9]{2,12}-[A-Za-z0-9_-]{20,})", 9),
    _token(r"(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,})", 5),
    _token(r"(xox[abposr]-[A-Za-z0-9-]{10,})", 7),
    _token(r"hooks\.slack\.com/services/(T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+)", 0),
    _token(r"([rs]k_(?:live|test)_[A-Za-z0-9]{16,})", 10),
    _token(r"(AIza[0-9A-Za-z_-]{35})", 6),
    _token(r"(gl(?:pat|dt|rt|ptt|oas)-[A-Za-z0-9_-]{20,})", 8),
    _token(r"(npm_[A-Za-z0-9]{36})(?![A-Za-z0-9])", 6),
    _token(r"(pypi-[A-Za-z0-9_-]{50,})", 7),
    _token(r"(eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})", 5),
    _token(r"(?:[Bb]earer|BEARER)\s+([A-Za-z0-9._~+/-]{20,}=*)", 2),
    _token(
        r"(?:[Aa]uthorization|AUTHORIZATION)\W{1,4}(?:[Bb]asic|[Tt]oken|BASIC|TOKEN)\s+"
        r"([A-Za-z0-9._~+/-]{16,}=*)",
        2,
    ),
    # NAME_TOKEN=value, SECRET_KEY: value (.env, YAML, shell); see _looks_secret.
    _token(
        r"(?:SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY)[A-Z0-9_]*"
        r"\s*[:=]\s*['\"]?([A-Za-z0-9+/=_.~-]{8,})",
        2,
    ),
)
_ASSIGNMENT = _TOKENS[-1]
_MAX_KEEP = max(token.keep for token in _TOKENS)
"""The longest prefix a mask keeps."""
_PEM_BEGIN = re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
# A line of a key's body: base64 (or a header such as "Proc-Type: ..."), maybe with a diff prefix,
# quotes, a "\n" escape and a trailing comma or "+" (a key written as a string in code).
_PEM_BODY_LINE = re.compile(
    r"[+\- ]?\s*[\"'`]?(?:[A-Za-z0-9+/=]+|(?:Proc-Type|DEK-Info|Comment):[^\n]*)?(?:\\n)?"
    r"[\"'`]?\s*[,+]?\s*"
)
_PEM_MAX_LINES = 200
# Not from a "+": that is the diff's own prefix on an added line of the key.
_BASE64_RUN = re.compile(r"[A-Za-z0-9/][A-Za-z0-9+/=]{7,}")
# Every token format above, and every detect-secrets regex plugin but the keyword-bound ones and
# URL credentials, needs a run of at least 16 token characters with a digit in it.
_TOKEN_RUN = re.compile(r"[A-Za-z0-9_\-+/=.~]{16,}")
_DIGIT = re.compile(r"[0-9]")
# detect-secrets' keyword list (api_key, password, secret...) all contain one of these.
_KEYWORD_HINTS = ("pass", "pwd", "secret", "key", "token", "contras")
# A line that assigns at its start (YAML, INI, .env, properties): unquoted values count there.
_CONFIG_LINE = re.compile(r"[+\- ]?\s*[\w.\-\"']+\s*[:=]")
_REFERENCE = re.compile(r"[A-Za-z_][A-Za-z_.]*")
_TRIM = " \t\r\n=:\"'`"


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    keep: int


def redact(text: str) -> str:
    """``text`` with every secret it recognises masked (see the module's docstring)."""
    masked = _redact_once(text)
    # Masking a value can uncover another on the same line (a keyword pattern that swallowed
    # the rest of the line now stops at the mask): rescan the lines that changed until nothing
    # does, so that masking twice changes nothing.
    for _ in range(_MAX_PASSES):
        if masked == text:
            break
        before, after = text.split("\n"), masked.split("\n")
        changed = [i for i, (old, new) in enumerate(zip(before, after, strict=True)) if old != new]
        rescanned = _redact_once("\n".join(after[i] for i in changed)).split("\n")
        for index, line in zip(changed, rescanned, strict=True):
            after[index] = line
        text, masked = masked, "\n".join(after)
    return masked


def _redact_once(text: str) -> str:
    if not text:
        return text
    # A private key's body is masked whole; other detectors' matches in it would keep a prefix.
    spans = list(_private_key_spans(text))
    in_key = _Intervals(spans)
    values: dict[str, int] = {}
    for span, precise in _find(text):
        if in_key.holds(span.start):
            continue
        value = text[span.start : span.end]
        if MASK in value or (len(value) <= _MAX_KEEP and text.startswith(MASK, span.end)):
            continue  # already masked, or the prefix a mask keeps
        spans.append(span)
        if precise and len(value) >= _MIN_GLOBAL:
            values[value] = max(values.get(value, 0), span.keep)
    for value, keep in values.items():
        start = text.find(value)
        while start != -1:
            spans.append(_Span(start, start + len(value), keep))
            start = text.find(value, start + len(value))
    return _apply(text, spans)


def _find(text: str) -> Iterator[tuple[_Span, bool]]:
    """Secret values, each with whether its detector is precise enough for the value to be
    masked wherever else it occurs (a keyword's value may be a common word)."""
    tokens = _Lines.of(text, _token_run_starts(text))
    for span in _token_spans(tokens.text):
        yield tokens.to_original(span), True
    keywords = _Lines.of(text, _keyword_starts(text))
    for span in _plugin_spans(keywords.text, _keyword_patterns()):
        yield keywords.to_original(span), True
    for span in _keyword_spans(keywords.text):
        yield keywords.to_original(span), False


def _private_key_spans(text: str) -> Iterator[_Span]:
    """The base64 runs of PEM private keys' bodies, each masked on its own (lines are kept).

    A body ends at its END line, or at the first line that is not base64 (a key cut by the end
    of a hunk), so code after it is never masked.
    """
    for begin in _PEM_BEGIN.finditer(text):
        line_end = _line_end(text, begin.end())
        same_line_end = _PEM_END.search(text, begin.end(), line_end)
        # A key written on one line ("-----BEGIN ...-----\nMIIE...\n-----END ...-----").
        body_end = same_line_end.start() if same_line_end is not None else line_end
        yield from _base64_runs(text, begin.end(), body_end)
        if same_line_end is not None:
            continue
        start = line_end + 1
        for _ in range(_PEM_MAX_LINES):
            if start >= len(text):
                break
            end = _line_end(text, start)
            if (found := _PEM_END.search(text, start, end)) is not None:
                yield from _base64_runs(text, start, found.start())
                break
            if _PEM_BODY_LINE.fullmatch(text, start, end) is None:
                break
            yield from _base64_runs(text, start, end)
            start = end + 1


class _Intervals:
    """Sorted, disjoint spans, and whether a position falls in one."""

    def __init__(self, spans: list[_Span]) -> None:
        self._starts = [span.start for span in spans]
        self._ends = [span.end for span in spans]

    def holds(self, position: int) -> bool:
        index = bisect_right(self._starts, position) - 1
        return index >= 0 and position < self._ends[index]


def _base64_runs(text: str, start: int, end: int) -> Iterator[_Span]:
    for run in _BASE64_RUN.finditer(text, start, end):
        yield _Span(run.start(), run.end(), 0)


def _line_end(text: str, index: int) -> int:
    end = text.find("\n", index)
    return len(text) if end == -1 else end


def _token_spans(text: str) -> Iterator[_Span]:
    for token in _TOKENS:
        for match in token.pattern.finditer(text):
            if text[match.start() - 1 : match.start()].isalnum() or text.endswith(
                MASK, 0, match.start()
            ):
                continue  # inside a longer word (a mask counts as one: masking is idempotent)
            if "\n" in match.group():
                continue  # across two of the joined lines
            keep = token.keep
            if token is _ASSIGNMENT:
                if not _looks_secret(match.group(1)):
                    continue
                keep = _generic_keep(match.group(1))
            yield _Span(match.start(1), match.end(1), keep)
    yield from _plugin_spans(text, _token_patterns())
    for entropy in _entropy_plugins():
        for match in entropy.regex.finditer(text):
            value = match.group(2)
            if (
                len(value) >= _MIN_ENTROPY_LENGTH
                and entropy.calculate_shannon_entropy(value) > entropy.entropy_limit
                and not _filtered(value, _line_at(text, match.start()))
            ):
                yield _Span(match.start(2), match.end(2), _generic_keep(value))


def _plugin_spans(text: str, patterns: Iterable[re.Pattern[str]]) -> Iterator[_Span]:
    for pattern in patterns:
        for match in pattern.finditer(text):
            if "\n" in match.group():
                continue  # across two of the joined lines
            groups = [g for g in range(1, pattern.groups + 1) if match.group(g)]
            for group in groups or [0]:
                span = _trimmed(text, match.start(group), match.end(group))
                if span is not None:
                    yield span


def _keyword_spans(text: str) -> Iterator[_Span]:
    """detect-secrets' keyword patterns: quoted values anywhere, unquoted ones on config lines.

    The patterns run on each line on its own, as detect-secrets runs them (their values may
    span anything but quotes, newlines included), but with ``finditer``, which also finds a
    second secret on a line where the plugin's own ``analyze_string`` stops at the first.
    """
    denylists = (
        (QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP, True),
        (CONFIG_DENYLIST_REGEX_TO_GROUP, False),
    )
    line_start = 0
    for line in text.split("\n"):
        for denylist, quoted in denylists:
            for pattern, group in denylist.items():
                for match in pattern.finditer(line):
                    value = match.group(group)
                    if not quoted and not _plain_secret(value, line):
                        continue
                    if _filtered(value, line) or heuristic.is_indirect_reference(line):
                        continue
                    span = _trimmed(
                        text,
                        line_start + match.start(group),
                        line_start + match.end(group),
                        minimum=1,
                    )
                    if span is not None:
                        yield span
        line_start += len(line) + 1


def _plain_secret(value: str, line: str) -> bool:
    """An unquoted keyword value counts on a config-style line, when it is one word and not a
    name (``password: hunter2`` yes; ``password: str | None`` or ``key: other_key`` no)."""
    return (
        _CONFIG_LINE.match(line) is not None
        and not any(c.isspace() for c in value)
        and _REFERENCE.fullmatch(value.strip(_TRIM)) is None
    )


def _filtered(value: str, line: str) -> bool:
    """detect-secrets' default filters for values that only look like secrets."""
    return (
        heuristic.is_templated_secret(value)
        or heuristic.is_prefixed_with_dollar_sign(value)
        or heuristic.is_sequential_string(value)
        or heuristic.is_potential_uuid(value)
        or heuristic.is_not_alphanumeric_string(value)
        or heuristic.is_likely_id_string(value, line)
    )


def _looks_secret(value: str) -> bool:
    """An assigned value is a secret when it mixes letters and digits (not a name or a path)."""
    return (
        any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
        and not _filtered(value, "")
    )


def _line_at(text: str, index: int) -> str:
    start = text.rfind("\n", 0, index) + 1
    end = text.find("\n", index)
    return text[start : len(text) if end == -1 else end]


def _trimmed(text: str, start: int, end: int, minimum: int = 4) -> _Span | None:
    # Some detect-secrets patterns include the delimiters around the value (a quote, a space).
    while start < end and text[start] in _TRIM:
        start += 1
    while end > start and text[end - 1] in _TRIM:
        end -= 1
    if end - start < minimum:
        return None
    return _Span(start, end, _generic_keep(text[start:end]))


def _generic_keep(value: str) -> int:
    return 2 if len(value) >= 16 else 0


def _apply(text: str, spans: list[_Span]) -> str:
    if not spans:
        return text
    out: list[str] = []
    position = 0
    for span in _merge(spans):
        value = text[span.start : span.end]
        # Never reveal more than a third of a value, whatever its prefix.
        keep = min(span.keep, len(value) // 3)
        out += [text[position : span.start], value[:keep], MASK]
        position = span.end
    out.append(text[position:])
    return "".join(out)


def _merge(spans: list[_Span]) -> list[_Span]:
    """Overlapping spans as one (keeping the prefix length of the first), in order."""
    ordered = sorted(spans, key=lambda s: (s.start, -s.keep, -s.end))
    merged = [ordered[0]]
    for span in ordered[1:]:
        last = merged[-1]
        if span.start < last.end:
            merged[-1] = _Span(last.start, max(last.end, span.end), last.keep)
        else:
            merged.append(span)
    return merged


# --- candidate lines ---------------------------------------------------------------------------


def _token_run_starts(text: str) -> Iterator[int]:
    for run in _TOKEN_RUN.finditer(text):
        if _DIGIT.search(run.group()):
            yield run.start()
    # URLs, for credentials in them (https://user:password@host).
    start = text.find("://")
    while start != -1:
        yield start
        start = text.find("://", start + 3)


def _keyword_starts(text: str) -> Iterator[int]:
    # str.find is an order of magnitude faster than a case-insensitive regex; the three usual
    # spellings of a name (password, Password, PASSWORD) are enough.
    for hint in _KEYWORD_HINTS:
        for spelling in (hint, hint.capitalize(), hint.upper()):
            start = text.find(spelling)
            while start != -1:
                yield start
                start = text.find(spelling, start + len(spelling))


@dataclass(frozen=True)
class _Lines:
    """Some lines of a text joined by newlines, and where each came from."""

    text: str
    starts: list[int]
    """Offset of each line in ``text``."""
    origins: list[int]
    """Offset of the same line in the original text."""

    @classmethod
    def of(cls, text: str, positions: Iterable[int]) -> _Lines:
        """The lines of ``text`` that hold any of ``positions``, in order."""
        line_starts: set[int] = set()
        for position in positions:
            line_starts.add(text.rfind("\n", 0, position) + 1)
        pieces: list[str] = []
        starts: list[int] = []
        origins: list[int] = []
        length = 0
        for origin in sorted(line_starts):
            end = text.find("\n", origin)
            piece = text[origin : len(text) if end == -1 else end]
            starts.append(length)
            origins.append(origin)
            pieces.append(piece)
            length += len(piece) + 1
        return cls("\n".join(pieces), starts, origins)

    def to_original(self, span: _Span) -> _Span:
        index = bisect_right(self.starts, span.start) - 1
        shift = self.origins[index] - self.starts[index]
        return _Span(span.start + shift, span.end + shift, span.keep)


# --- detect-secrets plugins (built once; they hold only compiled patterns and limits) ----------


@lru_cache(maxsize=1)
def _plugin_classes() -> tuple[type[Any], ...]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    return tuple(get_mapping_from_secret_type_to_class().values())


@lru_cache(maxsize=1)
def _regex_plugins() -> tuple[RegexBasedDetector, ...]:
    return tuple(
        cls()
        for cls in _plugin_classes()
        if issubclass(cls, RegexBasedDetector) and cls.__name__ not in _SEPARATE_PLUGINS
    )


def _needs_keyword(pattern: re.Pattern[str]) -> bool:
    """Patterns such as ``cloudant_api_key = ...`` only match on a line with a secret keyword,
    so they only run on those lines (far fewer than the lines with a token-like run)."""
    source = pattern.pattern.lower()
    return "key" in source and any(word in source for word in ("pwd", "pass", "secret"))


@lru_cache(maxsize=1)
def _token_patterns() -> tuple[re.Pattern[str], ...]:
    return tuple(p for plugin in _regex_plugins() for p in plugin.denylist if not _needs_keyword(p))


@lru_cache(maxsize=1)
def _keyword_patterns() -> tuple[re.Pattern[str], ...]:
    return tuple(p for plugin in _regex_plugins() for p in plugin.denylist if _needs_keyword(p))


@lru_cache(maxsize=1)
def _entropy_plugins() -> tuple[HighEntropyStringsPlugin, ...]:
    # Their default limits (base64 4.5, hex 3.0): the ones `detect-secrets scan` uses.
    return tuple(
        cls()  # type: ignore[call-arg]  # the subclasses have defaults for charset and limit
        for cls in _plugin_classes()
        if issubclass(cls, HighEntropyStringsPlugin)
    )
