"""Run a module as ``__main__`` under the benchmark's profiler (every thread), and write the
report when it exits, SIGTERM included: ``python -m bench.profiled NAME OUT_DIR MODULE``."""

from __future__ import annotations

import runpy
import signal
import sys
from pathlib import Path

from bench.profiling import ProcessProfiler


def _interrupt(signum: int, frame: object) -> None:
    # uvicorn restores this handler and re-raises the signal once it has shut down gracefully;
    # an exception (not the default handler's death) lets the report be written.
    raise KeyboardInterrupt


def main() -> None:
    name, out_dir, module, *rest = sys.argv[1:]
    sys.argv = [module, *rest]
    signal.signal(signal.SIGTERM, _interrupt)
    profiler = ProcessProfiler(name, Path(out_dir))
    profiler.start()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        profiler.stop()


if __name__ == "__main__":
    main()
