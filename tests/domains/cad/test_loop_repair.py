"""Simple profiles: conflicts are what the kernel rejects, procedural parts have none, and the
greedy search moves a crossing loop or a stray hole to the likely arguments that clear it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("OCP")

from domains.cad.autoencoder import CommandAutoencoder  # noqa: E402
from domains.cad.families import FAMILIES, generate  # noqa: E402
from domains.cad.kernel import build_shape  # noqa: E402
from domains.cad.loop_repair import SCORED_COLUMNS, _Trials, conflicts, profile_rows, repair_profiles  # noqa: E402
from domains.cad.validity import check_strict  # noqa: E402
from domains.cad.vector import ARC, CIRCLE, LINE, N_LEVELS, decode, encode  # noqa: E402
from tests.domains.cad.parts import box, plate_with_hole  # noqa: E402


def _count(vec: np.ndarray) -> int:
    return sum(conflicts(vec, loops)[0] for loops in profile_rows(vec))


def _strict(vec: np.ndarray) -> tuple[bool, list[str]]:
    v = check_strict(build_shape(decode(vec)), roundtrip=False)
    return v.valid, v.reasons


def _peaked(vec: np.ndarray, second: dict[tuple[int, int], int] | None = None, second_cost: float = 1.0) -> np.ndarray:
    """Scores ``(N, 5, 256)``: the vector's own values best (log p = 0), every other value -20,
    except ``second[(row, column)] = value`` at ``-second_cost``."""
    scores = np.full((len(vec), len(SCORED_COLUMNS), N_LEVELS), -20.0)
    for row in range(len(vec)):
        for k, col in enumerate(SCORED_COLUMNS):
            if vec[row, col] >= 0:
                scores[row, k, vec[row, col]] = 0.0
    for (row, col), value in (second or {}).items():
        scores[row, SCORED_COLUMNS.index(col), value] = -second_cost
    return scores


def _rows(vec: np.ndarray, cmd: int) -> list[int]:
    return [i for i in range(len(vec)) if vec[i, 0] == cmd]


def test_procedural_parts_have_no_conflicts_and_are_left_unchanged():
    seqs = generate(10 * len(FAMILIES), seed=11, progress=False)
    assert {s.labels["family"] for s in seqs} == set(FAMILIES)
    for seq in seqs:
        vec = encode(seq)
        assert _count(vec) == 0, seq.labels["family"]
        np.testing.assert_array_equal(repair_profiles(vec, _peaked(vec)), vec)


def test_a_loop_that_crosses_itself_conflicts_the_kernel_agrees_and_the_likely_simple_loop_is_chosen():
    true = encode(box(2.0, 2.0, 1.0))
    lines = _rows(true, LINE)
    assert len(lines) == 4
    corner = lines[1]  # the square's second corner, pulled across its opposite side: a bow tie
    start = true[lines[-1], 1:3]
    crossed = true.copy()
    crossed[corner, 1] = start[0] - 40  # x left of the square's start, y kept: its first side crosses the third
    assert _count(crossed) >= 1
    ok, reasons = _strict(crossed)
    assert not ok and any("SelfIntersectingWire" in r or "Unorientable" in r for r in reasons), reasons
    scores = _peaked(crossed, {(corner, 1): int(true[corner, 1])})
    repaired = repair_profiles(crossed, scores)
    np.testing.assert_array_equal(repaired, true)
    assert _count(repaired) == 0 and _strict(repaired)[0]


def test_a_vertex_on_another_side_and_a_fold_back_conflict():
    true = encode(box(2.0, 2.0, 1.0))
    lines = _rows(true, LINE)
    a, b = true[lines[-1], 1:3], true[lines[0], 1:3]  # the first side, from a to b
    touching = true.copy()  # the third corner dropped onto the first side's middle: a vertex on a side
    touching[lines[2], 1:3] = (a + b) // 2
    assert _count(touching) >= 1
    folded = true.copy()  # the second side runs back along the first
    folded[lines[1], 1:3] = (a + b) // 2
    assert _count(folded) >= 1
    assert not _strict(touching)[0]


def test_a_hole_outside_its_plate_or_inside_another_hole_conflicts_and_a_likely_centre_inside_is_chosen():
    true = encode(plate_with_hole(4.0, 3.0, 1.0, 0.5))
    hole = _rows(true, CIRCLE)[0]
    outside = true.copy()
    outside[hole, 1] = 2  # the centre moved far to the left of the plate
    assert _count(outside) == 1
    assert not _strict(outside)[0]
    repaired = repair_profiles(outside, _peaked(outside, {(hole, 1): int(true[hole, 1])}))
    np.testing.assert_array_equal(repaired, true)
    assert _strict(repaired)[0]
    # a second, smaller hole inside the first: nested holes
    nested = np.concatenate([true[:hole + 1], true[hole - 1:hole + 1], true[hole + 1:]])[:len(true)]
    nested[hole + 2, 5] = max(1, true[hole, 5] // 2)
    assert _count(nested) == 1


def test_a_conflict_with_nothing_else_allowed_is_returned_as_it_is():
    true = encode(box(2.0, 2.0, 1.0))
    lines = _rows(true, LINE)
    crossed = true.copy()
    crossed[lines[1], 1] = true[lines[-1], 1] - 40
    only_own = _peaked(crossed)
    only_own[only_own < 0] = -np.inf  # every other value forbidden: no move exists
    np.testing.assert_array_equal(repair_profiles(crossed, only_own), crossed)
    assert _count(crossed) >= 1


def test_decoding_an_untrained_autoencoder_never_adds_conflicts():
    torch.manual_seed(0)
    ae = CommandAutoencoder(d_model=32, layers=1, heads=2, feedforward=64, latent=16).eval()
    z = torch.randn(24, 16)
    plain, simple = ae.decode(z, simple_loops=False).numpy(), ae.decode(z, simple_loops=True).numpy()
    counts_plain = [_count(v) for v in plain]
    counts_simple = [_count(v) for v in simple]
    assert all(s <= p for s, p in zip(counts_simple, counts_plain))
    # rows are only ever changed in the scored columns of curve and circle rows
    changed = np.argwhere(plain != simple)
    assert all(c in SCORED_COLUMNS for _, _, c in changed)


def test_the_count_after_a_one_row_move_equals_a_count_from_scratch():
    """The search counts its trials of one row together, from the changed segments only; on
    random moves of every kind (end points, sweeps and flags, radii, points that make a curve
    vanish) over parts of every family, shaken first so that many profiles start with
    conflicts, it gives the count of :func:`conflicts` for every trial."""
    rng = np.random.default_rng(3)
    seqs = generate(3 * len(FAMILIES), seed=5, progress=False)
    checked = with_conflicts = vanishing = 0
    for seq in seqs:
        vec = encode(seq)
        for loops in profile_rows(vec):
            curves = [r for rows in loops for r in rows]
            shaken = vec.copy()
            for r in rng.choice(curves, size=min(2, len(curves)), replace=False):
                shaken[r, 1:3] = np.clip(shaken[r, 1:3] + rng.integers(-60, 61, 2), 0, N_LEVELS - 1)
            trials = _Trials(shaken, loops)
            with_conflicts += conflicts(shaken, loops)[0] > 0
            for r in rng.choice(curves, size=min(4, len(curves)), replace=False):
                rows = next(rows for rows in loops if r in rows)
                prev = rows[rows.index(r) - 1]
                tried = []
                for _ in range(6):
                    trial = shaken.copy()
                    kind = rng.integers(3)
                    if kind == 0:  # an end point or centre moved, now and then onto the previous point
                        if trial[r, 0] != CIRCLE and rng.random() < 0.2:
                            trial[r, 1:3] = trial[prev, 1:3]
                            vanishing += 1
                        else:
                            trial[r, 1:3] = np.clip(trial[r, 1:3] + rng.integers(-40, 41, 2), 0, N_LEVELS - 1)
                    elif kind == 1 and trial[r, 0] == ARC:
                        trial[r, 3], trial[r, 4] = rng.integers(1, N_LEVELS), rng.integers(2)
                    elif kind == 2 and trial[r, 0] == CIRCLE:
                        trial[r, 5] = rng.integers(1, 60)
                    tried.append(trial)
                assert trials.counts(tried, int(r)) == [conflicts(t, loops)[0] for t in tried]
                checked += len(tried)
    assert checked > 500 and with_conflicts > 10 and vanishing > 10


def test_the_search_returns_what_counting_every_trial_from_scratch_returns():
    """The default search and its reference (every trial counted by :func:`conflicts`) pick the
    same moves: shaken parts of every family, scored by a peaked distribution with a few likely
    alternatives, repair to identical vectors."""
    rng = np.random.default_rng(9)
    repaired = 0
    for seq in generate(2 * len(FAMILIES), seed=8, progress=False):
        vec = encode(seq)
        curves = [r for loops in profile_rows(vec) for rows in loops for r in rows]
        shaken = vec.copy()
        for r in rng.choice(curves, size=min(3, len(curves)), replace=False):
            shaken[r, 1:3] = np.clip(shaken[r, 1:3] + rng.integers(-60, 61, 2), 0, N_LEVELS - 1)
        second = {(int(r), int(c)): int(v) for r, c, v in zip(rng.choice(curves, 6), rng.integers(1, 3, 6),
                                                              rng.integers(0, N_LEVELS, 6))}
        scores = _peaked(shaken, second)
        for r in curves:  # the true values: likely alternatives for the shaken rows
            scores[r, 0, vec[r, 1]] = max(scores[r, 0, vec[r, 1]], -2.0)
            scores[r, 1, vec[r, 2]] = max(scores[r, 1, vec[r, 2]], -2.0)
        fast = repair_profiles(shaken, scores)
        np.testing.assert_array_equal(fast, repair_profiles(shaken, scores, from_scratch=True))
        repaired += not np.array_equal(fast, shaken)
    assert repaired >= 5
