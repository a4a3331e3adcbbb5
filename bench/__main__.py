"""``python -m bench``: run the benchmark, print the machine and the results, and write
``bench/results/latest.json`` and ``latest.md``.

``python -m bench quality`` runs the review-quality benchmark instead (``bench/quality/run.py``),
and ``python -m bench quality --agents models`` the model reviewer's (``bench/quality/models.py``).

``--quick`` runs tiny counts (the CI smoke test, under a minute); ``--profile`` profiles the
worker and the webhook server (pyinstrument for the main thread when installed, cProfile for
every other thread) into ``<out>/profiles/``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.backlog import measure_backlog
from bench.driver import Driver
from bench.machine import machine_facts
from bench.measures import (
    FULL,
    QUICK,
    Counts,
    measure_burst,
    measure_overhead,
    measure_pragmas,
    measure_scale,
)
from bench.model_path import measure_model
from bench.report import goals, markdown
from bench.stack import BenchStack, embedded_config

MEASURES = ("overhead", "burst", "scale", "pragmas", "model", "backlog")
DEFAULT_OUT = Path(__file__).resolve().parent / "results"
log = logging.getLogger("bench")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny counts, for CI (< 60 s)")
    parser.add_argument("--profile", action="store_true", help="profile the worker and webhook")
    parser.add_argument(
        "--only",
        default=",".join(MEASURES),
        help=f"comma-separated measures to run (default: all of {','.join(MEASURES)})",
    )
    parser.add_argument(
        "--sizes",
        help="scale sizes as FILES:LINES,... (default 10:333,100:3333,1000:33333,3000:100000)",
    )
    parser.add_argument(
        "--real-offline",
        action="store_true",
        help="also review the smallest scale sizes with the real offline reviewer",
    )
    parser.add_argument(
        "--backlog-prs", type=int, help="pull requests opened at once (default 1000; quick 12)"
    )
    parser.add_argument(
        "--backlog-workers",
        help="worker processes of each backlog run, comma-separated (default 1,2,4)",
    )
    parser.add_argument(
        "--model-prs", type=int, help="corpus pull requests the model measure reviews (default 55)"
    )
    parser.add_argument(
        "--llm-latency",
        help="the local Messages API's pace, e.g. 'scale=0.25' (prsaga.local.llm_fake.Latency)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where results go")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder and logs")
    parser.add_argument("--log-level", default="INFO", help="log level of prsaga's processes")
    return parser.parse_args(argv)


def _sizes(spec: str | None, default: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    if not spec:
        return default
    pairs = (item.split(":") for item in spec.split(","))
    return tuple((int(files), int(lines)) for files, lines in pairs)


def _print_machine(facts: dict[str, Any]) -> None:
    print("prsaga benchmark on:", flush=True)
    for key in ("cores", "cpu_model", "memory_gib", "os", "python", "temporalio", "temporal_cli"):
        print(f"  {key:>12}: {facts[key]}", flush=True)


async def run(args: argparse.Namespace, work_dir: Path) -> dict[str, Any]:
    counts: Counts = _with_overrides(QUICK if args.quick else FULL, args)
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = only - set(MEASURES)
    if unknown:
        raise SystemExit(f"unknown measures: {', '.join(sorted(unknown))}")
    sizes = _sizes(args.sizes, counts.scale_sizes)
    config = embedded_config()
    profile_dir = args.out / "profiles" if args.profile else None
    durations: dict[str, float] = {}
    results: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "server_config": config.name,
        "counts": {k: v for k, v in vars(counts).items()},
    }
    if only - {"pragmas"}:
        async with BenchStack(
            work_dir / "main", config, profile_dir=profile_dir, log_level=args.log_level
        ) as stack:
            driver = Driver(stack)
            try:
                if "overhead" in only:
                    with _timed(durations, "overhead"):
                        results["overhead"] = await measure_overhead(driver, counts)
                if "burst" in only:
                    with _timed(durations, "burst"):
                        results["burst"] = await measure_burst(driver, counts)
                if "scale" in only:
                    with _timed(durations, "scale"):
                        # A fresh worker, so its memory is the review's, not the earlier
                        # measures' cached workflows.
                        await stack.start_worker("instant")
                        results["scale"] = await measure_scale(
                            driver, sizes, counts.scale_repeats, counts.scale_timeout
                        )
                real_sizes = counts.real_offline_sizes if args.real_offline else ()
                if "scale" in only and real_sizes:
                    with _timed(durations, "scale_real_offline"):
                        await stack.start_worker("real-offline")
                        results["scale_real_offline"] = await measure_scale(
                            driver, real_sizes, counts.scale_repeats, counts.scale_timeout
                        )
            finally:
                await driver.aclose()
    if "pragmas" in only:
        with _timed(durations, "pragmas"):
            results["pragmas"] = await measure_pragmas(work_dir, counts)
    if "model" in only:
        with _timed(durations, "model"):
            results["model"] = await measure_model(work_dir, config, counts)
    if "backlog" in only:
        with _timed(durations, "backlog"):
            results["backlog"] = await measure_backlog(work_dir, config, counts)
    results["durations_s"] = durations
    return results


def _with_overrides(counts: Counts, args: argparse.Namespace) -> Counts:
    overrides: dict[str, Any] = {}
    if args.backlog_prs is not None:
        overrides["backlog_prs"] = args.backlog_prs
    if args.backlog_workers:
        overrides["backlog_workers"] = tuple(int(n) for n in args.backlog_workers.split(","))
    if args.model_prs is not None:
        overrides["model_prs"] = args.model_prs
        overrides["model_incremental"] = min(counts.model_incremental, args.model_prs)
    if args.llm_latency:
        overrides["model_latency"] = args.llm_latency
    return dataclasses.replace(counts, **overrides)


@contextmanager
def _timed(durations: dict[str, float], name: str) -> Iterator[None]:
    log.info("measuring: %s", name)
    started = time.monotonic()
    yield
    durations[name] = round(time.monotonic() - started, 1)


def write(results: dict[str, Any], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "latest.json", out / "latest.md"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    md_path.write_text(markdown(results) + "\n")
    return json_path, md_path


def _print_log_tails(work_dir: Path, lines: int = 15) -> None:
    for path in sorted(work_dir.glob("*/logs/*.log")):
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        print(f"--- {path} (last {len(tail)} lines)", *tail, sep="\n", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:3] == ["quality", "--agents", "models"]:
        # The model reviewer, scored like the public benchmark (bench/quality/models.py).
        from bench.quality.models import main as model_quality

        sys.exit(model_quality(arguments[3:]))
    if arguments[:1] == ["quality"]:
        from bench.quality.run import main as quality

        quality(arguments[1:])
        return
    args = parse_args(arguments)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    facts = machine_facts()
    _print_machine(facts)
    work_dir = Path(tempfile.mkdtemp(prefix="prsaga-bench-"))
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    code = 0
    try:
        results = asyncio.run(run(args, work_dir))
        results.update(
            machine=facts,
            duration_s=round(time.monotonic() - started, 1),
            finished_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            load_average={"before": load_before, "after": os.getloadavg()[0]},
        )
        results["goals"] = goals(results)
        json_path, md_path = write(results, args.out)
        print(markdown(results), flush=True)
        print(f"\nwrote {json_path} and {md_path}", flush=True)
    except Exception:
        log.exception("the benchmark failed")
        _print_log_tails(work_dir)
        args.keep, code = True, 1
    finally:
        if args.keep:
            print(f"scratch folder kept: {work_dir}", flush=True)
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    # Work around temporalio/sdk-python#300 (an abort in interpreter shutdown).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
