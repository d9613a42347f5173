r"""The mode hierarchy: saddles between neighbouring modes and the merge tree.

Lowering a level :math:`c` from the highest mode, the superlevel set
:math:`\{x : \log f(x) \ge c\}` grows from islands around the modes; two
islands join at the highest point of the best path between them, a saddle.
The *merge tree* records those joins. At each one the island whose highest
mode is lower ends (the elder rule of persistent homology); its mode's
*prominence* is :math:`\log f(\text{mode}) - \log f(\text{saddle})`, and the
highest mode's is infinite.

How the saddles are found (see :func:`build_hierarchy`):

1. Candidate pairs of modes: those whose basins touch, i.e. a training point
   and one of its nearest neighbours (in the scale metric) climbed to
   different modes, plus each mode's nearest modes, plus the nearest pairs
   that join what is still disconnected. Every training point is linked to
   its mode at its own level by its ascent path, so a neighbouring pair
   ``(x, y)`` gives a path between their modes whose lowest point is the
   lowest point of the segment ``[x, y]``.
2. The lowest point of each candidate segment, sampled every half scale
   unit; a pair's value is that of its best segment.
3. The maximum spanning tree of the modes under these values: the best path
   between any two modes runs along it (Kruskal). Its edges' lowest points
   are bracketed more finely, and the tree is rebuilt until they all are.
4. Each tree edge's lowest point starts a search for an index-1 saddle
   (Newton's method for :math:`\nabla \log f = 0` that climbs along the
   negative-curvature directions and descends along the one positive). A
   saddle is confirmed if the gradient vanishes, the Hessian has exactly one
   positive eigenvalue, and the ascents that start on either side of it
   along the unstable direction reach two modes. It refines the edge if
   those are the edge's modes and it is not below the edge's path; one
   joining another pair becomes an edge of its own, and the tree is
   rebuilt, until every tree edge has been searched (above five features,
   only those of the 32 most prominent merges). Elsewhere the path's lowest
   point stands, flagged.
5. The merge tree by the elder rule over the tree edges, highest first.
"""

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial import cKDTree

from .._core import gen_batches, working_memory_bytes
from ._ascent import _FLAT_TOL

#: Nearest training points searched for basins that touch: ``2 d + 2``
#: within these bounds.
_NEIGHBORS = (8, 32)
#: Segments kept per pair of touching basins, and pairs per mode: those
#: likely highest (ends high and close, see ``_candidate_segments``).
_SEGMENTS_PER_PAIR = 2
_PAIRS_PER_MODE = 3
#: Nearest modes joined to each mode by a straight segment.
_MODE_NEIGHBORS = 2
#: Spacing (scale units) of the samples on a segment, and their largest number.
_SEGMENT_SPACING = 0.5
_MAX_SEGMENT_SAMPLES = 64
#: Width (scale units) to which the bracket around the lowest sample of a
#: tree edge's segment is halved, and the most halvings.
_BRACKET_TOL = 1e-2
_MAX_BRACKET_ROUNDS = 16
#: Saddle searches for every tree edge up to this many features; above,
#: only for the merges of this many most prominent modes.
_REFINE_ALL_MAX_FEATURES = 5
_MAX_REFINED = 32
#: Saddle search: trust radius (scale units), iterations, the scaled
#: gradient below which a point is a critical point, and the step (scale
#: units) below which the search stops.
_SADDLE_TRUST = 0.5
_SADDLE_MAX_ITER = 60
_SADDLE_GRAD_TOL = 1e-7
_SADDLE_STEP_TOL = 1e-8
#: Offset (scale units) along the unstable direction of a saddle from which
#: the check ascents start.
_SADDLE_OFFSET = 0.1


@dataclass
class ModeHierarchy:
    r"""Merge tree of the modes of a density (the ``hierarchy_`` of
    :class:`~skdensity.ModeClustering`).

    Modes are indexed by decreasing log-density; merges are listed from the
    highest saddle down, the order of a scipy linkage matrix.

    Attributes
    ----------
    modes : ndarray of shape (n_modes, n_features)
        Every mode found, before any merging.
    log_density : ndarray of shape (n_modes,)
        :math:`\log f` at each mode (decreasing).
    n_points : ndarray of shape (n_modes,)
        Training points whose ascent reached each mode.
    prominence : ndarray of shape (n_modes,)
        :math:`\log f` at the mode minus at the saddle where its island joins
        one with a higher mode; ``inf`` for the highest mode.
    parent : ndarray of shape (n_modes,)
        The highest mode of the island each mode's island joins; -1 for the
        highest mode.
    merge_child, merge_parent : ndarray of shape (n_merges,)
        For each merge, the mode whose island ends (the lower top) and the
        highest mode of the island it joins.
    saddle_points : ndarray of shape (n_merges, n_features)
        Where each merge happens: the saddle, or where no saddle could be
        confirmed (``saddle_refined`` False), the lowest point of the best
        path found.
    saddle_log_density : ndarray of shape (n_merges,)
        :math:`\log f` there (non-increasing).
    saddle_refined : ndarray of shape (n_merges,)
        Whether the point is a confirmed index-1 saddle of :math:`\log f`
        whose unstable direction leads to the two modes of ``saddle_modes``.
    saddle_modes : ndarray of shape (n_merges, 2)
        The two modes whose basins meet at the saddle (the ends of the tree
        edge; the lower of the two belongs to ``merge_child``'s island).
    linkage : ndarray of shape (n_merges, 4)
        The tree in the format of :func:`scipy.cluster.hierarchy.linkage`,
        with mode ``i`` as observation ``i`` and heights
        ``log_density[0] - saddle_log_density`` (non-decreasing), so that
        ``scipy.cluster.hierarchy.dendrogram(hierarchy.linkage)`` draws it.
        Empty when fewer than two modes were found.
    """

    modes: np.ndarray
    log_density: np.ndarray
    n_points: np.ndarray
    prominence: np.ndarray
    parent: np.ndarray
    merge_child: np.ndarray
    merge_parent: np.ndarray
    saddle_points: np.ndarray
    saddle_log_density: np.ndarray
    saddle_refined: np.ndarray
    saddle_modes: np.ndarray
    linkage: np.ndarray

    def heads(self, min_prominence=None):
        """The mode heading each mode's cluster after merging by prominence.

        Parameters
        ----------
        min_prominence : float or None, default=None
            Modes with a smaller prominence are merged into their ``parent``
            (repeatedly, up the tree). ``None`` merges nothing.

        Returns
        -------
        heads : ndarray of shape (n_modes,)
            Index of the mode heading each mode's cluster; modes with a
            prominence of at least ``min_prominence`` head their own.
        """
        head = np.arange(len(self.modes))
        if min_prominence is None or head.size == 0:
            return head
        merged = self.prominence < min_prominence
        head[merged] = self.parent[merged]
        while True:  # pointer jumping up the tree: O(log depth) passes
            step = np.where(merged[head], head[head], head)
            if np.array_equal(step, head):
                return head
            head = step


def build_hierarchy(ascent, X, point_mode, modes, log_density, *, climb):
    """The merge tree of ``modes`` from the training points' basins.

    Parameters
    ----------
    ascent : _Ascent
        The density, in the scale metric.
    X : ndarray of shape (n_samples, n_features)
        Training points.
    point_mode : ndarray of shape (n_samples,)
        The mode each point's ascent reached (index into ``modes``), or -1.
    modes : ndarray of shape (n_modes, n_features)
        The modes, by decreasing log-density.
    log_density : ndarray of shape (n_modes,)
    climb : callable
        ``climb(points)`` returns the mode each point's ascent reaches
        (index, or -1): the check of the saddles' unstable directions.

    Returns
    -------
    ModeHierarchy
    """
    k, d = modes.shape
    n_points = np.bincount(point_mode[point_mode >= 0], minlength=k)
    if k < 2:
        return _merge_tree(
            modes, log_density, n_points, np.zeros((0, 2), dtype=np.intp),
            np.zeros((0, d)), np.zeros(0), np.zeros(0, dtype=bool),
        )  # fmt: skip
    pairs, start, end, f_start, f_end = _candidate_segments(
        ascent, X, point_mode, modes, log_density
    )
    segments = _Segments(ascent, start, end, f_start, f_end)
    edges = _Edges(segments, pairs, _best_per_pair(pairs, segments.value))
    budget = np.inf if d <= _REFINE_ALL_MAX_FEATURES else _MAX_REFINED
    while True:
        tree = _maximum_spanning_tree(k, edges.pairs, edges.value(), edges.refined)
        # Bracketing only lowers an edge: repeat until the tree's are done.
        unbracketed = edges.unbracketed(tree)
        if unbracketed.size:
            segments.bracket(unbracketed)
            continue
        search = tree[~edges.searched[tree] & ~edges.refined[tree]]
        if np.isfinite(budget) and search.size > budget:
            search = _most_prominent(edges, tree, log_density, search, int(budget))
        if search.size == 0:
            break
        budget -= search.size
        edges.search_saddles(ascent, search, climb)
    return _merge_tree(
        modes,
        log_density,
        n_points,
        edges.pairs[tree],
        edges.point(tree),
        edges.value()[tree],
        edges.refined[tree],
    )


class _Edges:
    """Candidate edges between modes: a segment's lowest point, or a
    confirmed saddle (``refined``), each with the pair of modes it joins."""

    def __init__(self, segments, pairs, best):
        self.segments = segments
        self.pairs = pairs[best]
        self.segment = best
        d = segments.start.shape[1]
        self.saddle = np.zeros((len(best), d))
        self.saddle_value = np.zeros(len(best))
        self.refined = np.zeros(len(best), dtype=bool)
        self.searched = np.zeros(len(best), dtype=bool)
        self.cap = np.full(len(best), np.inf)  # see search_saddles

    def value(self):
        path = np.minimum(self.segments.value[self.segment], self.cap)
        return np.where(self.refined, self.saddle_value, path)

    def point(self, rows):
        """The saddle, else the lowest point of the path (or the saddle it
        was capped at)."""
        at_saddle = self.refined[rows] | (
            self.cap[rows] < self.segments.value[self.segment[rows]]
        )
        return np.where(
            at_saddle[:, None],
            self.saddle[rows],
            self.segments.point(self.segment[rows]),
        )

    def unbracketed(self, rows):
        rows = rows[~self.refined[rows]]
        seg = self.segment[rows]
        return seg[~self.segments.bracketed[seg]]

    def search_saddles(self, ascent, rows, climb):
        """Search a saddle from each edge's lowest point.

        A confirmed saddle refines its edge if it joins the edge's two modes
        and is not below the edge's path (by more than the path's sampling
        error). One joining another pair becomes an edge of its own (a path
        between that pair as high as the saddle); if it lies next to the
        lowest point searched from and below it, that point's path passes
        next to it, and the edge is valued no higher.
        """
        self.searched[rows] = True
        start = self.point(rows)
        found, f, reached, curvature = _saddle_search(ascent, start, climb)
        valid = reached[:, 0] >= 0
        same = np.all(reached == self.pairs[rows], axis=1)
        low = self.value()[rows]
        seg = self.segment[rows]
        error = curvature * self.segments.radius(seg) ** 2
        slack = error + 1e-9 * np.maximum(1.0, np.abs(low))
        own = valid & same & (f >= low - slack)
        hit = rows[own]
        self.saddle[hit], self.saddle_value[hit] = found[own], f[own]
        self.refined[hit] = True
        other = valid & ~same
        near = other & (ascent.norm(found - start) <= 1.0) & (f < low)
        self.cap[rows[near]], self.saddle[rows[near]] = f[near], found[near]
        if other.any():
            n_new = np.count_nonzero(other)
            self.pairs = np.vstack([self.pairs, reached[other]])
            self.segment = np.concatenate([self.segment, seg[other]])
            self.saddle = np.vstack([self.saddle, found[other]])
            self.saddle_value = np.concatenate([self.saddle_value, f[other]])
            new = np.ones(n_new, dtype=bool)
            self.refined = np.concatenate([self.refined, new])
            self.searched = np.concatenate([self.searched, new])
            self.cap = np.concatenate([self.cap, np.full(n_new, np.inf)])


def _most_prominent(edges, tree, log_density, rows, count):
    """The ``count`` edges of ``rows`` (tree edges) at which the most
    prominent modes end."""
    value = edges.value()[tree]
    order = np.argsort(-value, kind="stable")
    root = np.arange(len(log_density))
    prominence = np.empty(len(tree))
    for m in order:
        a, b = (_find(root, i) for i in edges.pairs[tree[m]])
        high, low = min(a, b), max(a, b)
        root[low] = high
        prominence[m] = log_density[low] - value[m]
    rank = np.argsort(-prominence, kind="stable")
    chosen = tree[rank]
    return chosen[np.isin(chosen, rows)][:count]


# ---------------------------------------------------------------------------
# Candidate paths between modes
# ---------------------------------------------------------------------------


def _candidate_segments(ascent, X, point_mode, modes, log_density):
    """Segments between modes' basins, with their mode pair and end values.

    Returns
    -------
    pairs : ndarray of shape (n_segments, 2)
        The two modes (lower index first) each segment joins.
    start, end : ndarray of shape (n_segments, n_features)
    f_start, f_end : ndarray of shape (n_segments,)
        :math:`\\log f` at the ends.
    """
    k = len(modes)
    i, j = _touching_edges(ascent, X, point_mode)
    ends = np.unique(np.concatenate([i, j]))
    f_point = np.full(len(X), np.nan)
    f_point[ends] = _log_density(ascent, X[ends])
    # The best few segments per touching pair, then the best few pairs per mode.
    a, b = point_mode[i], point_mode[j]
    swap = a > b
    i, j = np.where(swap, j, i), np.where(swap, i, j)
    a, b = np.minimum(a, b), np.maximum(a, b)
    # Rank segments before sampling them by the lower end, less the dip
    # halfway between two lone kernels D scale units apart (D^2 / 8).
    likely = np.minimum(f_point[i], f_point[j]) - ascent.norm(X[i] - X[j]) ** 2 / 8
    pair = a.astype(np.int64) * k + b
    keep = _best_in_groups(pair, likely, _SEGMENTS_PER_PAIR)
    i, j, a, b, pair, likely = (
        i[keep], j[keep], a[keep], b[keep], pair[keep], likely[keep]
    )  # fmt: skip
    # Each mode's best pairs, counted over both ends.
    pairs, at, best = _group_max(pair, likely)
    ends = np.concatenate([pairs // k, pairs % k])
    chosen = _best_in_groups(ends, np.concatenate([best, best]), _PAIRS_PER_MODE)
    chosen = chosen[: len(pairs)] | chosen[len(pairs) :]
    keep = chosen[at]
    i, j, a, b = i[keep], j[keep], a[keep], b[keep]
    # Straight segments to the nearest modes, and whatever joins the rest.
    # (A straight segment can beat the touching points' paths: a basin's
    # only points may lie below its saddles.) Not where a touching segment
    # already runs from next to one mode to next to the other.
    mode_pairs = _mode_pairs(modes @ ascent.whiten, np.column_stack([a, b]))
    at_modes = (ascent.norm(X[i] - modes[a]) <= 0.25) & (
        ascent.norm(X[j] - modes[b]) <= 0.25
    )
    covered = np.unique(a[at_modes].astype(np.int64) * k + b[at_modes])
    mode_pairs = mode_pairs[
        ~np.isin(mode_pairs[:, 0].astype(np.int64) * k + mode_pairs[:, 1], covered)
    ]
    pairs = np.vstack([np.column_stack([a, b]), mode_pairs])
    start = np.vstack([X[i], modes[mode_pairs[:, 0]]])
    end = np.vstack([X[j], modes[mode_pairs[:, 1]]])
    f_start = np.concatenate([f_point[i], log_density[mode_pairs[:, 0]]])
    f_end = np.concatenate([f_point[j], log_density[mode_pairs[:, 1]]])
    return pairs, start, end, f_start, f_end


def _touching_edges(ascent, X, point_mode):
    """Pairs of neighbouring training points that climbed to different modes."""
    valid = np.flatnonzero(point_mode >= 0)
    none = np.zeros(0, dtype=np.intp)
    if valid.size < 2:
        return none, none
    d = X.shape[1]
    n_neighbors = min(int(np.clip(2 * d + 2, *_NEIGHBORS)), valid.size - 1)
    Z = X[valid] @ ascent.whiten
    _, neighbors = cKDTree(Z).query(Z, n_neighbors + 1)
    i = np.repeat(valid, n_neighbors + 1)
    j = valid[neighbors.ravel()]
    cross = point_mode[i] != point_mode[j]
    i, j = np.minimum(i[cross], j[cross]), np.maximum(i[cross], j[cross])
    edge = np.unique(i.astype(np.int64) * len(X) + j)
    return (edge // len(X)).astype(np.intp), (edge % len(X)).astype(np.intp)


def _group_max(group, value):
    """Distinct groups, the group of each element, and each group's maximum."""
    groups, at = np.unique(group, return_inverse=True)
    best = np.full(len(groups), -np.inf)
    np.maximum.at(best, at, value)
    return groups, at, best


def _best_in_groups(group, value, count):
    """Mask of the ``count`` highest values within each group."""
    order = np.lexsort((-value, group))
    sorted_group = group[order]
    first = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    rank = np.arange(len(order)) - np.repeat(first, np.diff(np.r_[first, len(order)]))
    keep = np.zeros(len(group), dtype=bool)
    keep[order[rank < count]] = True
    return keep


def _mode_pairs(Z, pairs):
    """Each mode's nearest modes, plus the nearest pairs joining the
    components that ``pairs`` and those leave apart (Boruvka's rounds)."""
    k = len(Z)
    tree = cKDTree(Z)
    n_near = min(_MODE_NEIGHBORS, k - 1)
    _, near = tree.query(Z, n_near + 1)
    found = [
        np.column_stack([np.repeat(np.arange(k), n_near), near[:, 1:].ravel()]),
    ]
    while True:
        edges = np.vstack([pairs, *found])
        graph = coo_array(
            (np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(k, k)
        )
        n_components, component = connected_components(graph, directed=False)
        if n_components == 1:
            break
        found.append(_nearest_between_components(Z, tree, component))
    out = np.vstack(found)
    out = np.sort(out, axis=1)
    return np.unique(out[out[:, 0] != out[:, 1]], axis=0)


def _nearest_between_components(Z, tree, component):
    """For each component, its nearest pair of modes leading out of it."""
    k = len(Z)
    n_query = min(k, 16)
    dist, near = tree.query(Z, n_query)
    dist, near = dist.reshape(k, -1), near.reshape(k, -1)
    outside = component[near] != component[:, None]
    has = outside.any(axis=1)
    first = np.argmax(outside, axis=1)
    best_dist = np.where(has, dist[np.arange(k), first], np.inf)
    best = near[np.arange(k), first]
    for c in np.unique(component[~has]):
        # No mode of this component has an outside mode among its nearest
        # 16: search all, one component at a time (rare).
        members = np.flatnonzero((component == c) & ~has)
        others = np.flatnonzero(component != c)
        for rows in gen_batches(len(members), max(1, 2**20 // max(1, len(others)))):
            D = _squared_distances(Z[members[rows]], Z[others])
            nearest = np.argmin(D, axis=1)
            best_dist[members[rows]] = np.sqrt(D[np.arange(len(D)), nearest])
            best[members[rows]] = others[nearest]
    order = np.lexsort((best_dist, component))
    first = order[np.r_[True, component[order][1:] != component[order][:-1]]]
    return np.column_stack([first, best[first]])


def _squared_distances(A, B):
    return np.maximum(
        np.einsum("ij,ij->i", A, A)[:, None]
        + np.einsum("ij,ij->i", B, B)[None, :]
        - 2 * A @ B.T,
        0.0,
    )


class _Segments:
    """The lowest point of :math:`\\log f` on each segment ``[start, end]``.

    Sampled at most ``_SEGMENT_SPACING`` scale units apart (at most
    ``_MAX_SEGMENT_SAMPLES`` samples inside) when built; ``bracket`` then
    halves the bracket around the lowest sample down to ``_BRACKET_TOL``.
    ``value`` is the lowest value found so far, at fraction ``t``.
    """

    def __init__(self, ascent, start, end, f_start, f_end):
        self.ascent, self.start, self.step = ascent, start, end - start
        self.length = ascent.norm(self.step)
        m = len(start)
        self.t = np.where(f_start <= f_end, 0.0, 1.0)
        self.value = np.minimum(f_start, f_end)
        self.half = np.zeros(m)  # half the bracket around t
        self.bracketed = np.zeros(m, dtype=bool)
        if m == 0:
            return
        count = np.ceil(self.length / _SEGMENT_SPACING).astype(np.intp)
        count = np.clip(count - 1, 1, _MAX_SEGMENT_SAMPLES)
        segment = np.repeat(np.arange(m), count)
        offset = np.cumsum(count) - count
        t = (np.arange(segment.size) - offset[segment] + 1) / (count[segment] + 1)
        f = self._log_density(segment, t)
        lowest = np.minimum.reduceat(f, offset)
        at = np.flatnonzero(f == lowest[segment])
        at = at[np.r_[True, segment[at][1:] != segment[at][:-1]]]  # first each
        inside = lowest < self.value
        self.t[inside], self.value[inside] = t[at][inside], lowest[inside]
        # The lowest point lies within a sample spacing of the lowest sample
        # (an end included), if f has one minimum there.
        self.half = 1.0 / (count + 1)

    def _log_density(self, rows, t):
        """``log f`` at fractions ``t`` of segments ``rows``, a bounded
        number of points at a time."""
        out = np.empty(len(rows))
        for batch in _batches(len(rows), self.start.shape[1]):
            r = rows[batch]
            points = self.start[r] + t[batch, None] * self.step[r]
            out[batch] = self.ascent.log_density(points)
        return out

    def bracket(self, rows):
        """Refine the lowest point of segments ``rows`` by halving its
        bracket until it is ``_BRACKET_TOL`` scale units wide."""
        self.bracketed[rows] = True
        for _ in range(_MAX_BRACKET_ROUNDS):
            rows = rows[self.half[rows] * self.length[rows] > _BRACKET_TOL / 2]
            if rows.size == 0:
                break
            self.half[rows] /= 2
            both = np.concatenate([rows, rows])
            trial = self.t[both] + np.repeat([-1.0, 1.0], rows.size) * self.half[both]
            trial = np.clip(trial, 0.0, 1.0)
            f = self._log_density(both, trial)
            # The lower of the two trials per segment, if below the best yet.
            pick = np.where(f[: rows.size] <= f[rows.size :], 0, rows.size)
            pick += np.arange(rows.size)
            lower = f[pick] < self.value[rows]
            self.t[rows[lower]] = trial[pick][lower]
            self.value[rows[lower]] = f[pick][lower]

    def point(self, rows):
        return self.start[rows] + self.t[rows, None] * self.step[rows]

    def radius(self, rows):
        """Half the bracket around the lowest point, in scale units."""
        return self.half[rows] * self.length[rows]


def _log_density(ascent, points):
    """``log f`` at many points, a bounded number at a time."""
    out = np.empty(len(points))
    for rows in _batches(len(points), points.shape[1]):
        out[rows] = ascent.log_density(points[rows])
    return out


def _batches(n_points, n_features):
    """Slices of points per call to the density: a small share of
    ``working_memory`` each (the density chunks its own work within it)."""
    if n_points == 0:
        return []
    size = max(1024, working_memory_bytes() // (64 * (n_features + 1)))
    return gen_batches(n_points, size)


def _best_per_pair(pairs, value):
    """Index of each pair of modes' highest segment, by pair."""
    order = np.lexsort((-value, pairs[:, 1], pairs[:, 0]))
    p = pairs[order]
    return order[np.r_[True, np.any(p[1:] != p[:-1], axis=1)]]


def _maximum_spanning_tree(k, pairs, value, first=None):
    """Indices of the edges of a maximum spanning tree (Kruskal's, by
    scipy's minimum spanning tree on the edges' ranks); among equal values,
    edges ``first`` come first."""
    first = np.zeros(len(pairs), dtype=bool) if first is None else first
    order = np.lexsort((~first, -value))
    # The best edge of each pair (a graph has one edge per pair).
    p = pairs[order]
    seen = np.unique(p[:, 0].astype(np.int64) * k + p[:, 1], return_index=True)[1]
    best = order[np.sort(seen)]
    rank = np.empty(len(pairs))
    rank[order] = np.arange(1, len(pairs) + 1)  # positive: 0 is "no edge"
    graph = coo_array(
        (rank[best], (pairs[best, 0], pairs[best, 1])), shape=(k, k)
    ).tocsr()
    tree = minimum_spanning_tree(graph).tocoo()
    at = {(a, b): e for e, (a, b) in zip(best, pairs[best].tolist(), strict=True)}
    rows, cols = np.minimum(tree.row, tree.col), np.maximum(tree.row, tree.col)
    return np.array(
        [at[r, c] for r, c in zip(rows.tolist(), cols.tolist(), strict=True)],
        dtype=np.intp,
    )


def _find(root, i):
    """Union-find root of ``i``, halving the path on the way."""
    while root[i] != i:
        root[i] = root[root[i]]
        i = root[i]
    return i


# ---------------------------------------------------------------------------
# Saddles
# ---------------------------------------------------------------------------


def _saddle_search(ascent, X0, climb):
    r"""Search an index-1 saddle of :math:`\log f` from each row of ``X0``.

    Newton's method for :math:`\nabla \log f = 0` that climbs along the
    negative-curvature directions and descends along the positive one: in
    scale units :math:`z = L^{-1} x`, with the eigenpairs
    :math:`(\lambda_i, v_i)` of the scaled Hessian and the scaled gradient
    :math:`g`, the step is :math:`\sum_i s_i (v_i^\top g / |\lambda_i|)\,
    v_i` with :math:`s_i = -1` for the largest eigenvalue and :math:`+1` for
    the others; this is the Newton step wherever the Hessian has one
    positive eigenvalue, and a step towards such a region elsewhere
    (eigenvector following). Steps are cut to ``_SADDLE_TRUST``.

    An end point is a confirmed saddle if its scaled gradient is below
    ``_SADDLE_GRAD_TOL`` (or rounding level), its scaled Hessian has exactly
    one eigenvalue above ``_FLAT_TOL`` and the others below ``-_FLAT_TOL``,
    and the ascents from ``_SADDLE_OFFSET`` scale units on either side along
    the positive eigenvector reach two different modes.

    Returns
    -------
    points : ndarray of shape (n, n_features)
    log_density : ndarray of shape (n,)
    reached : ndarray of shape (n, 2)
        The two modes (ascending) a confirmed saddle joins; -1 where the
        point is not one.
    curvature : ndarray of shape (n,)
        Largest absolute eigenvalue of the scaled Hessian at each point.
    """
    X = np.array(X0, dtype=np.float64, copy=True)
    L = ascent.scale_chol
    active = np.arange(len(X))
    for _ in range(_SADDLE_MAX_ITER):
        if active.size == 0:
            break
        g, lam, V = _scaled_derivatives(ascent, X[active])
        coef = np.einsum("kij,ki->kj", V, g) / np.maximum(np.abs(lam), 1e-3)
        coef[:, -1] *= -1.0
        dz = np.einsum("kij,kj->ki", V, coef)
        norm = np.sqrt(np.einsum("ij,ij->i", dz, dz))
        dz *= np.minimum(1.0, _SADDLE_TRUST / np.maximum(norm, 1e-300))[:, None]
        X[active] += dz @ L.T
        # Near a saddle the next step is about the square of this one: below
        # _SADDLE_STEP_TOL the point is as good as rounding allows.
        floor = 4 * np.finfo(float).eps * ascent.norm(np.abs(X[active]))
        done = (norm <= np.maximum(_SADDLE_STEP_TOL, floor)) | ~np.isfinite(norm)
        active = active[~done]
    g, lam, V = _scaled_derivatives(ascent, X)
    f = _log_density(ascent, X)
    grad_norm = np.sqrt(np.einsum("ij,ij->i", g, g))
    ok = grad_norm <= _SADDLE_GRAD_TOL + _rounding_gradient(ascent, X, lam)
    ok &= (lam[:, -1] > _FLAT_TOL) & np.isfinite(f)
    if X.shape[1] > 1:
        ok &= lam[:, -2] < -_FLAT_TOL
    reached = np.full((len(X), 2), -1, dtype=np.intp)
    rows = np.flatnonzero(ok)
    if rows.size:
        offset = _SADDLE_OFFSET * V[rows, :, -1] @ L.T
        ends = climb(np.vstack([X[rows] + offset, X[rows] - offset]))
        ends = np.sort(ends.reshape(2, -1).T, axis=1)
        good = (ends[:, 0] >= 0) & (ends[:, 0] != ends[:, 1])
        reached[rows[good]] = ends[good]
    return X, f, reached, np.max(np.abs(lam), axis=1)


def _scaled_derivatives(ascent, X):
    """Scaled gradient ``L^T grad`` and eigenpairs of ``L^T hess L``."""
    grad, hess = ascent.gradient_and_hessian(X)
    lam, V = np.linalg.eigh(ascent.scaled(hess))
    return grad @ ascent.scale_chol, lam, V


def _rounding_gradient(ascent, X, eig):
    """The scaled gradient that rounding of the coordinates alone leaves."""
    ulp = 8 * np.finfo(float).eps * ascent.norm(np.abs(X))
    return ulp * np.max(np.abs(eig), axis=1)


# ---------------------------------------------------------------------------
# The merge tree
# ---------------------------------------------------------------------------


def _merge_tree(modes, log_density, n_points, pairs, saddle, value, refined):
    """Elder rule over the tree edges, highest saddle first."""
    k = len(modes)
    order = np.argsort(-value, kind="stable")
    pairs, saddle, value, refined = (
        pairs[order], saddle[order], value[order], refined[order]
    )  # fmt: skip
    root = np.arange(k)
    node = np.arange(k)  # linkage cluster id of each island, by its top mode
    size = np.ones(k)
    prominence = np.full(k, np.inf)
    parent = np.full(k, -1, dtype=np.intp)
    child_of, parent_of = np.empty((2, len(pairs)), dtype=np.intp)
    linkage = np.empty((len(pairs), 4))
    top = log_density[0] if k else 0.0
    height = np.maximum.accumulate(np.maximum(top - value, 0.0)) if k else value
    for m, (a, b) in enumerate(pairs):
        # Modes are by decreasing density: an island's top is its lowest index.
        high, low = sorted((_find(root, a), _find(root, b)))
        root[low] = high
        prominence[low] = log_density[low] - value[m]
        parent[low] = high
        child_of[m], parent_of[m] = low, high
        linkage[m] = (
            *sorted((node[high], node[low])),
            height[m],
            size[high] + size[low],
        )
        node[high], size[high] = k + m, size[high] + size[low]
    return ModeHierarchy(
        modes=modes,
        log_density=log_density,
        n_points=n_points,
        prominence=prominence,
        parent=parent,
        merge_child=child_of,
        merge_parent=parent_of,
        saddle_points=saddle,
        saddle_log_density=value,
        saddle_refined=refined,
        saddle_modes=pairs,
        linkage=linkage,
    )


def merge_small_clusters(hierarchy, head, min_size):
    """Merge clusters of fewer than ``min_size`` points into neighbours.

    Tree edges are visited from the highest saddle down; an edge joins its
    two clusters when either has fewer than ``min_size`` training points. A
    small cluster thus joins the neighbour across its highest saddle (the
    highest edge leaving any set of modes is a tree edge), unless a
    neighbour merged into it first. The merged cluster is headed by the
    larger one's head (the higher mode on a tie).

    Parameters
    ----------
    hierarchy : ModeHierarchy
    head : ndarray of shape (n_modes,)
        The mode heading each mode's cluster so far.
    min_size : int

    Returns
    -------
    head : ndarray of shape (n_modes,)
    """
    k = len(head)
    size = np.bincount(head, weights=hierarchy.n_points, minlength=k)
    root = head.copy()
    for a, b in hierarchy.saddle_modes:
        a, b = _find(root, a), _find(root, b)
        if a == b or min(size[a], size[b]) >= min_size:
            continue
        keep, gone = (a, b) if (size[a], -a) >= (size[b], -b) else (b, a)
        root[gone] = keep
        size[keep] += size[gone]
    return np.array([_find(root, i) for i in range(k)], dtype=np.intp)
