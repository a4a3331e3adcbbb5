"""Profile every thread of a benchmark child process (the worker, the webhook server).

Temporal runs workflow tasks and activities on thread pools, so a profiler of the main thread
alone misses most of prsaga's code. Each new thread gets its own ``cProfile`` (through
``threading.setprofile``), merged at the end; the main thread (the asyncio loop) is profiled with
pyinstrument when it is installed, else with ``cProfile`` too.
"""

from __future__ import annotations

import cProfile
import io
import logging
import pstats
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

TOP_FUNCTIONS = 40


def pyinstrument_available() -> bool:
    try:
        import pyinstrument  # noqa: F401
    except ImportError:
        return False
    return True


class ProcessProfiler:
    """Start before the threads to profile exist; ``stop`` writes the reports."""

    def __init__(self, name: str, out_dir: Path) -> None:
        self._name = name
        self._out_dir = out_dir
        self._threads: list[cProfile.Profile] = []
        self._lock = threading.Lock()
        self._main: Any = None
        self._main_is_pyinstrument = pyinstrument_available()

    def start(self) -> None:
        if self._main_is_pyinstrument:
            from pyinstrument import Profiler

            self._main = Profiler(interval=0.001, async_mode="disabled")
            self._main.start()
        else:
            self._main = cProfile.Profile()
            self._main.enable()
        threading.setprofile(self._profile_new_thread)

    def _profile_new_thread(self, frame: FrameType, event: str, arg: object) -> None:
        # Runs once, on the new thread's first profiling event: hand over to cProfile.
        sys.setprofile(None)
        profile = cProfile.Profile()
        with self._lock:
            self._threads.append(profile)
        profile.enable()

    def stop(self) -> Path:
        """Stop profiling and write ``profile-<name>.txt`` (and the merged cProfile statistics,
        ``.prof``); returns the text report's path."""
        threading.setprofile(None)  # type: ignore[arg-type]
        self._out_dir.mkdir(parents=True, exist_ok=True)
        text = self._out_dir / f"profile-{self._name}.txt"
        sections: list[str] = []
        if self._main_is_pyinstrument:
            self._main.stop()
            sections.append("## main thread (pyinstrument, wall clock)\n")
            sections.append(self._main.output_text(unicode=False, color=False, show_all=False))
            merged = self._merged(self._threads)
            label = "other threads"
        else:
            self._main.disable()
            merged = self._merged([self._main, *self._threads])
            label = "all threads"
        if merged is not None:
            merged.dump_stats(str(self._out_dir / f"profile-{self._name}.prof"))
            for order in ("tottime", "cumulative"):
                sections.append(f"\n## {label} (cProfile, by {order})\n")
                sections.append(_top(merged, order))
        text.write_text("\n".join(sections))
        return text

    def _merged(self, profiles: list[cProfile.Profile]) -> pstats.Stats | None:
        with self._lock:
            usable = [p for p in profiles if p.getstats()]
        if not usable:
            return None
        stats = pstats.Stats(usable[0])
        for profile in usable[1:]:
            stats.add(profile)
        return stats


def _top(stats: pstats.Stats, order: str) -> str:
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats(order).print_stats(TOP_FUNCTIONS)
    return out.getvalue()
