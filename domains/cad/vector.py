"""The DeepCAD vector: a part as a ``60 x 17`` integer matrix of commands with 8-bit arguments.

Wu, Xiao & Zheng 2021, "DeepCAD: A Deep Generative Network for Computer-Aided Design Models"
(ICCV), §3.1, and GenCAD (Alam & Ahmed 2025), which keeps the format. One row per command,
``[cmd, x, y, α, f, r, θ, φ, γ, px, py, pz, s, e1, e2, b, u]``, ``-1`` where the command has no
such argument:

===========  =========================  ==================================================
command      arguments                  meaning
===========  =========================  ==================================================
Line (0)     x, y                       end point (the start is the previous curve's end)
Arc (1)      x, y, α, f                 end point, sweep α, counter-clockwise flag f
Circle (2)   x, y, r                    centre and radius
EOS (3)      --                         end of the part (and the padding after it)
SOL (4)      --                         start of a loop
Ext (5)      θ φ γ px py pz s e1 e2 b u sketch plane (angles, position of the profile's start
                                        point), sketch size, extents, boolean, extent type
===========  =========================  ==================================================

Quantisation (256 levels each). The part is first centred on its bounding box and scaled so its
largest side is ``127/128`` (:data:`PART_SIZE`: a prism across the whole part stays exactly
representable). Positions and extents ``v ∈ [-1, 1)``: ``q = round((v + 1) / 2 · 256)``; angles
``a ∈ [-π, π)``: ``q = round((a + π) / 2π · 256) mod 256`` (every multiple of π/2 is exact);
sketch size ``s ∈ (0, 2)``: ``q = round(s / 2 · 256)``. A profile is drawn relative to its start
point (the outer loop's left-most point, :meth:`~domains.cad.sequence.Profile.canonical`) in
units of its size: ``q = 128 + round(96 · p / s)``, so the start point is ``(128, 128)``; radii
``q = round(96 · r / s)``; sweeps ``q = round(α / 2π · 256)``, at least 1.

Caps (DeepCAD's): at most 10 extrudes, 6 loops per profile, 15 curves per loop and 60 rows
(the final EOS included). :func:`encode` raises :class:`~domains.cad.sequence.CADError` naming
the cap a part exceeds; :func:`decode` raises it naming the row a malformed vector breaks at.
"""

from __future__ import annotations

import math
import numpy as np

from domains.cad.sequence import (EXTENT_TYPES, OPERATIONS, Arc, CADError, CADSequence, Circle, Extrude, Line, Loop,
                                  Profile, SketchPlane, wrap_angle)

__all__ = ["LINE", "ARC", "CIRCLE", "EOS", "SOL", "EXT", "COMMANDS", "ARG_COLUMNS", "ARG_MASK", "N_ARGS", "N_LEVELS",
           "MAX_EXTRUDES", "MAX_LOOPS", "MAX_CURVES", "MAX_ROWS", "PART_SIZE", "PAD", "encode", "decode",
           "check_caps", "count_rows", "valid_rows"]

LINE, ARC, CIRCLE, EOS, SOL, EXT = range(6)
COMMANDS = ("Line", "Arc", "Circle", "EOS", "SOL", "Ext")
#: argument columns (1-based in the row; column 0 is the command)
ARG_COLUMNS = ("x", "y", "alpha", "f", "r", "theta", "phi", "gamma", "px", "py", "pz", "s", "e1", "e2", "b", "u")
N_ARGS, N_LEVELS, PAD = 16, 256, -1
MAX_EXTRUDES, MAX_LOOPS, MAX_CURVES, MAX_ROWS = 10, 6, 15, 60
#: the normalised part's largest side
PART_SIZE = 127 / 128
#: grid units per sketch size, and the grid position of a profile's start point
PROFILE_SCALE, PROFILE_ORIGIN = 96, 128

_COL = {name: i + 1 for i, name in enumerate(ARG_COLUMNS)}
#: which argument columns each command uses, as a (6, 16) boolean table
ARG_MASK = np.zeros((6, N_ARGS), dtype=bool)
for _cmd, _names in {LINE: ("x", "y"), ARC: ("x", "y", "alpha", "f"), CIRCLE: ("x", "y", "r"),
                     EXT: ARG_COLUMNS[5:]}.items():
    ARG_MASK[_cmd, [_COL[n] - 1 for n in _names]] = True


def valid_rows(cmd):
    """``(B, N)`` True for the rows up to and including the first EOS of each sequence, from
    the commands ``cmd`` (a numpy array or a torch tensor)."""
    eos = cmd == EOS
    before = eos.cumsum(1) - (eos.astype(np.int64) if isinstance(eos, np.ndarray) else eos.long())
    return before == 0


def _q(v: float, lo: int = 0, hi: int = N_LEVELS - 1) -> int:
    return int(min(hi, max(lo, round(v))))


def _q_signed(v: float) -> int:
    return _q((v + 1.0) / 2.0 * N_LEVELS)


def _dq_signed(q: int) -> float:
    return q / N_LEVELS * 2.0 - 1.0


def _q_angle(a: float) -> int:
    return int(round((wrap_angle(a) + math.pi) / (2 * math.pi) * N_LEVELS)) % N_LEVELS


def _dq_angle(q: int) -> float:
    return q / N_LEVELS * 2 * math.pi - math.pi


def count_rows(seq: CADSequence) -> int:
    """Rows the part takes: a SOL per loop, a row per curve, an Ext per extrude, the final EOS."""
    return sum(len(e.profile.loops) + e.profile.n_curves + 1 for e in seq.extrudes) + 1


def check_caps(seq: CADSequence) -> None:
    """Raise :class:`CADError` if ``seq`` exceeds one of DeepCAD's caps."""
    if len(seq.extrudes) > MAX_EXTRUDES:
        raise CADError(f"the part has {len(seq.extrudes)} extrudes; the DeepCAD format holds at most {MAX_EXTRUDES}")
    for i, e in enumerate(seq.extrudes):
        if len(e.profile.loops) > MAX_LOOPS:
            raise CADError(f"extrude {i} has {len(e.profile.loops)} loops; the DeepCAD format holds at most "
                           f"{MAX_LOOPS} per profile (cut further holes as separate extrudes)")
        for j, loop in enumerate(e.profile.loops):
            if len(loop.curves) > MAX_CURVES:
                raise CADError(f"extrude {i}, loop {j} has {len(loop.curves)} curves; the DeepCAD format holds "
                               f"at most {MAX_CURVES}")
    rows = count_rows(seq)
    if rows > MAX_ROWS:
        raise CADError(f"the part takes {rows} rows; the DeepCAD format holds at most {MAX_ROWS}")


def encode(seq: CADSequence, normalize: bool = True) -> np.ndarray:
    """The ``(60, 17)`` int64 vector of ``seq`` (centred and scaled first unless ``normalize``
    is False, for a part already within ``[-1, 1)``)."""
    check_caps(seq)
    if normalize:
        seq = seq.normalized(PART_SIZE / 2)[0]
    rows: list[list[int]] = []
    for e in seq.extrudes:
        profile = e.profile.canonical()
        start = profile.start.copy()
        origin = e.plane.to_world(start)
        profile = profile.transformed(1.0, -start)
        size = profile.size
        if not size > 0:
            raise CADError("a profile has zero size")
        grid = lambda p: [_q(PROFILE_ORIGIN + PROFILE_SCALE * c / size) for c in p]  # noqa: E731
        for loop in profile.loops:
            rows.append([SOL] + [PAD] * N_ARGS)
            for c in loop.curves:
                row = [PAD] * (N_ARGS + 1)
                if isinstance(c, Circle):
                    row[0] = CIRCLE
                    row[_COL["x"]], row[_COL["y"]] = grid(c.center)
                    row[_COL["r"]] = _q(PROFILE_SCALE * c.radius / size, lo=1)
                else:
                    row[0] = ARC if isinstance(c, Arc) else LINE
                    row[_COL["x"]], row[_COL["y"]] = grid(c.end)
                    if isinstance(c, Arc):
                        row[_COL["alpha"]] = _q(c.sweep / (2 * math.pi) * N_LEVELS, lo=1)
                        row[_COL["f"]] = int(c.ccw)
                rows.append(row)
        theta, phi, gamma = e.plane.angles()
        row = [EXT] + [PAD] * N_ARGS
        for name, a in zip(("theta", "phi", "gamma"), (theta, phi, gamma)):
            row[_COL[name]] = _q_angle(a)
        for name, v in zip(("px", "py", "pz"), origin):
            row[_COL[name]] = _q_signed(float(v))
        row[_COL["s"]] = _q(size / 2.0 * N_LEVELS, lo=1)
        row[_COL["e1"]] = _q_signed(e.extent_one)
        row[_COL["e2"]] = _q_signed(e.extent_two)
        row[_COL["b"]] = OPERATIONS.index(e.operation)
        row[_COL["u"]] = EXTENT_TYPES.index(e.extent_type)
        rows.append(row)
    rows.append([EOS] + [PAD] * N_ARGS)
    rows += [[EOS] + [PAD] * N_ARGS for _ in range(MAX_ROWS - len(rows))]
    return np.asarray(rows, dtype=np.int64)


def _loop_from_rows(rows: list[np.ndarray], size: float, where: str) -> Loop:
    point = lambda r: (np.array([r[_COL["x"]], r[_COL["y"]]], dtype=np.float64) - PROFILE_ORIGIN) \
        * size / PROFILE_SCALE  # noqa: E731
    if any(int(r[0]) == CIRCLE for r in rows):
        if len(rows) > 1:
            raise CADError(f"{where}: a circle shares its loop with other curves")
        r = rows[0]
        return Loop((Circle(point(r), r[_COL["r"]] * size / PROFILE_SCALE),))
    ends = [point(r) for r in rows]
    curves = []
    for i, r in enumerate(rows):
        a, b = ends[i - 1], ends[i]
        if np.array_equal(a, b):
            raise CADError(f"{where}: curve {i} has zero length")
        if int(r[0]) == ARC:
            if r[_COL["f"]] not in (0, 1):
                raise CADError(f"{where}: an arc's direction flag must be 0 or 1, got {r[_COL['f']]}")
            curves.append(Arc(a, b, max(1, int(r[_COL["alpha"]])) / N_LEVELS * 2 * math.pi, bool(r[_COL["f"]])))
        else:
            curves.append(Line(a, b))
    return Loop(tuple(curves))


def decode(vec: np.ndarray) -> CADSequence:
    """The part a ``(rows, 17)`` vector describes (normalised units); rows after the first EOS
    are ignored. Raises :class:`CADError` naming the row where the vector stops making sense."""
    vec = np.asarray(vec)
    if vec.ndim != 2 or vec.shape[1] != N_ARGS + 1:
        raise CADError(f"a CAD vector has shape (rows, {N_ARGS + 1}), got {tuple(vec.shape)}")
    if len(vec) == 0:
        raise CADError("the CAD vector is empty")
    vec = vec.astype(np.int64)
    extrudes: list[Extrude] = []
    loops_rows: list[list[np.ndarray]] = []
    for i, row in enumerate(vec):
        cmd = int(row[0])
        if cmd == EOS:
            break
        if cmd not in (LINE, ARC, CIRCLE, SOL, EXT):
            raise CADError(f"row {i}: unknown command {cmd}")
        used = row[1:][ARG_MASK[cmd]]
        if np.any((used < 0) | (used >= N_LEVELS)):
            raise CADError(f"row {i}: a {COMMANDS[cmd]} argument lies outside 0..{N_LEVELS - 1}")
        if cmd == SOL:
            loops_rows.append([])
        elif cmd in (LINE, ARC, CIRCLE):
            if not loops_rows:
                raise CADError(f"row {i}: a {COMMANDS[cmd]} before any SOL")
            loops_rows[-1].append(row)
        else:
            if not loops_rows:
                raise CADError(f"row {i}: an Ext with no loop to extrude")
            if len(extrudes) == MAX_EXTRUDES:
                raise CADError(f"row {i}: more than {MAX_EXTRUDES} extrudes")
            b, u = int(row[_COL["b"]]), int(row[_COL["u"]])
            if b >= len(OPERATIONS) or u >= len(EXTENT_TYPES):
                raise CADError(f"row {i}: boolean {b} / extent type {u} out of range")
            size = row[_COL["s"]] / N_LEVELS * 2.0
            if size <= 0:
                raise CADError(f"row {i}: the sketch size is zero")
            loops = []
            for k, rows in enumerate(loops_rows):
                if not rows:
                    raise CADError(f"row {i}: loop {k} of this extrude has no curve")
                loops.append(_loop_from_rows(rows, size, f"row {i}, loop {k}"))
            origin = [_dq_signed(int(row[_COL[n]])) for n in ("px", "py", "pz")]
            plane = SketchPlane.from_angles(origin, *(_dq_angle(int(row[_COL[n]])) for n in ("theta", "phi", "gamma")))
            extrudes.append(Extrude(Profile(tuple(loops)), plane, _dq_signed(int(row[_COL["e1"]])),
                                    _dq_signed(int(row[_COL["e2"]])), OPERATIONS[b], EXTENT_TYPES[u]))
            loops_rows = []
    if loops_rows:
        raise CADError("the vector ends with loops that no Ext extrudes")
    if not extrudes:
        raise CADError("the vector holds no extrude")
    return CADSequence(extrudes)
