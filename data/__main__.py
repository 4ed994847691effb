"""Command line: ``python -m data build [--out PATH]``."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from data import build as build_mod
from data import store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data", description="Build and manage the embedded dataset.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_build = sub.add_parser("build", help="build the embedded dataset (offline) from installed packages and data/samples")
    p_build.add_argument("--out", help=f"output DuckDB file (default {store.dataset_path()})")
    p_build.add_argument("--samples", help="folder of sample CSVs (default data/samples)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "build":
        start = time.perf_counter()
        kwargs = {"samples_dir": build_mod.Path(args.samples)} if args.samples else {}
        try:
            path = build_mod.build(args.out, **kwargs)
        except build_mod.BuildError as exc:
            print(f"数据集构建失败 / build failed: {exc}", file=sys.stderr)
            return 1
        print(f"dataset built: {path} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
