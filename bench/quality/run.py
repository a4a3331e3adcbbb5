"""``python -m bench quality``: the review-quality benchmark on the corpus of real pull requests.

* **Clean set**: every pull request as it was merged. Each posted finding is looked up in
  ``labels.json`` (true or false, with a reason; unlabelled counts as false): precision, false
  findings per pull request, and how many clean pull requests were blocked.
* **Seeded set**: the same pull requests with known defects appended to changed files
  (``seeds.py``): recall per defect class, whether the finding is on the seeded line, and
  whether the high-severity ones block.

Writes ``bench/results/quality-<name>.json`` and ``.md``; ``--quick`` reviews a few pull
requests only (the CI smoke run: it checks the harness, never a figure).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.machine import machine_facts
from bench.quality.corpus import CorpusPullRequest, load_corpus
from bench.quality.harness import ReviewOutcome, finding_key, local_reviewer
from bench.quality.seeds import DEFECTS, Seed, seed

LABELS = Path(__file__).resolve().parent / "labels.json"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "results"
QUICK_PRS = ("pallets/click#3739", "nvm-sh/nvm#1986", "python-attrs/attrs#1578")
"""A Python, a shell and a workflow pull request: every seeded class has a file to go in."""
SEEDED_NUMBER_OFFSET = 100_000
"""Seeded copies are other pull requests (other numbers) of the same repository."""
HIGH = ("high", "critical")
log = logging.getLogger("bench.quality")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench quality", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_PRS)}")
    parser.add_argument("--name", default="latest", help="results go to quality-NAME.{json,md}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--only", help="comma-separated pull requests (OWNER/REPO#N)")
    parser.add_argument(
        "--relabel",
        action="store_true",
        help="only score quality-NAME.json again against the current labels file",
    )
    return parser.parse_args(argv)


def load_labels(path: Path = LABELS) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text(encoding="utf-8"))["findings"])


def run(prs: list[CorpusPullRequest]) -> dict[str, Any]:
    clean: list[ReviewOutcome] = []
    seeded: list[tuple[ReviewOutcome, list[Seed]]] = []
    started = time.monotonic()
    with local_reviewer() as reviewer:
        for pr in prs:
            log.info("clean: %s", pr.key)
            clean.append(reviewer.review(pr, pr.number))
    seeded_started = time.monotonic()
    with local_reviewer() as reviewer:
        for pr in prs:
            variant = seed(pr)
            if not variant.seeds:
                continue
            log.info("seeded: %s (%d defects)", pr.key, len(variant.seeds))
            outcome = reviewer.review(variant.pr, pr.number + SEEDED_NUMBER_OFFSET)
            seeded.append((outcome, variant.seeds))
    return {
        "clean": score_clean(clean, load_labels()),
        "seeded": score_seeded(seeded),
        "tools": tool_coverage([*clean, *(o for o, _ in seeded)]),
        "durations_s": {
            "clean": round(seeded_started - started, 1),
            "seeded": round(time.monotonic() - seeded_started, 1),
        },
    }


def score_clean(outcomes: list[ReviewOutcome], labels: dict[str, dict[str, Any]]) -> dict[str, Any]:
    rows = [
        {
            "pr": outcome.key,
            "posted": len(outcome.posted),
            "review_posted": outcome.review_posted,
            "event": outcome.event,
            "status": outcome.status,
            "blocked": outcome.blocked,
            "findings": [
                {
                    "key": finding_key(outcome.key, finding),
                    "severity": finding.severity.value,
                    "confidence": finding.confidence.value,
                    "title": finding.title,
                }
                for finding in outcome.posted
            ],
        }
        for outcome in outcomes
    ]
    return labelled(rows, labels)


def labelled(rows: list[dict[str, Any]], labels: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The clean set's figures from its rows, each posted finding looked up in ``labels``."""
    counts: Counter[str] = Counter()
    for row in rows:
        for finding in row["findings"]:
            label = labels.get(finding["key"])
            finding["label"] = None if label is None else bool(label["true"])
            finding["reason"] = label.get("reason") if label else None
            counts[{None: "unlabelled", True: "true", False: "false"}[finding["label"]]] += 1
    posted = sum(counts.values())
    prs = len(rows)
    return {
        "prs": prs,
        "findings": posted,
        "true": counts["true"],
        "false": counts["false"],
        "unlabelled": counts["unlabelled"],
        "precision": round(counts["true"] / posted, 3) if posted else None,
        "false_per_pr": round((posted - counts["true"]) / prs, 3) if prs else 0.0,
        "findings_per_pr": round(posted / prs, 3) if prs else 0.0,
        "blocked": sum(1 for row in rows if row["blocked"]),
        "reviews_posted": sum(1 for row in rows if row["review_posted"]),
        "rows": rows,
    }


def score_seeded(results: list[tuple[ReviewOutcome, list[Seed]]]) -> dict[str, Any]:
    per_class: dict[str, Counter[str]] = defaultdict(Counter)
    misses = []
    posted = matched = 0
    others: list[str] = []
    by_name = {d.name: d for d in DEFECTS}
    for outcome, seeds in results:
        hits: set[int] = set()
        for planted in seeds:
            defect = by_name[planted.defect]
            matches = [
                f
                for f in outcome.posted
                if f.path == planted.path and defect.caught_by(f.tool, f.rule)
            ]
            on_line = [f for f in matches if planted.line in _lines(f)]
            hits |= {id(f) for f in matches}
            counts = per_class[planted.defect]
            counts["seeded"] += 1
            counts["caught"] += bool(matches)
            counts["on_line"] += bool(on_line)
            if any(f.severity.value in HIGH for f in matches):
                counts["high"] += 1
                counts["high_blocked"] += outcome.blocked
            if not on_line:
                misses.append(
                    {
                        "pr": outcome.key,
                        "defect": planted.defect,
                        "path": planted.path,
                        "line": planted.line,
                        "found": [f"{f.tool}/{f.rule}@{f.line}" for f in matches],
                    }
                )
        posted += len(outcome.posted)
        matched += len(hits)
        others += [finding_key(outcome.key, f) for f in outcome.posted if id(f) not in hits]
    classes = {
        name: {
            **counts,
            "recall": round(counts["caught"] / counts["seeded"], 3),
            "on_line_rate": round(counts["on_line"] / counts["seeded"], 3),
        }
        for name, counts in sorted(per_class.items())
    }
    seeded_total = sum(c["seeded"] for c in per_class.values())
    caught = sum(c["caught"] for c in per_class.values())
    on_line = sum(c["on_line"] for c in per_class.values())
    return {
        "prs": len(results),
        "defects": seeded_total,
        "recall": round(caught / seeded_total, 3) if seeded_total else None,
        "on_line": round(on_line / caught, 3) if caught else None,
        "high": sum(c["high"] for c in per_class.values()),
        "high_blocked": sum(c["high_blocked"] for c in per_class.values()),
        "classes": classes,
        "misses": misses,
        "findings": posted,
        "findings_on_seeds": matched,
        "other_findings": others,
    }


def _lines(finding: Any) -> set[int]:
    if finding.line is None:
        return set()
    end = max(finding.end_line or finding.line, finding.line)
    return {*range(finding.line, end + 1), *finding.also_on_lines}


def tool_coverage(outcomes: list[ReviewOutcome]) -> dict[str, Any]:
    tools: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        for run in outcome.tools:
            row = tools.setdefault(
                run.tool, {"version": run.version, "files": 0, "findings": 0, "errors": Counter()}
            )
            row["files"] += run.files
            row["findings"] += run.findings
            if run.error:
                row["errors"][run.error] += 1
    return {name: {**row, "errors": dict(row["errors"])} for name, row in sorted(tools.items())}


def overall_precision(clean: dict[str, Any], seeded: dict[str, Any]) -> float | None:
    """Of every finding posted on both sets, the share that is true: labelled true on the clean
    set, or reporting a seeded defect (a seeded set's other findings count as false)."""
    posted = clean["findings"] + seeded["findings"]
    true = clean["true"] + seeded["findings_on_seeds"]
    return round(true / posted, 3) if posted else None


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    clean, seeded = results["clean"], results["seeded"]
    covered = [
        c
        for name, c in seeded["classes"].items()
        if next(d for d in DEFECTS if d.name == name).covered
    ]
    covered_seeded = sum(c["seeded"] for c in covered)
    covered_recall = (
        round(sum(c["caught"] for c in covered) / covered_seeded, 3) if covered_seeded else None
    )
    return [
        _goal("clean PRs blocked", clean["blocked"], 0, "<="),
        _goal("false findings per clean PR", clean["false_per_pr"], 0.1, "<="),
        _goal("precision (clean set)", clean["precision"], 0.9, ">="),
        _goal("precision (all posted findings)", overall_precision(clean, seeded), 0.9, ">=")
        if "findings" in seeded  # not measured by the first runs of the benchmark
        else {"goal": "precision (all posted findings)", "value": "not measured", "met": False},
        _goal("recall (seeded, covered classes)", covered_recall, 0.95, ">="),
        _goal("hits on the seeded line", seeded["on_line"], 1.0, ">="),
    ]


def _goal(name: str, value: float | None, target: float, how: str) -> dict[str, Any]:
    met = value is not None and (value <= target if how == "<=" else value >= target)
    if value is None and name.startswith("precision"):
        # Nothing posted: nothing wrong either, but no precision to measure (said so).
        return {
            "goal": name,
            "value": "n/a (nothing posted)",
            "target": f"{how} {target}",
            "met": True,
        }
    return {"goal": name, "value": value, "target": f"{how} {target}", "met": met}


def markdown(results: dict[str, Any]) -> str:
    clean, seeded = results["clean"], results["seeded"]
    machine = results["machine"]
    lines = [
        f"## Review quality ({results['mode']}, {results['finished_at']})",
        "",
        f"Machine: {machine['cores']} cores, {machine['cpu_model']}, Python {machine['python']}.",
        "",
        "| goal | measured | target | met |",
        "|---|---|---|---|",
        *(
            f"| {g['goal']} | {g['value']} | {g.get('target', '>= 0.9')} | "
            f"{'yes' if g['met'] else 'no'} |"
            for g in results["goals"]
        ),
        "",
        f"**Clean set**: {clean['prs']} pull requests, {clean['findings']} findings posted "
        f"({clean['true']} true, {clean['false']} false, {clean['unlabelled']} unlabelled), "
        f"{clean['reviews_posted']} reviews posted, {clean['blocked']} pull requests blocked.",
        "",
        f"**Seeded set**: {seeded['defects']} defects in {seeded['prs']} pull requests, "
        f"{seeded.get('findings', '?')} findings posted ({seeded.get('findings_on_seeds', '?')} "
        "on a seeded defect); "
        f"{seeded['high']} caught at high severity or worse, {seeded['high_blocked']} of them "
        "blocking.",
        "",
        "| defect class | seeded | caught | on the seeded line | recall | blocks (high) |",
        "|---|---|---|---|---|---|",
        *(
            f"| {name} | {c['seeded']} | {c['caught']} | {c['on_line']} | {c['recall']} | "
            f"{c.get('high_blocked', 0)}/{c.get('high', 0)} |"
            for name, c in seeded["classes"].items()
        ),
        "",
        "| tool | version | files | findings | errors |",
        "|---|---|---|---|---|",
        *(
            f"| {name} | {t['version']} | {t['files']} | {t['findings']} | "
            f"{'; '.join(f'{e} ({n})' for e, n in t['errors'].items()) or 'none'} |"
            for name, t in results["tools"].items()
        ),
    ]
    return "\n".join(lines)


def write(results: dict[str, Any], out: Path, name: str) -> None:
    results["goals"] = goals(results)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / f"quality-{name}.json"
    md_path = out / f"quality-{name}.md"
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    md_path.write_text(markdown(results) + "\n")
    print(markdown(results))
    print(f"\nwrote {json_path} and {md_path}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.relabel:
        results = json.loads((args.out / f"quality-{args.name}.json").read_text())
        results["clean"] = labelled(results["clean"]["rows"], load_labels())
        write(results, args.out, args.name)
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("httpx", "temporalio", "prsaga", "activities"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    prs = load_corpus()
    wanted = set(QUICK_PRS) if args.quick else None
    if args.only:
        wanted = {key.strip() for key in args.only.split(",")}
    if wanted is not None:
        prs = [pr for pr in prs if pr.key in wanted]
    started = time.monotonic()
    results: dict[str, Any] = {"mode": "quick" if args.quick else "full", **run(prs)}
    results.update(
        machine=machine_facts(),
        duration_s=round(time.monotonic() - started, 1),
        finished_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    write(results, args.out, args.name)
