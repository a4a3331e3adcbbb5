# --- The house style holds: ruff (lint + format) and mypy over the project's code ---
from __future__ import annotations

import ast
import subprocess
import sys

from ruff.__main__ import find_ruff_bin

from tests.paths import REPO_ROOT

REPO = REPO_ROOT


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)


def test_ruff_lint_and_format_are_clean():
    lint = run(find_ruff_bin(), "check", "--no-cache", ".")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = run(find_ruff_bin(), "format", "--check", "--no-cache", ".")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_mypy_finds_no_type_errors():
    result = run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


MAX_WORKFLOW_FUNCTION_LINES = 60


def test_workflow_functions_stay_small():
    """Workflow code is replayed for years: each function reads as one named step."""
    long = []
    for path in sorted((REPO / "workflows").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_WORKFLOW_FUNCTION_LINES:
                    long.append(f"{path.name}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long
