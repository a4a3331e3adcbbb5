"""The head code around a change: the enclosing function or class of a line, bounded.

A model sees a hunk with three lines of context; whether ``return user.name`` can fail depends on
the function it is in. :func:`enclosing_range` finds that function (Python: from its syntax tree;
other languages: the nearest less-indented line that opens a function, class or block) and
bounds it to ``max_lines`` around the line. :func:`render_scopes` lays out the enclosing scopes of
a chunk's hunks for the prompt, and :func:`render_window` the code around one finding for the
verifier. Pure: the head files' text is given.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from functools import lru_cache
from pathlib import PurePosixPath

from prsaga.review.diff import DiffFile
from prsaga.review.redact import redact

_DEFINITION = re.compile(
    r"^\s*(?:(?:export|default|public|private|protected|internal|static|final|abstract|async|"
    r"override|open|pub(?:\([^)]*\))?|unsafe|inline|virtual|def|fun|func|fn|function|class|"
    r"interface|struct|enum|impl|trait|module|object|record|sub|void|[\w<>\[\],.?]+)\s+)*"
    r"(?:def|fun|func|fn|function|class|interface|struct|enum|impl|trait|module|object|record|"
    r"sub|[\w<>\[\],.?]+\s+\w+\s*\(|\w+\s*\()"
)
_BLOCK_OPENER = re.compile(r"[{:]\s*(?://.*|#.*)?$|\bdo\s*(?:\|[^|]*\|)?\s*$|\)\s*$")
_CLOSER = re.compile(r"^\s*(?:[}\])]|end\b)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


@lru_cache(maxsize=64)
def _python_scopes(text: str) -> tuple[tuple[int, int], ...]:
    """(first, last) line of every function and class of a Python file; empty when it does not
    parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return ()
    return tuple(
        (
            min([node.lineno, *(d.lineno for d in node.decorator_list)]),
            node.end_lineno or node.lineno,
        )
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    )


def _scope_by_indentation(lines: Sequence[str], index: int) -> tuple[int, int] | None:
    """0-based (first, last) of the block around ``lines[index]``, by indentation."""
    target = lines[index]
    level = _indent(target) if target.strip() else None
    for start in range(index - (0 if level is None else 1), -1, -1):
        header = lines[start]
        if not header.strip():
            continue
        indent = _indent(header)
        if level is not None and indent >= level:
            continue
        if _DEFINITION.match(header) and _BLOCK_OPENER.search(header.rstrip()):
            end = start
            for end in range(start + 1, len(lines)):
                line = lines[end]
                if line.strip() and _indent(line) <= indent:
                    if not _CLOSER.match(line):
                        end -= 1
                    break
            return start, end
        level = indent if level is None else min(level, indent)
    return None


def enclosing_range(text: str, path: str, line: int, max_lines: int) -> tuple[int, int]:
    """1-based (first, last) lines of the innermost function or class around ``line`` in the
    file ``text``, cut to ``max_lines`` centred on ``line``; a window of ``max_lines`` when no
    enclosing scope is found."""
    lines = text.split("\n")
    line = min(max(line, 1), len(lines))
    scope: tuple[int, int] | None = None
    if PurePosixPath(path).suffix in (".py", ".pyi"):
        around = [(a, b) for a, b in _python_scopes(text) if a <= line <= b]
        if around:
            scope = max(around)  # the innermost starts last
    else:
        found = _scope_by_indentation(lines, line - 1)
        if found is not None:
            scope = (found[0] + 1, found[1] + 1)
    first, last = scope or (1, len(lines))
    if last - first + 1 > max_lines:
        half = max_lines // 2
        first = max(first, line - half)
        last = min(last, first + max_lines - 1)
        first = max(1 if scope is None else scope[0], last - max_lines + 1)
    return first, last


def _numbered(
    lines: Sequence[str], first: int, last: int, added: AbstractSet[int] = frozenset()
) -> str:
    width = len(str(last))
    return "\n".join(
        f"{number:>{width}} {'+' if number in added else ' '} {redact(lines[number - 1])}"
        for number in range(first, last + 1)
    )


def render_window(
    text: str, path: str, line: int, max_lines: int, added: AbstractSet[int] = frozenset()
) -> str:
    """The numbered head code around ``line`` (its enclosing scope, bounded), secrets masked;
    ``added`` lines (new-file numbers) are marked ``+``."""
    first, last = enclosing_range(text, path, line, max_lines)
    return f"file: {json.dumps(path)} lines {first}-{last}\n" + _numbered(
        text.split("\n"), first, last, added
    )


def render_scopes(
    files: Sequence[DiffFile], heads: Mapping[str, str], max_lines_per_hunk: int
) -> str:
    """The enclosing function or class of each hunk of ``files``, from their head text
    (``heads``: path -> text), bounded to ``max_lines_per_hunk`` lines each; overlapping scopes
    of one file are shown once. Empty when there is nothing to add to the diff."""
    if max_lines_per_hunk <= 0:
        return ""
    parts: list[str] = []
    for diff_file in files:
        text = heads.get(diff_file.path)
        if text is None:
            continue
        ranges: list[tuple[int, int]] = []
        for hunk in diff_file.hunks:
            anchor = hunk.new_start + max(0, hunk.new_count - 1) // 2
            first, last = enclosing_range(text, diff_file.path, anchor, max_lines_per_hunk)
            inside_hunk = hunk.new_start <= first and last < hunk.new_start + hunk.new_count
            if not inside_hunk:
                ranges.append((first, last))
        lines = text.split("\n")
        added = diff_file.added_lines()
        for first, last in _merged(ranges):
            parts.append(
                f"file: {json.dumps(diff_file.path)} lines {first}-{last}\n"
                + _numbered(lines, first, last, added)
            )
    return "\n".join(parts)


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged
