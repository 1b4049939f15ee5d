"""The conformer bridge: paired batches, refinement from files, equivariance, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from domains.atoms.conformers import ConformerDomain, evaluation_rows, local_distance_loss, pair_max_displacement
from domains.atoms.files import read_sdf, write_sdf
from domains.atoms.molecule import Molecule3D
from domains.atoms.network import AtomsNetwork
from gensci.cli import main
from gensci.config import compose
from gensci.errors import GensciError
from gensci.model import GenerativeModel, build_process

LIMITS = {"train": 24, "val": 8, "test": 8}


@pytest.fixture(scope="module")
def domain(tmp_path_factory) -> ConformerDomain:
    d = ConformerDomain(limits=LIMITS, limit=600, cache_dir=str(tmp_path_factory.mktemp("cache")), progress=False)
    d.prepare()
    return d


@pytest.fixture(scope="module")
def model(domain: ConformerDomain) -> GenerativeModel:
    cfg = OmegaConf.to_container(compose("atoms/conformers_tiny", []), resolve=True)
    process = build_process(cfg["process"], domain)
    torch.manual_seed(0)
    net = AtomsNetwork(**domain.network_kwargs(), hidden=32, edge_dim=8, trunk_kwargs={"layers": 2},
                       heads=process.heads).double().eval()
    # a non-trivial vector head, so the score output is not identically zero
    torch.nn.init.normal_(net.vector_head[-1].weight, std=0.5)
    return GenerativeModel(domain, process, net, cfg)


def _rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_batches_pair_each_dft_geometry_with_its_force_field_start(domain: ConformerDomain):
    batch = domain.dataset("train").__getitems__([0, 1, 2])
    pairs = domain.pairs("train")
    for k in range(3):
        n = int(pairs.target.num_atoms[k])
        a0 = int(pairs.target.atom_ptr[k])
        start = pairs.start[a0:a0 + n]
        assert torch.allclose(batch.x0["pos"][k, :n], start - start.mean(0), atol=1e-5)
        for field in ("types", "charges", "bonds"):
            assert torch.equal(batch.x0[field], batch.x[field])
    assert domain.stats()["displacement_rms"] > 0.05


def test_max_displacement_keeps_only_pairs_that_stay_in_their_basin(domain: ConformerDomain):
    pairs = domain.pairs("train")
    largest = pair_max_displacement(pairs)
    for i in range(len(pairs)):  # against a per-molecule loop
        a0, a1 = int(pairs.target.atom_ptr[i]), int(pairs.target.atom_ptr[i + 1])
        assert float(largest[i]) == pytest.approx(float((pairs.start[a0:a1] - pairs.target.positions[a0:a1]).norm(dim=-1).max()))
    cut = float(largest.median())
    strict = ConformerDomain(limits=LIMITS, limit=600, cache_dir=domain.cache_dir, progress=False, max_displacement=cut)
    rows = strict.training_rows("train")
    assert rows == [i for i in range(len(pairs)) if float(largest[i]) <= cut]
    assert 0 < len(rows) < len(pairs) and len(strict.dataset("train")) == len(rows)
    strict.prepare()
    assert strict.stats()["train_size"] == len(rows) and strict.stats()["pairs_built"] == len(pairs)
    # evaluation still sees every pair
    assert len(strict.evaluation_inputs("train", 10 ** 6)) == len(pairs)
    with pytest.raises(GensciError, match="max_displacement"):
        ConformerDomain(limits=LIMITS, max_displacement=0.0)
    with pytest.raises(GensciError, match="no train pair"):
        ConformerDomain(limits=LIMITS, limit=600, cache_dir=domain.cache_dir, progress=False,
                        max_displacement=1e-9).training_rows("train")


def test_geometry_loss_weighs_bonds_and_angles_of_the_predicted_geometry():
    # a bent triatomic A-B-C (bonds A-B, B-C; A-C is the 1-3 pair) plus one padded atom
    target = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]])
    bonds = torch.zeros(1, 4, 4, dtype=torch.long)
    bonds[0, 0, 1] = bonds[0, 1, 0] = bonds[0, 1, 2] = bonds[0, 2, 1] = 1
    loss, logs = local_distance_loss(target.clone(), target, bonds)
    assert float(loss) == pytest.approx(0.0, abs=1e-10)
    pred = target.clone()
    pred[0, 2, 1] = 1.2  # B-C 1 -> 1.2, A-C sqrt(2) -> sqrt(1 + 1.44)
    loss, logs = local_distance_loss(pred, target, bonds)
    ac = (1 + 1.44) ** 0.5 - 2 ** 0.5
    # pairs counted in both orders: 2 bonds (A-B, B-C) and one 1-3 pair, each twice
    assert float(loss) == pytest.approx((0.2 ** 2 * 2 + ac ** 2 * 2) / 6, rel=1e-5)
    assert float(logs["bond_mae"]) == pytest.approx(0.2 * 2 / 4, rel=1e-5)
    # rigid motions cost nothing
    rot = torch.tensor(_rotation(1), dtype=torch.float32)
    assert float(local_distance_loss(target @ rot.T + 3.0, target, bonds)[0]) < 1e-9
    with pytest.raises(GensciError, match="geometry_loss_weight"):
        ConformerDomain(limits=LIMITS, geometry_loss_weight=-1)
    assert ConformerDomain(limits=LIMITS, geometry_loss_weight=5).clean_loss_weight == 5.0


def test_refining_keeps_order_graph_and_frame_and_is_equivariant(domain: ConformerDomain, model: GenerativeModel):
    inputs = [domain.pairs("test").molecule(k, "start") for k in range(4)]
    moved = [Molecule3D(m.numbers, m.positions + np.array([3.0, -1.0, 2.0]), m.charges, m.bonds) for m in inputs]
    rot = _rotation(3)
    turned = [Molecule3D(m.numbers, m.positions @ rot.T, m.charges, m.bonds) for m in inputs]
    a = model.refine(moved, steps=6, seed=1, progress=False)
    b = model.refine(turned, steps=6, seed=1, progress=False)
    for m_in, m_a, m_b, m_t in zip(moved, a.molecules, b.molecules, turned):
        assert np.array_equal(m_a.numbers, m_in.numbers) and np.array_equal(m_a.bonds, m_in.bonds)
        # the output stays in the input's frame: same centroid
        assert np.allclose(m_a.positions.mean(0), m_in.positions.mean(0), atol=1e-6)
        assert m_a.properties["displacement_rms"] > 0
        # rotate the input, the output rotates (translation-invariant displacement)
        shift_a = m_a.positions - m_in.positions
        shift_b = m_b.positions - m_t.positions
        assert np.abs(shift_a @ rot.T - shift_b).max() < 1e-6


def test_plan_and_start_refuse_what_a_conformer_model_cannot_take(domain: ConformerDomain):
    with pytest.raises(GensciError, match="--input"):
        domain.plan(3)
    chlorine = Molecule3D(np.array([17, 1]), np.array([[0.0, 0, 0], [1.3, 0, 0]]), bonds=np.array([[0, 1], [1, 0]]))
    with pytest.raises(GensciError, match="vocabulary"):
        domain.start([chlorine])
    with pytest.raises(GensciError, match="not a valid SMILES"):
        domain.start("C1CC(")


def test_cli_refines_an_sdf_and_smiles_into_one_record_each(domain: ConformerDomain, model: GenerativeModel, tmp_path,
                                                           monkeypatch, capsys):
    import gensci

    monkeypatch.setattr(gensci, "load", lambda name: model)
    inputs = [domain.pairs("test").molecule(k, "start") for k in range(3)]
    write_sdf(inputs, tmp_path / "in.sdf")
    assert main(["refine", "any", str(tmp_path / "in.sdf"), "-o", str(tmp_path / "out.sdf"), "--steps", "3", "-q"]) == 0
    out = read_sdf(tmp_path / "out.sdf")
    assert len(out) == 3
    for m_in, m_out in zip(inputs, out):
        assert np.array_equal(m_in.numbers, m_out.numbers)
        step = np.linalg.norm(m_out.positions - m_in.positions, axis=1)
        assert float(m_out.properties["displacement_max"]) == pytest.approx(step.max(), abs=1e-3)
    (tmp_path / "in.smi").write_text("CCO ethanol\nc1ccccc1\n")
    assert main(["refine", "any", str(tmp_path / "in.smi"), "-o", str(tmp_path / "smi.sdf"), "-q"]) == 0
    from rdkit import Chem

    mols = list(Chem.SDMolSupplier(str(tmp_path / "smi.sdf"), removeHs=False))
    assert [m.GetNumAtoms() for m in mols] == [9, 12]
    assert main(["refine", "any", str(tmp_path / "in.smi"), "-o", str(tmp_path / "bad.pdb")]) == 2
    assert "error" in capsys.readouterr().err


def test_evaluation_compares_refined_pairs_with_their_references(domain: ConformerDomain, model: GenerativeModel):
    inputs = domain.evaluation_inputs("test", 3)
    picked = [m.properties["pair_index"] for m in inputs]
    # a seeded draw over the split (its pairs run from small molecules to large), not the first three
    assert picked == evaluation_rows(len(domain.pairs("test")), 3) == sorted(set(picked)) != [0, 1, 2]
    assert [m.properties["pair_index"] for m in domain.evaluation_inputs("test", 100)] == list(range(len(domain.pairs("test"))))
    refined = model.refine(inputs, steps=2, progress=False)
    metrics = domain.evaluate(refined)
    # the starts' own numbers are reported beside the refined ones, from the same references
    from domains.atoms.conformer_metrics import compare_geometries

    starts = compare_geometries(inputs, [domain.pairs("test").molecule(k) for k in picked])
    assert metrics["start_heavy_rmsd_median"] == pytest.approx(starts["heavy_rmsd_median"])
    assert metrics["n_molecules"] == 3 and metrics["heavy_rmsd_median"] >= 0
    # untagged molecules get the reference-free stability alone
    bare = Molecule3D(inputs[0].numbers, inputs[0].positions, inputs[0].charges, inputs[0].bonds)
    alone = domain.evaluate(type(refined)([bare]))
    assert "heavy_rmsd_median" not in alone and 0 <= alone["molecule_stability"] <= 1


def test_training_learns_from_pairs_end_to_end(tmp_path):
    """`gensci train atoms/conformers_tiny` on a few dozen pairs: the bridge's flow and score
    terms are logged and finite, and the exported model refines a SMILES."""
    import csv

    from gensci.config import compose as compose_config
    from gensci.training.train import train

    cfg = compose_config("atoms/conformers_tiny", [f"run_dir={tmp_path / 'run'}", "domain.limits.train=48",
                                                   "domain.limits.val=8", "domain.limits.test=8", "+domain.limit=600",
                                                   f"+domain.cache_dir={tmp_path / 'cache'}", "trainer.max_steps=40",
                                                   "trainer.val_check_interval=40", "trainer.log_every_n_steps=1",
                                                   "+domain.progress=false"])
    path = train(cfg)
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    flow = [float(r["train/pos/flow_loss"]) for r in rows if r.get("train/pos/flow_loss")]
    score = [float(r["train/pos/score_loss"]) for r in rows if r.get("train/pos/score_loss")]
    assert len(flow) >= 20 and len(score) == len(flow) and np.isfinite(flow + score).all()
    import gensci

    refined = gensci.load(path).refine("CCO", steps=2, progress=False)
    assert len(refined) == 1 and len(refined[0]) == 9
