"""Simple profiles: decoded loops that neither cross themselves nor each other.

A DeepCAD vector draws each loop as the chain of its curves' end points, ``e_1 .. e_k``: curve
``i`` runs from ``e_{i-1}`` to ``e_i`` (cyclically), a line straight, an arc through the sweep
``alpha`` to the side its flag ``f`` says (Wu, Xiao & Zheng 2021, ICCV, §3.1). The autoencoder's
decoder predicts every end point independently given ``z``, so a chain of individually likely
points can cross itself (a bow tie), pass through one of its own vertices, fold back along
itself, or cross another loop of the same profile. A kernel rejects such a face (OCC's
``BRepCheck`` reports a self-intersecting wire or an unorientable face, or the wire does not
close), and the part builds nothing.

:func:`repair_profiles` searches, profile by profile, for a likely set of arguments whose loops
are simple and disjoint. A *conflict* (:func:`conflicts`) is a pair of polyline segments of the
profile (arcs and circles sampled, :mod:`domains.cad.sequence`) that touch or cross although
they are not neighbours along one loop, a pair of neighbours that fold back onto each other, a
curve of zero length, and, once the segments are clear, a hole that lies outside the first
(outer) loop or inside another hole (a face has one outer boundary and holes that do not nest).

Greedy local search under the decoder's factorised distribution
``log p(v | z) = Σ_rows Σ_args log p(v_{row,arg} | z)``: while conflicts remain, among the moves
that change one row's arguments (a curve's end point or a circle's centre ``(x, y)`` to one of
the ``top × top`` most likely pairs, an arc's sweep and flag to one of the ``top`` most likely
sweeps with either flag, a circle's radius to one of the ``top`` most likely), applied to the
rows in a conflict and to the curves before them (whose end point is their start), take the
move that leaves the fewest conflicts and, among those, loses the least log probability; stop
when no move lowers the count, or after ``max_moves``. The search is not exhaustive: it returns
the argmax unchanged when it has no conflict, and a profile it cannot clear keeps its
fewest-conflict arguments (the build then reports the failure).

Effect on the bundled ``cad/parts``, 200 first draws (seed 7, no redraw): strictly valid parts
45 % -> 75.5 %; decoding 200 latents takes 7.5 s instead of 1.8 s on one thread, of which the
search takes 5.3 s (21.5 s counting every trial from scratch; :class:`_Trials`;
scripts/bench_cad_decode.py). ``top = 6`` or
``8`` with 30 moves gained one more point at two to three times the cost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from domains.cad.sequence import Arc, CADError, Circle
from domains.cad.vector import ARC, CIRCLE, EOS, EXT, LINE, N_LEVELS, SOL

__all__ = ["profile_rows", "conflicts", "repair_profiles", "SCORED_COLUMNS"]

#: the argument columns (1-based, as in the vector's rows) whose log probabilities the search reads:
#: x, y, alpha, f, r
SCORED_COLUMNS = (1, 2, 3, 4, 5)
_X, _Y, _ALPHA, _F, _R = range(5)  # their index in a ``scores`` array
_EPS = 1e-9


def profile_rows(vec: np.ndarray) -> list[list[list[int]]]:
    """The rows of each profile's loops (profile, loop, rows of its curves), up to the first EOS;
    a profile is the loops between two Ext rows."""
    profiles: list[list[list[int]]] = [[]]
    for i, cmd in enumerate(vec[:, 0]):
        if cmd == EOS:
            break
        if cmd == SOL:
            profiles[-1].append([])
        elif cmd in (LINE, ARC, CIRCLE) and profiles[-1]:
            profiles[-1][-1].append(i)
        elif cmd == EXT:
            profiles.append([])
    return [p for p in profiles if p]


@lru_cache(maxsize=65536)
def _curve_polyline(cmd: int, ax: int, ay: int, bx: int, by: int, alpha: int, f: int) -> np.ndarray | None:
    """A line's or arc's polyline from ``a`` to ``b`` (grid units), or a circle's about centre
    ``b`` of radius ``alpha``; None for a curve of zero length."""
    a, b = np.array([ax, ay], dtype=float), np.array([bx, by], dtype=float)
    if cmd == CIRCLE:
        return Circle(b, max(float(alpha), 0.5)).points(17)
    if ax == bx and ay == by:
        return None
    if cmd == ARC:
        sweep = min(max(1, alpha) / N_LEVELS * 2 * math.pi, 2 * math.pi - 1e-6)
        try:
            return Arc(a, b, sweep, f == 1).points(9)
        except CADError:
            return None
    return np.stack([a, b])


def _curve(vec: np.ndarray, rows: list[int], k: int) -> np.ndarray | None:
    """The polyline of curve ``k`` of a loop (grid units, from its start, the previous curve's
    end, to its end; a circle's about its centre); None for zero length."""
    r = vec[rows[k]]
    cmd = int(r[0])
    if cmd == CIRCLE:
        return _curve_polyline(CIRCLE, 0, 0, int(r[1]), int(r[2]), int(r[5]), 0)
    a = vec[rows[k - 1], 1:3]
    arc = cmd == ARC
    return _curve_polyline(cmd, int(a[0]), int(a[1]), int(r[1]), int(r[2]), int(r[3]) if arc else 0,
                           int(r[4]) if arc else 0)


def _traced(vec: np.ndarray, rows: list[int]) -> bool:
    """Whether a loop is drawn as polylines: a chain of lines and arcs, or one circle (the loops
    a kernel would reject outright for mixing a circle with other curves are left out)."""
    return bool(rows) and not (len(rows) > 1 and any(vec[r, 0] == CIRCLE for r in rows))


def _inside(point: np.ndarray, polygon: np.ndarray) -> bool:
    """Even-odd rule: whether ``point`` lies inside the closed polyline ``polygon`` (k+1, 2)."""
    a, b = polygon[:-1], polygon[1:]
    straddle = (a[:, 1] > point[1]) != (b[:, 1] > point[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        x = a[:, 0] + (point[1] - a[:, 1]) * (b[:, 0] - a[:, 0]) / (b[:, 1] - a[:, 1])
    return bool(np.sum(straddle & (x > point[0])) % 2)


def _orient(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Sign of the turn a -> b -> c (0 within a small tolerance), broadcast over leading axes."""
    cross = (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0])
    return (cross >= _EPS).astype(np.int8) - (cross <= -_EPS).astype(np.int8)


def _pair_conflicts(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """``(..., S, T)`` boolean: segments ``a_i b_i`` (``(..., S, 2)``) and ``c_j d_j``
    (``(..., T, 2)``) that touch or cross while not neighbours, or fold back onto each other
    while neighbours (``neighbours`` broadcast to ``(..., S, T)``). Symmetric in the two sets;
    a segment against itself counts as touching, so callers leave the diagonal out. Only pairs
    whose bounding boxes meet, and neighbours, are tested."""
    lo_ab, hi_ab = np.minimum(a, b)[..., :, None, :], np.maximum(a, b)[..., :, None, :]
    lo_cd, hi_cd = np.minimum(c, d)[..., None, :, :], np.maximum(c, d)[..., None, :, :]
    boxes = np.all((lo_ab <= hi_cd + _EPS) & (lo_cd <= hi_ab + _EPS), axis=-1)
    neighbours = np.broadcast_to(neighbours, boxes.shape)
    where = np.nonzero(boxes | neighbours)
    first, second = where[:-1], where[:-2] + where[-1:]
    a, b, c, d = a[first], b[first], c[second], d[second]
    o1, o2, o3, o4 = _orient(a, b, c), _orient(a, b, d), _orient(c, d, a), _orient(c, d, b)
    touch = (o1 * o2 <= 0) & (o3 * o4 <= 0) & boxes[where]
    # neighbours share an end point; they conflict only when they run back along each other
    u, v = b - a, d - c
    parallel = np.abs(u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]) < _EPS
    fold = parallel & (np.sum(u * v, axis=-1) < 0)
    out = np.zeros(boxes.shape, dtype=bool)
    out[where] = np.where(neighbours[where], fold, touch)
    return out


class _Segments:
    """One profile's polylines as segments: end points ``a``, ``b`` (S, 2), the row each comes
    from, which pairs are neighbours along a loop, each row's slice of the segments, the rows of
    zero-length curves and each loop's closed polyline (None where a curve has zero length)."""

    def __init__(self, vec: np.ndarray, loops: list[list[int]]):
        p0, p1, owner, index = [], [], [], []
        self.polys: dict[int, np.ndarray | None] = {}
        self.ranges: dict[int, tuple[int, int]] = {}
        self.missing: list[int] = []
        self.closed: list[tuple[list[int], np.ndarray | None]] = []
        for rows in loops:
            if not _traced(vec, rows):
                continue
            polys = [_curve(vec, rows, k) for k in range(len(rows))]
            start = len(owner)
            for r, poly in zip(rows, polys):
                self.polys[r] = poly
                if poly is None:
                    self.missing.append(r)
                    continue
                self.ranges[r] = (len(owner), len(owner) + len(poly) - 1)
                p0.append(poly[:-1])
                p1.append(poly[1:])
                owner.extend([r] * (len(poly) - 1))
            n = len(owner) - start
            index.extend((start, n, k) for k in range(n))
            whole = all(p is not None for p in polys)
            self.closed.append((rows, np.concatenate([polys[0][:1]] + [p[1:] for p in polys]) if whole else None))
        self.owner = np.array(owner, dtype=np.int64)
        self.a = np.concatenate(p0) if p0 else np.zeros((0, 2))
        self.b = np.concatenate(p1) if p1 else np.zeros((0, 2))
        idx = np.array(index).reshape(-1, 3)  # (loop start, loop length, position)
        same = idx[:, None, 0] == idx[None, :, 0]
        gap = np.abs(idx[:, None, 2] - idx[None, :, 2])
        self.neighbours = same & ((gap == 1) | ((gap == idx[:, None, 1] - 1) & (idx[:, None, 1] > 2)))

    def matrix(self) -> np.ndarray:
        """``(S, S)`` symmetric conflicts of every pair of segments (diagonal False)."""
        out = _pair_conflicts(self.a, self.b, self.a, self.b, self.neighbours)
        np.fill_diagonal(out, False)
        return out

    def misplaced_holes(self) -> list[list[int]]:
        """The rows of each loop after the first that lies outside the first or inside another
        such loop (read once the segments are clear and every loop is closed)."""
        closed = self.closed
        if len(closed) < 2 or any(poly is None for _, poly in closed):
            return []
        outer = closed[0][1]
        return [rows for k, (rows, poly) in enumerate(closed[1:], start=1)
                if not _inside(poly[0], outer)
                or any(_inside(poly[0], other) for m, (_, other) in enumerate(closed[1:], start=1) if m != k)]


def conflicts(vec: np.ndarray, loops: list[list[int]]) -> tuple[int, set[int]]:
    """The number of conflicts in one profile (its loops' rows) and the rows of the curves in
    them. Besides the segment conflicts of the module docstring, a loop after the first that
    does not lie inside the first, or lies inside another such loop (a face has one outer
    boundary and holes that do not nest), counts as one."""
    seg = _Segments(vec, loops)
    return _tally(seg, seg.matrix())


def _tally(seg: _Segments, matrix: np.ndarray) -> tuple[int, set[int]]:
    """:func:`conflicts` of a profile's segments, from their pairwise conflict ``matrix``."""
    count, culprits = len(seg.missing), set(seg.missing)
    if not len(seg.owner):
        return count, culprits
    i, j = np.nonzero(np.triu(matrix, k=1))
    culprits.update(seg.owner[i].tolist())
    culprits.update(seg.owner[j].tolist())
    count += len(i)
    if count == 0:
        for rows in seg.misplaced_holes():
            count += 1
            culprits.update(rows)
    return count, culprits


class _Trials:
    """Conflict counts of one-row changes to a profile, without recounting every pair.

    A move changes one row's arguments, so only its own curve and the next one along its loop
    (which starts where it ends) change shape. Where no curve turns to or from zero length, the
    segments keep their layout, and the count after the move is the count before, less the
    conflicts of the changed segments, plus theirs after, for all the moves of a row in one
    vectorised pass; otherwise (and when that leaves none, for the holes' check) the profile is
    counted anew by :func:`conflicts`."""

    def __init__(self, vec: np.ndarray, loops: list[list[int]]):
        self.loops = loops
        self.seg = _Segments(vec, loops)
        self.conflict = self.seg.matrix()
        self.pairs = int(np.triu(self.conflict, k=1).sum())
        self.now = _tally(self.seg, self.conflict)  # the profile's own (count, culprits)
        self.after: dict[int, int] = {}  # row -> the row of the next curve along its loop
        for rows in loops:
            if _traced(vec, rows) and vec[rows[0], 0] != CIRCLE:
                for k, r in enumerate(rows):
                    self.after[r] = rows[(k + 1) % len(rows)]

    @staticmethod
    def _touching(block: np.ndarray, changed: np.ndarray) -> np.ndarray:
        """Conflicting pairs with at least one segment in ``changed``, from their rows
        ``block`` ``(..., len(changed), S)``."""
        inner = block[..., changed].sum((-2, -1))
        return block.sum((-2, -1)) - inner + inner // 2

    def counts(self, trials: Sequence[np.ndarray], row: int) -> list[int]:
        """The number of conflicts of the profile in each of ``trials``, which differ from the
        profile this was built on in ``row`` only."""
        seg, loops = self.seg, self.loops
        now = len(seg.missing) + self.pairs
        out: list[int | None] = [None] * len(trials)
        if row not in seg.polys:  # a loop drawn with no polylines: no count changes
            out = [now] * len(trials)
        else:
            changed_rows = [row]
            if self.after.get(row, row) != row:
                changed_rows.append(self.after[row])
            where = [(r, next(rows for rows in loops if r in rows)) for r in changed_rows]
            batch, shapes = [], []
            for m, trial in enumerate(trials):
                polys = [_curve(trial, rows, rows.index(r)) for r, rows in where]
                if any((p is None) != (seg.polys[r] is None) for p, (r, _) in zip(polys, where)):
                    out[m] = conflicts(trial, loops)[0]  # a curve vanishes or reappears: a new layout
                else:
                    batch.append(m)
                    shapes.append([p for p in polys if p is not None])
            spans = [seg.ranges[r] for r in changed_rows if r in seg.ranges]
            if batch and not spans:
                for m in batch:
                    out[m] = now
            elif batch:
                changed = np.concatenate([np.arange(lo, hi) for lo, hi in spans])
                points = np.stack([np.concatenate([p[:-1] for p in ps]) for ps in shapes])  # (M, K, 2)
                ends = np.stack([np.concatenate([p[1:] for p in ps]) for ps in shapes])
                a = np.repeat(seg.a[None], len(batch), axis=0)
                b = np.repeat(seg.b[None], len(batch), axis=0)
                a[:, changed], b[:, changed] = points, ends
                new = _pair_conflicts(points, ends, a, b, seg.neighbours[changed])
                new[:, np.arange(len(changed)), changed] = False
                before = int(self._touching(self.conflict[changed], changed))
                for m, after in zip(batch, self._touching(new, changed).tolist()):
                    out[m] = now - before + int(after)
        return [n if n else conflicts(trial, loops)[0] for n, trial in zip(out, trials)]  # holes: counted anew


def _moves(vec: np.ndarray, row: int, scores: np.ndarray, top: int) -> list[tuple[float, int, int, int]]:
    """Alternative arguments for one line, arc or circle row, as (change of log probability,
    first column changed, its value, the next column's value or -1 to keep it)."""
    out = []
    s = scores[row]
    if vec[row, 0] in (LINE, ARC, CIRCLE):
        xs, ys = np.argsort(-s[_X])[:top], np.argsort(-s[_Y])[:top]
        now = s[_X, vec[row, 1]] + s[_Y, vec[row, 2]]
        for x in xs:
            for y in ys:
                if (x, y) != (vec[row, 1], vec[row, 2]):
                    out.append((float(s[_X, x] + s[_Y, y] - now), 1, int(x), int(y)))
    if vec[row, 0] == ARC:
        now = s[_ALPHA, vec[row, 3]] + s[_F, vec[row, 4]]
        for a in np.argsort(-s[_ALPHA])[:top]:
            for f in (0, 1):
                if (a, f) != (vec[row, 3], vec[row, 4]) and np.isfinite(s[_ALPHA, a]) and np.isfinite(s[_F, f]):
                    out.append((float(s[_ALPHA, a] + s[_F, f] - now), 3, int(a), f))
    if vec[row, 0] == CIRCLE:
        now = s[_R, vec[row, 5]]
        for r in np.argsort(-s[_R])[:top]:
            if r != vec[row, 5]:
                out.append((float(s[_R, r] - now), 5, int(r), -1))
    return [m for m in out if np.isfinite(m[0])]


def _apply(vec: np.ndarray, row: int, move: tuple[float, int, int, int]) -> np.ndarray:
    out = vec.copy()
    _, col, v1, v2 = move
    out[row, col] = v1
    if v2 >= 0:
        out[row, col + 1] = v2
    return out


def repair_profiles(vec: np.ndarray, scores: np.ndarray, top: int = 4, max_moves: int = 12,
                    from_scratch: bool = False) -> np.ndarray:
    """``vec`` ``(N, 17)`` with each profile's conflicts removed by the greedy search of the
    module docstring; ``scores`` ``(N, 5, 256)`` the log probabilities of each row's x, y,
    alpha, f and r (``-inf`` where a value is not allowed). Trials are counted by
    :class:`_Trials`, or with ``from_scratch`` each by :func:`conflicts` (the same counts, several
    times slower: the reference that tests and scripts/bench_cad_decode.py compare with)."""
    vec = vec.copy()
    for loops in profile_rows(vec):
        before = {r: rows[k - 1] for rows in loops for k, r in enumerate(rows)}  # the curve whose end starts r
        for _ in range(max_moves):
            trials = _Trials(vec, loops)
            count, culprits = trials.now
            if count == 0:
                break
            rows_to_try = sorted(culprits | {before[r] for r in culprits if r in before})
            best = None
            for r in rows_to_try:
                moves = _moves(vec, r, scores, top)
                tried = [_apply(vec, r, move) for move in moves]
                counts = [conflicts(t, loops)[0] for t in tried] if from_scratch else trials.counts(tried, r)
                for move, trial, n in zip(moves, tried, counts):
                    key = (n, -move[0])
                    if n < count and (best is None or key < best[0]):
                        best = (key, trial)
            if best is None:
                break
            vec = best[1]
    return vec
