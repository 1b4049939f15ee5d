"""Constrained decoding: the most likely DeepCAD vector that describes a part.

The autoencoder's decoder (:mod:`domains.cad.autoencoder`) predicts each row's command and each
argument independently given ``z`` (no token is fed back). Its plain argmax can therefore
break the grammar (an Ext with no loop before it, a circle that shares its loop, a loop of
one curve) or draw a curve of zero length, and such a vector builds no part. This module
returns instead the most likely vector, under the same factorised distribution, among those
that satisfy the constraints below. It changes nothing where the argmax already satisfies
them.

Commands, exactly, by dynamic programming (Viterbi) over a finite automaton of DeepCAD's
grammar with its caps (Wu, Xiao & Zheng 2021, ICCV, §3.1; :mod:`domains.cad.vector`):

    part    = (profile Ext){1..10} EOS          rows after the first EOS are free
    profile = loop{1..6}
    loop    = SOL Circle | SOL curve{2..15}     curve = Line | Arc; two curves need an Arc
                                                (two lines enclose no area)

    c* = argmax_{c ∈ grammar} Σ_{i ≤ first EOS} log p(c_i | z)

over the states (phase, loops in the profile, extrudes so far), 1,152 of them.

Arguments, given the commands: each argument is the argmax of its own distribution over the
values its column allows (the arc flag f ∈ {0, 1}, the boolean b and the extent type u below
their number of kinds, a sketch size, radius and sweep of at least one grid unit). Then, along
each loop of two or more curves, an end point equal to the previous one (cyclically: the first
curve starts at the last one's end) is replaced by the most likely (x, y) pair that differs
from its neighbours, searched among the three most likely values of each coordinate.
"""

from __future__ import annotations

from functools import lru_cache

import re

import numpy as np
import torch
from torch import Tensor

from domains.cad.loop_repair import profile_rows
from domains.cad.sequence import EXTENT_TYPES, OPERATIONS
from domains.cad.vector import (ARC, ARG_COLUMNS, CIRCLE, EOS, EXT, LINE, MAX_CURVES, MAX_EXTRUDES, MAX_LOOPS, N_LEVELS,
                                SOL, valid_rows)

__all__ = ["grammar_commands", "is_grammatical", "argument_bounds", "separate_loop_points", "has_repeated_points",
           "GRAMMAR", "GRAMMAR_STATES"]

# phases of the automaton; the curve phases are "k curves so far" (with or without an arc below 3)
_START, _AFTER_SOL, _CIRCLE = 0, 1, 2
_CURVE_PHASES = [(1, False), (1, True), (2, False), (2, True)] + [(k, True) for k in range(3, MAX_CURVES + 1)]
_N_PHASES = 3 + len(_CURVE_PHASES)


def _closable(phase: int) -> bool:
    """A loop in this phase may end: a circle, two curves with an arc, or three or more curves."""
    if phase == _CIRCLE:
        return True
    if phase < 3:
        return False
    k, arc = _CURVE_PHASES[phase - 3]
    return k >= 3 or (k == 2 and arc)


def _after_curve(phase: int, cmd: int) -> int | None:
    """The curve phase after adding a Line or Arc in ``phase`` (None past the cap)."""
    if phase == _AFTER_SOL:
        return 3 + _CURVE_PHASES.index((1, cmd == ARC))
    k, arc = _CURVE_PHASES[phase - 3]
    if k == MAX_CURVES:
        return None
    k, arc = k + 1, arc or cmd == ARC
    return 3 + _CURVE_PHASES.index((k, arc if k < 3 else True))


@lru_cache(maxsize=1)
def _automaton() -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(n_states, end_state, src, dst, cmd, scored)`` of every transition. State ``START(e)``
    (a profile may begin, ``e`` extrudes done) is ``e``; the state (phase, loops ``l``, ``e``) is
    ``MAX_EXTRUDES + 1 + (phase * MAX_LOOPS + l - 1) * MAX_EXTRUDES + e``; the last is END."""
    n_start = MAX_EXTRUDES + 1

    def state(phase: int, loops: int, e: int) -> int:
        return n_start + ((phase - 1) * MAX_LOOPS + loops - 1) * MAX_EXTRUDES + e

    end = n_start + (_N_PHASES - 1) * MAX_LOOPS * MAX_EXTRUDES
    edges: list[tuple[int, int, int, bool]] = []
    for e in range(MAX_EXTRUDES + 1):
        if e < MAX_EXTRUDES:
            edges.append((e, state(_AFTER_SOL, 1, e), SOL, True))
        if e >= 1:
            edges.append((e, end, EOS, True))
    for phase in range(1, _N_PHASES):
        for loops in range(1, MAX_LOOPS + 1):
            for e in range(MAX_EXTRUDES):
                here = state(phase, loops, e)
                if phase == _AFTER_SOL:
                    edges.append((here, state(_CIRCLE, loops, e), CIRCLE, True))
                if phase == _AFTER_SOL or phase >= 3:
                    for cmd in (LINE, ARC):
                        nxt = _after_curve(phase, cmd)
                        if nxt is not None:
                            edges.append((here, state(nxt, loops, e), cmd, True))
                if _closable(phase):
                    if loops < MAX_LOOPS:
                        edges.append((here, state(_AFTER_SOL, loops + 1, e), SOL, True))
                    edges.append((here, e + 1, EXT, True))
    edges.append((end, end, EOS, False))  # the rows after the first EOS are not scored
    src, dst, cmd, scored = (np.asarray(v) for v in zip(*edges))
    return end + 1, end, src, dst, cmd, scored.astype(bool)


GRAMMAR_STATES = _automaton()[0]

#: the same grammar as a regular expression over one letter per command (Line, Arc, Circle, EOS, SOL, Ext)
_LETTERS = "LACESX"
_LOOP = f"S(?:C|[LA]{{3,{MAX_CURVES}}}|A[LA]|LA)"
GRAMMAR = re.compile(f"(?:(?:{_LOOP}){{1,{MAX_LOOPS}}}X){{1,{MAX_EXTRUDES}}}E")


def is_grammatical(cmd: np.ndarray | Tensor) -> np.ndarray:
    """``(B,)`` True where the command rows ``(B, N)`` up to the first EOS follow the grammar."""
    cmd = np.asarray(cmd.cpu() if isinstance(cmd, Tensor) else cmd)
    return np.array([GRAMMAR.match("".join(_LETTERS[c] for c in row)) is not None for row in cmd], dtype=bool)


def grammar_commands(logp: Tensor, chunk: int = 256) -> Tensor:
    """The most likely grammatical command sequence of each row of ``logp`` ``(B, N, 6)`` (log
    probabilities, or any scores summed along the sequence), as ``(B, N)`` int64; every row
    after the first EOS is EOS. ``N`` must be at least 4 (``SOL Circle Ext EOS``)."""
    if logp.ndim != 3 or logp.shape[-1] != 6:
        raise ValueError(f"command scores have shape (B, N, 6), got {tuple(logp.shape)}")
    if logp.shape[1] < 4:
        raise ValueError(f"the shortest part takes 4 rows (SOL Circle Ext EOS), got {logp.shape[1]}")
    out = logp.argmax(-1)
    out = torch.where(valid_rows(out), out, EOS)  # the first EOS is kept, every row after it is EOS
    todo = ~torch.as_tensor(is_grammatical(out), device=logp.device)  # elsewhere the argmax is the answer
    if bool(todo.any()):
        out[todo] = torch.cat([_viterbi(part) for part in logp[todo].split(chunk)])
    return out


def _viterbi(logp: Tensor) -> Tensor:
    """:func:`grammar_commands` by dynamic programming over the automaton, for every row."""
    n_states, end, src, dst, cmd, scored = _automaton()
    device = logp.device
    src_t, dst_t, cmd_t = (torch.as_tensor(v, device=device) for v in (src, dst, cmd))
    scored_t = torch.as_tensor(scored, device=device)
    b, n, _ = logp.shape
    logp = logp.double()
    index = dst_t.expand(b, -1)
    t_index = torch.arange(len(src), device=device).expand(b, -1)
    score = torch.full((b, n_states), -torch.inf, dtype=torch.float64, device=device)
    score[:, 0] = 0.0  # START with no extrude
    back = torch.empty((n, b, n_states), dtype=torch.int32, device=device)  # the best transition into each state
    for i in range(n):
        gain = torch.where(scored_t, logp[:, i, cmd_t], torch.zeros((), dtype=logp.dtype, device=device))
        cand = score[:, src_t] + gain  # (B, T)
        score = torch.full_like(score, -torch.inf).scatter_reduce(1, index, cand, "amax")
        winner = torch.where(cand == score.gather(1, index), t_index, -1)
        back[i] = torch.full_like(back[i], -1).scatter_reduce(1, index, winner.int(), "amax")
    if not bool(torch.isfinite(score[:, end]).all()):
        raise ValueError("no grammatical sequence fits the rows")  # cannot happen for N >= 4
    out = torch.empty((b, n), dtype=torch.long, device=device)
    state = torch.full((b,), end, dtype=torch.long, device=device)
    rows = torch.arange(b, device=device)
    for i in range(n - 1, -1, -1):
        t = back[i][rows, state].long()
        out[:, i] = cmd_t[t]
        state = src_t[t]
    return out


def argument_bounds(device: torch.device | str | None = None) -> Tensor:
    """``(16, 256)`` True where a value is allowed in each argument column."""
    allowed = torch.ones((len(ARG_COLUMNS), N_LEVELS), dtype=torch.bool, device=device)
    col = {name: i for i, name in enumerate(ARG_COLUMNS)}
    allowed[col["f"], 2:] = False
    allowed[col["b"], len(OPERATIONS):] = False
    allowed[col["u"], len(EXTENT_TYPES):] = False
    for name in ("s", "r", "alpha"):
        allowed[col[name], 0] = False
    return allowed


def _best_other(lx: np.ndarray, ly: np.ndarray, forbidden: list[tuple[int, int]]) -> tuple[int, int]:
    """The most likely (x, y) under independent scores ``lx``, ``ly`` not in ``forbidden``
    (at most two points, so the three best values of each coordinate always hold one)."""
    xs, ys = np.argsort(-lx)[:3], np.argsort(-ly)[:3]
    pairs = sorted(((lx[x] + ly[y], int(x), int(y)) for x in xs for y in ys), reverse=True)
    return next((x, y) for _, x, y in pairs if (x, y) not in forbidden)


def _curve_loops(vec: np.ndarray) -> list[list[int]]:
    """The rows of each loop's Lines and Arcs, loop by loop, up to the first EOS."""
    return [[r for r in loop if vec[r, 0] in (LINE, ARC)] for profile in profile_rows(vec) for loop in profile]


def _point(vec: np.ndarray, row: int) -> tuple[int, int]:
    return int(vec[row, 1]), int(vec[row, 2])


def has_repeated_points(vec: np.ndarray) -> bool:
    """Whether a loop of ``vec`` ``(N, 17)`` has two consecutive equal end points (cyclically)."""
    return any(len(rows) >= 2 and any(_point(vec, rows[j]) == _point(vec, rows[j - 1]) for j in range(len(rows)))
               for rows in _curve_loops(vec))


def separate_loop_points(vec: np.ndarray, xy_scores: np.ndarray) -> np.ndarray:
    """``vec`` ``(N, 17)`` with every curve loop's repeated end points replaced (module
    docstring); ``xy_scores`` ``(N, 2, 256)`` the log probabilities of each row's x and y."""
    vec = vec.copy()
    for rows in _curve_loops(vec):
        k = len(rows)
        for j in range(1, k):
            forbidden = [_point(vec, rows[j - 1])] + ([_point(vec, rows[0])] if j == k - 1 else [])
            if _point(vec, rows[j]) in forbidden:
                vec[rows[j], 1:3] = _best_other(xy_scores[rows[j], 0], xy_scores[rows[j], 1], forbidden)
    return vec
