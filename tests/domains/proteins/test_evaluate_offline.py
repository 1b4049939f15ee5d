"""Evaluation of written samples on a machine without the training data: reference-free
metrics always, reference metrics from the checkpoint's statistics or --reference, and
every file, sample or metric left out named with its reason."""

import importlib.util
import json

import numpy as np
import pytest
import torch

import domains.proteins.domain as protein_domain
import domains.proteins.sample_files as sample_files
import gensci
from domains.proteins.distributions import angle_kls, independent_marginal_baseline, marginal_counts
from domains.proteins.evaluation import MAX_EVAL_RESIDUES, backbone_angles, within_length_limit
from domains.proteins.metrics import CLASH_DISTANCE, has_clash
from domains.proteins.pdb import write_pdb, write_pdb_models
from domains.proteins.ramachandran import ramachandran_metrics, ramachandran_regions
from domains.proteins.reference import ReferenceStats
from domains.proteins.samples import Backbones
from gensci.cli import main
from gensci.errors import GensciError
from gensci.model import bundled_models
from gensci.skipped import collecting_skips

NAME = "proteins/bundled"
needs_bundled = pytest.mark.skipif(NAME not in bundled_models(), reason="the bundled protein model is not built")
REFERENCE_FREE = ("clash_free_fraction", "geometry_ok_fraction", "rama_alpha_fraction", "omega_cis_fraction",
                  "ss_dssp_helix", "ss_psea_strand", "diversity_pairwise_tm")


@pytest.fixture
def no_data(monkeypatch):
    """The training chains are not installed."""
    def missing():
        raise GensciError("the proteins domain needs structures (none installed here)")

    monkeypatch.setattr(protein_domain, "default_data_path", missing)


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory, real_chains):
    """Three 60-residue pieces of real chains written as sample files."""
    folder = tmp_path_factory.mktemp("samples")
    for i, chain in enumerate(real_chains[:3]):
        bb = np.concatenate([chain.coords, chain.oxygen[:, None]], 1)[:60]
        write_pdb(bb, folder / f"sample_{i:03d}.pdb")
    return folder


def _evaluate(model, folder):
    with collecting_skips() as skipped:
        metrics = model.evaluate(model.domain.read(folder))
    return metrics, {s.what: s.reason for s in skipped}


@needs_bundled
def test_without_data_or_statistics_the_samples_are_scored_alone(no_data, sample_dir):
    model = gensci.load(NAME)
    model.domain._stats.pop("reference")
    metrics, skipped = _evaluate(model, sample_dir)
    assert metrics["count"] == 3 and all(np.isfinite(metrics[k]) for k in REFERENCE_FREE)
    assert not [k for k in metrics if k.startswith(("kl_", "ref_", "baseline_", "novelty_")) or k.endswith("_diff")]
    reason = skipped["kl_*, baseline_kl_*, ref_ss_*, ss_*_diff, novelty_*"]
    assert "not on this machine" in reason and "pass --reference PATH" in reason


@needs_bundled
def test_the_checkpoint_statistics_give_the_reference_metrics_without_data(no_data, sample_dir):
    metrics, skipped = _evaluate(gensci.load(NAME), sample_dir)
    for key in ("kl_ramachandran", "kl_psi_phi_next", "ref_ss_dssp_helix", "ss_psea_coil_diff", "baseline_kl_ramachandran"):
        assert np.isfinite(metrics[key])
    assert metrics["kl_ramachandran"] < metrics["baseline_kl_ramachandran"]  # real chains keep the phi-psi coupling
    assert "novelty_max_tm_mean" not in metrics and "training chains themselves" in skipped["novelty_*"]


@needs_bundled
@pytest.mark.skipif(importlib.util.find_spec("MDAnalysisTests") is None, reason="the training chains are not installed")
def test_the_checkpoint_statistics_equal_those_of_the_data(sample_dir):
    with_data, _ = _evaluate(gensci.load(NAME), sample_dir)
    model = gensci.load(NAME)
    model.domain._load = lambda: (_ for _ in ()).throw(GensciError("no data"))
    from_stats, _ = _evaluate(model, sample_dir)
    for key in ("kl_phi", "kl_ramachandran", "kl_psi_phi_next", "ref_ss_dssp_helix", "ref_ss_psea_strand"):
        assert from_stats[key] == pytest.approx(with_data[key], abs=1e-12)


@needs_bundled
def test_a_reference_folder_gives_every_reference_metric(no_data, sample_dir, data_dir):
    model = gensci.load(NAME)
    model.domain.use_reference(data_dir)
    metrics, skipped = _evaluate(model, sample_dir)
    assert metrics["novelty_max_tm_mean"] > 0.9  # the samples are pieces of the reference chains
    assert np.isfinite(metrics["kl_ramachandran"]) and np.isfinite(metrics["baseline_kl_ramachandran"])
    assert not [w for w in skipped if "kl" in w or "novelty" in w]


@needs_bundled
def test_the_command_lists_unreadable_files_and_shows_progress(no_data, sample_dir, tmp_path, capsys):
    folder = tmp_path / "s"
    folder.mkdir()
    for f in sample_dir.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "broken.pdb").write_text("ATOM      1  N   GLY A   1     not a number\n")
    write_pdb_models([np.zeros((5, 4, 3)) + np.arange(5)[:, None, None] * 3.8] * 2, folder / "sample_000_trajectory.pdb")
    out = tmp_path / "m.json"
    assert main(["evaluate", NAME, "--samples", str(folder), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    record = json.loads(out.read_text())
    skipped = {s["what"]: s for s in record["skipped"]}
    assert skipped["broken.pdb"]["kind"] == "input" and skipped["broken.pdb"]["reason"].startswith("unreadable")
    assert "trajectory" in skipped["sample_000_trajectory.pdb"]["reason"]
    assert skipped["novelty_*"]["kind"] == "metric"
    assert record["metrics"]["count"] == 3 and "kl_ramachandran" in record["metrics"]
    assert "skipped 2 inputs:" in captured.out and "broken.pdb: unreadable" in captured.out
    assert "reading 5 structure files" in captured.err and "DSSP of the samples" in captured.err
    assert main(["evaluate", NAME, "--samples", str(folder), "-o", str(out), "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_samples_over_the_length_limit_are_left_out_with_a_reason(domain, real_chains):
    short = np.concatenate([real_chains[0].coords, real_chains[0].oxygen[:, None]], 1)[:50]
    long = np.zeros((MAX_EVAL_RESIDUES + 1, 4, 3))  # never read: refused before any metric
    with collecting_skips() as skipped:
        kept = within_length_limit(Backbones([long, short], names=["big.pdb:A", "small.pdb:A"]))
        metrics = domain.evaluate([short, long])
    assert len(kept) == 1 and kept[0] is short and metrics["count"] == 1
    assert [s.what for s in skipped if s.kind == "input"] == ["big.pdb:A", "sample 1"]
    assert f"{MAX_EVAL_RESIDUES + 1} residues, more than the {MAX_EVAL_RESIDUES}" in skipped[0].reason


def test_oversized_files_are_not_parsed(sample_dir, tmp_path, monkeypatch):
    folder = tmp_path / "s"
    folder.mkdir()
    for f in sorted(sample_dir.iterdir())[:2]:
        (folder / f.name).write_bytes(f.read_bytes())
    big = folder / "sample_000.pdb"
    big.write_text("REMARK 999 PADDING\n" * 100 + big.read_text())
    monkeypatch.setattr(sample_files, "MAX_SAMPLE_FILE_BYTES", (folder / "sample_001.pdb").stat().st_size)
    with collecting_skips() as skipped:
        back = sample_files.read_samples(folder)
    assert back.names == ["sample_001.pdb:A"]
    assert skipped[0].what == "sample_000.pdb" and "bytes of text" in skipped[0].reason


def test_reference_statistics_survive_a_weights_only_checkpoint(domain, tmp_path):
    stats = ReferenceStats.from_chains(domain._backbones["test"], domain._angles["test"], marginals=True)
    torch.save(stats.to_plain(), tmp_path / "s.pt")
    back = ReferenceStats.from_plain(torch.load(tmp_path / "s.pt", weights_only=True))
    samples = domain._angles["val"]
    assert angle_kls(samples, back.histograms) == angle_kls(samples, domain._angles["test"])
    assert back.ss == stats.ss and back.chains == len(domain._backbones["test"])
    with pytest.raises(GensciError, match="reference statistics are malformed"):
        ReferenceStats.from_plain({"chains": 1})


def test_the_baseline_draws_from_stored_marginals(domain):
    angles = domain._angles["train"]
    counts = marginal_counts(angles)
    assert counts.shape == (6, 360) and counts[3].sum() == sum(len(a) for a in angles)  # tau is always defined
    g = torch.Generator().manual_seed(0)
    base = independent_marginal_baseline(counts, [400] * 10, g)
    kls = angle_kls(base, angles)
    assert kls["kl_angles_mean"] < 0.05  # the marginals are kept
    assert kls["kl_ramachandran"] > 0.2  # the phi-psi coupling is not
    one = np.zeros((6, 360))
    one[:, 10] = 1.0
    drawn = independent_marginal_baseline(one, [4], g)[0]
    assert torch.allclose(drawn[1:-1], torch.full((2, 6), np.radians(-169.5), dtype=torch.float64))


def test_ramachandran_regions_and_statistics(real_chains):
    regions = ramachandran_regions(np.array([-63.0, -120.0, 60.0, 0.0, -170.0]), np.array([-43.0, 130.0, 45.0, 0.0, -160.0]))
    assert regions.tolist() == ["alpha", "beta", "left", "other", "beta"]
    real = ramachandran_metrics(backbone_angles([c.coords for c in real_chains]))
    assert real["rama_other_fraction"] < 0.1 and real["omega_cis_fraction"] < 0.02
    uniform = torch.rand(2000, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 * np.pi - np.pi
    assert ramachandran_metrics([uniform])["rama_other_fraction"] > 0.5
    assert ramachandran_metrics([]) == {}


def test_the_clash_check_agrees_with_all_pairs():
    rng = np.random.default_rng(0)
    for n in range(1, 60):
        ca = np.cumsum(rng.normal(size=(n, 3)) * 2.2, axis=0)
        d = np.linalg.norm(ca[:, None] - ca[None], axis=-1)
        far = np.abs(np.arange(n)[:, None] - np.arange(n)[None]) >= 2
        assert has_clash(ca) == bool((d[far] < CLASH_DISTANCE).any())
