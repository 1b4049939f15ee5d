"""Point-cloud metrics against closed forms: chamfer distance (both nearest-neighbour backends),
COV / MMD, the grid JSD and the normalisation."""

import math

import numpy as np
import pytest
import torch

from domains.cad.sequence import CADError
from domains.cad.shape_metrics import (chamfer, chamfer_matrix, chamfer_noise_floor, coverage_mmd, jsd,
                                       normalize_cloud, occupancy_counts)

BACKENDS = [None, "cpu"]  # the KD-tree, and torch's dense blocks


def cloud(n: int = 300, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, 3))


def cell_centre(i: int, j: int, k: int, resolution: int = 28) -> np.ndarray:
    return -1 + 2 * np.array([i, j, k], dtype=float) / (resolution - 1)


@pytest.mark.parametrize("device", BACKENDS)
def test_chamfer_closed_forms(device) -> None:
    a = cloud()
    assert chamfer(a, a, device) == 0.0
    # two single points at distance d = 3: d^2 each way
    assert chamfer([[0.0, 0.0, 0.0]], [[1.0, 2.0, 2.0]], device) == pytest.approx(18.0, rel=1e-12)
    # a translate by delta: every point's own image is delta away, so each way is at most delta^2
    delta = np.array([1e-3, -2e-3, 0.5e-3])
    shifted = chamfer(a, a + delta, device)
    assert 0 < shifted <= 2 * float(delta @ delta) * (1 + 1e-9)
    # one point against a pair: (|p-q1|^2 + |p-q2|^2)/2 one way, min one way
    p, q = np.zeros((1, 3)), np.array([[1.0, 0, 0], [0, 2.0, 0]])
    assert chamfer(p, q, device) == pytest.approx(1.0 + (1.0 + 4.0) / 2, rel=1e-12)


def test_backends_agree_and_chunking_is_invisible() -> None:
    A = [cloud(n, s) for s, n in enumerate((150, 220, 90))]
    B = [cloud(n, 10 + s) * (1 + 0.3 * s) for s, n in enumerate((120, 80, 300, 50))]
    exact = chamfer_matrix(A, B)
    assert exact.shape == (3, 4) and (exact > 0).all()
    np.testing.assert_allclose(chamfer_matrix(A, B, device="cpu"), exact, rtol=1e-12)
    # blocks as small as one pair: every reference in its own chunk
    np.testing.assert_allclose(chamfer_matrix(A, B, device="cpu", max_block=300 * 220), exact, rtol=1e-12)
    np.testing.assert_allclose(chamfer_matrix(B, A), exact.T, rtol=1e-12)  # symmetric
    assert chamfer(torch.as_tensor(A[0]), B[1]) == pytest.approx(exact[0, 1], rel=1e-12)
    with pytest.raises(CADError, match="max_block=10 cannot hold"):
        chamfer_matrix(A, B, device="cpu", max_block=10)


def test_bad_clouds_are_refused() -> None:
    with pytest.raises(CADError, match=r"non-empty \(n, 3\) point cloud, got shape \(5, 2\)"):
        chamfer(np.zeros((5, 2)), cloud())
    with pytest.raises(CADError, match="finite"):
        chamfer(np.full((2, 3), np.nan), cloud())
    with pytest.raises(CADError, match="list of clouds"):
        chamfer_matrix(cloud(), [cloud()])
    with pytest.raises(CADError, match="A_list holds no clouds"):
        chamfer_matrix([], [cloud()])


def test_coverage_and_mmd() -> None:
    refs = [cloud(200, s) * (0.3 + 0.2 * s) for s in range(4)]  # four distinct shapes
    cov, mmd = coverage_mmd(refs, refs)
    assert cov == 1.0 and mmd == 0.0
    # identical samples against k distinct references: one nearest reference, COV = 1/k
    cov, mmd = coverage_mmd([refs[1]] * 5, refs)
    assert cov == pytest.approx(1 / 4)
    assert mmd == pytest.approx(np.mean([chamfer(refs[1], r) for r in refs]), rel=1e-12)
    # from a given matrix: rows pick references 0, 1, 0; column minima 1 and 0.5
    d = np.array([[1.0, 5.0], [2.0, 0.5], [3.0, 4.0]])
    assert coverage_mmd(None, None, distances=d) == pytest.approx((1.0, 0.75))
    assert coverage_mmd(None, None, distances=d[[0, 2]]) == pytest.approx((0.5, 2.5))  # minima 1 and 4


def test_occupancy_cells() -> None:
    points = np.stack([cell_centre(3, 5, 7), cell_centre(3, 5, 7) + 0.01, cell_centre(0, 0, 0),
                       cell_centre(27, 27, 27)])
    counts = occupancy_counts([points])
    assert counts.shape == (28 ** 3,) and counts.sum() == 4
    assert counts[(3 * 28 + 5) * 28 + 7] == 2 and counts[0] == 1 and counts[-1] == 1
    with pytest.raises(CADError, match=r"leaves \[-1, 1\]\^3 .* normalize_cloud it first"):
        occupancy_counts([cloud() * 1.1])


def test_jsd_closed_forms() -> None:
    a, b = [cloud(500, s) for s in range(3)], [cloud(500, 10 + s) * 0.5 for s in range(2)]
    assert jsd(a, a) == pytest.approx(0.0, abs=1e-12)
    assert jsd(a, b) == pytest.approx(jsd(b, a), rel=1e-12) and 0 < jsd(a, b) < math.log(2)
    # disjoint occupancy: ln 2 in nats, 1 in bits
    low, high = [cloud(100, 1) * 0.4 - 0.5], [cloud(100, 2) * 0.4 + 0.5]
    assert jsd(low, high) == pytest.approx(math.log(2), rel=1e-12)
    assert jsd(low, high, base=2) == pytest.approx(1.0, rel=1e-12)
    # P = half in cell x, half in cell y; Q = all in x: JSD = H(3/4, 1/4) - ln(2)/2
    x, y = cell_centre(1, 2, 3), cell_centre(20, 2, 3)
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert jsd([np.stack([x, y])], [np.stack([x, x, x])]) == pytest.approx(h - math.log(2) / 2, rel=1e-12)
    with pytest.raises(CADError, match="base must exceed 1"):
        jsd(a, b, base=1.0)


def test_normalize_cloud() -> None:
    p = cloud(400, 3) * np.array([1.0, 0.5, 0.2])
    q = normalize_cloud(p)
    assert np.abs(q).max() == pytest.approx(1.0)
    np.testing.assert_allclose(q.min(0) + q.max(0), 0, atol=1e-12)  # the box is centred
    np.testing.assert_allclose(normalize_cloud(3.7 * p + np.array([10.0, -4.0, 2.5])), q, atol=1e-12)
    np.testing.assert_allclose(normalize_cloud(2 * p, center=False), p / np.abs(p).max(), atol=1e-12)
    with pytest.raises(CADError, match="all sit at one point"):
        normalize_cloud(np.ones((4, 3)))


def test_noise_floor_pairs_and_medians() -> None:
    a, b = cloud(300, 1), cloud(300, 2)
    assert chamfer_noise_floor(a, b) == pytest.approx(chamfer(normalize_cloud(a), normalize_cloud(b)))
    assert chamfer_noise_floor(5 * a, 5 * b, normalize=False) == pytest.approx(25 * chamfer(a, b))
    pairs = [(cloud(300, s), cloud(300, 10 + s)) for s in range(3)]
    values = [chamfer(normalize_cloud(x), normalize_cloud(y)) for x, y in pairs]
    assert chamfer_noise_floor([x for x, _ in pairs], [y for _, y in pairs]) == pytest.approx(np.median(values))
    with pytest.raises(CADError, match="must pair up"):
        chamfer_noise_floor([a, b], [a])
