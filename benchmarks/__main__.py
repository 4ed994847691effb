"""Run the benchmarks and write BENCHMARKS.md: ``python -m benchmarks [--only NAME]``."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import tempfile
from pathlib import Path

from benchmarks import backbone, cluster, consultation, importing, interactions, machine, network, pbf, planning, situation, zones

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("situation", "interactions", "network", "backbone", "pbf", "zones", "planning", "importing", "consultation", "cluster")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split(":")[0])
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, metavar="NAME",
        help=f"run only this section ({', '.join(SECTIONS)}; repeatable): printed, BENCHMARKS.md is left as it is",
    )  # fmt: skip
    args = parser.parse_args(argv)
    run = set(args.only or SECTIONS)
    logging.basicConfig(level=logging.WARNING)
    sections = []
    if "situation" in run:
        from data.dataset.build import build

        with tempfile.TemporaryDirectory() as tmp:
            dataset = build(Path(tmp) / "yrd.duckdb")
            os.environ["YRD_DATASET"] = str(dataset)
            os.environ["YRD_CONFIG"] = str(ROOT / "tests" / "no-config.toml")
            os.environ["YRD_WORKSPACE"] = str(Path(tmp) / "workspace.duckdb")  # empty, never the user's imports
            sections.append(situation.markdown(situation.run(dataset)))
    if "interactions" in run:  # every page's main interactions in the browser (issue 13), on its own dataset and empty workspace
        from data.dataset.build import build

        with tempfile.TemporaryDirectory() as tmp:
            dataset = build(Path(tmp) / "yrd.duckdb")
            os.environ["YRD_DATASET"] = str(dataset)
            os.environ["YRD_CONFIG"] = str(ROOT / "tests" / "no-config.toml")
            os.environ["YRD_WORKSPACE"] = str(Path(tmp) / "workspace.duckdb")  # the benchmark's accounts and imports, never the user's
            sections.append(interactions.markdown(interactions.run(dataset)))
    if "network" in run:
        sections.append(network.markdown(network.run()))
    if "backbone" in run:
        sections.append(backbone.markdown(backbone.run()))
    if "pbf" in run:
        sections.append(pbf.markdown(pbf.run()))
    if "zones" in run:
        sections.append(zones.markdown(zones.run()))
    if "planning" in run:
        sections.append(planning.markdown(planning.run()))
    if "importing" in run:
        from data.dataset.build import build

        with tempfile.TemporaryDirectory() as tmp:
            sections.append(importing.markdown(importing.run(build(Path(tmp) / "yrd.duckdb"))))
    if "consultation" in run:
        from data.dataset.build import build

        with tempfile.TemporaryDirectory() as tmp:
            sections.append(consultation.markdown(consultation.run(build(Path(tmp) / "yrd.duckdb"))))
    if "cluster" in run:  # the built dataset (`make data`), a throwaway PostgreSQL, 3 servers
        sections.append(cluster.markdown(cluster.run()))
    text = "\n".join(
        [
            "# Benchmarks",
            "",
            "Measured by `make bench` (`python -m benchmarks`); every figure below is from the run dated here.",
            "",
            f"- Run: {dt.datetime.now().isoformat(timespec='seconds')}",
            f"- Machine: {machine.describe()}",
            "",
            "\n\n".join(sections),
            "",
        ]
    )
    if not args.only:  # a partial run would drop the other sections' figures
        (ROOT / "BENCHMARKS.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
