"""Compiled kernels (numba) for the hot paths: snapping candidates, k-nearest with early exit,
multi-source labels, and one-to-one routes by bidirectional A* with landmark bounds (ALT).

``scipy.sparse.csgraph.dijkstra`` answers "everything from one source"; dispatch needs
"stop as soon as the k fastest resources are settled", zones need "from many sources
with start costs, and which source won", and a route needs "from these sources to those
targets, as few nodes as possible".  All are binary-heap searches over the network's CSR
arrays; `benchmarks/network.py` measures them against networkx, scipy and OSRM.

Closures reach the query kernels as a boolean mask over edges (`blocked`, empty for none):
the weight of a CSR entry (a node pair) is its fastest edge's time unless that edge is
closed, then the fastest open parallel edge's (inf if none), worked out during the search
(`_pair_weight`), so that no weighted matrix is built per query.  The query kernels use a
reusable workspace (per-node arrays at their "unreached" values, `new_workspace`) and put
back only the entries they touched, so a query costs what it explores, not the network's
size.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _push(heap_d, heap_n, size, d, n):
    i = size
    heap_d[i] = d
    heap_n[i] = n
    while i > 0:
        p = (i - 1) >> 1
        if heap_d[p] <= heap_d[i]:
            break
        heap_d[i], heap_d[p] = heap_d[p], heap_d[i]
        heap_n[i], heap_n[p] = heap_n[p], heap_n[i]
        i = p
    return size + 1


@njit(cache=True)
def _pop(heap_d, heap_n, size):
    d = heap_d[0]
    n = heap_n[0]
    size -= 1
    heap_d[0] = heap_d[size]
    heap_n[0] = heap_n[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        c = left
        if left + 1 < size and heap_d[left + 1] < heap_d[left]:
            c = left + 1
        if heap_d[i] <= heap_d[c]:
            break
        heap_d[i], heap_d[c] = heap_d[c], heap_d[i]
        heap_n[i], heap_n[c] = heap_n[c], heap_n[i]
        i = c
    return d, n, size


@njit(cache=True)
def multi_source(indptr, indices, weights, src_nodes, src_offsets, limit):
    """Dijkstra from several start nodes with start costs.

    Returns (dist, pred, label): time to each node (inf if unreached within `limit`), the
    predecessor node (-1 at starts and unreached), and the index of the winning start.
    """
    n = len(indptr) - 1
    dist = np.full(n, np.inf)
    pred = np.full(n, -1, dtype=np.int64)
    label = np.full(n, -1, dtype=np.int64)
    done = np.zeros(n, dtype=np.bool_)
    cap = len(indices) + len(src_nodes) + 1
    heap_d = np.empty(cap)
    heap_n = np.empty(cap, dtype=np.int64)
    size = 0
    for i in range(len(src_nodes)):
        s = src_nodes[i]
        if src_offsets[i] < dist[s]:
            dist[s] = src_offsets[i]
            label[s] = i
            pred[s] = -1
            size = _push(heap_d, heap_n, size, src_offsets[i], s)
    while size > 0:
        d, u, size = _pop(heap_d, heap_n, size)
        if done[u] or d > dist[u]:
            continue
        if d > limit:
            dist[u] = np.inf
            label[u] = -1
            break
        done[u] = True
        for j in range(indptr[u], indptr[u + 1]):
            v = indices[j]
            nd = d + weights[j]
            if nd < dist[v]:
                dist[v] = nd
                pred[v] = u
                label[v] = label[u]
                size = _push(heap_d, heap_n, size, nd, v)
    # nodes tentatively labelled beyond the limit are not reached
    for v in range(n):
        if not done[v]:
            dist[v] = np.inf
            label[v] = -1
            pred[v] = -1
    return dist, pred, label


@njit(cache=True)
def push_grow(heap_d, heap_n, size, d, n):
    """Push (d, n), first doubling the heap arrays if full; returns (heap_d, heap_n, size)."""
    if size == len(heap_d):
        m = len(heap_d)
        nd = np.empty(2 * m)
        nn = np.empty(2 * m, dtype=np.int64)
        nd[:m] = heap_d
        nn[:m] = heap_n
        heap_d, heap_n = nd, nn
    return heap_d, heap_n, _push(heap_d, heap_n, size, d, n)


@njit(cache=True)
def seed_heap(nodes, offsets, dist, pred, flag, touched, n_t, cap):
    """A new heap (capacity `cap`) holding `nodes` at their start `offsets` (the cheapest of
    repeats), each marked touched; returns (heap_d, heap_n, size, touched count)."""
    heap_d = np.empty(cap)
    heap_n = np.empty(cap, dtype=np.int64)
    size = 0
    for i in range(len(nodes)):
        s = nodes[i]
        if flag[s] == 0:
            flag[s] = 1
            touched[n_t] = s
            n_t += 1
        if offsets[i] < dist[s]:
            dist[s] = offsets[i]
            pred[s] = -1
            heap_d, heap_n, size = push_grow(heap_d, heap_n, size, offsets[i], s)
    return heap_d, heap_n, size, n_t


@njit(cache=True)
def _pair_weight(j, weights, pair_edge, pair_ptr, edge_all, edge_time, blocked):
    """Weight of CSR entry `j` with closures: its fastest edge's time unless that edge is in
    `blocked`, then the fastest open edge of the pair, inf when all are closed."""
    if len(blocked) == 0 or not blocked[pair_edge[j]]:
        return weights[j]
    best = np.inf
    for i in range(pair_ptr[j], pair_ptr[j + 1]):
        e = edge_all[i]
        if not blocked[e] and edge_time[e] < best:
            best = edge_time[e]
    return best


@njit(cache=True)
def new_workspace(n):
    """Per-node arrays for the query kernels, at their "unreached" values: (dist, dist2, pred,
    pred2, potential, flag, touched).  Each kernel puts back what it changed (except `pred`)."""
    return (
        np.full(n, np.inf), np.full(n, np.inf), np.full(n, -1, dtype=np.int32), np.full(n, -1, dtype=np.int32),
        np.zeros(n), np.zeros(n, dtype=np.uint8), np.empty(n, dtype=np.int32),
    )  # fmt: skip


@njit(cache=True)
def k_nearest(
    indptr, indices, weights, pair_edge, pair_ptr, edge_all, edge_time, blocked,
    src_nodes, src_offsets, tgt_ptr_nodes, tgt_ptr, tgt_res, tgt_cost, n_res, k, dist, pred, flag, touched,
):  # fmt: skip
    """Reverse search from the incident until the `k` cheapest resources are settled.

    The graph is the *reverse* graph (its CSR arrays and, for closures, its pair arrays:
    `_pair_weight`); sources are the incident's entry nodes with their partial-edge costs.
    Resource r is reached through node u at cost ``dist[u] + tgt_cost[j]`` for each j in
    ``tgt_ptr[i]:tgt_ptr[i+1]`` where ``tgt_ptr_nodes[i] == u`` (sorted node ids; a node holding
    no resource is absent), with ``tgt_res[j] == r``.  Stops when the k-th best total is not
    larger than the next node's distance.  `dist`, `pred`, `flag`, `touched` are a workspace
    (`new_workspace`): `dist` and `flag` are put back on return, `pred` holds the search tree
    of this query for every node it reached (read it with `path_to_root`).

    Returns (best total per resource, via node per resource, number of nodes settled).
    """
    best = np.full(n_res, np.inf)
    via = np.full(n_res, -1, dtype=np.int64)
    top = np.full(k, np.inf)  # the k best totals (any order), one entry per resource
    top_r = np.full(k, -1, dtype=np.int64)
    heap_d, heap_n, size, n_touched = seed_heap(src_nodes, src_offsets, dist, pred, flag, touched, 0, 1024)
    settled = 0
    while size > 0:
        d, u, size = _pop(heap_d, heap_n, size)
        if flag[u] == 2 or d > dist[u]:
            continue
        # k-th best total so far
        kth = -np.inf
        for i in range(k):
            if top[i] > kth:
                kth = top[i]
        if kth <= d:
            break
        flag[u] = 2
        settled += 1
        i = np.searchsorted(tgt_ptr_nodes, u)
        if i < len(tgt_ptr_nodes) and tgt_ptr_nodes[i] == u:
            for j in range(tgt_ptr[i], tgt_ptr[i + 1]):
                r = tgt_res[j]
                tot = d + tgt_cost[j]
                if tot < best[r]:
                    best[r] = tot
                    via[r] = u
                    slot = -1
                    for q in range(k):
                        if top_r[q] == r:
                            slot = q
                            break
                    if slot < 0:
                        worst = 0
                        for q in range(1, k):
                            if top[q] > top[worst]:
                                worst = q
                        if tot < top[worst]:
                            slot = worst
                    if slot >= 0:
                        top[slot] = tot
                        top_r[slot] = r
        for j in range(indptr[u], indptr[u + 1]):
            w = _pair_weight(j, weights, pair_edge, pair_ptr, edge_all, edge_time, blocked)
            v = indices[j]
            nd = d + w
            if nd < dist[v]:
                if flag[v] == 0:
                    flag[v] = 1
                    touched[n_touched] = v
                    n_touched += 1
                dist[v] = nd
                pred[v] = u
                heap_d, heap_n, size = push_grow(heap_d, heap_n, size, nd, v)
    for i in range(n_touched):
        v = touched[i]
        dist[v] = np.inf
        flag[v] = 0
    return best, via, settled


@njit(cache=True)
def pair_edges(indptr, indices, pair_edge, pair_ptr, edge_all, edge_time, blocked, a, b):
    """The fastest open edge a[i] → b[i] for each node pair (by `_pair_weight`'s rule), -1
    where there is none."""
    out = np.full(len(a), -1, dtype=np.int64)
    for i in range(len(a)):
        lo = indptr[a[i]]
        hi = indptr[a[i] + 1]
        j = lo + np.searchsorted(indices[lo:hi], b[i])
        if j >= hi or indices[j] != b[i]:
            continue
        e = pair_edge[j]
        if len(blocked) > 0 and blocked[e]:
            e = -1
            best = np.inf
            for k in range(pair_ptr[j], pair_ptr[j + 1]):
                c = edge_all[k]
                if not blocked[c] and edge_time[c] < best:
                    best = edge_time[c]
                    e = c
        out[i] = e
    return out


@njit(cache=True)
def _alt_potential(v, lm_from, lm_to, active, c_sf, c_st, c_tf, c_tt, cap_s):
    """Average potential of node `v` and whether it provably cannot reach the target /
    cannot be reached from the source (see `alt_route`)."""
    pt = 0.0  # lower bound of the time from v to the target
    ps = 0.0  # lower bound of the time from the source to v
    for a in range(len(active)):
        col = active[a]
        tv = np.float64(lm_to[v, col])
        fv = np.float64(lm_from[v, col])
        x = tv - c_tt[a]  # comparisons skip NaN (inf - inf): that bound says nothing at v
        if x > pt:
            pt = x
        x = c_tf[a] - fv
        if x > pt:
            pt = x
        x = fv - c_sf[a]
        if x > ps:
            ps = x
        x = c_st[a] - tv
        if x > ps:
            ps = x
    no_t = pt == np.inf
    no_s = ps == np.inf
    return (min(pt, cap_s) - min(ps, cap_s)) / 2, no_t, no_s


@njit(cache=True)
def _fmax(a, b):
    """numpy's fmax: the larger, ignoring a NaN."""
    if np.isnan(a):
        return b
    if np.isnan(b):
        return a
    return a if a > b else b


@njit(cache=True)
def _end_constants(lm_a, lm_b, nodes, costs, col, quantum):
    """For one end of a query and landmark column `col`: (max_i (a_i − cost_i) rounded up,
    min_i (b_i + cost_i) rounded down to whole quanta); a NaN (an unreached landmark) wins."""
    hi = -np.inf
    lo = np.inf
    for i in range(len(nodes)):
        x = np.float64(lm_a[nodes[i], col]) - costs[i]
        if x > hi or np.isnan(x):
            hi = x
        x = np.float64(lm_b[nodes[i], col]) + costs[i]
        if x < lo or np.isnan(x):
            lo = x
    return np.ceil(hi / quantum) * quantum, np.floor(lo / quantum) * quantum


@njit(cache=True)
def alt_constants(lm_from, lm_to, src, src_s, tgt, tgt_s, quantum, active):
    """The active landmark columns and the per-query constants of `alt_route`:
    (columns, c_sf, c_st, c_tf, c_tt).

    With S the origin (start nodes `src` at costs `src_s`) and T the destination (end nodes
    `tgt` at costs `tgt_s`), for landmark L: d(S, v) ≥ d(L, v) − c_sf with c_sf = max_i (d(L,
    src_i) − src_s_i), and ≥ c_st − d(v, L) with c_st = min_i (src_s_i + d(src_i, L)); d(v, T) ≥
    d(v, L) − c_tt with c_tt = max_j (d(tgt_j, L) − tgt_s_j), and ≥ c_tf − d(L, v) with c_tf =
    min_j (d(L, tgt_j) + tgt_s_j).  Rounding c_sf, c_tt up and c_st, c_tf down to whole quanta
    only weakens the bounds and keeps them exact multiples of the quantum.

    The `active` landmarks with the best bound between the two points are used, in column
    order; `quantum` is the landmark tables' (`geo.routing.LANDMARK_QUANTUM_S`).
    """
    k = lm_from.shape[1]
    c_sf, c_st = np.empty(k), np.empty(k)
    c_tt, c_tf = np.empty(k), np.empty(k)
    for col in range(k):
        c_sf[col], c_st[col] = _end_constants(lm_from, lm_to, src, src_s, col, quantum)
        c_tt[col], c_tf[col] = _end_constants(lm_to, lm_from, tgt, tgt_s, col, quantum)
    lb = np.empty(k)
    s0 = src[0]
    for col in range(k):
        x = _fmax(_fmax(np.float64(lm_to[s0, col]) - c_tt[col], c_tf[col] - np.float64(lm_from[s0, col])), 0.0)
        lb[col] = x if np.isfinite(x) else -1.0
    n = min(active, k)
    cols = np.sort(np.argsort(-lb, kind="mergesort")[:n]).astype(np.int64)
    return cols, c_sf[cols], c_st[cols], c_tf[cols], c_tt[cols]


@njit(cache=True)
def alt_route(
    f_indptr, f_indices, f_w, f_pair_edge, f_pair_ptr, f_edge_all,
    r_indptr, r_indices, r_w, r_pair_edge, r_pair_ptr, r_edge_all,
    edge_time, blocked, lm_from, lm_to, active, c_sf, c_st, c_tf, c_tt, cap_s,
    src_nodes, src_offsets, tgt_nodes, tgt_offsets,
    dist_f, dist_b, pred_f, pred_b, pot, flag, touched,
):  # fmt: skip
    """Fastest time from sources (with start costs) to targets (with end costs): bidirectional
    A* with landmark lower bounds and the average potential.

    Lower bounds (s) come from the landmark tables ``lm_from[v, L]`` = time from landmark L to
    v and ``lm_to[v, L]`` = time from v to L (columns `active` are used), and from per-query
    constants folding in the sources and targets with their costs (computed by the caller,
    `geo.routing`): to the target ``pt(v) = max(0, lm_to[v] - c_tt, c_tf - lm_from[v])``, from
    the source ``ps(v) = max(0, lm_from[v] - c_sf, c_st - lm_to[v])``, each capped at
    `cap_s`.  Both are feasible potentials; the forward search uses ``p(v) = (pt(v) − ps(v)) / 2``
    and the reverse search ``−p(v)``, so both run Dijkstra on the same reduced costs and the
    search may stop once ``top_forward + top_reverse ≥ best`` (Ikeda et al. 1994; Goldberg &
    Harrelson 2005).  A node that provably cannot reach a target (an infinite bound) is not
    searched forwards, nor backwards one that no source reaches.

    Workspace arrays (`new_workspace`) are put back on return except `pred_f`/`pred_b`,
    which hold the two search trees of this query (forward: towards the sources; reverse:
    towards the targets).

    Returns (best time, meeting node (-1 when none), nodes settled).
    """
    heap_fd = np.empty(1024)
    heap_fn = np.empty(1024, dtype=np.int64)
    heap_bd = np.empty(1024)
    heap_bn = np.empty(1024, dtype=np.int64)
    sf = 0
    sb = 0
    n_touched = 0
    mu = np.inf
    meet = -1
    for side in range(2):
        nodes = src_nodes if side == 0 else tgt_nodes
        offs = src_offsets if side == 0 else tgt_offsets
        for i in range(len(nodes)):
            s = nodes[i]
            if flag[s] == 0:
                p, no_t, no_s = _alt_potential(s, lm_from, lm_to, active, c_sf, c_st, c_tf, c_tt, cap_s)
                pot[s] = p
                flag[s] = 1 | (2 if no_t else 0) | (4 if no_s else 0)
                touched[n_touched] = s
                n_touched += 1
            if side == 0 and offs[i] < dist_f[s]:
                dist_f[s] = offs[i]
                pred_f[s] = -1
                heap_fd, heap_fn, sf = push_grow(heap_fd, heap_fn, sf, offs[i] + pot[s], s)
            elif side == 1 and offs[i] < dist_b[s]:
                dist_b[s] = offs[i]
                pred_b[s] = -1
                heap_bd, heap_bn, sb = push_grow(heap_bd, heap_bn, sb, offs[i] - pot[s], s)
    for i in range(len(src_nodes)):
        s = src_nodes[i]
        if dist_f[s] + dist_b[s] < mu:
            mu = dist_f[s] + dist_b[s]
            meet = s
    settled = 0
    while True:
        tf = heap_fd[0] if sf > 0 else np.inf
        tb = heap_bd[0] if sb > 0 else np.inf
        if tf + tb >= mu or sf == 0 or sb == 0:
            break  # an exhausted side has seen every node it reaches: mu is final
        forward = tf <= tb
        if forward:
            key, u, sf = _pop(heap_fd, heap_fn, sf)
            du = dist_f[u]
            if key > du + pot[u]:
                continue  # stale entry
            indptr, indices, weights, pair_edge, pair_ptr, edge_all = f_indptr, f_indices, f_w, f_pair_edge, f_pair_ptr, f_edge_all
            other = dist_b
        else:
            key, u, sb = _pop(heap_bd, heap_bn, sb)
            du = dist_b[u]
            if key > du - pot[u]:
                continue
            indptr, indices, weights, pair_edge, pair_ptr, edge_all = r_indptr, r_indices, r_w, r_pair_edge, r_pair_ptr, r_edge_all
            other = dist_f
        settled += 1
        if du + other[u] < mu:
            mu = du + other[u]
            meet = u
        skip = 2 if forward else 4
        for j in range(indptr[u], indptr[u + 1]):
            w = _pair_weight(j, weights, pair_edge, pair_ptr, edge_all, edge_time, blocked)
            if w == np.inf:
                continue
            v = indices[j]
            nd = du + w
            if forward:
                if nd >= dist_f[v]:
                    continue
            elif nd >= dist_b[v]:
                continue
            if flag[v] == 0:
                p, no_t, no_s = _alt_potential(v, lm_from, lm_to, active, c_sf, c_st, c_tf, c_tt, cap_s)
                pot[v] = p
                flag[v] = 1 | (2 if no_t else 0) | (4 if no_s else 0)
                touched[n_touched] = v
                n_touched += 1
            if flag[v] & skip:
                continue
            if forward:
                dist_f[v] = nd
                pred_f[v] = u
                heap_fd, heap_fn, sf = push_grow(heap_fd, heap_fn, sf, nd + pot[v], v)
            else:
                dist_b[v] = nd
                pred_b[v] = u
                heap_bd, heap_bn, sb = push_grow(heap_bd, heap_bn, sb, nd - pot[v], v)
            if nd + other[v] < mu:
                mu = nd + other[v]
                meet = v
    for i in range(n_touched):
        v = touched[i]
        dist_f[v] = np.inf
        dist_b[v] = np.inf
        flag[v] = 0
    return mu, meet, settled


@njit(cache=True)
def path_to_root(pred, node):
    """Nodes from `node` up the predecessor tree to its root (inclusive)."""
    m = 0
    v = node
    while v >= 0:
        m += 1
        v = pred[v]
    out = np.empty(m, dtype=np.int64)
    for i in range(m):
        out[i] = node
        node = pred[node]
    return out


def _read_only(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.setflags(write=False)
    return v


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel once, on a tiny graph.

    Both writable arrays (a network just built) and read-only ones (a network loaded
    memory-mapped) are used: numba compiles one version for each.  The search kernels are
    run through `geo.routing.route` and `geo.nearest.nearest` on a tiny network, built in
    memory and loaded from a saved copy, with and without a closure.
    """
    _warm_up_searches()
    for wrap in (np.asarray, _read_only):
        indptr = wrap(np.array([0, 1, 2, 2], dtype=np.int64))
        indices = wrap(np.array([1, 2], dtype=np.int32))
        w = wrap(np.array([1.0, 1.0]))
        multi_source(indptr, indices, w, np.array([0], dtype=np.int64), np.array([0.0]), np.inf)
        path_to_root(np.array([-1, 0, 1], dtype=np.int64), 2)
        z = wrap(np.zeros(1))
        one = wrap(np.ones(1))
        nearest_segment(
            0.0, 0.0, 0.0, 0.0, 1, 1, 250.0, wrap(np.array([0, 1], dtype=np.int64)), wrap(np.array([0], dtype=np.int32)),
            z, z, one, z, wrap(np.array([0], dtype=np.int32)), np.zeros(0, dtype=np.bool_), 1.0,
        )  # fmt: skip
        for blocked in (np.zeros(0, dtype=np.bool_), np.zeros(1, dtype=np.bool_)):
            snap_candidates(
                0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1, 1, 250.0, wrap(np.array([0, 1], dtype=np.int64)),
                wrap(np.array([0], dtype=np.int32)), z, z, one, z, wrap(np.array([0], dtype=np.int32)),
                wrap(np.array([0, 2], dtype=np.int64)), wrap(np.array([0.0, 1.0])), wrap(np.array([0.0, 0.0])),
                wrap(np.array([0], dtype=np.int32)), wrap(np.array([1], dtype=np.int32)), blocked, 1.0, 1.0, 1.0,
            )  # fmt: skip


@njit(cache=True)
def nearest_segment(px, py, ox, oy, nx, ny, cell, cell_indptr, cell_seg, x1, y1, x2, y2, seg_edge, blocked, max_dist):
    """Nearest segment to (px, py) in the uniform grid index, searching rings of cells outwards.

    Returns (segment, distance, t along segment, x, y) or segment -1 if none within `max_dist`.
    Segments of edges with ``blocked[edge]`` are skipped (an empty `blocked` skips none).
    """
    cx = int(np.floor((px - ox) / cell))
    cy = int(np.floor((py - oy) / cell))
    gx = max(ox - px, 0.0, px - (ox + nx * cell))
    gy = max(oy - py, 0.0, py - (oy + ny * cell))
    # a grid cell is at least max(gx, gy) away along one axis: no ring below this holds one
    radius = max(int(max(gx, gy) // cell) - 1, 0)
    best_s, best_d, best_t, best_x, best_y = -1, np.inf, 0.0, 0.0, 0.0
    use_blocked = len(blocked) > 0
    while True:
        x0, x_1 = max(cx - radius, 0), min(cx + radius, nx - 1)
        y0, y_1 = max(cy - radius, 0), min(cy + radius, ny - 1)
        for row in range(y0, y_1 + 1):
            for col in range(x0, x_1 + 1):
                # only the ring: inner cells were searched at smaller radii
                if radius > 0 and row > cy - radius and row < cy + radius and col > cx - radius and col < cx + radius:
                    continue
                c = row * nx + col
                for j in range(cell_indptr[c], cell_indptr[c + 1]):
                    s = cell_seg[j]
                    if use_blocked and blocked[seg_edge[s]]:
                        continue
                    dx = x2[s] - x1[s]
                    dy = y2[s] - y1[s]
                    l2 = dx * dx + dy * dy
                    t = 0.0
                    if l2 > 0:
                        t = ((px - x1[s]) * dx + (py - y1[s]) * dy) / l2
                        t = min(max(t, 0.0), 1.0)
                    qx = x1[s] + t * dx
                    qy = y1[s] + t * dy
                    d = np.sqrt((px - qx) ** 2 + (py - qy) ** 2)
                    if d < best_d or (d == best_d and s < best_s):
                        best_s, best_d, best_t, best_x, best_y = s, d, t, qx, qy
        # rings 0..radius hold every segment point closer than radius × cell (the point may
        # sit anywhere in its own cell, so one ring of slack)
        if best_s >= 0 and best_d < radius * cell:
            break
        if radius * cell > max_dist or (x0 == 0 and y0 == 0 and x_1 == nx - 1 and y_1 == ny - 1 and best_s >= 0):
            break
        radius += 1
    return best_s, best_d, best_t, best_x, best_y


@njit(cache=True)
def _haversine_m(lon1, lat1, lon2, lat2):
    r = np.pi / 180.0
    p1 = lat1 * r
    p2 = lat2 * r
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((lon2 - lon1) * r / 2) ** 2
    return 2 * 6_371_008.8 * np.arcsin(np.sqrt(min(max(h, 0.0), 1.0)))


@njit(cache=True)
def snap_candidates(
    lon, lat, px, py, lon0, lat0, kx, ky, ox, oy, nx, ny, cell, cell_indptr, cell_seg, x1, y1, x2, y2, seg_edge,
    geom_offsets, geom_lon, geom_lat, edge_u, edge_v, blocked, max_dist, tie_m, node_m,
):  # fmt: skip
    """Every edge within `tie_m` of the nearest one to (`px`, `py`) (local metres of a point at
    `lon`, `lat`), and whether its nearest position is within `node_m` of an end node.

    Rings of grid cells are searched outwards, as in `nearest_segment`, until every segment
    closer than the nearest distance + `tie_m` has been seen.  Distances and positions on
    segments are worked out in a local equirectangular frame around the point itself (east
    metres scaled by cos(`lat`), not by the cos(`lat0`) of the network's grid frame, which is
    only the index): on a network spanning several degrees of latitude the nearest position
    does not drift by metres with the distance from `lat0`.  Per edge the nearest segment
    counts.  An edge's fraction is the share of its great-circle length (along its geometry)
    before the snapped position; the position on its segment is linear in lon/lat.

    Returns (node, edges, fractions, snap lon, snap lat, distance m): `node` is the end node
    nearest (along its edge) to a candidate position within `node_m` of it, else -1;
    distances are great-circle metres from the point to each snapped position.  Empty
    arrays when no segment lies within `max_dist`.
    """
    cxp = int(np.floor((px - ox) / cell))
    cyp = int(np.floor((py - oy) / cell))
    gx = max(ox - px, 0.0, px - (ox + nx * cell))
    gy = max(oy - py, 0.0, py - (oy + ny * cell))
    radius = max(int(max(gx, gy) // cell) - 1, 0)
    # grid-frame east metres × r = east metres in the point's own frame; a local distance D
    # is at most D / rmin in the grid frame, which bounds the rings to search
    r = np.cos(np.radians(lat)) / np.cos(np.radians(lat0))
    rmin = min(r, 1.0)
    best_d = np.inf
    cap = 16
    buf_s = np.empty(cap, dtype=np.int64)
    buf_d = np.empty(cap)
    buf_t = np.empty(cap)
    m = 0
    use_blocked = len(blocked) > 0
    while True:
        x0, x_1 = max(cxp - radius, 0), min(cxp + radius, nx - 1)
        y0, y_1 = max(cyp - radius, 0), min(cyp + radius, ny - 1)
        for row in range(y0, y_1 + 1):
            for col in range(x0, x_1 + 1):
                if radius > 0 and row > cyp - radius and row < cyp + radius and col > cxp - radius and col < cxp + radius:
                    continue
                c = row * nx + col
                for j in range(cell_indptr[c], cell_indptr[c + 1]):
                    s = cell_seg[j]
                    if use_blocked and blocked[seg_edge[s]]:
                        continue
                    ax = (x1[s] - px) * r  # segment ends relative to the point, in its own frame
                    ay = y1[s] - py
                    dx = (x2[s] - px) * r - ax
                    dy = (y2[s] - py) - ay
                    l2 = dx * dx + dy * dy
                    t = 0.0
                    if l2 > 0:
                        t = -(ax * dx + ay * dy) / l2
                        t = min(max(t, 0.0), 1.0)
                    qx = ax + t * dx
                    qy = ay + t * dy
                    d = np.sqrt(qx * qx + qy * qy)
                    if d > best_d + tie_m:
                        continue
                    if d < best_d:
                        best_d = d
                    # a segment lies in every cell its box touches: keep it once
                    seen = False
                    for i in range(m):
                        if buf_s[i] == s:
                            seen = True
                            break
                    if seen:
                        continue
                    if m == cap:
                        cap *= 2
                        ns = np.empty(cap, dtype=np.int64)
                        nd = np.empty(cap)
                        nt = np.empty(cap)
                        ns[:m] = buf_s[:m]
                        nd[:m] = buf_d[:m]
                        nt[:m] = buf_t[:m]
                        buf_s, buf_d, buf_t = ns, nd, nt
                    buf_s[m] = s
                    buf_d[m] = d
                    buf_t[m] = t
                    m += 1
        if m > 0 and (best_d + tie_m) / rmin < radius * cell:
            break
        if radius * cell * rmin > max_dist or (x0 == 0 and y0 == 0 and x_1 == nx - 1 and y_1 == ny - 1):
            break
        radius += 1
    # the nearest segment of each edge within the tie window
    keep = np.zeros(m, dtype=np.bool_)
    for i in range(m):
        if buf_d[i] > best_d + tie_m or buf_d[i] > max_dist:
            continue
        e = seg_edge[buf_s[i]]
        better = True
        for j in range(m):
            if j != i and seg_edge[buf_s[j]] == e and buf_d[j] <= best_d + tie_m:
                if buf_d[j] < buf_d[i] or (buf_d[j] == buf_d[i] and buf_s[j] < buf_s[i]):
                    better = False
                    break
        keep[i] = better
    n_c = 0
    for i in range(m):
        if keep[i]:
            n_c += 1
    edges = np.empty(n_c, dtype=np.int64)
    fracs = np.empty(n_c)
    slon = np.empty(n_c)
    slat = np.empty(n_c)
    dist = np.empty(n_c)
    node = -1
    node_along = np.inf
    k = 0
    for i in range(m):
        if not keep[i]:
            continue
        s = buf_s[i]
        e = seg_edge[s]
        t = buf_t[i]
        a = geom_offsets[e]
        b = geom_offsets[e + 1]
        first = s + e  # vertex where segment s starts (each earlier edge has one vertex more than segments)
        before = 0.0
        total = 0.0
        seg_len = 0.0
        for v in range(a, b - 1):
            h = _haversine_m(geom_lon[v], geom_lat[v], geom_lon[v + 1], geom_lat[v + 1])
            if v < first:
                before += h
            elif v == first:
                seg_len = h
            total += h
        along = before + t * seg_len
        f = along / total if total > 0 else t
        f = min(max(f, 0.0), 1.0)
        sx = (x1[s] + t * (x2[s] - x1[s])) / kx + lon0
        sy = (y1[s] + t * (y2[s] - y1[s])) / ky + lat0
        edges[k] = e
        fracs[k] = f
        slon[k] = sx
        slat[k] = sy
        dist[k] = _haversine_m(lon, lat, sx, sy)
        k += 1
        if along <= node_m and along < node_along:
            node, node_along = edge_u[e], along
        if total - along <= node_m and total - along < node_along:
            node, node_along = edge_v[e], total - along
    return node, edges, fracs, slon, slat, dist


def _warm_up_searches() -> None:
    import tempfile

    from geo import nearest as gnear
    from geo import network as gn
    from geo import routing

    lon = np.array([121.0, 121.001, 121.002, 121.001])
    lat = np.array([31.0, 31.0, 31.0, 31.001])
    u, v = np.array([0, 1, 1, 2, 1, 3]), np.array([1, 0, 2, 1, 3, 1])
    length = gn.haversine_m(lon[u], lat[u], lon[v], lat[v])
    built = gn.build_from_arrays(lon, lat, u, v, length, length / 10, np.zeros(6, dtype=np.int16), ["residential"], name="warm-up", source="warm-up")
    with tempfile.TemporaryDirectory() as tmp:
        routing.prepare_searches(built)
        for net in (built, gn.load(gn.save(built, f"{tmp}/warm-up"))):
            closed = np.zeros(net.n_edges, dtype=bool)
            closed[4] = True
            prepared = gnear.prepare(net, ["a"], [121.002], [31.0])
            for blocked in (None, closed):
                for method in routing.ROUTE_METHODS:
                    routing.route(net, (121.0, 31.0), (121.002, 31.0), blocked=blocked, method=method)
                gnear.nearest(net, (121.0, 31.0), prepared, k=1, blocked=blocked)
