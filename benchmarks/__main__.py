"""Run the benchmarks and write BENCHMARKS.md: ``python -m benchmarks``."""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import tempfile
from pathlib import Path

from benchmarks import machine, situation

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    from data.build import build

    with tempfile.TemporaryDirectory() as tmp:
        dataset = build(Path(tmp) / "yrd.duckdb")
        os.environ["YRD_DATASET"] = str(dataset)
        os.environ["YRD_CONFIG"] = str(ROOT / "tests" / "no-config.toml")
        sections = [situation.markdown(situation.run(dataset))]
    text = "\n".join(
        [
            "# Benchmarks",
            "",
            "Measured by `make bench` (`python -m benchmarks`); every figure below is from the run dated here.",
            "",
            f"- Run: {dt.datetime.now().isoformat(timespec='seconds')}",
            f"- Machine: {machine.describe()}",
            "",
            *sections,
            "",
        ]
    )
    (ROOT / "BENCHMARKS.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
