"""Streaming build of a whole-region road network from ``.osm.pbf``: ≥ 5 M drivable nodes.

A synthetic PBF is written with osmium by tiling the real central-Shanghai extract
(``../shared/data/osm/shanghai_center.osm``, read in place): copy (i, j) of every node and
way is shifted east by i and north by j tile steps (the extract's bbox plus `SEAM_GAP_M`,
in whole 1e-7 degrees so coordinates stay exact), its node and way ids offset by a stride
per tile.  Neighbouring copies are joined by two-way ``highway=primary`` seam ways at the
node pairs `benchmarks.network.seam_pairs` picks (nodes of the largest strongly connected
part, so the tiled network is strongly connected).  The tiles lie inside 116–123 E,
28–33 N, `TILE_ROWS` rows high and as many columns as the node count needs, so that a
route of well over 300 km crosses it.

That file is then built by `geo.network.build_osm` (the app's path: `geo.osm_stream`) in a
fresh process, whose peak memory (VmHWM) and wall time are the build's figures; a second
fresh process loads the saved network (page cache dropped) and answers nearest-5 and
≥ 300 km route queries.  The PBF and the network stay under /tmp (`WORKDIR`).

Run on demand (a few minutes; never in tests): ``python -m benchmarks --only pbf``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import network as bnet
from geo import network as gn

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
OSM = bnet.OSM
WORKDIR = Path("/tmp/yrd-bench-pbf")
#: Drivable OSM nodes (referenced by drivable ways) the synthetic file must hold at least.
TARGET_NODES = 5_000_000
#: Rows of tiles (the columns follow from the node count), south-west corner of the layout (degrees).
TILE_ROWS = 6
ORIGIN_LON, ORIGIN_LAT = 116.2, 28.6
SEAM_GAP_M = bnet.SEAM_GAP_M
SEAM_TAGS = {"highway": "primary", "name": "seam"}
#: Targets of the issue: build peak memory (MiB), reload (s), route length (km) to measure.
TARGETS = {"peak_mib": 8192.0, "reload_s": 2.0, "route_km": 300.0}
K = 5
N_INCIDENTS = 100
N_RESOURCES = 100
N_LONG_ROUTES = 7
WORKER_TIMEOUT_S = 3600


# --------------------------------------------------------------------------- the tiler


def read_extract(osm: Path = OSM) -> dict:
    """Nodes (ids, fixed-point 1e-7 degree x/y) and highway ways (id, node ids, tags) of an OSM file."""
    import osmium

    nodes: dict[int, tuple[int, int]] = {}
    ways = []
    for obj in osmium.FileProcessor(str(osm)):
        if obj.is_node() and obj.location.valid():
            nodes[obj.id] = (obj.location.x, obj.location.y)
        elif obj.is_way() and "highway" in obj.tags:
            ways.append((obj.id, [n.ref for n in obj.nodes], dict(obj.tags)))
    ids = np.array(sorted(nodes), dtype=np.int64)
    xy = np.array([nodes[i] for i in ids.tolist()], dtype=np.int64).reshape(-1, 2)
    return {"node_id": ids, "x": xy[:, 0], "y": xy[:, 1], "ways": ways}


def _stride(max_id: int) -> int:
    return 10 ** len(str(int(max_id)))


def tile_layout(extract: dict, net: gn.Network, nx: int, ny: int, *, origin: tuple[float, float] = (ORIGIN_LON, ORIGIN_LAT)) -> dict:
    """Where each copy goes and where seams join them: steps (1e-7 degrees), id strides, seam node-id pairs."""
    seams = bnet.seam_pairs(net, gap_m=SEAM_GAP_M)
    west, south = int(extract["x"].min()), int(extract["y"].min())
    step_x, step_y = round(seams["dlon"] * 1e7), round(seams["dlat"] * 1e7)
    node_id = np.asarray(net.node_id)
    return {
        "nx": nx, "ny": ny, "step_x": step_x, "step_y": step_y,
        "base_x": round(origin[0] * 1e7) - west, "base_y": round(origin[1] * 1e7) - south,
        "node_stride": _stride(extract["node_id"].max()),
        "way_stride": _stride(max(w[0] for w in extract["ways"])),
        "east": node_id[seams["east"]], "north": node_id[seams["north"]],
    }  # fmt: skip


def write_tiled(extract: dict, layout: dict, out: Path) -> dict:
    """Write the `layout` tiling of `extract` as an OSM PBF (sorted: nodes, then ways); counts written."""
    import osmium
    from osmium.osm.mutable import Node, Way

    nx, ny = layout["nx"], layout["ny"]
    tiles = nx * ny
    ns, ws = layout["node_stride"], layout["way_stride"]
    out.unlink(missing_ok=True)
    n_nodes = n_ways = n_seams = 0
    with osmium.SimpleWriter(str(out)) as writer:
        for t in range(tiles):
            i, j = t % nx, t // nx
            x = (extract["x"] + layout["base_x"] + i * layout["step_x"]) / 1e7
            y = (extract["y"] + layout["base_y"] + j * layout["step_y"]) / 1e7
            for nid, lon, lat in zip((extract["node_id"] + t * ns).tolist(), x.tolist(), y.tolist(), strict=True):
                writer.add_node(Node(id=nid, location=(lon, lat)))
            n_nodes += len(x)
        for t in range(tiles):
            off = t * ns
            for wid, refs, tags in extract["ways"]:
                writer.add_way(Way(id=wid + t * ws, nodes=[r + off for r in refs], tags=tags))
            n_ways += len(extract["ways"])
        wid = tiles * ws
        for t in range(tiles):
            i, j = t % nx, t // nx
            for key, has_next, step in (("east", i < nx - 1, 1), ("north", j < ny - 1, nx)):
                if not has_next:
                    continue
                for a, b in layout[key].tolist():
                    writer.add_way(Way(id=wid, nodes=[a + t * ns, b + (t + step) * ns], tags=SEAM_TAGS))
                    wid += 1
                    n_seams += 1
    return {"nodes": n_nodes, "ways": n_ways, "seams": n_seams, "tiles": tiles}


def drivable_node_count(extract: dict) -> int:
    """OSM nodes referenced by the drivable ways of `extract`."""
    refs = {r for _, refs, tags in extract["ways"] if tags.get("highway") in gn.DRIVABLE for r in refs}
    return len(refs)


def real_network(extract_pbf: Path) -> gn.Network:
    """The real extract's network, built by the streaming builder (what the tiles copy)."""
    from geo import osm_stream

    return osm_stream.build_network(extract_pbf, name="real", source=OSM.name)


def write_extract_pbf(osm: Path, out: Path) -> Path:
    """The OSM file `osm` rewritten as PBF (nodes and ways) with osmium."""
    import osmium

    out.unlink(missing_ok=True)
    with osmium.SimpleWriter(str(out)) as writer:
        for obj in osmium.FileProcessor(str(osm)):
            if obj.is_node():
                writer.add_node(obj)
            elif obj.is_way():
                writer.add_way(obj)
    return out


def make_tiled_pbf(out: Path, *, nx: int, ny: int, osm: Path = OSM) -> dict:
    """Write `nx` × `ny` tiles of `osm` to `out`; the layout, counts and the real network's size."""
    extract = read_extract(osm)
    real = real_network(write_extract_pbf(osm, out.with_name("real.osm.pbf")))
    layout = tile_layout(extract, real, nx, ny)
    counts = write_tiled(extract, layout, out)
    return {"layout": layout, "counts": counts, "real_nodes": real.n_nodes, "real_edges": real.n_edges, "drivable_per_tile": drivable_node_count(extract)}


# --------------------------------------------------------------------------- workers (fresh processes)


def _peak_mib() -> float:
    return bnet._proc_status()["VmHWM"]


def build_worker(pbf: Path, folder: Path, name: str) -> dict:
    """Build and save with `geo.network.build_osm` (progress to stderr); wall time and peak memory."""
    t0 = time.perf_counter()
    net = gn.build_osm(pbf, name=name, folder=folder, progress=lambda phase, f: print(f"{time.perf_counter() - t0:7.1f} s {phase} {f:.0%}", file=sys.stderr, flush=True))
    return {"build_s": time.perf_counter() - t0, "peak_mib": _peak_mib(), "n_nodes": net.n_nodes, "n_edges": net.n_edges}


def query_worker(folder: Path, queries: dict) -> dict:
    """Load (timed, page cache dropped before), then nearest-5 and long routes."""
    from geo import nearest as gnear
    from geo import routing

    t0 = time.perf_counter()
    net = gn.load(folder)
    load_s = time.perf_counter() - t0
    prepared = gnear.prepare(net, queries["resource_ids"], *np.array(queries["resources"]).T)
    gnear.nearest(net, tuple(queries["incidents"][0]), prepared, k=K)
    reload_s = time.perf_counter() - t0
    nearest_s = []
    for at in queries["incidents"]:
        t = time.perf_counter()
        gnear.nearest(net, tuple(at), prepared, k=K)
        nearest_s.append(time.perf_counter() - t)
    route_s, route_km, route_h = [], [], []
    for o, d in queries["long_routes"]:
        t = time.perf_counter()
        r = routing.route(net, tuple(o), tuple(d))
        route_s.append(time.perf_counter() - t)
        route_km.append(r.length_m / 1000)
        route_h.append(r.travel_time_s / 3600)
    return {"load_s": load_s, "reload_s": reload_s, "nearest_s": nearest_s, "route_s": route_s, "route_km": route_km, "route_h": route_h, "peak_mib": _peak_mib()}


def _worker(kind: str, *args: str) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.pbf", kind, *args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        msg = f"{kind} worker failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        raise RuntimeError(msg)
    log.info("%s worker progress:\n%s", kind, proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1]) | {"stderr_tail": proc.stderr.strip().splitlines()[-12:]}


def long_route_pairs(net: gn.Network, n: int, rng: np.random.Generator, *, min_km: float = TARGETS["route_km"]) -> list:
    """`n` origin–destination pairs (lon/lat) at nodes of the main strongly connected part, ≥ `min_km` apart in a straight line."""
    nodes = bnet.query_nodes(net)
    lon, lat = np.asarray(net.node_lon)[nodes], np.asarray(net.node_lat)[nodes]
    west, east = nodes[lon < lon.min() + 0.15], nodes[lon > lon.max() - 0.15]
    pairs = []
    while len(pairs) < n:
        a, b = int(rng.choice(west)), int(rng.choice(east))
        pa, pb = (float(net.node_lon[a]), float(net.node_lat[a])), (float(net.node_lon[b]), float(net.node_lat[b]))
        if gn.haversine_m(*pa, *pb) >= min_km * 1000:
            pairs.append([list(pa), list(pb)])
    return pairs


def run(*, target_nodes: int = TARGET_NODES, rows: int = TILE_ROWS, seed: int = 2026, workdir: Path = WORKDIR) -> dict:
    """Write the tiled PBF, build it in a fresh process, query it in another; figures in s / MiB."""
    if not OSM.exists():
        msg = f"OSM extract {OSM} is missing; it lives in ../shared/data/osm (read in place, never copied)."
        raise FileNotFoundError(msg)
    workdir.mkdir(parents=True, exist_ok=True)
    per_tile = drivable_node_count(read_extract(OSM))
    tiles = math.ceil(target_nodes / per_tile)
    nx, ny = math.ceil(tiles / rows), rows
    pbf = workdir / f"tiled-{nx}x{ny}.osm.pbf"
    t = time.perf_counter()
    made = make_tiled_pbf(pbf, nx=nx, ny=ny)
    write_s = time.perf_counter() - t
    log.info("wrote %s: %s", pbf, made["counts"])
    built = _worker("build", str(pbf), str(workdir), "tiled")
    folder = workdir / "tiled"
    net = gn.load(folder)
    rng = np.random.default_rng(seed)
    queries = bnet.make_queries(net, seed=seed, n_incidents=N_INCIDENTS, n_routes=1, n_resources=N_RESOURCES)
    queries["long_routes"] = long_route_pairs(net, N_LONG_ROUTES, rng)
    bounds = net.meta["bounds"]
    del net
    qfile = workdir / "queries.json"
    qfile.write_text(json.dumps(queries), encoding="utf-8")
    bnet._evict_page_cache(folder)
    queried = _worker("query", str(folder), str(qfile))
    return {
        "tiles": [nx, ny], "pbf_mib": pbf.stat().st_size / 2**20, "write_s": write_s, "counts": made["counts"],
        "drivable_nodes": made["drivable_per_tile"] * made["counts"]["tiles"], "real_nodes": made["real_nodes"],
        "build": built, "disk_mib": bnet._disk_mib(folder), "query": queried, "bounds": bounds, "workdir": str(workdir),
    }  # fmt: skip


# --------------------------------------------------------------------------- report


def markdown(r: dict) -> str:
    """The section of BENCHMARKS.md for these figures."""
    b, q, c = r["build"], r["query"], r["counts"]
    t = bnet._t
    ok = lambda good: "✅" if good else "❌"  # noqa: E731
    w, s, e, n = r["bounds"]
    lines = [
        "## Whole-region build from `.osm.pbf`, streaming (`benchmarks/pbf.py`)",
        "",
        f"Synthetic PBF: {r['tiles'][0]} × {r['tiles'][1]} copies of `shanghai_center.osm` written with osmium "
        f"({c['nodes']:,} nodes, all of them referenced by drivable ways, {c['ways']:,} ways + {c['seams']:,} seam ways; "
        f"{r['pbf_mib']:.0f} MiB; written in {r['write_s']:.0f} s), laid out over {w:.1f}–{e:.1f} E, {s:.1f}–{n:.1f} N. "
        f"Built by `geo.network.build_osm` (streaming `geo.osm_stream`) in a fresh process.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| drivable OSM nodes in the file | {r['drivable_nodes']:,} | ≥ 5,000,000 {ok(r['drivable_nodes'] >= 5_000_000)} |",
        f"| build wall time (two passes + simplify + index + save) | {b['build_s']:.0f} s | |",
        f"| build peak memory (VmHWM) | {b['peak_mib']:,.0f} MiB | ≤ 8 GiB {ok(b['peak_mib'] <= TARGETS['peak_mib'])} |",
        f"| network | {b['n_nodes']:,} nodes, {b['n_edges']:,} directed edges ({r['real_nodes']:,} per tile, simplified) | |",
        f"| on disk | {r['disk_mib']:,.0f} MiB | |",
        f"| reload (fresh process, page cache dropped: `load` + snapping {N_RESOURCES} resources + first nearest-5) | {t(q['reload_s'])} (load alone {t(q['load_s'])}) | ≤ 2 s {ok(q['reload_s'] <= TARGETS['reload_s'])} |",
        f"| nearest-{K} of {N_RESOURCES} resources, median (p90) over {len(q['nearest_s'])} incidents | {t(statistics.median(q['nearest_s']))} ({t(float(np.percentile(q['nearest_s'], 90)))}) | |",
        f"| route ≥ 300 km straight line, median of {len(q['route_s'])} (road length {min(q['route_km']):.0f}–{max(q['route_km']):.0f} km) | {t(statistics.median(q['route_s']))} (min {t(min(q['route_s']))}, max {t(max(q['route_s']))}) | measured |",
        f"| query process peak memory (VmHWM) | {q['peak_mib']:,.0f} MiB | |",
    ]
    return "\n".join(lines)


def _main(argv: list[str]) -> int:
    """Worker entry: ``python -m benchmarks.pbf build PBF FOLDER NAME`` or ``query FOLDER QUERIES.json``."""
    logging.basicConfig(level=logging.WARNING)
    kind, *rest = argv
    if kind == "build":
        out = build_worker(Path(rest[0]), Path(rest[1]), rest[2])
    elif kind == "query":
        out = query_worker(Path(rest[0]), json.loads(Path(rest[1]).read_text(encoding="utf-8")))
    else:
        msg = f"worker kind was {kind!r}; expected 'build' or 'query'."
        raise ValueError(msg)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
