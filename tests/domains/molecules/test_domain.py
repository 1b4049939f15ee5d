"""MoleculesDomain: statistics, conditions (errors, missing labels), plans, files, and a tiny
end-to-end training whose SDF RDKit reads."""

import math

import pytest
import torch
from rdkit import Chem

import gensci
from domains.molecules import MoleculesDomain
from domains.molecules.samples import GeneratedMolecules
from domains.molecules.space import unpack_graph
from gensci.config import compose
from gensci.errors import GensciError
from gensci.model import build
from gensci.training.train import train


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GENSCI_CACHE", str(tmp_path_factory.getbasetemp() / "gensci-cache"))


@pytest.fixture(scope="module")
def domain():
    d = MoleculesDomain(source="qm9", limit=600, numeric_conditions=["gap", "mu"], derived_conditions=["aromatic"])
    d.prepare()
    return d


def test_statistics_and_sizes_come_from_the_train_split(domain):
    s = domain.stats()
    assert s["num_graphs"] == len(domain.dataset("train")) == 480
    assert s["num_bond_classes"] == 4  # kekulised: none, single, double, triple
    assert math.isclose(sum(s["bond_marginal"]), 1.0) and len(s["bond_marginal"]) == 4
    assert sum(s["node_count_histogram"]) == 480
    gap = next(c for c in s["conditions"] if c["name"] == "gap")
    train_gap = domain._load()["train"].numeric["gap"]
    assert gap["low"] == pytest.approx(float(train_gap.min())) and gap["high"] == pytest.approx(float(train_gap.max()))
    assert next(c for c in s["conditions"] if c["name"] == "aromatic")["classes"] == ["no", "yes"]


def test_batches_are_valid_states_with_encoded_conditions(domain):
    ds = domain.dataset("train")
    batch = ds.__getitems__(list(range(32)))
    atoms, bonds = unpack_graph(batch.x)
    assert torch.equal(bonds, bonds.transpose(1, 2))
    assert batch.mask.shape == batch.x.shape
    graphs = domain._load()["train"]
    assert torch.allclose(batch.cond["gap"], graphs.numeric["gap"][:32].float())
    assert set(batch.cond["aromatic"].tolist()) <= {0.0, 1.0}


def test_unknown_and_out_of_range_conditions_say_what_the_model_knows(domain):
    with pytest.raises(GensciError, match=r"unknown condition 'logp'.*gap \(numeric, trained on \[.*\] Ha\).*aromatic \(one of no, yes\)"):
        domain.plan(4, {"logp": "1"})
    with pytest.raises(GensciError, match=r"gap=0.9 is outside the training range \[.*\] Ha"):
        domain.plan(4, {"gap": "0.9"})
    with pytest.raises(GensciError, match="not a known class; choose one of no, yes"):
        domain.plan(4, {"aromatic": "maybe"})
    with pytest.raises(GensciError, match="--atoms"):
        domain.plan(4, atoms="40")
    with pytest.raises(GensciError, match="unknown sampling option"):
        domain.plan(4, temperature="2")


def test_plan_leaves_unnamed_conditions_unconditional_and_respects_atom_counts(domain):
    plan = domain.plan(50, {"gap": "0.3"}, atoms="3..5")
    assert torch.isnan(plan.cond["mu"]).all() and torch.isnan(plan.cond["aromatic"]).all()
    assert (plan.cond["gap"] == 0.3).all()
    counts = torch.tensor(plan.info["num_atoms"])
    assert counts.min() >= 3 and counts.max() <= 5
    assert torch.equal(plan.mask[..., 0].sum(1), counts)


def test_missing_labels_are_nan_not_imputed(tmp_path):
    path = tmp_path / "mols.csv"
    path.write_text("smiles,logS,kind\nCCO,-0.2,a\nc1ccccc1,,b\nCC(=O)O,0.5,\nnot_a_smiles,1.0,a\nCCN,0.1,a\n"
                    "CCCC,-1.0,b\nCOC,0.3,a\nCC#N,0.2,b\nC1CC1,-0.5,a\nOCCO,1.1,b\n")
    d = MoleculesDomain(source=str(path), numeric_conditions=["logS"], categorical_conditions=["kind"],
                        split_fractions=(1.0, 0.0, 0.0))
    with pytest.warns(UserWarning, match="skipped 1"):
        d.prepare()
    cond = d.dataset("train").cond
    smiles = d._load()["train"].smiles
    assert math.isnan(cond["logS"][smiles.index("c1ccccc1")]) and math.isnan(cond["kind"][smiles.index("CC(=O)O")])
    assert cond["logS"][smiles.index("CCO")] == pytest.approx(-0.2)


def test_tiny_training_end_to_end_writes_an_sdf_rdkit_reads(tmp_path):
    cfg = compose("molecules/tiny", [f"run_dir={tmp_path / 'run'}", "domain.limit=300", "trainer.max_steps=30",
                                    "trainer.val_check_interval=30", "trainer.enable_progress_bar=false", "batch_size=32"])
    path = train(cfg)
    model = gensci.load(path)
    samples = model.sample(12, conditions={"gap": 0.3}, guidance=2.0, seed=0, progress=False)
    out = model.write(samples, tmp_path / "mols.sdf")
    records = list(Chem.SDMolSupplier(str(out)))
    assert len(records) == 12
    valid = [m for m in records if m is not None and m.GetNumAtoms() > 0]
    assert valid and all(m.GetProp("requested_gap") == "0.3" for m in valid)
    assert all(Chem.MolToSmiles(m) == m.GetProp("SMILES") for m in valid)
    # the file is evaluated with the condition it records, as the samples are
    back = model.domain.read(out)
    assert back.requested == {"gap": 0.3} and back.smiles == samples.smiles
    assert {"mae_gap", "oracle_mae_gap"} <= set(model.evaluate(back))
    # writing options travel on the samples
    three = model.sample(4, seed=0, progress=False, oracle="no", **{"3d": True})
    assert three.three_d and three.oracle == "no" and len(three.num_atoms) == 4
    mols = [m for m in Chem.SDMolSupplier(str(model.write(three, tmp_path / "three.sdf"))) if m is not None and m.GetNumAtoms()]
    assert mols and all(m.GetProp("coordinates") != "2D" for m in mols) and not any(m.HasProp("predicted_gap") for m in mols)
    # guidance scale 0 is the unconditional model, bit for bit (at equal sizes: the requested
    # condition also draws the sizes, from p(n | gap))
    a = model.sample(8, conditions={"gap": 0.3}, guidance=0.0, seed=3, progress=False, atoms="6")
    b = model.sample(8, seed=3, progress=False, atoms="6")
    assert a.smiles == b.smiles and a.strict_smiles == b.strict_smiles


def test_network_and_process_are_built_from_the_domain(domain):
    cfg = compose("molecules/tiny", [])
    process, network = build(cfg, domain)
    assert network.num_atom_types == process.space.num_atom_types == len(domain.stats()["atom_marginal"])
    assert process.transition == "joint"
    assert sorted(network.cond.names) == ["aromatic", "gap", "mu"]


def test_a_written_file_is_evaluated_with_its_requested_conditions(domain, tmp_path):
    samples = GeneratedMolecules.from_smiles(["c1ccccc1", "CCO", "c1ccncc1", "CC(=O)O"], requested={"aromatic": "yes"})
    samples.oracle = "no"
    fresh = domain.evaluate(samples)
    assert fresh["accuracy_aromatic"] == 0.5
    for suffix in (".sdf", ".csv"):
        back = domain.read(domain.write(samples, tmp_path / f"m{suffix}"))
        assert back.requested == {"aromatic": "yes"}
        assert domain.evaluate(back)["accuracy_aromatic"] == 0.5
