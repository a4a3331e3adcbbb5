"""Loader for the review-quality corpus of real, merged pull requests.

Each JSON file under ``corpus/`` describes one pull request in the shape GitHub serves
(``pulls/{n}/files`` items) plus the text of every changed file at base and head, so the
benchmark can run reviewers offline. See ``corpus/PROVENANCE.md`` for where the data came from.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"

_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class CorpusFile(BaseModel):
    """One item of GitHub's ``GET /repos/{o}/{r}/pulls/{n}/files`` answer."""

    model_config = ConfigDict(extra="allow")

    sha: str
    filename: str
    status: str
    additions: int = 0
    deletions: int = 0
    changes: int = 0
    patch: str | None = None
    previous_filename: str | None = None


class CorpusPullRequest(BaseModel):
    """A merged pull request vendored as benchmark data, with provenance and licence."""

    model_config = ConfigDict(extra="allow")

    repo: str
    number: int
    title: str
    url: str
    base_sha: str
    head_sha: str
    merge_sha: str | None = None
    author: str
    merged_at: str
    licence: str
    tags: list[str] = Field(default_factory=list)
    files: list[CorpusFile]
    base_contents: dict[str, str] = Field(default_factory=dict)
    head_contents: dict[str, str] = Field(default_factory=dict)
    binary_files: list[str] = Field(default_factory=list)
    config_files: dict[str, str] = Field(default_factory=dict)
    contents_omitted: list[str] = Field(default_factory=list)

    @property
    def key(self) -> str:
        """Stable identifier, e.g. ``pallets/click#3739``."""
        return f"{self.repo}#{self.number}"


def load_corpus(path: Path | None = None) -> list[CorpusPullRequest]:
    """Load every ``*.json`` pull request in ``path`` (default: the vendored corpus).

    Sorted by file name so benchmark runs are reproducible.
    """
    directory = path or CORPUS_DIR
    return [
        CorpusPullRequest.model_validate(json.loads(file.read_text(encoding="utf-8")))
        for file in sorted(directory.glob("*.json"))
    ]


def split_lines(text: str) -> list[str]:
    """Split on ``\\n`` only, keeping terminators.

    ``str.splitlines`` would also split on ``\\r``, form feeds and Unicode separators,
    which git does not treat as line ends.
    """
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def apply_patch(base_text: str | None, patch: str) -> str:
    """Apply a GitHub-style, hunk-only unified diff to ``base_text`` and return the result.

    GitHub's ``patch`` field has no file headers and no trailing newline; ``\\ No newline at
    end of file`` markers refer to the line before them. ``base_text`` is ``None`` for added
    files. Context and removed lines are checked against the base, so a mismatch raises
    ``ValueError``: this is what makes it useful as an integrity check of the corpus.
    """
    old = split_lines(base_text or "")
    out: list[str] = []
    pos = 0  # index into ``old`` of the next line not yet consumed
    # What the last patch line touched, for "\ No newline" markers: "old", "new" or "both".
    last: str | None = None
    in_hunk = False

    def strip_newline(line: str) -> str:
        return line[:-1] if line.endswith("\n") else line

    for raw in patch.split("\n"):
        header = _HUNK_HEADER.match(raw)
        if header:
            start, count = int(header.group(1)), header.group(2)
            # With a zero-length old range, git names the line *after which* to insert.
            target = start if count == "0" else start - 1
            if target < pos or target > len(old):
                raise ValueError(f"hunk {raw!r} out of order or beyond the base text")
            out.extend(old[pos:target])
            pos, in_hunk, last = target, True, None
            continue
        if not in_hunk:
            raise ValueError(f"patch text before the first hunk: {raw!r}")
        if raw.startswith("\\"):
            if last in ("new", "both") and out:
                out[-1] = strip_newline(out[-1])
            continue
        tag, body = (raw[0], raw[1:]) if raw else (" ", "")
        if tag == "+":
            out.append(body + "\n")
            last = "new"
            continue
        if tag not in (" ", "-"):
            raise ValueError(f"unexpected patch line: {raw!r}")
        if pos >= len(old) or strip_newline(old[pos]) != body:
            raise ValueError(f"patch does not match the base text at line {pos + 1}: {raw!r}")
        if tag == " ":
            out.append(old[pos])
            last = "both"
        else:
            last = "old"
        pos += 1
    out.extend(old[pos:])
    return "".join(out)
