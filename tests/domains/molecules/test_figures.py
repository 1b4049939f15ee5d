"""gensci evaluate's molecule figures: property histograms against the requested values and the
data (the values gathered are tested, not the pixels), and a grid of depictions."""

import numpy as np
import pytest
from PIL import Image

from domains.molecules import MoleculesDomain
from domains.molecules.figures import molecule_grid, property_panels
from domains.molecules.labels import derived_labels
from domains.molecules.properties import rdkit_properties
from domains.molecules.samples import GeneratedMolecules

SMILES = ["c1ccccc1O", "CCO", None, "c1ccncc1", "CC(=O)O", "CCN"]


@pytest.fixture(scope="module")
def domain(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("GENSCI_CACHE", str(tmp_path_factory.mktemp("gensci-cache")))
    d = MoleculesDomain(source="qm9", limit=400, numeric_conditions=["gap", "mu"], derived_conditions=["aromatic"],
                        oracle_trees=5)
    d.prepare()
    yield d
    mp.undo()


def test_panels_hold_the_samples_the_requests_and_the_data(domain):
    samples = GeneratedMolecules.from_smiles(SMILES, requested={"mu": 2.5, "aromatic": "yes"})
    panels = {p.name: p for p in property_panels(samples, domain, split="val")}
    assert list(panels) == ["gap", "mu", "aromatic", "qed", "sa", "logp", "mw"]
    valid = [s for s in SMILES if s]
    data = domain._load()["val"]
    mu = panels["mu"]
    assert mu.source == "oracle" and mu.numeric and mu.requested == 2.5
    np.testing.assert_array_equal(mu.samples, domain.oracle(fit=False).predict(valid)["mu"])
    np.testing.assert_array_equal(mu.data, data.numeric["mu"].numpy())  # the split's own labels
    assert panels["gap"].requested is None  # drawn, not requested
    aromatic = panels["aromatic"]
    assert not aromatic.numeric and aromatic.requested == "yes"
    assert aromatic.samples.tolist() == ["yes", "no", "yes", "no", "no"]
    assert aromatic.data.tolist() == derived_labels("aromatic", data.smiles)
    np.testing.assert_allclose(panels["qed"].samples, rdkit_properties(valid, ["qed"])["qed"])
    assert len(panels["mw"].data) == len(data)
    few = {p.name: p for p in property_panels(samples, domain, split="train", max_data=50)}
    assert len(few["mw"].data) == 50  # a seeded subset of a large split


def test_figures_are_written_and_readable(domain, tmp_path):
    samples = GeneratedMolecules.from_smiles(SMILES, requested={"gap": 0.25})
    written = domain.figures(samples, tmp_path / "metrics", split="test")
    assert written == [tmp_path / "metrics_properties.png", tmp_path / "metrics_molecules.png"]
    with Image.open(written[0]) as image:
        assert image.format == "PNG" and image.size == (1360, 560)  # 4 x 2 panels of 3.4 x 2.8 in at 100 dpi
        assert len(set(image.convert("L").getdata())) > 10
    with Image.open(written[1]) as grid:
        assert grid.size == (6 * 220, 180)  # five valid molecules: one row of six cells
    assert molecule_grid([None, ""], tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()
    many = molecule_grid(["C" * (1 + i % 5) for i in range(40)], tmp_path / "grid.png", n=24)
    assert Image.open(many).size == (6 * 220, 4 * 180)  # the first 24 only
