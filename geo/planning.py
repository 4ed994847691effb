"""Choose sites for new bases: maximal covering (MCLP), set covering (LSCP), p-median; what-if indicators.

The models work on arrays: a cost matrix ``cost`` of shape ``(n_demand, n_candidates)``
holding travel times in seconds from each candidate site *to* each demand point
(``np.inf`` = unreachable), demand weights ``w`` of shape ``(n_demand,)`` (people,
incidents, …) and, for the coverage models, a service threshold ``service_s``: a demand
point is *covered* by a site when ``cost[i, j] <= service_s``.  Adapters make the arrays:
`cost_matrix` (road travel times on a `geo.network.Network`), `straight_line_cost`
(great-circle distance × circuity at a speed) and `from_geodataframes` (GeoDataFrames in,
arrays out).  Candidates are places, or a grid from `grid_candidates`.

Every model is solved exactly as a mixed-integer programme by HiGHS (``highspy``), with
a time limit and a relative MIP gap (default 0: proven optimality).  The answer is a
`PlanResult`.  When the time limit stops HiGHS with a feasible solution in hand, that
solution is returned with ``status == "time_limit"`` and its ``mip_gap``; every other
non-optimal end (infeasible, time limit with no solution, solver error) raises
`SolverError` with HiGHS's status.  An empty answer is never returned silently.

Existing bases are candidates given in ``existing``: they are always open, are not
counted in ``p`` (``p`` = number of *new* sites), and are never in ``PlanResult.chosen``.

"A base out of service" is a what-if on the open sites: `coverage_of` gives the
indicators of a set of open sites, `without` removes one, and `compare` puts the
indicators before and after side by side.  Indicators keep apart demand reached within
the limit, reached beyond it, and not reached by any road (`Coverage`, `open_times`).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from geo.network import APPROX_CIRCUITY, APPROX_SPEED_KPH, Network, haversine_m
from geo.routing import NoRoute, OffNetwork, edge_weights, entries, exits, snap

log = logging.getLogger(__name__)

#: Model names accepted by `plan`.
MODELS = ("mclp", "lscp", "pmedian")
#: Largest grid `grid_candidates` makes before it asks for a coarser spacing.
MAX_GRID_CANDIDATES = 100_000
#: Bytes of Dijkstra distance rows held at once by `cost_matrix`.
_DIJKSTRA_CHUNK_BYTES = 64 * 2**20


class SolverError(ValueError):
    """The MIP solver did not reach a usable solution; ``status`` is its model status."""

    def __init__(self, msg: str, *, status: str, model: str):
        super().__init__(msg)
        self.status = status
        self.model = model


@dataclass(frozen=True)
class PlanResult:
    """A site-selection answer.

    Attributes
    ----------
    model : str
        ``"mclp"``, ``"lscp"`` or ``"pmedian"``.
    chosen : numpy.ndarray
        Candidate indices of the *new* sites, sorted (existing sites are not in it).
    existing : numpy.ndarray
        Candidate indices of the existing (always open) sites, sorted.
    objective : float
        MCLP: demand weight covered within ``service_s`` by all open sites.
        LSCP: number of open sites (existing + new).
        p-median: total weighted travel time (seconds × weight) of the assigned demand.
    status : str
        ``"optimal"`` (within ``mip_gap``) or ``"time_limit"`` (best solution found when the
        time limit stopped the solver; ``mip_gap`` says how far from proven it may be).
    mip_gap : float
        Relative gap between the solution and the solver's bound, |primal − bound| / |primal|.
    runtime_s, build_s : float
        Solver time and model-building time (s).
    assignment : numpy.ndarray
        Per demand point, the candidate index serving it, or -1.  Coverage models and the
        uncapacitated p-median: the nearest open site (-1 if none is reachable).
        Capacitated p-median: the site the solver assigned it to (the largest share when
        assignments are fractional).
    covered : numpy.ndarray
        Per demand point, True when an open site reaches it within ``service_s``
        (p-median: within any time, i.e. assigned).
    uncoverable : numpy.ndarray
        Demand indices no candidate at all can serve: none within ``service_s`` (MCLP,
        LSCP) or none reachable (p-median).  They are left out of the model, never make it
        infeasible.
    load : numpy.ndarray or None
        p-median: demand assigned to each candidate (0 where closed), in units of
        ``demand_size`` when capacitated, else of ``w``; other models: None.
    """

    model: str
    chosen: np.ndarray
    existing: np.ndarray
    objective: float
    status: str
    mip_gap: float
    runtime_s: float
    build_s: float
    assignment: np.ndarray
    covered: np.ndarray
    uncoverable: np.ndarray
    load: np.ndarray | None = None

    @property
    def open_sites(self) -> np.ndarray:
        """All open candidate indices (existing + new), sorted."""
        return np.union1d(self.existing, self.chosen).astype(np.int64)

    @property
    def optimal(self) -> bool:
        return self.status == "optimal"


# --------------------------------------------------------------------------- input checks


def _check_cost(cost) -> np.ndarray:
    cost = np.asarray(cost, dtype=float)
    if cost.ndim != 2:
        msg = f"`cost` must be a 2-D array (n_demand, n_candidates); it has shape {cost.shape}."
        raise ValueError(msg)
    if 0 in cost.shape:
        msg = f"`cost` must have at least one demand point and one candidate; it has shape {cost.shape}."
        raise ValueError(msg)
    if np.isnan(cost).any():
        msg = f"`cost` holds {int(np.isnan(cost).sum())} NaN values; use np.inf for unreachable pairs."
        raise ValueError(msg)
    if (cost < 0).any():
        msg = f"`cost` must be travel times ≥ 0 s; its smallest value is {cost.min()}."
        raise ValueError(msg)
    return cost


def _check_weights(w, n: int, name: str = "w") -> np.ndarray:
    w = np.asarray(w, dtype=float)
    if w.shape != (n,):
        msg = f"`{name}` must have shape ({n},) like the rows of `cost`; it has shape {w.shape}."
        raise ValueError(msg)
    if not np.isfinite(w).all() or (w < 0).any():
        msg = f"`{name}` must be finite and ≥ 0; it holds {w[~np.isfinite(w) | (w < 0)][:5].tolist()}."
        raise ValueError(msg)
    return w


def _check_existing(existing, m: int) -> np.ndarray:
    if existing is None:
        return np.zeros(0, dtype=np.int64)
    arr = np.asarray(existing)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        msg = f"`existing` must be candidate indices (integers); it was {arr[:5].tolist()}."
        raise ValueError(msg)
    arr = arr.astype(np.int64).ravel()
    bad = arr[(arr < 0) | (arr >= m)]
    if len(bad):
        msg = f"`existing` holds {bad[:5].tolist()}, outside the {m} candidates (0 … {m - 1})."
        raise ValueError(msg)
    if len(np.unique(arr)) != len(arr):
        msg = f"`existing` repeats a candidate: {arr.tolist()}."
        raise ValueError(msg)
    return np.sort(arr)


def _check_p(p, free: int, existing: np.ndarray) -> int:
    if p is None or isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 0:
        msg = f"`p` (number of new sites) was {p!r}; it must be an integer ≥ 0."
        raise ValueError(msg)
    if p > free:
        msg = f"`p` was {p} but only {free} candidates are not already open ({len(existing)} existing)."
        raise ValueError(msg)
    return int(p)


def _check_service(service_s) -> float:
    if not isinstance(service_s, (int, float, np.integer, np.floating)) or not (math.isfinite(service_s) and service_s > 0):
        msg = f"`service_s` was {service_s!r}; it must be a positive number of seconds."
        raise ValueError(msg)
    return float(service_s)


def _check_solver_options(time_limit_s, mip_gap) -> tuple[float, float]:
    if not isinstance(time_limit_s, (int, float, np.integer, np.floating)) or not time_limit_s > 0:
        msg = f"`time_limit_s` was {time_limit_s!r}; it must be a positive number of seconds (math.inf for none)."
        raise ValueError(msg)
    if not isinstance(mip_gap, (int, float, np.integer, np.floating)) or not 0 <= mip_gap < 1:
        msg = f"`mip_gap` was {mip_gap!r}; it must be a relative gap in [0, 1)."
        raise ValueError(msg)
    return float(time_limit_s), float(mip_gap)


# --------------------------------------------------------------------------- the solver


@dataclass
class _Solution:
    x: np.ndarray
    objective: float
    bound: float
    status: str
    mip_gap: float
    runtime_s: float


def _solve(
    *,
    model: str,
    c: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    integer: np.ndarray,
    a: sparse.spmatrix,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    maximize: bool,
    time_limit_s: float,
    mip_gap: float,
) -> _Solution:
    """Solve ``opt c·x  s.t.  row_lower ≤ A x ≤ row_upper, lower ≤ x ≤ upper, x[integer] ∈ ℤ`` with HiGHS."""
    import highspy

    inf = highspy.kHighsInf
    a = sparse.csc_matrix(a)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", mip_gap)
    if math.isfinite(time_limit_s):
        h.setOptionValue("time_limit", time_limit_s)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(c), a.shape[0]
    lp.col_cost_ = np.asarray(c, dtype=float)
    lp.col_lower_ = np.asarray(lower, dtype=float)
    lp.col_upper_ = np.asarray(upper, dtype=float)
    lp.row_lower_ = np.where(np.isfinite(row_lower), row_lower, -inf)
    lp.row_upper_ = np.where(np.isfinite(row_upper), row_upper, inf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = lp.num_col_, lp.num_row_
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    status = h.passModel(lp)
    if status == highspy.HighsStatus.kError:
        msg = f"{model}: HiGHS rejected the model ({lp.num_col_:,} columns, {lp.num_row_:,} rows)."
        raise SolverError(msg, status="model_error", model=model)
    cols = np.flatnonzero(integer).astype(np.int32)
    if len(cols):
        h.changeColsIntegrality(len(cols), cols, np.ones(len(cols), dtype=np.uint8))
    t0 = time.perf_counter()
    h.run()
    runtime = time.perf_counter() - t0
    ms = h.getModelStatus()
    info = h.getInfo()
    has_solution = info.primal_solution_status == highspy.kSolutionStatusFeasible
    if ms == highspy.HighsModelStatus.kOptimal and has_solution:
        name = "optimal"
    elif ms == highspy.HighsModelStatus.kTimeLimit and has_solution:
        name = "time_limit"
        log.warning("%s: time limit %.1f s reached; returning the best solution found", model, time_limit_s)
    else:
        text = h.modelStatusToString(ms)
        name = text.lower().replace(" ", "_")
        why = " with no feasible solution found" if ms == highspy.HighsModelStatus.kTimeLimit else ""
        msg = f"{model}: HiGHS stopped with status {text!r}{why} after {runtime:.2f} s (time limit {time_limit_s} s)."
        raise SolverError(msg, status=name, model=model)
    gap = float(info.mip_gap) if integer.any() else 0.0
    if name == "optimal" and not (math.isfinite(gap) and gap >= 0):
        gap = 0.0
    x = np.asarray(h.getSolution().col_value, dtype=float)
    log.info("%s: %s in %.2f s (%d columns, %d rows, gap %.2g)", model, name, runtime, lp.num_col_, lp.num_row_, gap)
    bound = float(info.mip_dual_bound) if integer.any() else float(info.objective_function_value)
    return _Solution(x, float(info.objective_function_value), bound, name, gap, runtime)


def _gap(objective: float, bound: float, status: str, solver_gap: float) -> float:
    """Relative gap |bound − objective| / |objective| of the reported (recomputed) objective.

    The objective is recomputed from the chosen sites, which can be better than the
    solver's own incumbent value after a time limit (its continuous variables are not
    always at their best); the gap is then measured against the solver's bound.
    """
    if status == "optimal" or not math.isfinite(bound):
        return solver_gap
    if objective == bound:
        return 0.0
    return abs(bound - objective) / abs(objective) if objective != 0 else math.inf


def _nearest_open(cost: np.ndarray, open_sites: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per demand point, the nearest open site (-1 if none reachable) and its time (inf)."""
    n = cost.shape[0]
    if len(open_sites) == 0:
        return np.full(n, -1, dtype=np.int64), np.full(n, np.inf)
    sub = cost[:, open_sites]
    k = np.argmin(sub, axis=1)
    t = sub[np.arange(n), k]
    site = np.where(np.isfinite(t), open_sites[k], -1).astype(np.int64)
    return site, t


def _unique_rows(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a boolean matrix: (index of one representative per class, class of each row)."""
    if mask.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    packed = np.packbits(mask, axis=1)
    _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    return first, inverse.ravel()


# --------------------------------------------------------------------------- models


def mclp(cost, w, *, p: int, service_s: float, existing=None, time_limit_s: float = 60.0, mip_gap: float = 0.0) -> PlanResult:
    """Maximal covering location: open `p` new sites to cover the most demand weight.

    Parameters
    ----------
    cost : array (n_demand, n_candidates)
        Travel time (s) from each candidate to each demand point; ``np.inf`` = unreachable.
    w : array (n_demand,)
        Demand weight (≥ 0).
    p : int
        Number of new sites to open (existing ones not counted).
    service_s : float
        Coverage threshold (s): demand point i is covered when an open site j has
        ``cost[i, j] <= service_s``.
    existing : sequence of int, optional
        Candidate indices already open; they always count and are not in ``chosen``.
    time_limit_s : float
        Solver time limit (s).  Stopped with a solution: ``status == "time_limit"``.
    mip_gap : float
        Relative optimality gap at which to stop (0 = proven optimal).

    Returns
    -------
    PlanResult
        ``objective`` = covered weight (by existing and new sites), ``covered`` per demand
        point, ``uncoverable`` = demand points no candidate covers.

    Raises
    ------
    SolverError
        If HiGHS ends without a feasible solution.

    Notes
    -----
    Only coverage pairs within `service_s` enter the model.  Demand points covered by an
    existing site, or by no candidate, or of weight 0 are constants and left out; points
    with the same set of covering candidates are merged (weights summed).  Variables:
    binary ``x_j`` (site open), continuous ``0 ≤ y_g ≤ 1`` (class g covered); rows
    ``y_g ≤ Σ_{j covers g} x_j`` and ``Σ_new x_j = p``.  ``y`` is integral at the optimum.
    """
    t0 = time.perf_counter()
    cost = _check_cost(cost)
    n, m = cost.shape
    w = _check_weights(w, n)
    service_s = _check_service(service_s)
    existing = _check_existing(existing, m)
    free = np.setdiff1d(np.arange(m), existing)
    p = _check_p(p, len(free), existing)
    time_limit_s, mip_gap = _check_solver_options(time_limit_s, mip_gap)

    cover = cost <= service_s
    uncoverable = np.flatnonzero(~cover.any(axis=1))
    by_existing = cover[:, existing].any(axis=1)
    rows = np.flatnonzero((w > 0) & ~by_existing & cover[:, free].any(axis=1))
    sub = cover[np.ix_(rows, free)]
    first, cls = _unique_rows(sub)
    weight = np.bincount(cls, weights=w[rows], minlength=len(first))
    g_rows, g_cols = np.nonzero(sub[first])
    n_g = len(first)
    # columns: x (m candidates), then y (n_g classes); rows: n_g coverage rows, then the cardinality row
    a = sparse.coo_matrix(
        (
            np.concatenate([np.ones(n_g), -np.ones(len(g_rows)), np.ones(len(free))]),
            (
                np.concatenate([np.arange(n_g), g_rows, np.full(len(free), n_g)]),
                np.concatenate([m + np.arange(n_g), free[g_cols], free]),
            ),
        ),
        shape=(n_g + 1, m + n_g),
    )
    lower = np.zeros(m + n_g)
    lower[existing] = 1.0
    upper = np.ones(m + n_g)
    integer = np.zeros(m + n_g, dtype=bool)
    integer[:m] = True
    build_s = time.perf_counter() - t0
    log.info("mclp: %d demand points → %d coverage classes, %d candidates (%d existing), p=%d", n, n_g, m, len(existing), p)
    sol = _solve(
        model="mclp", c=np.concatenate([np.zeros(m), weight]), lower=lower, upper=upper, integer=integer, a=a,
        row_lower=np.concatenate([np.full(n_g, -np.inf), [p]]), row_upper=np.concatenate([np.zeros(n_g), [p]]),
        maximize=True, time_limit_s=time_limit_s, mip_gap=mip_gap,
    )  # fmt: skip
    chosen = free[sol.x[free] > 0.5]
    open_sites = np.union1d(existing, chosen).astype(np.int64)
    covered = cover[:, open_sites].any(axis=1)
    objective = float(w[covered].sum())
    constant = float(w[by_existing].sum())
    if sol.status == "optimal" and not math.isclose(objective, sol.objective + constant, rel_tol=1e-6, abs_tol=1e-6):
        log.warning("mclp: covered weight %.9g differs from the solver's objective %.9g", objective, sol.objective + constant)
    gap = _gap(objective, sol.bound + constant, sol.status, sol.mip_gap)
    assignment, _ = _nearest_open(cost, open_sites)
    return PlanResult("mclp", chosen, existing, objective, sol.status, gap, sol.runtime_s, build_s, assignment, covered, uncoverable)


def lscp(cost, w=None, *, service_s: float, existing=None, time_limit_s: float = 60.0, mip_gap: float = 0.0) -> PlanResult:
    """Location set covering: the fewest sites that cover every coverable demand point.

    Parameters
    ----------
    cost : array (n_demand, n_candidates)
        Travel time (s) from each candidate to each demand point; ``np.inf`` = unreachable.
    w : array (n_demand,), optional
        Demand weight; not used by the model (every point counts), checked if given.
    service_s : float
        Coverage threshold (s).
    existing : sequence of int, optional
        Candidate indices already open (always open, counted in the objective, not in ``chosen``).
    time_limit_s, mip_gap : float
        As in `mclp`.

    Returns
    -------
    PlanResult
        ``objective`` = number of open sites (existing + new).  Demand points that no
        candidate reaches within `service_s` are in ``uncoverable`` and do not make the
        model infeasible.

    Raises
    ------
    SolverError
        If HiGHS ends without a feasible solution.

    Notes
    -----
    Binary ``x_j``; one row ``Σ_{j covers i} x_j ≥ 1`` per distinct covering set of the
    demand points not yet covered by an existing site.
    """
    t0 = time.perf_counter()
    cost = _check_cost(cost)
    n, m = cost.shape
    if w is not None:
        _check_weights(w, n)
    service_s = _check_service(service_s)
    existing = _check_existing(existing, m)
    free = np.setdiff1d(np.arange(m), existing)
    time_limit_s, mip_gap = _check_solver_options(time_limit_s, mip_gap)

    cover = cost <= service_s
    uncoverable = np.flatnonzero(~cover.any(axis=1))
    by_existing = cover[:, existing].any(axis=1)
    rows = np.flatnonzero(~by_existing & cover[:, free].any(axis=1))
    sub = cover[np.ix_(rows, free)]
    first, _ = _unique_rows(sub)
    g_rows, g_cols = np.nonzero(sub[first])
    n_g = len(first)
    a = sparse.coo_matrix((np.ones(len(g_rows)), (g_rows, free[g_cols])), shape=(n_g, m))
    lower = np.zeros(m)
    lower[existing] = 1.0
    c = np.zeros(m)
    c[free] = 1.0
    build_s = time.perf_counter() - t0
    log.info("lscp: %d demand points → %d covering rows, %d uncoverable, %d candidates (%d existing)", n, n_g, len(uncoverable), m, len(existing))
    if n_g == 0:  # nothing left to cover: no new site
        sol = _Solution(lower.copy(), 0.0, 0.0, "optimal", 0.0, 0.0)
    else:
        sol = _solve(
            model="lscp", c=c, lower=lower, upper=np.ones(m), integer=np.ones(m, dtype=bool), a=a,
            row_lower=np.ones(n_g), row_upper=np.full(n_g, np.inf), maximize=False, time_limit_s=time_limit_s, mip_gap=mip_gap,
        )  # fmt: skip
    chosen = free[sol.x[free] > 0.5]
    open_sites = np.union1d(existing, chosen).astype(np.int64)
    covered = cover[:, open_sites].any(axis=1)
    missed = np.flatnonzero(~covered)
    if len(np.setdiff1d(missed, uncoverable)):
        msg = f"lscp: the solver's sites leave coverable demand points uncovered: {np.setdiff1d(missed, uncoverable)[:5].tolist()}."
        raise SolverError(msg, status="inconsistent", model="lscp")
    assignment, _ = _nearest_open(cost, open_sites)
    objective = float(len(open_sites))
    gap = _gap(objective, sol.bound + len(existing), sol.status, sol.mip_gap)
    return PlanResult("lscp", chosen, existing, objective, sol.status, gap, sol.runtime_s, build_s, assignment, covered, uncoverable)


def pmedian(
    cost,
    w,
    *,
    p: int,
    existing=None,
    capacity=None,
    demand_size=None,
    single_source: bool = True,
    time_limit_s: float = 60.0,
    mip_gap: float = 0.0,
) -> PlanResult:
    """p-median: open `p` new sites minimising total weighted travel time, optionally capacitated.

    Parameters
    ----------
    cost : array (n_demand, n_candidates)
        Travel time (s) from each candidate to each demand point; ``np.inf`` = unreachable
        (that pair cannot be assigned).
    w : array (n_demand,)
        Demand weight: the objective is ``Σ_i w_i · cost[i, site(i)]``.
    p : int
        Number of new sites to open (existing ones not counted).
    existing : sequence of int, optional
        Candidate indices already open.
    capacity : array (n_candidates,), optional
        Capacity of each candidate, in the units of `demand_size`.  None: uncapacitated.
    demand_size : array (n_demand,), optional
        Size each demand point takes of its site's capacity (default: `w`).
    single_source : bool
        Capacitated only.  True (default, as PySAL spopt): assignment variables are binary,
        each demand point is served wholly by one site.  False: they are fractional, a
        demand point may be split between sites (``assignment`` then gives the largest share).
        Uncapacitated models use fractional variables; the optimum assigns each point to
        its nearest open site, which is what ``assignment`` reports.
    time_limit_s, mip_gap : float
        As in `mclp`.

    Returns
    -------
    PlanResult
        ``objective`` = total weighted travel time (s × weight); ``load`` = demand assigned
        to each candidate; ``uncoverable`` = demand points no candidate reaches.

    Raises
    ------
    SolverError
        If HiGHS ends without a feasible solution, e.g. when the `p` largest capacities
        plus the existing ones cannot hold the total demand size (status ``'infeasible'``).

    Notes
    -----
    Variables ``x_j`` (binary) and ``z_ij`` for every finite pair; rows ``Σ_j z_ij = 1``,
    ``z_ij ≤ x_j``, ``Σ_new x_j = p`` and, capacitated, ``Σ_i s_i z_ij ≤ C_j x_j``.  The
    model has one column and one row per finite pair: keep it to some 10⁵–10⁶ pairs.
    Uncapacitated with existing sites, the pairs farther than the point's nearest existing
    site are left out (that site is always open, so they never serve): the optimum is the same.
    """
    t0 = time.perf_counter()
    cost = _check_cost(cost)
    n, m = cost.shape
    w = _check_weights(w, n)
    existing = _check_existing(existing, m)
    free = np.setdiff1d(np.arange(m), existing)
    p = _check_p(p, len(free), existing)
    if p == 0 and len(existing) == 0:
        msg = "`p` was 0 and there are no existing sites; a p-median needs at least one open site."
        raise ValueError(msg)
    time_limit_s, mip_gap = _check_solver_options(time_limit_s, mip_gap)
    capacitated = capacity is not None
    if capacitated:
        capacity = np.asarray(capacity, dtype=float)
        if capacity.shape != (m,) or not np.isfinite(capacity).all() or (capacity < 0).any():
            msg = f"`capacity` must be {m} finite values ≥ 0 (one per candidate); it has shape {capacity.shape}."
            raise ValueError(msg)
        size = w if demand_size is None else _check_weights(demand_size, n, "demand_size")
    elif demand_size is not None:
        msg = "`demand_size` was given without `capacity`; it only matters for a capacitated p-median."
        raise ValueError(msg)

    reach = np.isfinite(cost)
    uncoverable = np.flatnonzero(~reach.any(axis=1))
    rows = np.flatnonzero(reach.any(axis=1))
    pairs = reach
    if not capacitated and len(existing):
        # Exact reduction: an existing site is always open, so a demand point is never served
        # from a site farther than its nearest existing one; keep that one pair and the nearer ones.
        sub = cost[:, existing]
        e_best = sub.min(axis=1)
        nearest_e = existing[np.argmin(sub, axis=1)]
        pairs = reach & (cost < e_best[:, None])
        has_e = np.isfinite(e_best)
        pairs[np.flatnonzero(has_e), nearest_e[has_e]] = True
    pi, pj = np.nonzero(pairs[rows])  # pair k = (rows[pi[k]], pj[k])
    pi_d = rows[pi]
    k = len(pi)
    nr = len(rows)
    n_col = m + k
    # rows: nr assignment rows, k linking rows, 1 cardinality row, (m capacity rows)
    r_assign = pi
    r_link = nr + np.arange(k)
    r_card = nr + k
    rr = [r_assign, r_link, r_link, np.full(len(free), r_card)]
    cc = [m + np.arange(k), m + np.arange(k), pj, free]
    vv = [np.ones(k), np.ones(k), -np.ones(k), np.ones(len(free))]
    row_lower = [np.ones(nr), np.full(k, -np.inf), [p]]
    row_upper = [np.ones(nr), np.zeros(k), [p]]
    n_row = nr + k + 1
    if capacitated:
        rr += [n_row + pj, n_row + np.arange(m)]
        cc += [m + np.arange(k), np.arange(m)]
        vv += [size[pi_d], -capacity]
        row_lower.append(np.full(m, -np.inf))
        row_upper.append(np.zeros(m))
        n_row += m
    a = sparse.coo_matrix((np.concatenate(vv), (np.concatenate(rr), np.concatenate(cc))), shape=(n_row, n_col))
    c = np.concatenate([np.zeros(m), w[pi_d] * cost[pi_d, pj]])
    lower = np.zeros(n_col)
    lower[existing] = 1.0
    integer = np.zeros(n_col, dtype=bool)
    integer[:m] = True
    if capacitated and single_source:
        integer[m:] = True
    build_s = time.perf_counter() - t0
    log.info("pmedian: %d demand points (%d unreachable), %d candidates (%d existing), %d pairs, p=%d, capacitated=%s", n, len(uncoverable), m, len(existing), k, p, capacitated)
    try:
        sol = _solve(
            model="pmedian", c=c, lower=lower, upper=np.ones(n_col), integer=integer, a=a,
            row_lower=np.concatenate(row_lower), row_upper=np.concatenate(row_upper),
            maximize=False, time_limit_s=time_limit_s, mip_gap=mip_gap,
        )  # fmt: skip
    except SolverError as exc:
        if capacitated and exc.status == "infeasible":
            best = float(np.sort(capacity[free])[::-1][:p].sum() + capacity[existing].sum())
            need = float(size[rows].sum())
            msg = f"{exc} The {p} largest new capacities plus the existing ones hold {best:,.6g}; the reachable demand size is {need:,.6g}."
            raise SolverError(msg, status=exc.status, model="pmedian") from exc
        raise
    chosen = free[sol.x[free] > 0.5]
    open_sites = np.union1d(existing, chosen).astype(np.int64)
    z = sparse.csr_matrix((sol.x[m:], (pi_d, pj)), shape=(n, m))
    if capacitated:
        assignment = np.full(n, -1, dtype=np.int64)
        assignment[rows] = np.asarray(z[rows].argmax(axis=1)).ravel()
        load = np.asarray(z.multiply(size[:, None]).sum(axis=0)).ravel()
        objective = float((z.multiply(w[:, None]).multiply(np.where(reach, cost, 0.0))).sum())
    else:
        assignment, t = _nearest_open(cost, open_sites)
        load = np.bincount(assignment[assignment >= 0], weights=w[assignment >= 0], minlength=m)
        objective = float((w[np.isfinite(t)] * t[np.isfinite(t)]).sum())
    if sol.status == "optimal" and not math.isclose(objective, sol.objective, rel_tol=1e-6, abs_tol=1e-6):
        log.warning("pmedian: total weighted time %.9g differs from the solver's objective %.9g", objective, sol.objective)
    gap = _gap(objective, sol.bound, sol.status, sol.mip_gap)
    covered = assignment >= 0
    return PlanResult("pmedian", chosen, existing, objective, sol.status, gap, sol.runtime_s, build_s, assignment, covered, uncoverable, load)


def plan(
    model: str,
    cost,
    w=None,
    *,
    p: int | None = None,
    service_s: float = 3600.0,
    existing=None,
    time_limit_s: float = 60.0,
    mip_gap: float = 0.0,
    capacity=None,
    demand_size=None,
) -> PlanResult:
    """Run one of the models by name: ``"mclp"``, ``"lscp"`` or ``"pmedian"``.

    `w` defaults to 1 per demand point.  ``p`` is needed for MCLP and p-median;
    ``service_s`` is used by MCLP and LSCP; ``capacity``/``demand_size`` by p-median only.
    See `mclp`, `lscp` and `pmedian` for the meaning of each answer.
    """
    if model not in MODELS:
        msg = f"`model` was {model!r} but is expected to be one of {list(MODELS)}."
        raise ValueError(msg)
    cost = _check_cost(cost)
    if w is None:
        w = np.ones(cost.shape[0])
    if (capacity is not None or demand_size is not None) and model != "pmedian":
        msg = f"`capacity` and `demand_size` apply to the p-median only, not to {model!r}."
        raise ValueError(msg)
    opts = {"existing": existing, "time_limit_s": time_limit_s, "mip_gap": mip_gap}
    if model == "mclp":
        return mclp(cost, w, p=p, service_s=service_s, **opts)
    if model == "lscp":
        return lscp(cost, w, service_s=service_s, **opts)
    return pmedian(cost, w, p=p, capacity=capacity, demand_size=demand_size, **opts)


# --------------------------------------------------------------------------- what-if


@dataclass(frozen=True)
class Coverage:
    """Indicators of a set of open sites over the demand points.

    ``nearest_s``/``nearest_site`` give, per demand point, the time from the nearest open
    site and its candidate index (inf / -1 when no road leads there).  A point is
    *covered* within ``service_s``, *beyond* the limit when reached later, and has *no
    road* when ``nearest_s`` is inf.  Keep the last two apart with times that are not cut
    at the limit: a matrix made with ``limit_s`` marks what lies beyond it as inf too;
    `open_times` fills those from an unlimited search.
    """

    open_sites: np.ndarray
    service_s: float
    covered: np.ndarray
    nearest_s: np.ndarray
    nearest_site: np.ndarray
    weight: np.ndarray

    @property
    def total_weight(self) -> float:
        return float(self.weight.sum())

    @property
    def covered_weight(self) -> float:
        return float(self.weight[self.covered].sum())

    @property
    def beyond(self) -> np.ndarray:
        """Per demand point: reached, but later than ``service_s``."""
        return np.isfinite(self.nearest_s) & ~self.covered

    @property
    def no_road(self) -> np.ndarray:
        """Per demand point: no open site reaches it at all."""
        return ~np.isfinite(self.nearest_s)

    @property
    def covered_share(self) -> float:
        """Share of the demand weight covered within ``service_s`` (0 … 1; 0 when there is no weight)."""
        total = self.total_weight
        return self.covered_weight / total if total > 0 else 0.0

    def indicators(self) -> dict[str, float]:
        """Named figures for a before/after table (times in seconds; NaN where there is no reached weight)."""
        reach = np.isfinite(self.nearest_s)
        wr = self.weight[reach]
        mean = float((wr * self.nearest_s[reach]).sum() / wr.sum()) if wr.sum() > 0 else math.nan
        return {
            "open_sites": float(len(self.open_sites)),
            "covered_weight": self.covered_weight,
            "covered_share": self.covered_share,
            "uncovered_weight": self.total_weight - self.covered_weight,
            "beyond_weight": float(self.weight[self.beyond].sum()),
            "unreachable_weight": float(self.weight[~reach].sum()),
            "mean_time_s": mean,
            "max_time_s": float(self.nearest_s[reach].max()) if reach.any() else math.nan,
        }


def coverage_from_times(nearest_s, w, *, service_s: float, open_sites=(), nearest_site=None) -> Coverage:
    """`Coverage` from the time (s) of the nearest open site at each demand point (inf: no road)."""
    t = np.asarray(nearest_s, dtype=float).ravel()
    if np.isnan(t).any() or (t < 0).any():
        msg = "`nearest_s` must be times ≥ 0 s (np.inf where no road leads); it holds NaN or negative values."
        raise ValueError(msg)
    w = _check_weights(w, len(t))
    service_s = _check_service(service_s)
    site = np.full(len(t), -1, dtype=np.int64) if nearest_site is None else np.asarray(nearest_site, dtype=np.int64)
    return Coverage(np.unique(np.asarray(open_sites, dtype=np.int64)), service_s, t <= service_s, t, site, w)


def open_times(cost, open_sites, *, service_s: float, search_s=None) -> tuple[np.ndarray, np.ndarray]:
    """Per demand point, the time (s) from the nearest open site and that site (-1 if none in the matrix).

    Times within `service_s` come from `cost`, so they are the ones the models used.  The
    rest come from `search_s` when given (an unlimited search from the same open sites,
    e.g. `geo.coverage.times_from_sites`, never shorter than the matrix): a matrix made with
    ``limit_s`` cannot tell a point beyond the limit from one with no road.  The answer is
    then the same whatever limit the matrix had, so the status quo is the same under
    every model.
    """
    cost = _check_cost(cost)
    service_s = _check_service(service_s)
    sites = np.unique(np.asarray(open_sites if open_sites is not None else [], dtype=np.int64).ravel())
    bad = sites[(sites < 0) | (sites >= cost.shape[1])]
    if len(bad):
        msg = f"`open_sites` holds {bad[:5].tolist()}, outside the {cost.shape[1]} candidates (0 … {cost.shape[1] - 1})."
        raise ValueError(msg)
    site, t = _nearest_open(cost, sites)
    if search_s is not None:
        search = np.asarray(search_s, dtype=float).ravel()
        if search.shape != t.shape:
            msg = f"`search_s` must have {len(t)} values (one per demand point); it has {search.size}."
            raise ValueError(msg)
        late = ~(t <= service_s) & np.isfinite(search)
        floor = np.where(np.isfinite(t), t, np.nextafter(service_s, np.inf))  # late stays late
        t = np.where(late, np.maximum(search, floor), t)
    return t, site


def coverage_of(cost, w, open_sites, service_s: float = 3600.0, *, search_s=None) -> Coverage:
    """Coverage of the demand by `open_sites` (candidate indices) within `service_s` seconds.

    `search_s`: unlimited times from the same sites, to tell "beyond the limit" from "no
    road" when `cost` was cut at a limit (see `open_times`).
    """
    cost = _check_cost(cost)
    n, _ = cost.shape
    w = _check_weights(w, n)
    t, site = open_times(cost, open_sites, service_s=service_s, search_s=search_s)
    return coverage_from_times(t, w, service_s=service_s, open_sites=open_sites if open_sites is not None else [], nearest_site=site)


def without(open_sites, site: int) -> np.ndarray:
    """`open_sites` with base `site` out of service (sorted candidate indices)."""
    sites = np.unique(np.asarray(open_sites, dtype=np.int64))
    if site not in sites:
        msg = f"`site` was {site!r}, which is not among the open sites {sites.tolist()}."
        raise ValueError(msg)
    return sites[sites != site]


def compare_coverage(before: Coverage, after: Coverage) -> pd.DataFrame:
    """Indicators of two `Coverage` side by side: columns ``before``, ``after``, ``change``."""
    if len(before.weight) != len(after.weight):
        msg = f"`before` has {len(before.weight)} demand points and `after` {len(after.weight)}; compare the same demand."
        raise ValueError(msg)
    df = pd.DataFrame({"before": pd.Series(before.indicators()), "after": pd.Series(after.indicators())})
    df["change"] = df["after"] - df["before"]
    df.index.name = "indicator"
    return df


def compare(cost, w, before, after, *, service_s: float = 3600.0) -> pd.DataFrame:
    """Indicators of two sets of open sites side by side: columns ``before``, ``after``, ``change``."""
    return compare_coverage(coverage_of(cost, w, before, service_s), coverage_of(cost, w, after, service_s))


# --------------------------------------------------------------------------- cost matrices


def straight_line_cost(demand_lon, demand_lat, cand_lon, cand_lat, *, speed_kph: float = APPROX_SPEED_KPH, circuity: float = APPROX_CIRCUITY) -> np.ndarray:
    """Estimated travel time (s), shape (n_demand, n_candidates): great-circle distance × `circuity` at `speed_kph`.

    Positions are lon/lat in degrees (EPSG:4326).  The defaults are those of the
    approximate network (`geo.network`): circuity 1.3 at 50 km/h.  Answers are estimates.
    """
    if not (speed_kph > 0 and circuity >= 1):
        msg = f"`speed_kph` was {speed_kph!r} and `circuity` {circuity!r}; need speed > 0 and circuity ≥ 1."
        raise ValueError(msg)
    d = haversine_m(
        np.asarray(demand_lon, dtype=float)[:, None], np.asarray(demand_lat, dtype=float)[:, None],
        np.asarray(cand_lon, dtype=float)[None, :], np.asarray(cand_lat, dtype=float)[None, :],
    )  # fmt: skip
    return np.asarray(d, dtype=float) * circuity / (speed_kph / 3.6)


def cost_matrix(
    net: Network,
    demand_lon,
    demand_lat,
    cand_lon,
    cand_lat,
    *,
    blocked: np.ndarray | None = None,
    limit_s: float = math.inf,
    snap_limit_m: float | None = None,
) -> np.ndarray:
    """Road travel time (s) from each candidate (base) *to* each demand point on `net`.

    Parameters
    ----------
    net : Network
        The road network.
    demand_lon, demand_lat, cand_lon, cand_lat : array-like
        Positions in degrees (EPSG:4326).
    blocked : array of bool (n_edges,), optional
        Closed edges (`geo.routing.blocked_edges`).
    limit_s : float
        Searches stop at this time; longer trips are ``np.inf`` (use the coverage
        threshold for MCLP/LSCP: it makes the matrix much faster to compute).
    snap_limit_m : float, optional
        Snap limit (default: the network's).

    Returns
    -------
    numpy.ndarray (n_demand, n_candidates)
        Times as `geo.routing.route` computes them (access legs, partial first and last
        edges, one-way streets).  ``np.inf`` where unreachable, beyond `limit_s`, or where
        the demand point or candidate is off the network or lies on a road closed by
        `blocked` (such rows/columns are all inf and logged; points are never moved to
        another road).

    Notes
    -----
    Points are placed by the snapping rule of `geo.routing` (a point at a node uses every
    edge there; one on an edge leaves forwards and is reached from behind, on each candidate
    edge).  One forward Dijkstra per way a candidate enters the network, in chunks; each
    search is read at every entry of every demand point at once.
    """
    dlon, dlat = np.asarray(demand_lon, dtype=float).ravel(), np.asarray(demand_lat, dtype=float).ravel()
    clon, clat = np.asarray(cand_lon, dtype=float).ravel(), np.asarray(cand_lat, dtype=float).ravel()
    if len(dlon) != len(dlat) or len(clon) != len(clat):
        msg = f"lon/lat lengths differ: demand {len(dlon)}/{len(dlat)}, candidates {len(clon)}/{len(clat)}."
        raise ValueError(msg)
    t0 = time.perf_counter()
    w = edge_weights(net, blocked)
    n, m = len(dlon), len(clon)
    d_snaps = [_snap_or_none(net, x, y, snap_limit_m, blocked) for x, y in zip(dlon, dlat, strict=True)]
    c_snaps = [_snap_or_none(net, x, y, snap_limit_m, blocked) for x, y in zip(clon, clat, strict=True)]
    # every entry of every demand point (snapping rule of `geo.routing`), padded to the most any has
    ins = [entries(net, s, w) if s is not None else [] for s in d_snaps]
    width = max([len(e) for e in ins] + [1])
    ent_node = np.zeros((n, width), dtype=np.int64)
    ent_time = np.full((n, width), np.inf)
    on_edge: dict[int, list[tuple[int, float, float]]] = {}  # edge -> (demand, fraction, time from the edge's tail incl. access)
    for i, (s, row) in enumerate(zip(d_snaps, ins, strict=True)):
        for k, en in enumerate(row):
            ent_node[i, k], ent_time[i, k] = en.node, en.time_s + s.access_time_s
            if en.edge >= 0:
                on_edge.setdefault(en.edge, []).append((i, en.to_fraction, en.extra_s + s.access_time_s))
    src_cand, src_node, src_offset = [], [], []
    c_outs = [exits(net, s, w) if s is not None else [] for s in c_snaps]
    for j, (s, outs) in enumerate(zip(c_snaps, c_outs, strict=True)):
        for ex in outs:
            src_cand.append(j)
            src_node.append(ex.node)
            src_offset.append(ex.time_s + s.access_time_s)
    cost = np.full((n, m), np.inf)
    matrix = net.csr(reverse=False, weights=None if w is net.edge_time_s else w)
    chunk = max(1, _DIJKSTRA_CHUNK_BYTES // (8 * max(net.n_nodes, 1)))
    for a in range(0, len(src_node), chunk):
        nodes = np.asarray(src_node[a : a + chunk])
        dist = dijkstra(matrix, directed=True, indices=nodes, limit=limit_s)
        if dist.ndim == 1:
            dist = dist[None, :]
        t = dist[:, ent_node[:, 0]] + ent_time[:, 0]
        for k in range(1, width):
            np.minimum(t, dist[:, ent_node[:, k]] + ent_time[:, k], out=t)
        for r in range(len(nodes)):
            j = src_cand[a + r]
            np.minimum(cost[:, j], t[r] + src_offset[a + r], out=cost[:, j])
    for j, (s, outs) in enumerate(zip(c_snaps, c_outs, strict=True)):  # demand point further along one of the candidate's edges
        for ex in outs:
            for i, f, rest in on_edge.get(ex.edge, ()) if ex.edge >= 0 else ():
                if f >= ex.from_fraction:
                    t_direct = (f - ex.from_fraction) * w[ex.edge] + ex.extra_s + s.access_time_s + rest
                    cost[i, j] = min(cost[i, j], t_direct)
    cost[cost > limit_s] = np.inf
    off_d = sum(s is None for s in d_snaps)
    off_c = sum(s is None for s in c_snaps)
    if off_d or off_c:
        log.warning("cost matrix: %d of %d demand points and %d of %d candidates are off network %r", off_d, n, off_c, m, net.name)
    log.info("cost matrix %d × %d on %r in %.2f s (%d searches)", n, m, net.name, time.perf_counter() - t0, len(src_node))
    return cost


def _snap_or_none(net: Network, lon: float, lat: float, limit_m: float | None, blocked):
    """A point placed on the open network, or None: off the network, or its own road closed (all inf)."""
    try:
        return snap(net, float(lon), float(lat), limit_m=limit_m, blocked=blocked)
    except (OffNetwork, NoRoute):
        return None


# --------------------------------------------------------------------------- candidates and GeoDataFrames


def grid_candidates(area, spacing_m: float):
    """Candidate sites on a square grid of `spacing_m` metres inside `area`.

    Parameters
    ----------
    area : shapely geometry (EPSG:4326), or GeoSeries / GeoDataFrame with a CRS
        The polygon(s) to fill (a GeoSeries/GeoDataFrame is unioned).
    spacing_m : float
        Grid spacing in metres, laid out in the area's UTM zone.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``candidate_id`` (``"G00000"``, …) and point ``geometry`` in EPSG:4326.
    """
    import geopandas as gpd
    import shapely

    if not (isinstance(spacing_m, (int, float, np.integer, np.floating)) and math.isfinite(spacing_m) and spacing_m > 0):
        msg = f"`spacing_m` was {spacing_m!r}; it must be a positive number of metres."
        raise ValueError(msg)
    if isinstance(area, (gpd.GeoSeries, gpd.GeoDataFrame)):
        if area.crs is None:
            msg = "`area` has no CRS; set one (e.g. `area.set_crs(4326)`) before making a grid."
            raise ValueError(msg)
        series = gpd.GeoSeries([area.to_crs(4326).union_all()], crs=4326)
    else:
        series = gpd.GeoSeries([area], crs=4326)
    geom = series.iloc[0]
    if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        msg = f"`area` must be a (multi)polygon; it is {None if geom is None else geom.geom_type}."
        raise ValueError(msg)
    utm = series.estimate_utm_crs()
    poly = series.to_crs(utm).iloc[0]
    minx, miny, maxx, maxy = poly.bounds
    xs = np.arange(minx + spacing_m / 2, maxx, spacing_m)
    ys = np.arange(miny + spacing_m / 2, maxy, spacing_m)
    if len(xs) * len(ys) > MAX_GRID_CANDIDATES:
        msg = f"`spacing_m` {spacing_m} m makes up to {len(xs) * len(ys):,} grid points (limit {MAX_GRID_CANDIDATES:,}); use a coarser spacing."
        raise ValueError(msg)
    gx, gy = (g.ravel() for g in np.meshgrid(xs, ys))
    shapely.prepare(poly)
    inside = shapely.contains_xy(poly, gx, gy)
    pts = gpd.GeoSeries(shapely.points(gx[inside], gy[inside]), crs=utm).to_crs(4326)
    log.info("grid of %d candidates at %.0f m", len(pts), spacing_m)
    return gpd.GeoDataFrame({"candidate_id": [f"G{i:05d}" for i in range(len(pts))]}, geometry=pts.values, crs=4326)


def _lonlat(gdf, name: str) -> tuple[np.ndarray, np.ndarray]:
    """lon/lat (EPSG:4326) of each row: the point, or a representative point of a line/polygon."""
    if gdf.crs is None:
        msg = f"`{name}` has no CRS; set one (e.g. `.set_crs(4326)`)."
        raise ValueError(msg)
    geoms = gdf.geometry
    if geoms.isna().any() or geoms.is_empty.any():
        msg = f"`{name}` has {int((geoms.isna() | geoms.is_empty).sum())} rows without a geometry."
        raise ValueError(msg)
    if not (geoms.geom_type == "Point").all():
        utm = geoms.to_crs(4326).estimate_utm_crs()
        geoms = geoms.to_crs(utm).representative_point()
    geoms = geoms.to_crs(4326)
    return geoms.x.to_numpy(), geoms.y.to_numpy()


def from_geodataframes(demand, candidates, *, net: Network | None = None, weight: str | None = None, blocked: np.ndarray | None = None, limit_s: float = math.inf) -> tuple[np.ndarray, np.ndarray]:
    """Arrays for the models from GeoDataFrames: ``(cost, w)``.

    Parameters
    ----------
    demand, candidates : geopandas.GeoDataFrame
        Demand points and candidate sites, any CRS (set); lines and polygons are represented
        by a point inside them.
    net : Network, optional
        Road network for travel times (`cost_matrix`); None: `straight_line_cost` estimates.
    weight : str, optional
        Column of `demand` holding the weight; None: 1 per row.
    blocked, limit_s
        Passed to `cost_matrix`.

    Returns
    -------
    (cost, w)
        Cost matrix (s), rows in the order of `demand`, columns in the order of `candidates`.
    """
    dlon, dlat = _lonlat(demand, "demand")
    clon, clat = _lonlat(candidates, "candidates")
    if weight is None:
        w = np.ones(len(demand))
    elif weight not in demand.columns:
        msg = f"`weight` was {weight!r}; `demand` has columns {list(demand.columns)}."
        raise ValueError(msg)
    else:
        w = _check_weights(pd.to_numeric(demand[weight], errors="coerce").to_numpy(dtype=float), len(demand), "weight")
    if net is None:
        cost = straight_line_cost(dlon, dlat, clon, clat)
        cost[cost > limit_s] = np.inf
    else:
        cost = cost_matrix(net, dlon, dlat, clon, clat, blocked=blocked, limit_s=limit_s)
    return cost, w
