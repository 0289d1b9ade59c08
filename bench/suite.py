"""Run the benchmark parts in order and write the results: JSON, markdown and PNG charts.

Files go to the output directory (bench/results by default), named after the run's start in
UTC: ``2026-11-21T10-45-00Z.json``, ``.md`` and ``-*.png``; ``latest.md`` is a copy of the
newest markdown. A part that fails is recorded with its error and the others still run; the
exit status then says so.
"""

from __future__ import annotations

import datetime
import json
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import (
    ai,
    coldstart,
    density,
    egress,
    environment,
    guests,
    http,
    inprocess,
    jobs,
    languages,
    observability,
    peers_inprocess,
    report,
)
from bench import targets as target_list

RESULTS = Path(__file__).resolve().parent / "results"
PART_NAMES = (
    "inprocess",
    "http",
    "coldstart",
    "density",
    "observability",
    "jobs",
    "ai",
    "languages",
    "egress",
    "peers",
)
Part = Callable[..., dict[str, Any]]
PARTS: dict[str, Part] = {
    "inprocess": inprocess.measure,
    "http": http.measure,
    "coldstart": coldstart.measure,
    "density": density.measure,
    "observability": observability.measure,
    "jobs": jobs.measure,
    "ai": ai.measure,
    "languages": languages.measure,
    "egress": egress.measure,
    "peers": peers_inprocess.measure,
}


@dataclass(frozen=True)
class Outcome:
    json_path: Path
    markdown_path: Path
    charts: list[Path]
    failed: list[str]


def run(
    output: Path = RESULTS,
    *,
    quick: bool = False,
    parts: tuple[str, ...] = PART_NAMES,
    echo: Callable[[str], None] = print,
) -> Outcome:
    """Run ``parts`` and write the results into ``output``."""
    started = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    stem = started.strftime("%Y-%m-%dT%H-%M-%SZ")
    clock = time.perf_counter()
    echo(f"pyjinn benchmark ({'quick' if quick else 'full'}), results in {output}/{stem}.*")
    results: dict[str, Any] = {
        "meta": {
            "started": started.isoformat().replace("+00:00", "Z"),
            "mode": "quick" if quick else "full",
            "parts": list(parts),
        },
        "environment": environment.describe(),
    }
    echo(f"Load average before: {results['environment']['load_average_before']}")
    with tempfile.TemporaryDirectory(prefix="pyjinn-bench-") as temporary:
        work = Path(temporary)
        built = guests.build(work / "guests", echo=True)
        results["guests"] = {
            "sizes": {
                p.name: p.stat().st_size
                for p in sorted((work / "guests").iterdir())
                if p.is_file() and p.suffix in (".wasm", ".wat", "")
            },
            "build_seconds": built.build_seconds,
            "skipped": built.skipped,
        }
        for name in parts:
            echo(f"[{name}]")
            part_started = time.perf_counter()
            try:
                results[name] = PARTS[name](built, work / name, quick=quick, echo=echo)
            except Exception as error:  # one broken part must not lose the others
                echo(traceback.format_exc())
                results[name] = {"error": f"{type(error).__name__}: {error}"}
            results[name]["seconds"] = time.perf_counter() - part_started
    results["environment"]["load_average_after"] = environment.load_average()
    results["meta"]["seconds"] = time.perf_counter() - clock
    results["targets"] = target_list.evaluate(results)
    return write(results, output, stem, echo)


def write(results: dict[str, Any], output: Path, stem: str, echo: Callable[[str], None]) -> Outcome:
    output.mkdir(parents=True, exist_ok=True)
    json_path = output / f"{stem}.json"
    json_path.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")
    from bench import charts  # matplotlib is imported only when writing

    names = charts.draw(results, output, stem)
    markdown_path = output / f"{stem}.md"
    markdown_path.write_text(report.render(results, names))
    shutil.copyfile(markdown_path, output / "latest.md")
    failed = [name for name in PART_NAMES if "error" in results.get(name, {})]
    echo("")
    for row in results["targets"]:
        echo(f"  {row['status']:>12}  {row['target']}: {row['measured']} (goal {row['goal']})")
    echo(
        f"\nWrote {json_path}, {markdown_path.name}, latest.md and {len(names)} charts "
        f"in {results['meta']['seconds']:.0f} s."
    )
    if failed:
        echo(f"Parts that failed: {', '.join(failed)}.")
    return Outcome(json_path, markdown_path, [output / name for name in names], failed)
