"""Synthetic pull requests of any size, shaped like GitHub's: realistic Python modules, file
items of ``GET /pulls/{n}/files`` with unified-diff patches, and the contents at both commits.

Deterministic for a given seed, so every run reviews the same code. Most files are added (their
patch is one ``@@ -0,0 +1,N @@`` hunk); the others are modified: whole functions replaced or
inserted in an existing module, with the patch computed by ``difflib`` as git would show it.
"""

from __future__ import annotations

import difflib
import hashlib
import random
from dataclasses import dataclass
from typing import Any

MODIFIED_SHARE = 0.25
"""Share of the files that modify an existing module (the rest are new modules)."""
FILES_PER_DIRECTORY = 25

_NOUNS = (
    "account", "invoice", "session", "payload", "catalog", "ledger", "report", "schedule",
    "profile", "message", "channel", "bucket", "record", "token", "cursor", "window", "policy",
    "metric", "batch", "order", "shipment", "tenant", "quota", "webhook", "archive", "snapshot",
)  # fmt: skip
_VERBS = (
    "load", "parse", "render", "validate", "merge", "apply", "collect", "resolve", "encode",
    "decode", "refresh", "publish", "compute", "filter", "normalize", "summarize", "export",
)  # fmt: skip
_MODULES = ("json", "re", "time", "logging", "itertools", "functools", "hashlib", "pathlib")
_TYPES = ("str", "int", "float", "bool", "list[str]", "dict[str, int]", "bytes")


@dataclass(frozen=True)
class SyntheticPullRequest:
    """What ``FakeGitHub.seed_pull_request`` takes, plus the size it adds up to."""

    pull: dict[str, Any]
    files: list[dict[str, Any]]
    contents: dict[str, str]
    """Every file at the head commit."""
    base_contents: dict[str, str]
    """The modified files at the base commit."""

    @property
    def changed_lines(self) -> int:
        return sum(item["additions"] + item["deletions"] for item in self.files)

    @property
    def head_sha(self) -> str:
        return str(self.pull["head"]["sha"])


def _identifier(rng: random.Random) -> str:
    return f"{rng.choice(_VERBS)}_{rng.choice(_NOUNS)}"


def _function(rng: random.Random) -> list[str]:
    """A typed function with a docstring and a few statements (sometimes a lint finding)."""
    name, arg, other = _identifier(rng), rng.choice(_NOUNS), rng.choice(_NOUNS)
    kind = rng.choice(_TYPES)
    lines = [
        f"def {name}({arg}: {kind}, limit: int = {rng.randint(1, 500)}) -> dict[str, object]:",
        f'    """{name.replace("_", " ").capitalize()} for one {arg}."""',
        "    result: dict[str, object] = {}",
    ]
    for step in range(rng.randint(2, 6)):
        match rng.randrange(6):
            case 0:
                lines += [f"    if {arg} and len(str({arg})) > limit:", "        return result"]
            case 1:
                lines.append(f'    result["{other}_{step}"] = str({arg})[:limit]')
            case 2:
                lines += [
                    f"    for index, item in enumerate(str({arg}).split()):",
                    f'        result[f"{other}_{{index}}"] = item.strip()',
                ]
            case 3:
                lines.append(f'    logger.debug("{name} step {step}: %s", {arg})')
            case 4:  # the kind of thing a reviewer flags
                lines += ["    try:", f"        result['{other}'] = int({arg})"]
                lines += ["    except:", "        pass"]
            case _:
                lines.append(f'    result["count"] = len(result) + {rng.randint(0, 99)}')
    lines += ["    return result", "", ""]
    return lines


def _class(rng: random.Random) -> list[str]:
    noun = rng.choice(_NOUNS)
    name = "".join(part.capitalize() for part in (noun, rng.choice(_NOUNS)))
    return [
        f"class {name}:",
        f'    """Keeps the {noun} state between calls."""',
        "",
        f"    def __init__(self, {noun}: str, retries: int = {rng.randint(1, 9)}) -> None:",
        f"        self.{noun} = {noun}",
        "        self.retries = retries",
        "",
        f"    def {_identifier(rng)}(self) -> str:",
        f'        return f"{{self.{noun}}}:{{self.retries}}"',
        "",
        "",
    ]


def _block(rng: random.Random) -> list[str]:
    return _class(rng) if rng.random() < 0.2 else _function(rng)


def _header(rng: random.Random, module: str) -> list[str]:
    imports = sorted(rng.sample(_MODULES, rng.randint(1, 3)))
    return [
        f'"""{module.replace("_", " ").capitalize()}: helpers of the service."""',
        "",
        "from __future__ import annotations",
        "",
        *(f"import {name}" for name in imports),
        "",
        "logger = logging.getLogger(__name__)" if "logging" in imports else "logger = None",
        "",
        "",
    ]


def python_module(rng: random.Random, lines: int, module: str) -> list[str]:
    """A syntactically valid module of exactly ``lines`` lines (comments pad the end)."""
    text = _header(rng, module)
    while True:
        block = _block(rng)
        if len(text) + len(block) > lines:
            break
        text += block
    text = text[:lines]
    text += [f"# {rng.choice(_NOUNS)} notes {n}" for n in range(lines - len(text))]
    return text


def _as_text(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def added_patch(lines: list[str]) -> str:
    """The patch of a new file, as GitHub serves it (no ``diff --git`` header)."""
    count = "" if len(lines) == 1 else f",{len(lines)}"
    return "\n".join([f"@@ -0,0 +1{count} @@", *(f"+{line}" for line in lines)])


def modified_patch(old: list[str], new: list[str]) -> str:
    """The patch between two versions of a file (three lines of context, like git)."""
    diff = difflib.unified_diff(old, new, n=3, lineterm="")
    return "\n".join(line for line in diff if not line.startswith(("--- ", "+++ ")))


def _modified(rng: random.Random, changed: int, module: str) -> tuple[list[str], list[str]]:
    """(base, head) of a module where about ``changed`` lines were added or removed: a few
    whole blocks replaced, and new blocks inserted."""
    base_blocks = [_header(rng, module)] + [_block(rng) for _ in range(max(3, changed // 12))]
    head_blocks = list(base_blocks)
    removed = 0
    while removed < changed // 4 and len(head_blocks) > 2:
        index = rng.randrange(1, len(head_blocks))
        removed += len(head_blocks.pop(index))
    added = 0
    while added < changed - removed:
        block = _block(rng)
        head_blocks.insert(rng.randrange(1, len(head_blocks) + 1), block)
        added += len(block)
    return sum(base_blocks, []), sum(head_blocks, [])


def _counts(patch: str) -> tuple[int, int]:
    added = removed = 0
    for line in patch.splitlines():
        if line.startswith("+"):
            added += 1
        elif line.startswith("-"):
            removed += 1
    return added, removed


def _sha(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()


def synthetic_pull_request(
    *,
    owner: str,
    repo: str,
    number: int,
    files: int,
    changed_lines: int,
    seed: int = 7,
) -> SyntheticPullRequest:
    """A pull request of ``files`` Python files and about ``changed_lines`` changed lines.

    Raises:
        ValueError: Fewer changed lines than files (every file changes at least one line).
    """
    if files < 1 or changed_lines < files:
        raise ValueError("a synthetic pull request needs at least one changed line per file")
    rng = random.Random(f"{seed}-{files}-{changed_lines}")
    per_file, extra = divmod(changed_lines, files)
    items: list[dict[str, Any]] = []
    contents: dict[str, str] = {}
    base_contents: dict[str, str] = {}
    for index in range(files):
        target = per_file + (1 if index < extra else 0)
        package = f"pkg_{index // FILES_PER_DIRECTORY:03d}"
        module = f"{_identifier(rng)}_{index:04d}"
        path = f"src/service/{package}/{module}.py"
        if rng.random() < MODIFIED_SHARE and target >= 8:
            old, new = _modified(rng, target, module)
            patch = modified_patch(old, new)
            base_contents[path] = _as_text(old)
            status = "modified"
        else:
            new = python_module(rng, target, module)
            patch = added_patch(new)
            status = "added"
        contents[path] = _as_text(new)
        additions, deletions = _counts(patch)
        items.append(
            {
                "filename": path,
                "status": status,
                "additions": additions,
                "deletions": deletions,
                "changes": additions + deletions,
                "patch": patch,
            }
        )
    head_sha = _sha(f"head-{owner}/{repo}-{number}-{seed}-{files}-{changed_lines}")
    pull = {
        "number": number,
        "title": f"Synthetic change of {files} files",
        "body": "Generated by prsaga's benchmark (bench/synthetic.py).",
        "user": {"login": "bench-author"},
        "head": {"sha": head_sha, "ref": f"bench-{number}"},
        "base": {
            "sha": _sha(f"base-{owner}/{repo}-{number}"),
            "ref": "main",
            "repo": {"full_name": f"{owner}/{repo}"},
        },
    }
    return SyntheticPullRequest(pull, items, contents, base_contents)
