"""The bundled molecule model: it loads, writes SDF files RDKit reads, honours a condition,
and keeps the quality recorded beside it (the fresh-draw check is slow)."""

import pytest

import gensci
from gensci.cli import main
from tests.bundled_support import BUNDLED, bundled_record, needs_bundled

NAME = "molecules/qm9"
pytestmark = needs_bundled(NAME)


def test_checkpoint_is_small_and_its_record_meets_the_targets():
    assert BUNDLED[NAME].stat().st_size < 20 * 2**20
    record = bundled_record(NAME)
    assert record["experiment"] == NAME
    metrics = record["metrics"]
    unconditional = metrics["unconditional"]
    assert unconditional["n_generated"] >= 1000
    assert unconditional["validity_nc"] >= 0.95  # strict: valid as drawn, no correction
    assert unconditional["uniqueness"] >= 0.95
    # the gap under conditioning, against the same requests at scale 0 (the unconditional model)
    targets = sorted({k.split()[0] for k in metrics if k.startswith("gap=")})
    assert len(targets) >= 2

    def mae(scale: int) -> float:
        return sum(metrics[f"{t} guidance={scale}"]["mae_gap"] for t in targets)

    assert mae(1) < 0.5 * mae(0)  # recorded: 0.33
    assert mae(2) < mae(1)  # control improves with the guidance scale


def test_a_few_molecules_are_written_and_read_back(tmp_path):
    from rdkit import Chem

    out = tmp_path / "m.sdf"
    assert main(["sample", NAME, "-n", "20", "--condition", "gap=0.25", "--guidance", "1", "--seed", "3",
                 "--precision", "fp32", "-o", str(out), "-q"]) == 0
    mols = [m for m in Chem.SDMolSupplier(str(out)) if m is not None]
    assert len(mols) >= 17
    assert all(m.HasProp("requested_gap") for m in mols)


@pytest.mark.slow
def test_quality_holds_on_a_fresh_draw():
    model = gensci.load(NAME)
    samples = model.sample(300, seed=11, progress=False, precision="fp32")
    m = model.evaluate(samples)
    assert m["validity_nc"] >= 0.92
    assert m["uniqueness"] >= 0.95
