"""A child process's resident memory, read from ``/proc`` (Linux): peak and sampled."""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

SAMPLE_SECONDS = 0.02


def status_kib(pid: int, field: str) -> int | None:
    """A ``kB`` field of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``), ``None`` if unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def reset_peak(pid: int) -> bool:
    """Reset the process's peak RSS (``VmHWM``) to its current RSS (Linux 4.0+)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class PeakRss:
    """``with PeakRss(pid) as peak:`` ... ``peak.mib``: the largest RSS while inside, from the
    kernel's high-water mark (reset on entry) and from sampling, whichever is larger."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._stop = threading.Event()
        self._sampled = 0
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self.baseline_mib: float | None = None
        self.mib: float | None = None

    def __enter__(self) -> PeakRss:
        reset_peak(self._pid)
        baseline = status_kib(self._pid, "VmRSS")
        self.baseline_mib = None if baseline is None else round(baseline / 1024, 1)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        peak = max(self._sampled, status_kib(self._pid, "VmHWM") or 0)
        self.mib = round(peak / 1024, 1) if peak else None

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._sampled = max(self._sampled, status_kib(self._pid, "VmRSS") or 0)
