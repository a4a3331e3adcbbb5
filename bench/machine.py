"""What the benchmark ran on: a result means little without the machine."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from prsaga.local.embedded import temporal_cli


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _command_output(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def machine_facts() -> dict[str, Any]:
    """Cores, CPU model, RAM, OS, Python, the Temporal SDK and dev server versions, and the
    project's commit."""
    root = Path(__file__).resolve().parent.parent
    git = ["git", "-C", str(root)]
    return {
        "cores": _usable_cores(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "temporalio": _version("temporalio"),
        "temporal_cli": _command_output([temporal_cli(), "--version"]),
        "pydantic": _version("pydantic"),
        "uvicorn": _version("uvicorn"),
        "commit": _command_output([*git, "rev-parse", "--short", "HEAD"]),
        "uncommitted_changes": bool(
            _command_output([*git, "status", "--porcelain", "--untracked-files=no"])
        ),
        "executable": sys.executable,
    }
