"""``python -m bench``: run pyjinn's benchmark suite (see bench/README.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.suite import PART_NAMES, RESULTS, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a tiny configuration: a few seconds per part, 100 functions",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS,
        help=f"directory for the results (default: {RESULTS})",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=PART_NAMES,
        metavar="PART",
        help=f"run only this part (repeatable): {', '.join(PART_NAMES)}",
    )
    options = parser.parse_args(argv)
    parts = tuple(options.only) if options.only else PART_NAMES
    outcome = run(options.output, quick=options.quick, parts=parts)
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    sys.exit(main())
