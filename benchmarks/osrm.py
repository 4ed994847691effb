"""OSRM beside the road engine, on the same edges: preparation, routes, nearest-5, closures (issue 13).

OSRM is run only here, never by the product: the `osrm-bindings` wheel (osrm-backend 26.x,
with ``osrm-extract``/``-contract``/``-partition``/``-customize``) needs Python ≥ 3.12, so
it lives in a venv of such an interpreter (`VENV`, made on first use with pip) and every
query runs in a subprocess of it (`benchmarks/osrm_worker.py`, in-process bindings, no HTTP).

Same edges
----------
`write_pbf` writes a `geo.network.Network` as an OSM PBF with one way per directed engine
edge (its two end nodes, node id = engine node + 1, way id = edge + 1), ``oneway=yes`` and
the engine's travel time in ``yrd:time_s``; `benchmarks/osrm_profile.lua` makes that the
way's duration and weight, with no turn, signal or u-turn costs.  OSRM keeps the fastest of
parallel edges, as the engine does, and drops self-loops (never on a fastest route).  Per
segment it stores the weight rounded to 1 ms and the duration rounded to 0.1 s (at least one
unit each), so `check_exact` compares, for origin and destination on nodes:

- OSRM's route weight with the engine's ``geo.routing.route(...).travel_time_s`` (within
  0.5 ms per segment of OSRM's path, and the path re-costed with the engine's times equal
  to the engine's answer to 1e-6 relative: OSRM found a fastest route of the engine's graph);
- OSRM's duration with the same path's engine times each rounded as OSRM rounds them
  (exactly), and with the engine's travel time (how far apart OSRM's 0.1 s rounding puts them).

Closures drop the closed edges: a segment speed file sets their speed to 0 (OSRM then
treats them as impassable); MLD applies it by re-running ``osrm-customize`` on a copy, CH
by re-running ``osrm-contract`` (a full re-contraction).

Run alone on the real network and one tiled size: ``python -m benchmarks.osrm [TARGET_NODES ...]``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from geo import network as gn

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
PROFILE = HERE / "osrm_profile.lua"
WORKER = HERE / "osrm_worker.py"
#: The venv of the OSRM interpreter (made on demand), and the wheel it installs.
VENV = Path.home() / ".cache" / "yrd-osrm-venv"
REQUIREMENT = "osrm-bindings>=26,<27"
#: OSRM keeps coordinates in 1e-6° (pyosmium's PBF in 1e-7°): nodes are written, and node
#: queries asked, at 6 decimals, so that a query at a node is exactly at OSRM's node (rounding
#: 7 decimals to 6 again would move some by 1e-6°, about 0.1 m, off the node).
COORD_DIGITS = 6
#: Per-segment rounding of OSRM (s): weights (profile's weight_precision 3) and durations.
WEIGHT_UNIT_S = 0.001
DURATION_UNIT_S = 0.1
#: CH is contracted up to this many nodes (1 M nodes take about 10 min on 2 cores); the
#: re-contraction after a closure is run up to `RECONTRACT_MAX_NODES` (it costs a contraction).
CH_MAX_NODES = 2_000_000
RECONTRACT_MAX_NODES = 200_000
#: Timeouts (s) of an OSRM tool run and of a query worker.
TOOL_TIMEOUT_S = 3600
WORKER_TIMEOUT_S = 1800
K = 5


# --------------------------------------------------------------------------- the interpreter


def _interpreters() -> list[Path]:
    """Python ≥ 3.12 interpreters of this machine (pyenv versions, then /usr/bin)."""
    found = sorted((Path.home() / ".pyenv" / "versions").glob("3.1[2-9]*/bin/python3"), reverse=True)
    found += [Path(p) for p in ("/usr/bin/python3.13", "/usr/bin/python3.12")]
    return [p for p in found if p.exists()]


def venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_osrm(*, install: bool = True) -> tuple[Path | None, str]:
    """(python of the OSRM venv, "") when `osrm-bindings` imports there, else (None, why not).

    Makes `VENV` with the first Python ≥ 3.12 found and pip-installs `REQUIREMENT` into it
    when `install` (the first run downloads the wheel from PyPI, about 30 MB).
    """
    py = venv_python()
    check = [str(py), "-c", "import osrm, numpy; print(osrm.__file__)"]
    if py.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return py, ""
    found = _interpreters()
    if not found:
        return None, "not run: no Python ≥ 3.12 interpreter on this machine (the `osrm-bindings` wheel needs one)"
    if not install:
        return None, f"not run: the OSRM venv {VENV} is missing or lacks `osrm-bindings`"
    log.info("making the OSRM venv %s with %s", VENV, found[0])
    steps = [[str(found[0]), "-m", "venv", str(VENV)], [str(py), "-m", "pip", "install", "-q", REQUIREMENT, "numpy"]]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
        if proc.returncode != 0:
            return None, f"not run: `{' '.join(cmd[-4:])}` failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
    if subprocess.run(check, capture_output=True, check=False).returncode != 0:
        return None, f"not run: `osrm-bindings` does not import in {VENV}"
    return py, ""


def _tool(py: Path, name: str) -> Path:
    """Path of an OSRM executable shipped in the wheel (``osrm/bin/osrm-<name>``)."""
    site = subprocess.run([str(py), "-c", "import osrm, pathlib; print(pathlib.Path(osrm.__file__).parent)"], capture_output=True, text=True, check=True)
    return Path(site.stdout.strip()) / "bin" / f"osrm-{name}"


def osrm_version(py: Path) -> str:
    proc = subprocess.run([str(py), "-c", "from importlib.metadata import version; print(version('osrm-bindings'))"], capture_output=True, text=True, check=False)
    return proc.stdout.strip() or "?"


# --------------------------------------------------------------------------- same edges


def write_pbf(net: gn.Network, path: Path) -> dict:
    """Write `net` as an OSM PBF for OSRM: one ``oneway=yes`` way per directed edge.

    Nodes (id = engine node + 1) in the network's lon/lat (EPSG:4326) at `COORD_DIGITS` decimals,
    then one way per edge that is not a self-loop (id = edge + 1) over its two end nodes,
    tagged ``highway=road``, ``oneway=yes`` and ``yrd:time_s`` (the engine's travel time, s,
    as a shortest round-trip decimal).  Streamed by pyosmium: memory stays bounded.
    Returns counts and the time taken (s).
    """
    import osmium
    from osmium.osm import mutable

    t0 = time.perf_counter()
    path.unlink(missing_ok=True)
    lon, lat = np.round(np.asarray(net.node_lon), COORD_DIGITS).tolist(), np.round(np.asarray(net.node_lat), COORD_DIGITS).tolist()
    u, v = np.asarray(net.edge_u), np.asarray(net.edge_v)
    keep = np.flatnonzero(u != v)
    tt = np.asarray(net.edge_time_s)
    writer = osmium.SimpleWriter(str(path))
    try:
        for i, (x, y) in enumerate(zip(lon, lat, strict=True)):
            writer.add_node(mutable.Node(id=i + 1, location=(x, y)))
        chunk = 200_000
        for a in range(0, len(keep), chunk):
            e = keep[a : a + chunk]
            for ei, ui, vi, ti in zip(e.tolist(), u[e].tolist(), v[e].tolist(), tt[e].tolist(), strict=True):
                writer.add_way(mutable.Way(id=ei + 1, nodes=[ui + 1, vi + 1], tags={"highway": "road", "oneway": "yes", "yrd:time_s": repr(ti)}))
    finally:
        writer.close()
    return {"nodes": net.n_nodes, "ways": len(keep), "self_loops": int(net.n_edges - len(keep)), "write_s": time.perf_counter() - t0, "pbf_mib": path.stat().st_size / 2**20}


def speed_file(net: gn.Network, blocked: np.ndarray, path: Path) -> int:
    """Write an OSRM segment speed file closing every `blocked` edge (speed 0 km/h); returns the lines written.

    One line ``from_node,to_node,0`` per distinct (u, v) of a closed edge (OSM node ids as
    `write_pbf` numbers them); OSRM makes a segment of speed 0 impassable.
    """
    e = np.flatnonzero(np.asarray(blocked, dtype=bool))
    u, v = np.asarray(net.edge_u)[e].astype(np.int64) + 1, np.asarray(net.edge_v)[e].astype(np.int64) + 1
    pairs = np.unique(np.column_stack([u, v])[u != v], axis=0)
    with path.open("w", encoding="ascii") as fh:
        for a, b in pairs.tolist():
            fh.write(f"{a},{b},0\n")
    return len(pairs)


# --------------------------------------------------------------------------- preparation


def _run_tool(py: Path, name: str, *args: str, log_file: Path) -> float:
    """Run ``osrm-<name> args`` (wall time, s); its output is appended to `log_file`."""
    cmd = [str(_tool(py, name)), *args]
    t = time.perf_counter()
    with log_file.open("a", encoding="utf-8") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=TOOL_TIMEOUT_S, check=False)
    took = time.perf_counter() - t
    if proc.returncode != 0:
        tail = log_file.read_text(encoding="utf-8", errors="replace")[-2000:]
        msg = f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{tail}"
        raise RuntimeError(msg)
    return took


def prepare(py: Path, pbf: Path, *, ch: bool) -> dict:
    """Extract `pbf` with `PROFILE`, then partition + customize (MLD) and, if `ch`, contract (CH).

    Contraction runs after partitioning, which renumbers the graph (the order OSRM's docs
    give for preparing both on the same files).  Returns wall times (s) per tool.
    """
    base = pbf.with_name(pbf.name.removesuffix(".osm.pbf") + ".osrm")
    log_file = pbf.with_suffix(".log")
    out = {"extract_s": _run_tool(py, "extract", "-p", str(PROFILE), str(pbf), log_file=log_file)}
    out["partition_s"] = _run_tool(py, "partition", str(base), log_file=log_file)
    out["customize_s"] = _run_tool(py, "customize", str(base), log_file=log_file)
    if ch:
        out["contract_s"] = _run_tool(py, "contract", str(base), log_file=log_file)
    out["base"] = str(base)
    return out


def _worker(py: Path, base: Path, algorithm: str, qfile: Path) -> dict:
    cmd = [str(py), str(WORKER), str(base), algorithm, str(qfile)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        msg = f"OSRM worker ({algorithm}, {base.name}) failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        raise RuntimeError(msg)
    return json.loads(proc.stdout)


# --------------------------------------------------------------------------- exactness


def node_pairs(net: gn.Network, queries: dict, *, n_extra: int, seed: int) -> list[tuple[int, int]]:
    """Origin–destination node pairs: those of ``queries["route_points"]`` with both ends at a
    node, then `n_extra` seeded random pairs of nodes of the largest strongly connected part."""
    from benchmarks.network import query_nodes

    pts = queries["route_points"]
    pairs = [(a["node"], b["node"]) for a, b in zip(pts[0::2], pts[1::2], strict=True) if a["node"] >= 0 and b["node"] >= 0]
    rng = np.random.default_rng(seed)
    pool = query_nodes(net)
    pairs += [tuple(map(int, rng.choice(pool, 2, replace=False))) for _ in range(n_extra)]
    return [(int(a), int(b)) for a, b in pairs if a != b]


def _coords(net: gn.Network, node: int) -> list[float]:
    """A node's position as written by `write_pbf` (rounded to OSRM's 1e-6°), for OSRM queries."""
    return [round(float(net.node_lon[node]), COORD_DIGITS), round(float(net.node_lat[node]), COORD_DIGITS)]


def _exact_coords(net: gn.Network, node: int) -> tuple[float, float]:
    return float(net.node_lon[node]), float(net.node_lat[node])


def engine_routes(net: gn.Network, pairs: list[tuple[int, int]], *, blocked: np.ndarray | None = None) -> tuple[list[float], list[str], list[float]]:
    """The engine's travel times (s; inf where no route), outcome codes ('ok', 'no_route',
    'in_closure') and seconds per query, for node `pairs` (`geo.routing.route`, the default search)."""
    from geo import routing

    times, codes, took = [], [], []
    for a, b in pairs:
        t = time.perf_counter()
        try:
            times.append(routing.route(net, _exact_coords(net, a), _exact_coords(net, b), blocked=blocked).travel_time_s)
            codes.append("ok")
        except routing.NoRoute as exc:
            times.append(math.inf)
            codes.append(exc.code)
        took.append(time.perf_counter() - t)
    return times, codes, took


def _path_cost(net: gn.Network, nodes: list[int], weights: np.ndarray) -> tuple[float, float, float, int] | None:
    """(engine time, sum of ms-rounded, sum of 0.1 s-rounded edge times, segments) along a node
    path, each step by its fastest open edge under `weights`; None if a step has no such edge."""
    total = w_ms = d_ds = 0.0
    for a, b in zip(nodes[:-1], nodes[1:], strict=True):
        e = net.edge_between(a, b, weights=weights)
        if e < 0 or not math.isfinite(weights[e]):
            return None
        t = float(net.edge_time_s[e])
        total += t
        w_ms += max(1, round(t / WEIGHT_UNIT_S))
        d_ds += max(1, round(t / DURATION_UNIT_S))
    return total, w_ms * WEIGHT_UNIT_S, d_ds * DURATION_UNIT_S, len(nodes) - 1


def _trim(nodes: list[int], a: int, b: int) -> list[int]:
    """OSRM's annotated node ids (engine node + 1) as engine nodes from `a` to `b`: OSRM starts
    or ends at a phantom on a segment at the node, and lists the node or not."""
    path = [n - 1 for n in nodes]
    path = path[path.index(a) :] if a in path else [a, *path]
    path = path[: len(path) - path[::-1].index(b)] if b in path else [*path, b]
    return path


def check_exact(net: gn.Network, pairs: list[tuple[int, int]], osrm_exact: list, engine_s: list[float], codes: list[str], *, blocked: np.ndarray | None = None) -> dict:
    """Compare OSRM's routes (`osrm_worker` ``exact``) with the engine's, pair by pair (see the module docstring).

    Counts, over the pairs the engine did not refuse (``in_closure``):

    - ``weight_match``: OSRM weight within 0.5 ms per segment of the engine's travel time;
    - ``path_optimal``: OSRM's path re-costed with the engine's times equals the engine's
      time to 1e-6 relative (the same fastest time, maybe by another path of equal time);
    - ``duration_exact``: OSRM's duration equals its path's engine times rounded to 0.1 s
      per segment (at least 0.1 s), to 1e-6 s;
    - ``duration_within_0.1``: |OSRM duration − engine time| ≤ 0.1 s; also the largest gap;
    - ``both_no_route``: neither finds a route; ``mismatch``: the pairs that fail a check.
    """
    weights = np.asarray(net.edge_time_s) if blocked is None else np.where(np.asarray(blocked, dtype=bool), np.inf, net.edge_time_s)
    out = {"pairs": 0, "weight_match": 0, "path_optimal": 0, "duration_exact": 0, "duration_within_0.1": 0, "both_no_route": 0, "refused_by_engine": 0,
           "max_duration_gap_s": 0.0, "max_weight_gap_s": 0.0, "mismatch": []}  # fmt: skip
    for (a, b), got, want, code in zip(pairs, osrm_exact, engine_s, codes, strict=True):
        if code == "in_closure":
            out["refused_by_engine"] += 1
            continue
        out["pairs"] += 1
        if got is None or not math.isfinite(want):
            if got is None and not math.isfinite(want):
                out["both_no_route"] += 1
            else:
                out["mismatch"].append({"pair": [a, b], "engine_s": want if math.isfinite(want) else None, "osrm": None if got is None else got["weight"]})
            continue
        path = _trim(got["nodes"], a, b)
        cost = _path_cost(net, path, weights)
        gap_w = abs(got["weight"] - want)
        segs = len(path) - 1
        ok_w = gap_w <= WEIGHT_UNIT_S / 2 * segs + 1e-6
        ok_p = cost is not None and abs(cost[0] - want) <= 1e-6 * max(1.0, want)
        ok_d = cost is not None and abs(cost[2] - got["duration"]) <= 1e-6
        gap_d = abs(got["duration"] - want)
        out["weight_match"] += ok_w
        out["path_optimal"] += ok_p
        out["duration_exact"] += ok_d
        out["duration_within_0.1"] += gap_d <= DURATION_UNIT_S + 1e-9
        out["max_duration_gap_s"] = max(out["max_duration_gap_s"], gap_d)
        out["max_weight_gap_s"] = max(out["max_weight_gap_s"], gap_w)
        if not (ok_w and ok_p and ok_d):
            out["mismatch"].append({"pair": [a, b], "engine_s": want, "osrm_weight": got["weight"], "osrm_duration": got["duration"],
                                    "path_engine_s": None if cost is None else cost[0], "segments": segs})  # fmt: skip
    out["mismatch"] = out["mismatch"][:10]
    return out


# --------------------------------------------------------------------------- one network


def _strip(res: dict) -> dict:
    """A worker's answer without the bulky parts (route node lists, picked resources)."""
    return {k: v for k, v in res.items() if k not in ("exact", "nearest")}


def measure(net: gn.Network, *, label: str, queries: dict, workdir: Path, python: Path, exact: bool, seed: int = 13) -> dict:
    """OSRM on `net`: write, prepare (CH up to `CH_MAX_NODES`, MLD), query, close, re-query.

    `queries` are `benchmarks.network.make_queries` ones (routes of every point kind,
    incidents, the resources).  With `exact`, node pairs (`node_pairs`) are routed by OSRM and
    by the engine (`geo.routing.route`, in this process) and compared (`check_exact`), without
    and with the closure (`benchmarks.network.closure_polygon`).  Returns times (s), counts and
    the checks; the OSRM files are removed.
    """
    from benchmarks.network import closure_polygon
    from geo import routing

    folder = workdir / f"osrm-{label}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    pbf = folder / f"{label}.osm.pbf"
    out: dict = {"label": label, "n_nodes": net.n_nodes, "n_edges": net.n_edges, "write": write_pbf(net, pbf)}
    ch = net.n_nodes <= CH_MAX_NODES
    log.info("OSRM %s: preparing (%s)", label, "CH and MLD" if ch else "MLD")
    prep = prepare(python, pbf, ch=ch)
    base = Path(prep.pop("base"))
    out["prepare"] = prep
    algorithms = ("CH", "MLD") if ch else ("MLD",)

    pairs = node_pairs(net, queries, n_extra=200, seed=seed) if exact else []
    blocked = routing.blocked_edges(net, [closure_polygon(net)])
    q = {"exact_pairs": [[_coords(net, a), _coords(net, b)] for a, b in pairs], "routes": queries["routes"],
         "incidents": queries["incidents"], "resources": queries["resources"], "k": K}  # fmt: skip
    qfile = folder / "queries.json"
    qfile.write_text(json.dumps(q), encoding="utf-8")
    if exact:
        eng_s, codes, took = engine_routes(net, pairs)
        out["engine_check_route_s"] = took
    for algo in algorithms:
        log.info("OSRM %s: queries (%s)", label, algo)
        res = _worker(python, base, algo, qfile)
        if exact:
            res["check"] = check_exact(net, pairs, res["exact"], eng_s, codes)
        out[algo] = _strip(res)

    # the closure: the closed edges' segments at speed 0, applied on a copy of the prepared files
    closed = folder / "closed"
    closed.mkdir()
    for p in folder.glob(f"{label}.osrm*"):
        shutil.copy2(p, closed / p.name)
    cbase = closed / base.name
    lines = speed_file(net, blocked, folder / "closed.csv")
    out["closure"] = {"closed_edges": int(np.asarray(blocked).sum()), "speed_file_lines": lines}
    log_file = folder / "closure.log"
    if exact:
        eng_c, codes_c, _ = engine_routes(net, pairs, blocked=blocked)
    redo = [("MLD", "customize")] + ([("CH", "contract")] if ch and net.n_nodes <= RECONTRACT_MAX_NODES else [])
    for algo, tool in redo:
        log.info("OSRM %s: closure by osrm-%s", label, tool)
        took = _run_tool(python, tool, str(cbase), "--segment-speed-file", str(folder / "closed.csv"), log_file=log_file)
        res = _worker(python, cbase, algo, qfile)
        if exact:
            res["check"] = check_exact(net, pairs, res["exact"], eng_c, codes_c, blocked=blocked)
        out["closure"][algo] = {f"{tool}_s": took, **_strip(res)}
    shutil.rmtree(folder)
    return out


def run(real: gn.Network, *, sizes: tuple[int, ...] = (95_000,), seed: int = 2613) -> dict:
    """OSRM on the real network (with the exactness check) and tiled networks of about `sizes` nodes (the first also checked)."""
    from benchmarks.network import N_ROUTE_PAIRS, make_queries, tile_network, tiles_for

    py, why = ensure_osrm()
    if py is None:
        return {"status": why, "sizes": []}
    out = {"status": "", "version": osrm_version(py), "sizes": []}
    with tempfile.TemporaryDirectory(prefix="bench-osrm-") as tmp:
        workdir = Path(tmp)
        queries = make_queries(real, seed=seed, n_incidents=N_ROUTE_PAIRS, n_routes=N_ROUTE_PAIRS)
        out["sizes"].append(measure(real, label="real", queries=queries, workdir=workdir, python=py, exact=True))
        for i, target in enumerate(sizes):
            tiles = tiles_for(real.n_nodes, target)
            net = tile_network(real, *tiles)
            label = f"tiled-{tiles[0]}x{tiles[1]}"
            queries = make_queries(net, seed=seed + target, n_incidents=N_ROUTE_PAIRS, n_routes=N_ROUTE_PAIRS)
            out["sizes"].append(measure(net, label=label, queries=queries, workdir=workdir, python=py, exact=i == 0))
            del net
    return out


def _main(argv: list[str]) -> int:
    """``python -m benchmarks.osrm [TARGET_NODES ...] [--json OUT]``: the real network and tiled sizes."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out_file = None
    if "--json" in argv:
        i = argv.index("--json")
        out_file = Path(argv[i + 1])
        argv = argv[:i] + argv[i + 2 :]
    from benchmarks.network import OSM

    real = gn.build_from_graph(gn.read_osm(OSM), name="shanghai-center", source=OSM.name)
    res = run(real, sizes=tuple(int(a) for a in argv) or (95_000,))
    text = json.dumps(res)
    if out_file:
        out_file.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
