"""The bundled CAD model: small enough to ship, carries its record, and samples parts whose STEP
files the kernel reads back as solids."""

import json

import pytest

pytest.importorskip("OCP")

import gensci  # noqa: E402
from domains.cad.export import read_step  # noqa: E402
from domains.cad.kernel import n_solids  # noqa: E402
from gensci.model import bundled_models  # noqa: E402

BUNDLED = bundled_models()
pytestmark = pytest.mark.skipif("cad/parts" not in BUNDLED, reason="no bundled CAD model")


def test_bundled_cad_model_writes_steps_the_kernel_reads(tmp_path):
    path = BUNDLED["cad/parts"]
    assert path.stat().st_size < 20 * 2**20
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["experiment"] == "cad/parts" and "strict_validity" in record["metrics"]["unconditional"]
    model = gensci.load("cad/parts")
    model.domain.progress = False
    out = model.write(model.sample(6, seed=0, progress=False), tmp_path / "parts")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 6 and summary["strict_valid"] >= 1
    failed = {f["part"] for f in summary["failures"]}
    for i in set(range(6)) - failed:
        assert n_solids(read_step(out / f"part_{i:03d}.step")) >= 1


@pytest.mark.slow
def test_record_holds_on_fresh_parts_read_back_from_their_step_files(tmp_path):
    """Fresh seeds, written to STEP, read back and checked with OCC's analyser alone (valid, a
    solid, a positive volume): the share agrees with the recorded strict validity."""
    import math

    from OCP.BRepCheck import BRepCheck_Analyzer
    from OCP.BRepGProp import BRepGProp
    from OCP.GProp import GProp_GProps

    n = 100
    model = gensci.load("cad/parts")
    model.domain.progress = False
    out = model.write(model.sample(n, seed=11, progress=False), tmp_path / "parts")
    good = 0
    for i in range(n):
        step = out / f"part_{i:03d}.step"
        if not step.is_file():
            continue
        shape = read_step(step)
        props = GProp_GProps()
        BRepGProp.VolumeProperties_s(shape, props)
        good += bool(BRepCheck_Analyzer(shape).IsValid() and n_solids(shape) >= 1 and props.Mass() > 0)
    recorded = json.loads(BUNDLED["cad/parts"].with_suffix(".json").read_text())["metrics"]["unconditional"]
    p = recorded["strict_validity"]
    se = math.sqrt(p * (1 - p) / n)
    summary = json.loads((out / "summary.json").read_text())
    assert abs(summary["strict_valid"] / n - p) < 3 * se + 0.02
    # the analyser's checks are a subset of the strict ones: at least as many pass
    assert good >= summary["strict_valid"] - 2 and abs(good / n - p) < 3 * se + 0.04
