"""Command line for road networks: build, route, nearest, network export, list (JSON output).

    python -m geo build   --osm FILE | --polygon AREA.geojson --name NAME [--emergency-factor X] [--dir DIR]
    python -m geo route   --network F --from LON,LAT --to LON,LAT [--crs wgs84|gcj02|bd09] [--avoid POLYGONS.geojson]
    python -m geo nearest --network F --at LON,LAT --resources R.geojson|R.csv --k K [--crs ...] [--avoid ...]
    python -m geo network --network F --out edges.gpkg
    python -m geo stitch  [--dir DIR] [--join-m M]
    python -m geo list    [--dir DIR]
    python -m geo zones      --network F --facilities P [--area A.geojson] [--out Z.geojson]
    python -m geo isochrones --network F --facilities P [--breaks 15,30,60] [--per-facility] [--out I.geojson]
    python -m geo coverage   --network F --facilities P --demand D.geojson [--threshold-min 60] [--by FIELD]
    python -m geo plan       --network F --model mclp|lscp|pmedian --candidates C --demand D [--facilities P] [--p N] [--service-min 60] [--max-time S]

`F` is an OSM file (.osm, .osm.bz2, .osm.pbf; built on the fly), a built network folder, or
the name of a network under the networks folder (default: ``networks/`` beside the dataset).
Answers go to standard output as JSON; errors to standard error, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from geo import crs as gcrs
from geo import network as gn
from geo import routing
from geo.nearest import nearest, prepare


#: What an answer on the stitched network (local OSM streets + the backbone) says it is.
STITCHED_LABEL_ZH = "骨干路网＋本地路网（部分估算）"


class CliError(ValueError):
    """A bad argument or input file; the message says what to fix."""


def default_networks_dir() -> Path:
    """``networks/`` beside the dataset (``$YRD_DATASET`` or ``data/build/yrd.duckdb``)."""
    import os

    dataset = os.environ.get("YRD_DATASET") or Path(__file__).resolve().parent.parent / "data" / "build" / "yrd.duckdb"
    return gn.networks_dir(dataset)


def open_network(spec: str | None, *, networks: Path | None = None, emergency_factor: float = 1.0) -> gn.Network:
    """A network from an OSM file, a saved network folder, or the name of a saved network;
    without `spec`, the default saved network (the first of `geo.network.list_networks`:
    the stitched network, else the backbone …)."""
    if spec is None:
        metas = gn.list_networks(networks or default_networks_dir())
        if not metas:
            msg = f"no saved network under {networks or default_networks_dir()}: build the dataset (`make data`) or give `--network`."
            raise CliError(msg)
        return gn.load(metas[0]["path"])
    path = Path(spec)
    if path.is_dir():
        return gn.load(path)
    if path.is_file():
        if path.name.lower().endswith(".pbf"):  # streams in bounded memory
            from geo import osm_stream

            return osm_stream.build_network(path, name=path.name, source=str(path), emergency_factor=emergency_factor)
        return gn.build_from_graph(gn.read_osm(path), name=path.name, source=str(path), emergency_factor=emergency_factor)
    folder = (networks or default_networks_dir()) / spec
    if folder.is_dir():
        return gn.load(folder)
    msg = f"`--network` was {spec!r}: not an OSM file, a network folder, nor a network under {networks or default_networks_dir()}."
    raise CliError(msg)


def parse_point(text: str, crs: str, arg: str) -> tuple[float, float]:
    """LON,LAT in `crs` → WGS84 (lon, lat)."""
    try:
        return gcrs.parse_lonlat(text, crs)
    except ValueError as exc:
        msg = f"`{arg}` was {exc}"
        raise CliError(msg) from None


def read_polygons(path: str | None, crs: str) -> tuple[list, list[str]]:
    """Closure polygons (and their names) from a GeoJSON file, converted to WGS84."""
    if not path:
        return [], []
    from geo.dispatch import read_closures

    try:
        return read_closures(path, crs=crs)
    except ValueError as exc:
        msg = f"`--avoid` file {path}: {exc}"
        raise CliError(msg) from exc


def read_resources(path: str, crs: str):
    """Resource ids and WGS84 positions from GeoJSON points (`id` or `name`) or CSV (id, lon, lat)."""
    import geopandas as gpd
    import pandas as pd

    p = Path(path)
    if not p.exists():
        msg = f"`--resources` file {path} does not exist."
        raise CliError(msg)
    if p.suffix.lower() == ".csv":
        df = pd.read_csv(p, dtype={"id": str})
        missing = {"id", "lon", "lat"} - set(df.columns)
        if missing:
            msg = f"`--resources` CSV {path} lacks columns {sorted(missing)}; it needs id, lon, lat."
            raise CliError(msg)
        ids, lon, lat = df["id"].astype(str).to_numpy(), df["lon"].to_numpy(float), df["lat"].to_numpy(float)
    else:
        gdf = gpd.read_file(p)
        if not (gdf.geom_type == "Point").all():
            msg = f"`--resources` file {path} must hold points."
            raise CliError(msg)
        key = "id" if "id" in gdf.columns else "name" if "name" in gdf.columns else None
        ids = gdf[key].astype(str).to_numpy() if key else np.array([str(i) for i in range(len(gdf))])
        lon, lat = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
    lon, lat = gcrs.to_wgs84(lon, lat, crs)
    return ids, lon, lat


def _closure_report(net: gn.Network, baseline: routing.Route | None, polygons: list, names: list[str]) -> list[str]:
    """Names of closures the unconstrained fastest route would have driven through."""
    if baseline is None or not polygons:
        return []
    import shapely

    line = shapely.LineString(baseline.coords)
    return [n for p, n in zip(polygons, names, strict=True) if line.intersects(p)]


def estimate_label(net: gn.Network) -> str:
    """What an answer on `net` says it is: 骨干路网（估算） on the backbone, 骨干路网＋本地路网（部分估算）
    on the stitched network, 估算 on another estimate, else ''."""
    from geo import backbone

    if backbone.is_backbone(net.meta):
        return backbone.LABEL_ZH
    if net.meta.get("kind") == "stitched":
        return STITCHED_LABEL_ZH
    return "估算" if net.estimate else ""


def route_answer(r: routing.Route, net: gn.Network) -> dict:
    """JSON answer of one route; ``access_s`` is the part of ``travel_time_s`` spent on the two
    access legs (point ↔ road, by the network's access rule)."""
    from geo import backbone

    out = {
        "travel_time_s": round(r.travel_time_s, 6),  # µs: exact enough to hold to an independent oracle
        "length_m": round(r.length_m, 2),
        "route": r.geojson(),
        "snap_distance_m": {"from": round(r.origin.distance_m, 2), "to": round(r.destination.distance_m, 2)},
        "access_s": round(r.origin.access_time_s + r.destination.access_time_s, 6),
        "estimate": net.estimate,
        "estimate_label": estimate_label(net),
    }
    if backbone.is_backbone(net.meta):
        out["estimate_meaning"] = backbone.MEANING
    return out


def cmd_route(args) -> dict:
    net = open_network(args.network, emergency_factor=args.emergency_factor)
    a = parse_point(args.from_, args.crs, "--from")
    b = parse_point(args.to, args.crs, "--to")
    polygons, names = read_polygons(args.avoid, args.crs)
    blocked = routing.blocked_edges(net, polygons) if polygons else None
    try:
        baseline = routing.route(net, a, b, snap_limit_m=args.snap_limit) if polygons else None
    except routing.NoRoute:
        baseline = None
    r = routing.route(net, a, b, blocked=blocked, snap_limit_m=args.snap_limit)
    out = {"network": net.name, **route_answer(r, net)}
    if polygons:
        out["closures_avoided"] = _closure_report(net, baseline, polygons, names)
        out["closed_edges"] = int(blocked.sum())
    return out


def cmd_nearest(args) -> dict:
    net = open_network(args.network, emergency_factor=args.emergency_factor)
    at = parse_point(args.at, args.crs, "--at")
    ids, lon, lat = read_resources(args.resources, args.crs)
    polygons, names = read_polygons(args.avoid, args.crs)
    blocked = routing.blocked_edges(net, polygons) if polygons else None
    prepared = prepare(net, ids, lon, lat, snap_limit_m=args.snap_limit)
    answers = nearest(net, at, prepared, k=args.k, blocked=blocked, snap_limit_m=args.snap_limit)
    return {
        "network": net.name,
        "incident": {"lon": at[0], "lat": at[1]},
        "estimate": net.estimate,
        "estimate_label": estimate_label(net),
        "results": [{"id": a.id, **route_answer(a.route, net)} for a in answers],
        "off_network": [{"id": i, "distance_m": round(d, 1)} for i, d in prepared.off_network.items()],
        "closed_edges": int(blocked.sum()) if blocked is not None else 0,
    }


def cmd_network(args) -> dict:
    import geopandas as gpd
    import shapely

    net = open_network(args.network, emergency_factor=args.emergency_factor)
    off = net.geom_offsets
    counts = np.diff(off)
    lines = shapely.linestrings(net.geom_lon, net.geom_lat, indices=np.repeat(np.arange(net.n_edges), counts))
    gdf = gpd.GeoDataFrame(
        {
            "u": np.asarray(net.node_id)[net.edge_u],
            "v": np.asarray(net.node_id)[net.edge_v],
            "length_m": np.asarray(net.edge_length_m),
            "travel_time_s": np.asarray(net.edge_time_s),
            "highway": np.asarray(net.highway_names, dtype=object)[net.edge_class],
        },
        geometry=lines,
        crs=4326,
    )
    out = Path(args.out)
    gdf.to_file(out, layer="edges", driver="GPKG" if out.suffix.lower() == ".gpkg" else None)
    return {"network": net.name, "out": str(out), "edges": net.n_edges, "nodes": net.n_nodes, "estimate": net.estimate}


def cmd_build(args) -> dict:
    folder = Path(args.dir) if args.dir else default_networks_dir()
    if bool(args.osm) == bool(args.polygon):
        msg = "give exactly one of `--osm FILE` or `--polygon AREA.geojson`."
        raise CliError(msg)
    if args.osm:
        import time

        t0 = time.monotonic()

        def progress(phase: str, fraction: float) -> None:  # one line a step on stderr, stdout stays JSON
            print(f"build {args.name}: {phase} {fraction:4.0%} ({time.monotonic() - t0:.0f} s)", file=sys.stderr, flush=True)

        net = gn.build_osm(args.osm, name=args.name, folder=folder, emergency_factor=args.emergency_factor, progress=progress)
    else:
        import shapely

        gn.check_name(args.name)
        polygons, _ = read_polygons(args.polygon, "wgs84")
        graph = gn.download_polygon(shapely.union_all(polygons))
        net = gn.build_from_graph(graph, name=args.name, source=f"OSM download for {Path(args.polygon).name}", emergency_factor=args.emergency_factor)
        gn.save(net, folder / args.name)
    return {"network": net.name, "path": str(folder / args.name), "nodes": net.n_nodes, "edges": net.n_edges, **_restitch(folder)}


def _restitch(folder: Path, *, join_m: float | None = None) -> dict:
    """Rebuild the stitched network of `folder` (`geo.stitch.rebuild`): its summary under
    ``stitched`` (None when there is no backbone or no local network), or, when it cannot be
    made (e.g. two local areas overlap), ``stitched_error`` with the code and the reason."""
    from geo import stitch

    try:
        net = stitch.rebuild(folder) if join_m is None else stitch.rebuild(folder, join_m=join_m)
    except gn.NetworkError as exc:
        return {"stitched": None, "stitched_error": {"code": exc.code, "message": str(exc)}}
    if net is None:
        return {"stitched": None}
    keys = ("join_m", "crossings", "crossings_unjoined", "nodes_joined", "joins")
    return {"stitched": {"network": net.name, "path": str(folder / net.name), "nodes": net.n_nodes, "edges": net.n_edges, **{k: net.meta[k] for k in keys}}}


def cmd_stitch(args) -> dict:
    """(Re)build the stitched network (backbone + every local network) of the networks folder."""
    folder = Path(args.dir) if args.dir else default_networks_dir()
    out = _restitch(folder, join_m=args.join_m)
    if "stitched_error" in out:
        raise gn.NetworkError(out["stitched_error"]["code"], out["stitched_error"]["message"])
    return out


def _facilities(args, net):
    import geopandas as gpd

    ids, lon, lat = read_resources(args.facilities, args.crs)
    return gpd.GeoDataFrame({"id": ids}, geometry=gpd.points_from_xy(lon, lat), crs=4326)


def _area(args, net):
    import shapely

    if getattr(args, "area", None):
        polygons, _ = read_polygons(args.area, args.crs)
        return shapely.union_all(polygons)
    hull = shapely.convex_hull(shapely.multipoints(np.column_stack([net.node_lon, net.node_lat])))
    return hull.buffer(0.005)


def _geojson_out(gdf, out: str | None) -> dict:
    if out:
        gdf.to_file(out, driver="GeoJSON")
        return {"out": out, "features": len(gdf)}
    return json.loads(gdf.to_json(ensure_ascii=False))


def cmd_zones(args) -> dict:
    from geo import zones as gz

    net = open_network(args.network)
    fac = _facilities(args, net)
    assignment = gz.assign(net, gz.snap_facilities(net, fac.geometry.x, fac.geometry.y))
    zones = gz.zone_polygons(assignment, gz.node_cells(net, _area(args, net)), fac)
    zones["estimate"] = net.estimate
    return _geojson_out(zones, args.out)


def cmd_isochrones(args) -> dict:
    import pandas as pd

    from geo import zones as gz

    net = open_network(args.network)
    fac = _facilities(args, net)
    breaks = gz.parse_breaks(args.breaks)
    snaps = gz.snap_facilities(net, fac.geometry.x, fac.geometry.y)
    cells = gz.node_cells(net, _area(args, net))
    merged = gz.isochrones(gz.assign(net, snaps).time_s, cells, breaks_min=breaks).assign(facility="ALL")
    parts = [merged]
    if args.per_facility:
        for fid, s in zip(fac["id"], snaps, strict=True):
            if s is not None:
                parts.append(gz.isochrones(gz.times_from(net, s), cells, breaks_min=breaks).assign(facility=fid))
    out = pd.concat(parts, ignore_index=True)
    out["estimate"] = net.estimate
    import geopandas as gpd

    return _geojson_out(gpd.GeoDataFrame(out, geometry="geometry", crs=4326), args.out)


def cmd_coverage(args) -> dict:
    import geopandas as gpd

    from geo import coverage as gc
    from geo import zones as gz

    net = open_network(args.network)
    fac = _facilities(args, net)
    demand = gpd.read_file(args.demand)
    if args.crs != "wgs84":
        x, y = gcrs.to_wgs84(demand.geometry.x, demand.geometry.y, args.crs)
        demand = demand.set_geometry(gpd.points_from_xy(x, y), crs=4326)
    if args.by not in demand.columns:
        demand[args.by] = "ALL"
    assignment = gz.assign(net, gz.snap_facilities(net, fac.geometry.x, fac.geometry.y))
    times = gc.point_times(net, assignment.time_s, gc.snap_points(net, demand.geometry.x, demand.geometry.y))
    table = gc.indicators(demand, times, threshold_s=args.threshold_min * 60, by=args.by, weight=args.weight)
    return {"network": net.name, "estimate": net.estimate, "threshold_min": args.threshold_min, "indicators": json.loads(table.to_json(orient="records", force_ascii=False))}


def cmd_plan(args) -> dict:
    import geopandas as gpd

    from geo import planning

    net = open_network(args.network)
    cand_ids, cand_lon, cand_lat = read_resources(args.candidates, args.crs)
    existing_ids: list[str] = []
    if args.facilities:
        fac_ids, fac_lon, fac_lat = read_resources(args.facilities, args.crs)
        existing_ids = [str(i) for i in fac_ids]
        cand_ids = np.concatenate([np.asarray(cand_ids, dtype=object), np.asarray(existing_ids, dtype=object)])
        cand_lon, cand_lat = np.concatenate([cand_lon, fac_lon]), np.concatenate([cand_lat, fac_lat])
    demand = gpd.read_file(args.demand)
    if not (demand.geom_type == "Point").all():
        msg = f"`--demand` file {args.demand} must hold points."
        raise CliError(msg)
    d_lon, d_lat = gcrs.to_wgs84(demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy(), args.crs)
    w = demand["weight"].to_numpy(dtype=float) if "weight" in demand.columns else None
    service_s = args.service_min * 60
    limit = service_s if args.model != "pmedian" else np.inf
    cost = planning.cost_matrix(net, d_lon, d_lat, cand_lon, cand_lat, limit_s=limit)
    existing = list(range(len(cand_ids) - len(existing_ids), len(cand_ids)))
    result = planning.plan(args.model, cost, w, p=args.p, service_s=service_s, existing=existing or None, time_limit_s=args.max_time)
    ids = np.asarray(cand_ids, dtype=object)
    return {
        "network": net.name,
        "estimate": net.estimate,
        "model": result.model,
        "chosen": [str(i) for i in ids[result.chosen]],
        "existing": existing_ids,
        "objective": result.objective,
        "status": result.status,
        "mip_gap": result.mip_gap,
        "runtime_s": round(result.runtime_s, 3),
        "covered_share": float(np.mean(result.covered)) if len(result.covered) else None,
        "uncoverable": [int(i) for i in result.uncoverable],
    }


def cmd_list(args) -> dict:
    """Saved networks, the default first (``default``: true); the backbone's entry adds its kind, what it means and its connectivity audit."""
    from geo import backbone

    folder = Path(args.dir) if args.dir else default_networks_dir()
    out = []
    for i, m in enumerate(gn.list_networks(folder)):
        entry = {k: m[k] for k in ("name", "source", "estimate", "n_nodes", "n_edges", "created", "path")}
        entry["default"] = i == 0  # what pages and commands use unless told otherwise
        if backbone.is_backbone(m):
            entry["kind"] = m["kind"]
            entry["estimate_label"] = backbone.LABEL_ZH
            entry["meaning"] = backbone.MEANING
            entry["audit"] = m.get("audit", [])
        elif m.get("kind") == "stitched":
            entry["kind"] = m["kind"]
            entry["estimate_label"] = STITCHED_LABEL_ZH
            entry["parts"] = [{k: p.get(k) for k in ("name", "kind", "source")} for p in m.get("parts", [])]
            entry["joins"], entry["join_m"] = m.get("joins"), m.get("join_m")
        out.append(entry)
    return {"networks": out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m geo", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, *, crs=True):
        p.add_argument("--network", help="OSM file, network folder, or saved network name (default: the default saved network, see `list`)")
        p.add_argument("--emergency-factor", type=float, default=1.0, help="speed factor for emergency vehicles (OSM input only)")
        if crs:
            p.add_argument("--crs", choices=gcrs.CRS_NAMES, default="wgs84", help="CRS of given coordinates and files")
            p.add_argument("--avoid", help="GeoJSON polygons to treat as closed (flooded areas, closed bridges)")
            p.add_argument("--snap-limit", type=float, default=None, help="metres; default 1000 (approximate network: 30000)")

    p = sub.add_parser("route", help="fastest route between two points")
    common(p)
    p.add_argument("--from", dest="from_", required=True, metavar="LON,LAT")
    p.add_argument("--to", required=True, metavar="LON,LAT")
    p = sub.add_parser("nearest", help="k resources with the shortest travel time to a point")
    common(p)
    p.add_argument("--at", required=True, metavar="LON,LAT")
    p.add_argument("--resources", required=True, help="GeoJSON points (id or name) or CSV with id, lon, lat")
    p.add_argument("--k", type=int, default=5)
    p = sub.add_parser("network", help="write the directed edges the engine uses (GeoPackage/GeoJSON)")
    common(p, crs=False)
    p.add_argument("--out", required=True)
    for name, help_ in (("zones", "responsibility zones: the area each facility reaches first (GeoJSON)"), ("isochrones", "service areas at time breaks (GeoJSON)"), ("coverage", "share of demand points within a time (JSON)")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--network", help="default: the default saved network")
        p.add_argument("--facilities", required=True, help="GeoJSON points (id or name) or CSV with id, lon, lat")
        p.add_argument("--crs", choices=gcrs.CRS_NAMES, default="wgs84")
        if name == "coverage":
            p.add_argument("--demand", required=True, help="GeoJSON points; optional weight and grouping fields")
            p.add_argument("--threshold-min", type=float, default=60.0)
            p.add_argument("--by", default="county_code", help="field to group indicators by")
            p.add_argument("--weight", default="population", help="field of demand weights (population)")
        else:
            p.add_argument("--area", help="GeoJSON polygon of the study area (default: around the network)")
            p.add_argument("--out", help="write GeoJSON here instead of standard output")
        if name == "isochrones":
            p.add_argument("--breaks", default="15,30,60", help="minutes, comma-separated")
            p.add_argument("--per-facility", action="store_true", help="also one set of bands per facility")
    p = sub.add_parser("plan", help="choose sites for new bases: mclp, lscp or pmedian (exact, HiGHS)")
    p.add_argument("--network", help="default: the default saved network")
    p.add_argument("--model", choices=("mclp", "lscp", "pmedian"), required=True)
    p.add_argument("--candidates", required=True, help="GeoJSON points (id or name) or CSV with id, lon, lat")
    p.add_argument("--demand", required=True, help="GeoJSON points, optional `weight` property")
    p.add_argument("--facilities", help="existing bases (always open), same formats as --candidates")
    p.add_argument("--p", type=int, help="number of new sites (mclp, pmedian)")
    p.add_argument("--service-min", type=float, default=60.0, help="coverage threshold (mclp, lscp)")
    p.add_argument("--max-time", type=float, default=60.0, help="solver time limit (s)")
    p.add_argument("--crs", choices=gcrs.CRS_NAMES, default="wgs84")
    p = sub.add_parser("build", help="build and save a network from an OSM file (or download it for a polygon)")
    p.add_argument("--osm", help="OSM file: .osm, .osm.bz2 or .osm.pbf")
    p.add_argument("--polygon", help="GeoJSON polygon to download drivable roads for (needs internet)")
    p.add_argument("--name", required=True)
    p.add_argument("--emergency-factor", type=float, default=1.0)
    p.add_argument("--dir", help="networks folder (default: networks/ beside the dataset)")
    p = sub.add_parser("stitch", help="(re)build the stitched network: the backbone outside, every local network inside its area (geo.stitch)")
    p.add_argument("--dir", help="networks folder (default: networks/ beside the dataset)")
    p.add_argument("--join-m", type=float, default=None, help="join distance (m) between the backbone and a local network (default 2000)")
    p = sub.add_parser("list", help="list saved networks")
    p.add_argument("--dir")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    commands = {
        "route": cmd_route, "nearest": cmd_nearest, "network": cmd_network, "build": cmd_build, "stitch": cmd_stitch, "list": cmd_list,
        "zones": cmd_zones, "isochrones": cmd_isochrones, "coverage": cmd_coverage, "plan": cmd_plan,
    }  # fmt: skip
    try:
        out = commands[args.command](args)
    except (CliError, gn.NetworkError, routing.OffNetwork, routing.NoRoute, ValueError) as exc:  # SolverError is a ValueError
        kind = "off_network" if isinstance(exc, routing.OffNetwork) else "no_route" if isinstance(exc, routing.NoRoute) else "error"
        payload = {"error": kind, "message": str(exc)}
        if isinstance(exc, (routing.OffNetwork, routing.NoRoute)):
            payload["code"] = exc.code
        if isinstance(exc, routing.OffNetwork):
            payload["distance_m"] = round(exc.distance_m, 1) if np.isfinite(exc.distance_m) else None
        print(json.dumps(payload, ensure_ascii=False), file=sys.stderr)
        return 2
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
