"""Honest files: every requested property of a written molecule has its predicted (oracle) or
measured (RDKit) counterpart, in 2D and 3D SDF and in CSV."""

import pytest

from domains.molecules import MoleculesDomain
from domains.molecules.output import read_samples
from domains.molecules.samples import GeneratedMolecules

SMILES = ["c1ccccc1O", "CCO", "c1ccncc1", "CC(=O)O", None]


@pytest.fixture(scope="module")
def domain(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("GENSCI_CACHE", str(tmp_path_factory.mktemp("gensci-cache")))  # no oracle cached yet
    d = MoleculesDomain(source="qm9", limit=400, numeric_conditions=["gap", "mu"], derived_conditions=["aromatic"],
                        oracle_trees=5)
    d.prepare()
    yield d
    mp.undo()


@pytest.mark.parametrize("name,three_d", [("flat.sdf", False), ("embedded.sdf", True), ("table.csv", False)])
def test_every_requested_property_has_its_counterpart(domain, tmp_path, name, three_d):
    samples = GeneratedMolecules.from_smiles(SMILES, requested={"mu": 2.0, "aromatic": "yes"})
    samples.three_d = three_d
    back = read_samples(domain.write(samples, tmp_path / name))
    assert len(back) == len(SMILES)
    for smiles, tags in zip(back.smiles, back.tags):
        requested = [k.removeprefix("requested_") for k in tags if k.startswith("requested_")]
        assert sorted(requested) == ["aromatic", "mu"]
        if smiles is None:  # an invalid record has no molecule to predict or measure
            continue
        for k in requested:
            assert tags.get(f"predicted_{k}") or tags.get(f"measured_{k}"), f"requested_{k} alone in {name}"
        float(tags["predicted_mu"])
        assert tags["measured_aromatic"] == ("yes" if smiles in ("Oc1ccccc1", "c1ccncc1") else "no")
        assert "predicted_gap" in tags  # the oracle predicts every property it knows
    if three_d:
        assert all(t.get("coordinates", "").startswith("3D") for s, t in zip(back.smiles, back.tags) if s)


def test_the_oracle_is_fitted_once_with_a_notice(domain, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GENSCI_CACHE", str(tmp_path / "cache"))
    samples = GeneratedMolecules.from_smiles(SMILES, requested={"gap": 0.25})
    domain.write(samples, tmp_path / "a.sdf")
    assert "fitting the property oracle for 'gap'" in capsys.readouterr().err
    domain.write(samples, tmp_path / "b.sdf")  # cached now
    assert "fitting" not in capsys.readouterr().err
    assert (tmp_path / "a.sdf").read_bytes() == (tmp_path / "b.sdf").read_bytes()


def test_oracle_no_writes_no_predictions_and_unconditional_samples_no_requests(domain, tmp_path):
    samples = GeneratedMolecules.from_smiles(SMILES, requested={"mu": 2.0})
    samples.oracle = "no"
    tags = read_samples(domain.write(samples, tmp_path / "no.sdf")).tags
    assert not any("predicted_mu" in t for t in tags)
    plain = GeneratedMolecules.from_smiles(SMILES[:2])
    tags = read_samples(domain.write(plain, tmp_path / "plain.csv")).tags
    assert not any(k.startswith(("requested_", "measured_")) for t in tags for k in t)
