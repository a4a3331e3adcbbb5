"""Known defects injected into the corpus's pull requests, deterministically.

Each defect class names the kind of file it goes in, the lines it appends to one such file the
pull request changes (appended lines are added lines of the pull request), and which finding
counts as catching it. A pull request gets at most one defect per file, so that two defects never
interact (a syntax error would hide an undefined name in the same file); classes with no file of
their kind in a pull request are not seeded there. Values that look like credentials are built
at run time from a hash of the pull request's key, so that the repository holds none.

The seeded file's patch is recomputed from its base and new head text (``difflib``), so the
diff GitHub would serve and the file contents agree.
"""

from __future__ import annotations

import difflib
import hashlib
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from bench.quality.corpus import CorpusFile, CorpusPullRequest, split_lines
from prsaga.review.chunking import is_skipped_path

FileKind = str
"""``python``, ``shell``, ``workflow``, ``text`` (any reviewable text file but a workflow)."""


@dataclass(frozen=True)
class Seed:
    """One defect placed in one file of one pull request."""

    defect: str
    path: str
    line: int
    """The seeded line (1-based, head numbering) a finding must land on."""


@dataclass(frozen=True)
class DefectClass:
    name: str
    kind: FileKind
    lines: Callable[[str, str, str], list[str]]
    """(the file's text, the file's path, a per-PR token) -> the lines to append."""
    flagged_line: int
    """Which appended line (0-based) the finding must be on."""
    caught_by: Callable[[str, str], bool]
    """(tool, rule) -> whether a finding of that tool and rule reports this defect."""
    covered: bool = True
    """Whether the offline tools are expected to cover the class (recall goal)."""


def _token(key: str, alphabet: str, length: int, salt: str) -> str:
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest() * 4
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


_UPPER_DIGITS = string.ascii_uppercase + "234567"
_ALNUM = string.ascii_letters + string.digits


def _assign(path: str, name: str, value: str) -> str:
    """``name = value`` in the syntax of the file's language."""
    kind = file_kind_of(path, "")
    if kind == "shell" or PurePosixPath(path).name == "Dockerfile":
        return f'ENV {name}="{value}"' if "Dockerfile" in path else f'{name}="{value}"'
    if path.endswith((".yml", ".yaml")):
        return f"{name.lower()}: {value}"
    if path.endswith((".json",)):
        return f'"{name.lower()}": "{value}"'
    return f'{name} = "{value}"'


def _aws(text: str, path: str, key: str) -> list[str]:
    # The AWS format: AKIA and 16 base-32 characters; the secret key's 40 characters.
    access = "AKIA" + _token(key, _UPPER_DIGITS, 16, "aws")
    return [_assign(path, "AWS_ACCESS_KEY_ID", access)]


def _github(text: str, path: str, key: str) -> list[str]:
    return [_assign(path, "GITHUB_TOKEN", "ghp_" + _token(key, _ALNUM, 36, "github"))]


def _slack(text: str, path: str, key: str) -> list[str]:
    digits = string.digits
    value = (
        "xoxb-"
        + _token(key, digits, 12, "slack1")
        + "-"
        + _token(key, digits, 13, "slack2")
        + "-"
        + _token(key, _ALNUM, 24, "slack3")
    )
    return [_assign(path, "SLACK_BOT_TOKEN", value)]


def _private_key(text: str, path: str, key: str) -> list[str]:
    body = [_token(key + str(i), _ALNUM + "+/", 64, "pem") for i in range(4)]
    pem = ["-----BEGIN RSA PRIVATE KEY-----", *body, "-----END RSA PRIVATE KEY-----"]
    if file_kind_of(path, text) == "python":
        return ['DEPLOY_KEY = """' + pem[0], *pem[1:], '"""']
    return pem


def _syntax_error(text: str, path: str, key: str) -> list[str]:
    return ["def seeded_handler(request:", "    return request"]


def _undefined_name(text: str, path: str, key: str) -> list[str]:
    return ["", "", "def seeded_total(items):", "    return sum(items) + seeded_offsett"]


def _debugger(text: str, path: str, key: str) -> list[str]:
    return ["", "", "def seeded_debug():", "    breakpoint()"]


def _conflict(text: str, path: str, key: str) -> list[str]:
    return ["<<<<<<< HEAD", "seeded ours", "=======", "seeded theirs", ">>>>>>> feature"]


def _unquoted(text: str, path: str, key: str) -> list[str]:
    return ['seeded_dir="$(mktemp -d)"', "rm -rf $seeded_dir/cache"]


def _injection(text: str, path: str, key: str) -> list[str]:
    indent = _job_indent(text)
    pad = " " * indent
    return [
        f"{pad}seeded-greeting:",
        f"{pad}  runs-on: ubuntu-latest",
        f"{pad}  steps:",
        f'{pad}    - run: echo "Thanks for ${{{{ github.event.pull_request.title }}}}"',
    ]


def _job_indent(text: str) -> int:
    """The indentation of job names under ``jobs:`` (2 by convention)."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if line.rstrip() == "jobs:":
            for after in lines[index + 1 :]:
                if after.strip() and not after.lstrip().startswith("#"):
                    return len(after) - len(after.lstrip())
    return 2


def _rule(tool: str, *rules: str) -> Callable[[str, str], bool]:
    return lambda t, r: t == tool and any(r == x or r.startswith(x) for x in rules)


DEFECTS: tuple[DefectClass, ...] = (
    DefectClass("aws-access-key", "text", _aws, 0, _rule("detect-secrets", "AWS Access Key")),
    DefectClass("github-token", "text", _github, 0, _rule("detect-secrets", "GitHub Token")),
    DefectClass("slack-token", "text", _slack, 0, _rule("detect-secrets", "Slack Token")),
    DefectClass("private-key", "text", _private_key, 0, _rule("detect-secrets", "Private Key")),
    DefectClass(
        "python-syntax-error", "python", _syntax_error, 0, _rule("ruff", "invalid-syntax", "E999")
    ),
    DefectClass("python-undefined-name", "python", _undefined_name, 3, _rule("ruff", "F821")),
    DefectClass("python-debugger", "python", _debugger, 3, _rule("ruff", "T100")),
    DefectClass(
        "merge-conflict-marker", "text", _conflict, 0, _rule("hygiene", "merge-conflict-marker")
    ),
    DefectClass("shell-unquoted-variable", "shell", _unquoted, 1, _rule("shellcheck", "SC2086")),
    DefectClass(
        "workflow-script-injection",
        "workflow",
        _injection,
        3,
        _rule("zizmor", "template-injection"),
    ),
)


_SHELL_SHEBANGS = ("#!/bin/sh", "#!/bin/bash", "#!/usr/bin/env bash", "#!/usr/bin/env sh")


def file_kind_of(path: str, text: str) -> FileKind:
    pure = PurePosixPath(path)
    if pure.suffix in (".py",):
        return "python"
    if pure.suffix in (".sh", ".bash") or text.startswith(_SHELL_SHEBANGS):
        return "shell"
    if path.startswith(".github/workflows/") and pure.suffix in (".yml", ".yaml"):
        return "workflow"
    return "text"


@dataclass
class SeededPullRequest:
    pr: CorpusPullRequest
    seeds: list[Seed] = field(default_factory=list)


def seed(pr: CorpusPullRequest) -> SeededPullRequest:
    """The pull request with one defect of each class that has a file of its kind left."""
    candidates = [
        f
        for f in pr.files
        if f.status != "removed"
        and f.patch
        and f.filename in pr.head_contents
        and is_skipped_path(f.filename) is None
    ]
    used: set[str] = set()
    head = dict(pr.head_contents)
    files = {f.filename: f for f in pr.files}
    seeds: list[Seed] = []
    # Classes that need a kind of file choose first; any text file takes a secret or a marker.
    for defect in sorted(DEFECTS, key=lambda d: d.kind == "text"):
        target = _pick(defect, candidates, used, head)
        if target is None:
            continue
        used.add(target.filename)
        text = head[target.filename]
        added = defect.lines(text, target.filename, pr.key)
        prefix = text if text.endswith("\n") or not text else text + "\n"
        head[target.filename] = prefix + "\n".join(added) + "\n"
        first_new = prefix.count("\n") + 1
        seeds.append(Seed(defect.name, target.filename, first_new + defect.flagged_line))
        files[target.filename] = _with_patch(
            target,
            pr.base_contents.get(target.previous_filename or target.filename),
            head[target.filename],
        )
    seeded = pr.model_copy(
        update={
            "head_sha": hashlib.sha1(f"seeded:{pr.head_sha}".encode()).hexdigest(),
            "head_contents": head,
            "files": [files[f.filename] for f in pr.files],
        }
    )
    return SeededPullRequest(pr=seeded, seeds=seeds)


def _pick(
    defect: DefectClass,
    candidates: list[CorpusFile],
    used: set[str],
    head: dict[str, str],
) -> CorpusFile | None:
    """The first unused file of the class's kind; for ``text``, code before documentation."""
    free = [f for f in candidates if f.filename not in used]
    kinds = {f.filename: file_kind_of(f.filename, head[f.filename]) for f in free}
    if defect.kind != "text":
        return next((f for f in free if kinds[f.filename] == defect.kind), None)
    ranked = sorted(
        (f for f in free if kinds[f.filename] != "workflow"),
        key=lambda f: (kinds[f.filename] != "python", kinds[f.filename] != "shell", _is_doc(f)),
    )
    return ranked[0] if ranked else None


def _is_doc(file: CorpusFile) -> bool:
    return (
        PurePosixPath(file.filename).suffix in (".md", ".rst", ".txt") or "docs/" in file.filename
    )


def _with_patch(file: CorpusFile, base: str | None, head: str) -> CorpusFile:
    """The file item with its patch recomputed from base and head, as GitHub would serve it."""
    old = split_lines(base or "") if file.status != "added" else []
    new = split_lines(head)
    lines: list[str] = []
    for line in list(difflib.unified_diff(old, new, n=3))[2:]:
        if line.endswith("\n"):
            lines.append(line[:-1])
        else:
            lines += [line, "\\ No newline at end of file"]
    additions = sum(1 for x in lines if x.startswith("+"))
    deletions = sum(1 for x in lines if x.startswith("-"))
    return file.model_copy(
        update={
            "patch": "\n".join(lines),
            "additions": additions,
            "deletions": deletions,
            "changes": additions + deletions,
            "sha": hashlib.sha1(head.encode()).hexdigest(),
        }
    )
