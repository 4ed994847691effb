"""Coverage indicators: share of places and population reached within a time by a kind of team.

The Chongming plan's indicator is "1-hour emergency-transport coverage 100 %" with at least
one professional team per township; thresholds and the team kinds are parameters here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.network import Network
from geo.routing import Snap, edge_weights, entries, snap_many

#: The plan's indicator: within 60 minutes.
DEFAULT_THRESHOLD_S = 3600.0


def snap_points(net: Network, lon, lat, *, snap_limit_m: float | None = None) -> list[Snap | None]:
    """Snap points (EPSG:4326); None where off the network."""
    return snap_many(net, lon, lat, limit_m=snap_limit_m)[0]


def point_times(net: Network, node_time_s: np.ndarray, snaps: list[Snap | None], *, blocked: np.ndarray | None = None) -> np.ndarray:
    """Arrival time (s) at snapped points given the arrival time at every node.

    A point is reached through the ends of its edge (partial edge cost) plus its access
    leg; off-network points get inf.
    """
    w = edge_weights(net, blocked)
    out = np.full(len(snaps), np.inf)
    for i, s in enumerate(snaps):
        if s is None:
            continue
        best = min((node_time_s[e.node] + e.time_s for e in entries(net, s, w)), default=np.inf)
        out[i] = best + s.access_time_s
    return out


def indicators(demand: pd.DataFrame, time_s: np.ndarray, *, threshold_s: float = DEFAULT_THRESHOLD_S, by: str = "county_code", weight: str | None = "population") -> pd.DataFrame:
    """Coverage per jurisdiction (`by`) and overall.

    Columns: ``points``, ``covered``, ``share`` (of points within `threshold_s`), and where
    `weight` is a column with any positive value, ``population``, ``covered_population``
    and ``population_share``.  The last row (``by`` = 'ALL') is the whole area.
    """
    if len(demand) != len(time_s):
        msg = f"`time_s` has {len(time_s)} values for {len(demand)} demand rows."
        raise ValueError(msg)
    if not threshold_s > 0:
        msg = f"`threshold_s` was {threshold_s!r}; it must be positive."
        raise ValueError(msg)
    df = pd.DataFrame({by: demand[by].to_numpy(), "covered": np.asarray(time_s) <= threshold_s})
    use_weight = weight is not None and weight in demand.columns and (demand[weight].fillna(0) > 0).any()
    if use_weight:
        df["population"] = demand[weight].fillna(0).to_numpy(dtype=float)
        df["covered_population"] = df["population"] * df["covered"]
    agg = {"points": ("covered", "size"), "covered": ("covered", "sum")}
    if use_weight:
        agg |= {"population": ("population", "sum"), "covered_population": ("covered_population", "sum")}
    table = df.groupby(by).agg(**agg).reset_index()
    total = {by: "ALL", **{k: df[src].sum() if fn == "sum" else len(df) for k, (src, fn) in agg.items()}}
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    table["share"] = table["covered"] / table["points"]
    if use_weight:
        table["population_share"] = np.where(table["population"] > 0, table["covered_population"] / table["population"].where(table["population"] > 0, 1), np.nan)
    return table


def teams_per(teams: pd.DataFrame, jurisdictions: pd.DataFrame, *, by: str = "county_code", kinds: tuple[str, ...] = ("professional",)) -> pd.DataFrame:
    """Number of teams of `kinds` in each jurisdiction (zero where there is none)."""
    sel = teams[teams["kind"].isin(kinds)]
    counts = sel.groupby(by).size()
    out = pd.DataFrame({"code": jurisdictions["code"].to_numpy(), "name": jurisdictions["name"].to_numpy()})
    out["teams"] = out["code"].map(counts).fillna(0).astype(int)
    return out
