"""Describe the machine a benchmark ran on."""

from __future__ import annotations

import os
import platform
from importlib.metadata import version


def describe() -> str:
    """One markdown paragraph: CPU model, cores, memory, OS, Python and key packages."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo", encoding="utf-8") as fh:
            mem_kb = int(fh.readline().split()[1])
    except OSError:
        mem_kb = 0
    pkgs = ", ".join(f"{p} {version(p)}" for p in ("streamlit", "pydeck", "duckdb", "geopandas", "shapely", "numpy", "scipy"))
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem_kb / 1024 / 1024:.1f} GiB RAM; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; {pkgs}; headless Debian Chromium (software WebGL)."
    )
