"""The CAD domain end to end on the hand-written fixtures (a folder of DeepCAD JSON): both
stages train, sampling writes a folder of STEP / STL / JSON with a summary that accounts for
every part, and the folder reads back."""

import json
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

pytest.importorskip("OCP")

import gensci  # noqa: E402
from domains.cad.domain import CADDomain  # noqa: E402
from domains.cad.export import read_step  # noqa: E402
from domains.cad.retrieval import evaluate_retrieval  # noqa: E402
from gensci.config import compose  # noqa: E402
from gensci.errors import GensciError  # noqa: E402
from gensci.training.train import train  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


def test_a_json_folder_is_a_data_set_and_bad_files_are_counted():
    domain = CADDomain(source=str(FIXTURES), progress=False)
    parts = domain.parts()
    n_json = len(list(FIXTURES.glob("*.json")))
    assert len(parts) + sum(parts.skipped.values()) == n_json  # every file is a part or a counted reason
    assert sum(parts.skipped.values()) >= 5  # the files made to be rejected (and golden.json)
    assert parts.vectors.shape[1:] == (60, 17) and np.all(parts.size > 0)
    assert sum(len(domain.split(s)) for s in ("train", "val", "test")) == len(parts)
    domain.prepare()
    names = [c["name"] for c in domain.conditions]
    assert names == ["width", "depth", "height"]  # no family in DeepCAD files


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("cad") / "run"
    cfg = compose("cad/tiny", [f"domain.source={FIXTURES}", "domain.progress=false", f"domain.cache_dir={run.parent / 'cache'}",
                               "batch_size=16",
                               "stages.autoencoder.trainer.max_steps=40", "trainer.max_steps=40",
                               "trainer.enable_progress_bar=false", f"run_dir={run}", "threads=1"])
    return train(cfg)


def test_sampling_writes_steps_the_kernel_reads_and_a_summary_of_every_part(tiny_model, tmp_path):
    model = gensci.load(tiny_model)
    model.domain.progress = False
    samples = model.sample(6, seed=0, progress=False, redraws=1)
    assert len(samples) == 6
    out = model.write(samples, tmp_path / "parts")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 6 and len(summary["attempts"]) == 6
    failed = {f["part"] for f in summary["failures"]}
    assert len(failed) == 6 - summary["strict_valid"]
    for i in range(6):
        step = out / f"part_{i:03d}.step"
        if i in failed:
            cause = next(f["cause"] for f in summary["failures"] if f["part"] == i)
            assert cause  # a reason for every failure
        else:
            assert all((out / f"part_{i:03d}{s}").is_file() for s in (".step", ".stl", ".json", ".png"))
            read_step(step)  # the kernel reads it back
    back = model.domain.read(out)
    assert len(back) == 6
    assert sum(p.sequence is not None for p in back) == summary["decoded"]
    metrics = model.evaluate(back)
    assert 0.0 <= metrics["strict_validity"] <= 1.0 and metrics["n"] == 6
    assert 0.0 <= metrics["ae_acc_cmd"] <= 100.0 and metrics["ae_n_built"] >= 1  # the reconstruction of the test split
    assert "retrieval_edges_top1@10" not in metrics  # one test part: nothing to rank among
    on_train = model.evaluate(back, split="train")
    assert 0.0 <= on_train["retrieval_edges_top1@10"] <= 1.0 and 0.0 <= on_train["retrieval_shaded_top1@10"] <= 1.0
    # the isometric view alone beside any view, for each style, as the retrieval module computes it
    iso = evaluate_retrieval(model.domain, "train", style="edges", view="iso")
    assert {k for k in on_train if k.startswith("retrieval_edges_iso_")} == {f"retrieval_edges_iso_{k}" for k in iso
                                                                             if k.startswith("top1@")}
    assert on_train["retrieval_edges_iso_top1@10"] == iso["top1@10"]


def test_a_requested_width_is_met_on_every_built_solid(tiny_model):
    model = gensci.load(tiny_model)
    model.domain.progress = False
    samples = model.sample(8, conditions={"width": 3.0}, seed=3, progress=False, redraws=0)
    results = model.domain.build(samples)
    built = [r for r in results if r.ok]
    assert built
    for r in built:
        assert r.bbox[1][0] - r.bbox[0][0] == pytest.approx(3.0, rel=1e-6)
    model.domain.fit_requested_size = False  # the size the prior drew: a 40-step prior misses it
    free = model.domain.build(model.sample(8, conditions={"width": 3.0}, seed=3, progress=False, redraws=0))
    widths = [r.bbox[1][0] - r.bbox[0][0] for r in free if r.ok]
    assert widths and any(abs(w - 3.0) / 3.0 > 0.01 for w in widths)


def test_a_single_file_output_is_refused(tiny_model, tmp_path):
    model = gensci.load(tiny_model)
    samples = model.sample(1, seed=0, progress=False, redraws=0)
    with pytest.raises(GensciError, match="folder"):
        model.write(samples, tmp_path / "part.step")


def test_unknown_conditions_are_named(tiny_model):
    model = gensci.load(tiny_model)
    with pytest.raises(GensciError, match="width"):
        model.sample(2, conditions={"family": "flange"}, progress=False)


def test_the_writer_keeps_good_parts_and_explains_bad_ones(tmp_path):
    """Two fixture parts and a vector that decodes to nothing: two parts with STEP, STL, JSON and
    PNG that the kernel reads back at their volumes, and one failure with its rows kept."""
    from domains.cad.domain import CADSamples, GeneratedPart
    from domains.cad.json_codec import read_json
    from domains.cad.kernel import shape_volume
    from domains.cad.vector import EOS, LINE, SOL

    golden = json.loads((FIXTURES / "golden.json").read_text())
    names = ["box_one_side", "steinmetz_intersect"]
    good = [GeneratedPart(np.zeros((60, 17), dtype=np.int64), read_json(FIXTURES / f"{n}.json")) for n in names]
    bad_vec = np.full((60, 17), -1)
    bad_vec[:, 0] = EOS
    bad_vec[0, 0], bad_vec[1, :3] = SOL, [LINE, 140, 128]
    bad = GeneratedPart(bad_vec, None, "row 2: the vector ends with loops that no Ext extrudes")
    domain = CADDomain(source=str(FIXTURES), progress=False)
    out = domain.write(CADSamples(good + [bad]), tmp_path / "parts")
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["n"], summary["decoded"], summary["built"], summary["strict_valid"]) == (3, 2, 2, 2)
    (failure,) = summary["failures"]
    assert failure["part"] == 2 and failure["stage"] == "decode" and failure["vector"][1].startswith("0 140 128")
    for i, name in enumerate(names):
        assert all((out / f"part_{i:03d}{s}").is_file() for s in (".step", ".stl", ".json", ".png"))
        volume = golden["fixtures"][f"{name}.json"]["volume"]
        assert shape_volume(read_step(out / f"part_{i:03d}.step")) == pytest.approx(volume, rel=1e-6)
    assert not (out / "part_002.step").exists()


def test_procedural_parts_are_generated_once_and_cached(tmp_path):
    from domains.cad.data import procedural_parts

    first = procedural_parts(60, seed=1, cache_dir=tmp_path, progress=False)
    cached = list((tmp_path / "cad" / "procedural").glob("*.npz"))
    assert len(cached) == 1 and len(first) == 60
    again = procedural_parts(60, seed=1, cache_dir=tmp_path, progress=False)  # read from the cache
    assert np.array_equal(first.vectors, again.vectors) and list(first.family) == list(again.family)
    assert np.allclose(first.dims, again.dims) and np.allclose(first.size, first.dims.max(axis=1))
    domain = CADDomain(n_parts=60, seed=1, cache_dir=str(tmp_path), progress=False)
    domain.prepare()
    family = next(c for c in domain.conditions if c["name"] == "family")
    assert set(family["classes"]) <= set(first.family) and len(family["classes"]) >= 5


def test_sketch_axes_choose_the_procedural_set(tmp_path):
    """The config's default is ``normal``; a domain built without the option (a model trained
    before it) reads the set with drawn axes, cached apart; the same parts either way."""
    assert compose("cad/tiny").domain.sketch_axes == "normal"
    drawn = CADDomain(n_parts=24, seed=2, cache_dir=str(tmp_path), progress=False)
    normal = CADDomain(n_parts=24, seed=2, cache_dir=str(tmp_path), progress=False, sketch_axes="normal")
    a, b = drawn.parts(), normal.parts()
    assert len(list((tmp_path / "cad" / "procedural").glob("*.npz"))) == 2
    assert list(a.family) == list(b.family) and np.allclose(a.dims, b.dims)
    ext = b.vectors[..., 0] == 5
    free = np.array([f != "freeform" for f in b.family])[:, None] & ext
    assert set(b.vectors[free][:, 8].tolist()) == {128} and len(set(a.vectors[free][:, 8].tolist())) == 4
    with pytest.raises(GensciError, match="domain.sketch_axes must be one of normal, drawn"):
        CADDomain(sketch_axes="random")
