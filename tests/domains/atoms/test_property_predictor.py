"""The property predictor φ on a small QM9 slice: it learns α, survives a save / load, is
invariant to rotations, reflections, translations and atom permutations, and its MAE,
floor and ceiling are what their definitions say."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from domains.atoms import AtomsDomain
from domains.atoms.molecule import Molecule3D
from domains.atoms.property_predictor import (PropertyPredictor, halves, property_mae, property_metrics,
                                              train_predictor)

LIMIT = 400


@pytest.fixture(scope="module")
def domain(tmp_path_factory) -> AtomsDomain:
    return AtomsDomain(limit=LIMIT, conditions=["alpha", "gap"], cache_dir=str(tmp_path_factory.mktemp("cache")),
                       progress=False)


@pytest.fixture(scope="module")
def predictor(domain: AtomsDomain) -> PropertyPredictor:
    return train_predictor(domain, ["alpha", "gap", "mu"], half="a", steps=30, batch_size=32, lr=3e-3, seed=0,
                           hidden=32, layers=2, radial=8, angular=3, warmup=10)


@pytest.fixture(scope="module")
def held_out(domain: AtomsDomain) -> list[Molecule3D]:
    return [domain.data.molecule(r) for r in domain.rows("val") + domain.rows("test")]


def test_halves_split_the_train_rows_in_two(domain: AtomsDomain):
    train = domain.rows("train")
    h = halves(train, seed=0)
    assert sorted(h["a"] + h["b"]) == sorted(train) and abs(len(h["a"]) - len(h["b"])) <= 1
    assert h == halves(train, seed=0) and h != halves(train, seed=1)


@pytest.mark.parametrize("where", ["val and test", "train half b"])
def test_a_briefly_trained_predictor_beats_the_mean_on_held_out_alpha(domain, predictor, held_out, where):
    rows = halves(domain.rows("train"))
    molecules = held_out if where == "val and test" else [domain.data.molecule(r) for r in rows["b"]]
    y = np.array([m.properties["alpha"] for m in molecules])
    train_mean = float(domain.data.properties["alpha"][rows["a"]].mean())
    pred = predictor.predict(molecules)["alpha"]
    assert np.isfinite(pred).all()
    mae, baseline = np.abs(pred - y).mean(), np.abs(train_mean - y).mean()
    assert mae < 0.5 * baseline, (mae, baseline)


def test_save_load_round_trip_gives_identical_predictions(predictor, held_out, tmp_path):
    predictor.reference = torch.randn(50, 2)
    predictor.metrics = {"alpha": {"floor": 1.5, "ceiling": 7.0}, "gap": {"floor": 0.01, "ceiling": 0.05}}
    loaded = PropertyPredictor.load(predictor.save(tmp_path / "phi.pt"))
    a, b = predictor.predict(held_out[:40]), loaded.predict(held_out[:40])
    assert all(np.array_equal(a[k], b[k]) for k in ("alpha", "gap", "mu"))
    assert loaded.config == predictor.config and loaded.floor("alpha") == 1.5
    assert torch.equal(loaded.reference, predictor.reference)


def _orthogonal(seed: int, reflect: bool) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if (np.linalg.det(q) < 0) != reflect:
        q[:, 0] = -q[:, 0]
    return q


@pytest.mark.parametrize("reflect", [False, True])
def test_predictions_are_invariant_to_rotation_translation_and_permutation(predictor, held_out, reflect):
    phi = PropertyPredictor(predictor.config, predictor.net.state_dict(), predictor.mean, predictor.std)
    torch.nn.init.normal_(phi.net.out[-1].weight, generator=torch.Generator().manual_seed(0))  # the network counts
    phi.net.double()
    rng = np.random.default_rng(1)
    mols = held_out[:12]
    moved = []
    for i, m in enumerate(mols):
        perm = rng.permutation(len(m))
        q = _orthogonal(i, reflect)
        moved.append(Molecule3D(m.numbers[perm], m.positions[perm] @ q.T + 10 * rng.standard_normal(3),
                                m.charges[perm], m.bonds[np.ix_(perm, perm)]))
    a, b = phi.predict(mols, batch_size=5), phi.predict(moved[::-1], batch_size=7)  # other batches, other padding
    for k in ("alpha", "gap", "mu"):
        assert np.allclose(a[k], b[k][::-1], rtol=1e-9, atol=1e-9)
    # not vacuous: the geometry matters (a stretched molecule is predicted differently)
    stretched = [Molecule3D(m.numbers, 1.2 * m.positions, m.charges, m.bonds) for m in mols]
    assert np.abs(phi.predict(stretched)["gap"] - a["gap"]).min() > 1e-7  # far above the 1e-9 tolerance


def test_the_dipole_is_the_norm_of_the_moment_of_neutral_atom_charges(predictor, held_out):
    from domains.atoms.property_predictor import featurise

    net = predictor.net.double()
    mols = held_out[:6]
    h, pos, atoms, pairs, _ = featurise(mols, predictor.config, torch.float64)
    z = net.atom((net.features(h, pos, atoms, pairs) - net.feature_shift) / net.feature_scale)
    mu = predictor.predict(mols)["mu"]
    for r, m in enumerate(mols):
        q = net.charge(z[r, :len(m)])[:, 0].detach().numpy()
        q = q - q.mean()
        x = m.positions + 7.0  # the moment of neutral charges does not depend on the origin
        assert mu[r] == pytest.approx(4.80320 * np.linalg.norm(q @ x), rel=1e-9, abs=1e-5)  # sqrt(|d|² + 1e-12)
    assert mu.max() > 0.1
    net.float()


def test_only_the_extensive_properties_start_from_the_two_body_fit(predictor, held_out):
    assert predictor.config["two_body"] == ["alpha"]
    base = predictor.predict(held_out[:10], network=False)
    assert np.allclose(base["gap"], float(predictor.mean[1])) and np.allclose(base["mu"], float(predictor.mean[2]))
    assert np.ptp(base["alpha"]) > 1.0


def test_property_mae_against_own_properties_is_the_predictors_mae(predictor, held_out):
    pred = predictor.predict(held_out)
    own = {k: np.array([m.properties[k] for m in held_out]) for k in ("alpha", "gap")}
    mae = property_mae(predictor, held_out, own)
    for k in ("alpha", "gap"):
        assert math.isclose(mae[k], float(np.abs(pred[k] - own[k]).mean()), rel_tol=1e-12)
    # one value for every molecule, or each molecule's own requested_<name>
    tagged = [Molecule3D(m.numbers, m.positions, m.charges, m.bonds, {"requested_alpha": 50.0}) for m in held_out[:20]]
    one = property_mae(predictor, tagged, {"alpha": 50.0})["alpha"]
    assert one == property_mae(predictor, tagged, {"alpha": None})["alpha"]
    assert math.isclose(one, float(np.abs(predictor.predict(tagged)["alpha"] - 50.0).mean()), rel_tol=1e-12)


def test_unknown_elements_give_nan_and_are_left_out_of_the_mae(predictor, held_out):
    m = held_out[0]
    sulphur = Molecule3D(np.where(m.numbers == 1, 16, m.numbers), m.positions, m.charges, m.bonds)
    pred = predictor.predict([sulphur, m])["alpha"]
    assert math.isnan(pred[0]) and math.isfinite(pred[1])
    assert property_mae(predictor, [sulphur, m], {"alpha": 60.0})["alpha"] == pytest.approx(abs(pred[1] - 60.0))


def test_metrics_report_floor_and_a_ceiling_from_held_out_predictions(predictor, held_out):
    ref = predictor.predict(held_out)
    predictor.reference = torch.tensor(np.stack([ref["alpha"], ref["gap"]], 1))
    predictor.metrics = {"alpha": {"floor": 1.0}, "gap": {"floor": 0.01}}
    out = property_metrics(predictor, held_out[:10], {"alpha": 70.0})
    assert set(out) == {"alpha_mae", "alpha_mae_floor", "alpha_mae_ceiling", "property_predictor_coverage"}
    assert out["alpha_mae_floor"] == 1.0 and out["property_predictor_coverage"] == 1.0
    assert math.isclose(out["alpha_mae_ceiling"], float(np.abs(ref["alpha"] - 70.0).mean()), rel_tol=1e-6)
    # requests drawn per molecule: the mean over requests of the condition-ignoring error
    c = np.array([60.0, 70.0, 70.0])
    expect = np.mean([np.abs(ref["alpha"] - v).mean() for v in c])
    assert math.isclose(predictor.ceiling("alpha", c), float(expect), rel_tol=1e-6)


def test_geometries_with_overlapping_atoms_are_not_scored(predictor: PropertyPredictor, domain: AtomsDomain):
    real = domain.data.molecule(domain.rows("test")[0])
    crushed = Molecule3D(real.numbers, real.positions * 0.2, real.charges, real.bonds)
    pred = predictor.predict([real, crushed])
    assert np.isfinite(pred["alpha"][0]) and np.isnan(pred["alpha"][1])
