"""Compiled kernels of the contraction hierarchy (`geo.hierarchy`): contraction, query, unpacking.

Private to `geo`: arrays in, arrays out; the Python side (`geo.hierarchy`) prepares the
node-pair graph, keeps the result with the network and serves `geo.routing.route`.

Contraction (Geisberger et al. 2008) on the node-pair graph (each pair's fastest time): nodes
are taken one by one in the order of a lazily updated priority (shortcuts added minus arcs
removed, plus neighbours already contracted); contracting v joins each remaining in-neighbour
u to each remaining out-neighbour x by a shortcut u→x of time w(u,v) + w(v,x) (remembering v)
unless a witness search from u that avoids v finds a way no longer.  A witness search that
stops at its settle limit before deciding adds the shortcut: the hierarchy may hold a few
needless shortcuts, never miss a needed one, so queries stay exact.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from geo._kernels import _pop, _push, push_grow, seed_heap

#: Kernel status when the arc pool is full (the caller retries with a larger one).
POOL_FULL = -1


@njit(cache=True)
def _prune(a, head, nxt, other, contracted):
    """Unlink from node `a`'s list (out or in) the arcs whose other end is contracted; the
    arcs themselves stay in the pool (the hierarchy keeps them)."""
    prev = -1
    k = head[a]
    while k != -1:
        nk = nxt[k]
        if contracted[other[k]]:
            if prev == -1:
                head[a] = nk
            else:
                nxt[prev] = nk
        else:
            prev = k
        k = nk


@njit(cache=True)
def _witness(u, skip, limit_s, max_settle, o_head, o_next, o_to, o_w, contracted, dist, touched, heap_d, heap_n):
    """Dijkstra from `u` over remaining nodes other than `skip`, up to `limit_s` and
    `max_settle` settled nodes; `dist` holds the result for the `touched` nodes (count returned)."""
    n_t = 0
    dist[u] = 0.0
    touched[n_t] = u
    n_t += 1
    size = _push(heap_d, heap_n, 0, 0.0, u)
    settled = 0
    while size > 0:
        d, a, size = _pop(heap_d, heap_n, size)
        if d > dist[a]:
            continue
        if d > limit_s or settled >= max_settle:
            break
        settled += 1
        _prune(a, o_head, o_next, o_to, contracted)
        k = o_head[a]
        while k != -1:
            b = o_to[k]
            if b != skip:
                nd = d + o_w[k]
                if nd < dist[b]:
                    if dist[b] == np.inf:
                        if n_t == len(touched):
                            break  # touched list full: stop relaxing (the search only gets weaker)
                        touched[n_t] = b
                        n_t += 1
                    dist[b] = nd
                    heap_d, heap_n, size = push_grow(heap_d, heap_n, size, nd, b)
            k = o_next[k]
    return n_t, heap_d, heap_n


@njit(cache=True)
def _contract_node(
    v, simulate, max_settle, o_head, o_next, o_to, o_w, o_mid, i_head, i_next, i_from,
    arc_from, arc_orig, n_arcs, contracted, dist, touched, heap_d, heap_n,
):  # fmt: skip
    """Shortcuts needed to contract `v`: (count, arcs removed, roads they stand for, roads
    the removed arcs stood for, new arc count); with
    `simulate` False they are added (existing arcs u→x lowered in place).  A new arc count
    of POOL_FULL means the pool had no room."""
    added = 0
    removed = 0
    o_added = 0
    o_removed = 0
    cap = len(o_to)
    _prune(v, o_head, o_next, o_to, contracted)
    _prune(v, i_head, i_next, i_from, contracted)
    # remaining out-arcs of v (largest time bounds the witness searches)
    max_out = 0.0
    k = o_head[v]
    while k != -1:
        if not contracted[o_to[k]]:
            removed += 1
            o_removed += arc_orig[k]
            if o_w[k] > max_out:
                max_out = o_w[k]
        k = o_next[k]
    ki = i_head[v]
    while ki != -1:
        u = i_from[ki]
        if contracted[u]:
            ki = i_next[ki]
            continue
        removed += 1
        o_removed += arc_orig[ki]
        w1 = o_w[ki]  # the arc u→v (one pool entry, on both lists)
        n_t, heap_d, heap_n = _witness(u, v, w1 + max_out, max_settle, o_head, o_next, o_to, o_w, contracted, dist, touched, heap_d, heap_n)
        k = o_head[v]
        while k != -1:
            x = o_to[k]
            if x != u and not contracted[x]:
                via = w1 + o_w[k]
                if via < dist[x]:
                    added += 1
                    o_added += arc_orig[ki] + arc_orig[k]
                    if not simulate:
                        # lower an existing arc u→x, else add one
                        _prune(u, o_head, o_next, o_to, contracted)
                        e = o_head[u]
                        while e != -1 and o_to[e] != x:
                            e = o_next[e]
                        if e != -1:
                            if via < o_w[e]:
                                o_w[e] = via
                                o_mid[e] = v
                                arc_orig[e] = arc_orig[ki] + arc_orig[k]
                        else:
                            if n_arcs == cap:
                                for t in range(n_t):
                                    dist[touched[t]] = np.inf
                                return added, removed, o_added, o_removed, POOL_FULL, heap_d, heap_n
                            e = n_arcs
                            n_arcs += 1
                            arc_from[e] = u
                            o_to[e] = x
                            o_w[e] = via
                            o_mid[e] = v
                            arc_orig[e] = arc_orig[ki] + arc_orig[k]
                            o_next[e] = o_head[u]
                            o_head[u] = e
                            i_from[e] = u
                            i_next[e] = i_head[x]
                            i_head[x] = e
            k = o_next[k]
        for t in range(n_t):
            dist[touched[t]] = np.inf
        ki = i_next[ki]
    return added, removed, o_added, o_removed, n_arcs, heap_d, heap_n


@njit(cache=True)
def _priority(added, removed, o_added, o_removed, depth):
    """Contraction priority, lowest first: shortcuts per arc removed, roads they stand for per
    road removed, and the node's depth (OSRM's weighting, Geisberger et al. 2008)."""
    return 2.0 * added / max(removed, 1) + 4.0 * o_added / max(o_removed, 1) + depth


@njit(cache=True)
def contract(n, src, dst, w, cap, max_settle, sim_settle, core_nodes):
    """Contract the nodes of the graph of arcs `src`→`dst` (times `w`; no self-loops, at most
    one arc per pair) until `core_nodes` remain (the core: rank -1).  Returns (status, rank,
    arc_from, arc_to, arc_w, arc_mid) with status the number of arcs (original first, then
    shortcuts) or POOL_FULL when more than `cap` arcs were needed."""
    m0 = len(src)
    o_head = np.full(n, -1, dtype=np.int64)
    i_head = np.full(n, -1, dtype=np.int64)
    o_next = np.empty(cap, dtype=np.int64)
    i_next = np.empty(cap, dtype=np.int64)
    o_to = np.empty(cap, dtype=np.int64)
    i_from = np.empty(cap, dtype=np.int64)
    o_w = np.empty(cap)
    o_mid = np.empty(cap, dtype=np.int64)
    arc_from = np.empty(cap, dtype=np.int64)
    arc_orig = np.ones(cap, dtype=np.int64)
    rank = np.full(n, -1, dtype=np.int64)
    if m0 > cap:
        return POOL_FULL, rank, arc_from[:0], o_to[:0], o_w[:0], o_mid[:0]
    for e in range(m0):
        a, b = src[e], dst[e]
        arc_from[e] = a
        o_to[e] = b
        o_w[e] = w[e]
        o_mid[e] = -1
        o_next[e] = o_head[a]
        o_head[a] = e
        i_from[e] = a
        i_next[e] = i_head[b]
        i_head[b] = e
    n_arcs = m0
    contracted = np.zeros(n, dtype=np.bool_)
    depth = np.zeros(n, dtype=np.int64)
    seen = np.full(n, -1, dtype=np.int64)  # the contraction step that last refreshed a node
    prio = np.empty(n)
    dist = np.full(n, np.inf)
    touched = np.empty(max(4 * max_settle, 64), dtype=np.int64)
    heap_d = np.empty(1024)
    heap_n = np.empty(1024, dtype=np.int64)
    q_d = np.empty(n + 1024)
    q_n = np.empty(n + 1024, dtype=np.int64)
    qs = 0
    for v in range(n):
        added, removed, o_added, o_removed, _, heap_d, heap_n = _contract_node(
            v, True, sim_settle, o_head, o_next, o_to, o_w, o_mid, i_head, i_next, i_from,
            arc_from, arc_orig, n_arcs, contracted, dist, touched, heap_d, heap_n,
        )  # fmt: skip
        prio[v] = _priority(added, removed, o_added, o_removed, 0)
        q_d, q_n, qs = push_grow(q_d, q_n, qs, prio[v], v)
    order = 0
    while qs > 0 and order < n - core_nodes:
        key, v, qs = _pop(q_d, q_n, qs)
        if contracted[v] or key != prio[v]:
            continue  # stale entry (priorities are refreshed as neighbours are contracted)
        _, _, _, _, n_arcs, heap_d, heap_n = _contract_node(
            v, False, max_settle, o_head, o_next, o_to, o_w, o_mid, i_head, i_next, i_from,
            arc_from, arc_orig, n_arcs, contracted, dist, touched, heap_d, heap_n,
        )  # fmt: skip
        if n_arcs == POOL_FULL:
            return POOL_FULL, rank, arc_from[:0], o_to[:0], o_w[:0], o_mid[:0]
        contracted[v] = True
        rank[v] = order
        order += 1
        # neighbours: one more contracted neighbour each, priorities refreshed
        for side in range(2):
            k = o_head[v] if side == 0 else i_head[v]
            while k != -1:
                x = o_to[k] if side == 0 else i_from[k]
                if not contracted[x] and seen[x] != order:
                    seen[x] = order
                    if depth[x] < depth[v] + 1:
                        depth[x] = depth[v] + 1
                    added, removed, o_added, o_removed, _, heap_d, heap_n = _contract_node(
                        x, True, sim_settle, o_head, o_next, o_to, o_w, o_mid, i_head, i_next, i_from,
                        arc_from, arc_orig, n_arcs, contracted, dist, touched, heap_d, heap_n,
                    )  # fmt: skip
                    p = _priority(added, removed, o_added, o_removed, depth[x])
                    if p != prio[x]:
                        prio[x] = p
                        q_d, q_n, qs = push_grow(q_d, q_n, qs, p, x)
                k = o_next[k] if side == 0 else i_next[k]
    return n_arcs, rank, arc_from[:n_arcs], o_to[:n_arcs], o_w[:n_arcs], o_mid[:n_arcs]


@njit(cache=True)
def _settle(heap_d, heap_n, size, dist, dist_other, pred, out_ptr, out_to, out_w, in_ptr, in_from, in_w, flag, touched, n_t, mu, meet):
    """Pop one node of one side's search: meet the other side, stall (a node above reaches it
    faster through an arc `in_*`, which ends at it), else relax its arcs `out_*`.
    Returns the heap, its size, the touched count, mu, the meeting node and 1 if settled, else 0."""
    d, u, size = _pop(heap_d, heap_n, size)
    if d > dist[u]:
        return heap_d, heap_n, size, n_t, mu, meet, 0
    if dist_other[u] < np.inf and d + dist_other[u] < mu:
        mu = d + dist_other[u]
        meet = u
    for j in range(in_ptr[u], in_ptr[u + 1]):
        if dist[in_from[j]] + in_w[j] < d:
            return heap_d, heap_n, size, n_t, mu, meet, 0
    for j in range(out_ptr[u], out_ptr[u + 1]):
        x = out_to[j]
        nd = d + out_w[j]
        if nd < dist[x]:
            if flag[x] == 0:
                flag[x] = 1
                touched[n_t] = x
                n_t += 1
            dist[x] = nd
            pred[x] = u
            heap_d, heap_n, size = push_grow(heap_d, heap_n, size, nd, x)
    return heap_d, heap_n, size, n_t, mu, meet, 1


@njit(cache=True)
def query(
    uf_ptr, uf_to, uf_w, ub_ptr, ub_from, ub_w, is_core,
    src_nodes, src_offsets, tgt_nodes, tgt_offsets,
    dist_f, dist_b, pred_f, pred_b, flag, touched,
):  # fmt: skip
    """Fastest time from sources (with start costs) to targets (with end costs) by the
    bidirectional upward search with stall-on-demand.  ``uf`` is the upward CSR (arcs u→x with
    rank x > rank u, at u), ``ub`` the downward arcs reversed (arcs y→x with rank y > rank x,
    at x).  Core nodes (`is_core`, left uncontracted) have no arcs here: each search stops
    at them, and they are returned with their times as the sources and targets of the core
    search (`geo.routing`), with the nodes settled below the core.  Workspace arrays are put
    back on return except `pred_f`/`pred_b` (the trees).

    Returns (best below the core, its meeting node or -1, nodes settled, core nodes reached
    forwards, their times, core nodes reached backwards, their times)."""
    heap_fd, heap_fn, sf, n_t = seed_heap(src_nodes, src_offsets, dist_f, pred_f, flag, touched, 0, 256)
    heap_bd, heap_bn, sb, n_t = seed_heap(tgt_nodes, tgt_offsets, dist_b, pred_b, flag, touched, n_t, 256)
    mu = np.inf
    meet = -1
    settled = 0
    while True:
        tf = heap_fd[0] if sf > 0 else np.inf
        tb = heap_bd[0] if sb > 0 else np.inf
        if tf >= mu:
            tf = np.inf  # that side is done: nothing it still holds can improve on mu
        if tb >= mu:
            tb = np.inf
        if tf == np.inf and tb == np.inf:
            break
        if tf <= tb:  # forwards: up the upward arcs, stalled by the downward ones
            heap_fd, heap_fn, sf, n_t, mu, meet, k = _settle(
                heap_fd, heap_fn, sf, dist_f, dist_b, pred_f, uf_ptr, uf_to, uf_w, ub_ptr, ub_from, ub_w, flag, touched, n_t, mu, meet
            )
        else:  # backwards: the same with the two arc sets swapped
            heap_bd, heap_bn, sb, n_t, mu, meet, k = _settle(
                heap_bd, heap_bn, sb, dist_b, dist_f, pred_b, ub_ptr, ub_from, ub_w, uf_ptr, uf_to, uf_w, flag, touched, n_t, mu, meet
            )
        settled += k
    n_cf = 0
    n_cb = 0
    for i in range(n_t):
        v = touched[i]
        if is_core[v]:
            n_cf += dist_f[v] < mu
            n_cb += dist_b[v] < mu
    cf_n = np.empty(n_cf, dtype=np.int64)
    cf_d = np.empty(n_cf)
    cb_n = np.empty(n_cb, dtype=np.int64)
    cb_d = np.empty(n_cb)
    n_cf = 0
    n_cb = 0
    for i in range(n_t):
        v = touched[i]
        if is_core[v]:
            if dist_f[v] < mu:
                cf_n[n_cf] = v
                cf_d[n_cf] = dist_f[v]
                n_cf += 1
            if dist_b[v] < mu:
                cb_n[n_cb] = v
                cb_d[n_cb] = dist_b[v]
                n_cb += 1
        dist_f[v] = np.inf
        dist_b[v] = np.inf
        flag[v] = 0
    return mu, meet, settled, cf_n, cf_d, cb_n, cb_d


@njit(cache=True)
def _find(ptr, other, j0, target):
    for j in range(ptr[j0], ptr[j0 + 1]):
        if other[j] == target:
            return j
    return -1


@njit(cache=True)
def unpack(path, rank, uf_ptr, uf_to, uf_mid, ub_ptr, ub_from, ub_mid, core_index, cf_ptr, cf_to, cf_mid):
    """The road nodes of a hierarchy path (consecutive nodes joined by hierarchy arcs, or by
    core arcs `cf` where both are core nodes, of equal rank, numbered within the core by
    `core_index`): every shortcut a→b with middle
    m replaced by a→m→b, recursively.  -1 entries mark an arc
    that is not in the hierarchy (a defect; the caller raises)."""
    out = np.empty(max(16, 4 * len(path)), dtype=np.int64)
    n_out = 0
    stack = np.empty(256, dtype=np.int64)
    for i in range(len(path) - 1):
        if n_out + 1 >= len(out):
            bigger = np.empty(2 * len(out), dtype=np.int64)
            bigger[:n_out] = out[:n_out]
            out = bigger
        out[n_out] = path[i]
        n_out += 1
        # stack of pending targets: go from `cur` to stack top
        cur = path[i]
        sp = 0
        stack[sp] = path[i + 1]
        sp += 1
        while sp > 0:
            b = stack[sp - 1]
            if rank[cur] == rank[b]:  # both in the core (its arcs numbered within it)
                j = _find(cf_ptr, cf_to, core_index[cur], core_index[b])
                mid = cf_mid[j] if j != -1 else -2
            elif rank[cur] < rank[b]:
                j = _find(uf_ptr, uf_to, cur, b)
                mid = uf_mid[j] if j != -1 else -2
            else:
                j = _find(ub_ptr, ub_from, b, cur)
                mid = ub_mid[j] if j != -1 else -2
            if mid == -2:
                out[n_out] = -1
                return out[: n_out + 1]
            if mid == -1:  # a road: step to b (emitted unless it is path[i + 1], emitted next)
                sp -= 1
                if sp > 0:
                    if n_out + 1 >= len(out):
                        bigger = np.empty(2 * len(out), dtype=np.int64)
                        bigger[:n_out] = out[:n_out]
                        out = bigger
                    out[n_out] = b
                    n_out += 1
                cur = b
            else:
                if sp == len(stack):
                    bigger = np.empty(2 * len(stack), dtype=np.int64)
                    bigger[:sp] = stack[:sp]
                    stack = bigger
                stack[sp] = mid
                sp += 1
    out[n_out] = path[len(path) - 1]
    n_out += 1
    return out[:n_out]


@njit(cache=True)
def path_blocked(nodes, indptr, indices, pair_edge, blocked):
    """Whether any consecutive pair of `nodes` has its fastest road (the pair graph's edge)
    closed in `blocked`."""
    for i in range(len(nodes) - 1):
        a, b = nodes[i], nodes[i + 1]
        for j in range(indptr[a], indptr[a + 1]):
            if indices[j] == b:
                if blocked[pair_edge[j]]:
                    return True
                break
    return False
