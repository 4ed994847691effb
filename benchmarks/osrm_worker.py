"""Query OSRM in-process (bindings, no HTTP) for `benchmarks/osrm.py`: run by the OSRM venv's Python.

``python osrm_worker.py BASE.osrm CH|MLD QUERIES.json``: loads the prepared files, then

- ``exact``: for each pair of ``exact_pairs`` (lon, lat), the route's weight, duration (s)
  and OSM node ids along it (``annotations=['nodes']``), or None where OSRM finds no route;
- ``route_s``: seconds per route of ``routes`` (``overview='false'``: the search and the
  snapping, what OSRM's own figures time), and ``route_full_s``: the same with the full
  geometry (``overview='full'``, GeoJSON), the engine's route assembling its geometry too;
- ``nearest_s``: seconds per nearest-``k`` query, one table query from the ``resources``
  (sources) to one incident (destination), the k smallest durations picked; ``nearest``
  the picked resource indices and durations.

Prints one JSON object.  Imports only the standard library and `osrm` (no project code:
this runs under another interpreter).
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

# this script's folder holds benchmarks/osrm.py, which must not shadow the `osrm` package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
import osrm  # noqa: E402


def _route(engine, params):
    try:
        return engine.Route(params)
    except RuntimeError:  # NoRoute and the like: OSRM raises with its code in the text
        return None


def main(argv: list[str]) -> int:
    base, algorithm, qfile = argv
    q = json.loads(Path(qfile).read_text(encoding="utf-8"))
    t = time.perf_counter()
    engine = osrm.OSRM(storage_config=base, algorithm=algorithm, use_shared_memory=False, default_radius="unlimited",
                       max_locations_distance_table=10_000)  # fmt: skip
    out: dict = {"load_s": time.perf_counter() - t}

    exact = []
    for o, d in q.get("exact_pairs", []):
        r = _route(engine, osrm.RouteParameters(coordinates=[tuple(o), tuple(d)], overview="false", annotations=["nodes"], generate_hints=False))
        if r is None or not r["routes"]:
            exact.append(None)
            continue
        route = r["routes"][0]
        nodes = [int(n) for leg in route["legs"] for n in leg["annotation"]["nodes"]]
        exact.append({"weight": float(route["weight"]), "duration": float(route["duration"]), "nodes": nodes})
    out["exact"] = exact

    for key, overview, geometries in (("route_s", "false", ""), ("route_full_s", "full", "geojson")):
        times, durations = [], []
        pairs = q.get("routes", [])
        for o, d in pairs[:3] + pairs:  # the first three warm the engine, then every pair is timed
            t = time.perf_counter()
            params = osrm.RouteParameters(coordinates=[tuple(o), tuple(d)], overview=overview, geometries=geometries, generate_hints=False)
            r = _route(engine, params)
            dur = float(r["routes"][0]["duration"]) if r is not None and r["routes"] else math.inf
            times.append(time.perf_counter() - t)
            durations.append(dur)
        out[key] = times[3:]
        out[key.replace("_s", "_duration_s")] = durations[3:]

    resources = [tuple(p) for p in q.get("resources", [])]
    k = int(q.get("k", 5))
    near_s, near = [], []
    incidents = q.get("incidents", [])
    for at in incidents[:3] + incidents:
        t = time.perf_counter()
        params = osrm.TableParameters(coordinates=[*resources, tuple(at)], sources=list(range(len(resources))), destinations=[len(resources)],
                                      annotations=["duration"], generate_hints=False)  # fmt: skip
        try:
            table = engine.Table(params)
            col = [row[0] for row in table["durations"]]
            col = [math.inf if c is None else float(c) for c in col]
            top = sorted(range(len(col)), key=col.__getitem__)[:k]
            picked = [[i, col[i]] for i in top]
        except RuntimeError:
            picked = []
        near_s.append(time.perf_counter() - t)
        near.append(picked)
    out["nearest_s"], out["nearest"] = near_s[3:], near[3:]
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
