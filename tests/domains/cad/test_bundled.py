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
