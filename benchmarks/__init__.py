"""Timings and memory of the app, run on demand (`make bench`), written to BENCHMARKS.md."""
