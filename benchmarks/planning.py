"""Site planning: MCLP with 300 candidates × 5,000 demand points, our HiGHS model beside PySAL spopt (CBC).

The instance is synthetic but plausible for the Shanghai area (seeded, so every run solves
the same one): 5,000 demand points in a 1° × 0.8° box around Shanghai (about 95 km × 89 km),
three quarters in 12 Gaussian "towns" (σ 2–6 km) and a quarter spread evenly, each with a
log-normal population weight (median about 670); 300 candidate sites spread evenly over
the box.  Travel time is the estimate of `geo.planning.straight_line_cost`: great-circle
distance × circuity 1.3 at 50 km/h, as on the approximate network.  (The real OSM extract
of central Shanghai is 13 km across: too small for 5,000 × 300 with a useful threshold.)

Each scenario (coverage threshold, number of new sites) is solved to proven optimality by
`geo.planning.mclp` (HiGHS, MIP gap 0) and by spopt's ``MCLP.from_cost_matrix(...)
.solve(pulp.PULP_CBC_CMD(msg=False))``, the solver of spopt's documentation, on the same
cost matrix; the two covered weights must agree.

Run alone: ``python -m benchmarks --only planning``.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from importlib.metadata import version

import numpy as np

from geo import planning as pl

log = logging.getLogger(__name__)

#: Target of the issue: MCLP 300 × 5,000 to proven optimality (s).
TARGETS = {"mclp_solve_s": 60.0}
N_DEMAND = 5_000
N_CANDIDATES = 300
BOX = (120.9, 121.9, 30.7, 31.5)  # lon min, lon max, lat min, lat max (EPSG:4326)
N_TOWNS = 12
SEED = 2024
#: (coverage threshold s, new sites p): 15 min with 20 sites, the 30-minute on-scene target with 8.
SCENARIOS = ((900.0, 20), (1800.0, 8))
#: Safety net for CBC so a bad run cannot hang `make bench` (s); hitting it is reported.
CBC_TIME_LIMIT_S = 600
REL_TOL = 1e-6


def instance() -> tuple[np.ndarray, np.ndarray, float]:
    """Cost matrix (s) of shape (5,000, 300), demand weights, and the seconds it took to compute."""
    rng = np.random.default_rng(SEED)
    lon0, lon1, lat0, lat1 = BOX
    cx, cy = rng.uniform(lon0, lon1, N_TOWNS), rng.uniform(lat0, lat1, N_TOWNS)
    sigma_deg = rng.uniform(2, 6, N_TOWNS) / 100  # ≈ 2–6 km
    n_town = N_DEMAND * 3 // 4
    k = rng.integers(0, N_TOWNS, n_town)
    dlon = np.concatenate([cx[k] + rng.normal(0, 1, n_town) * sigma_deg[k], rng.uniform(lon0, lon1, N_DEMAND - n_town)])
    dlat = np.concatenate([cy[k] + rng.normal(0, 1, n_town) * sigma_deg[k] * 0.9, rng.uniform(lat0, lat1, N_DEMAND - n_town)])
    w = np.maximum(1.0, np.round(rng.lognormal(6.5, 1.0, N_DEMAND)))
    clon, clat = rng.uniform(lon0, lon1, N_CANDIDATES), rng.uniform(lat0, lat1, N_CANDIDATES)
    t = time.perf_counter()
    cost = pl.straight_line_cost(dlon, dlat, clon, clat)
    return cost, w, time.perf_counter() - t


def _spopt(cost: np.ndarray, w: np.ndarray, service_s: float, p: int) -> dict:
    import pulp
    from spopt.locate import MCLP

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # spopt 0.7 uses PuLP calls PuLP 3.3 marks for 4.0
        t = time.perf_counter()
        model = MCLP.from_cost_matrix(cost, w, service_radius=service_s, p_facilities=p)
        build = time.perf_counter() - t
        t = time.perf_counter()
        try:
            model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=CBC_TIME_LIMIT_S))
            status = pulp.LpStatus[model.problem.status]
        except RuntimeError as exc:  # spopt raises when pulp's status is not optimal
            status = f"failed: {exc}"
        solve = time.perf_counter() - t
    value = model.problem.objective.value()
    return {"build_s": build, "solve_s": solve, "status": status, "objective": float(value) if value is not None else math.nan}


def run() -> dict:
    """Solve every scenario with both; figures in seconds."""
    cost, w, cost_s = instance()
    out: dict = {"cost_matrix_s": cost_s, "total_weight": float(w.sum()), "versions": {p: version(p) for p in ("highspy", "spopt", "pulp")}, "scenarios": []}
    for service_s, p in SCENARIOS:
        t = time.perf_counter()
        ours = pl.mclp(cost, w, p=p, service_s=service_s, time_limit_s=TARGETS["mclp_solve_s"] * 10)
        total = time.perf_counter() - t
        theirs = _spopt(cost, w, service_s, p)
        out["scenarios"].append(
            {
                "service_s": service_s,
                "p": p,
                "pairs_within": int((cost <= service_s).sum()),
                "ours": {"build_s": ours.build_s, "solve_s": ours.runtime_s, "total_s": total, "status": ours.status, "mip_gap": ours.mip_gap, "objective": ours.objective},
                "spopt": theirs,
                "same_objective": math.isclose(ours.objective, theirs["objective"], rel_tol=REL_TOL),
            }
        )
        log.info("planning benchmark: %s", out["scenarios"][-1])
    return out


def markdown(r: dict) -> str:
    """The section of BENCHMARKS.md for these figures."""
    v = r["versions"]
    lines = [
        "## Site planning (`benchmarks/planning.py`)",
        "",
        f"MCLP, {N_CANDIDATES} candidates × {N_DEMAND:,} demand points, synthetic Shanghai-area instance "
        f"(straight line × 1.3 at 50 km/h; cost matrix in {r['cost_matrix_s'] * 1000:.0f} ms), "
        f"solved to proven optimality by `geo.planning.mclp` (HiGHS {v['highspy']}, gap 0) and by spopt {v['spopt']} "
        f"with its documented solver (PuLP {v['pulp']} → CBC, default gaps) on the same matrix.",
        "",
        "| threshold | new sites | pairs within | ours: build + solve | ours: status, gap | spopt: build + solve | spopt: status | covered share | same objective | target |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in r["scenarios"]:
        o, t = s["ours"], s["spopt"]
        ok = "✅" if o["status"] == "optimal" and o["total_s"] <= TARGETS["mclp_solve_s"] else "❌"
        lines.append(
            f"| {s['service_s'] / 60:.0f} min | {s['p']} | {s['pairs_within']:,} "
            f"| {o['build_s']:.2f} + {o['solve_s']:.2f} s | {o['status']}, {o['mip_gap']:.1e} "
            f"| {t['build_s']:.2f} + {t['solve_s']:.2f} s | {t['status']} "
            f"| {o['objective'] / r['total_weight']:.2%} | {'✅' if s['same_objective'] else '❌'} | ≤ {TARGETS['mclp_solve_s']:.0f} s {ok} |"
        )
    lines += [
        "",
        "Ours: only pairs within the threshold enter the model, demand points with the same covering",
        "set are merged, and the sparse matrix goes to HiGHS in one call.  spopt builds a PuLP",
        "expression per demand point over every candidate and writes an MPS file for CBC.",
    ]
    return "\n".join(lines)
