"""ProteinsDomain: data, statistics, plans, decoding, PDB output and reading back."""

import math

import numpy as np
import pytest
import torch

from domains.proteins.angles import backbone_to_angles, defined_mask
from domains.proteins.dataset import centre
from domains.proteins.domain import MAX_LENGTH, MIN_LENGTH, ProteinsDomain
from gensci.core.spaces import Torus
from gensci.domain import SamplePlan, parse_count_range
from gensci.errors import GensciError

torch.set_num_threads(1)


def test_prepare_split_and_stats(domain):
    sizes = {s: len(domain.dataset(s)) for s in ("train", "val", "test")}
    assert sizes == {"train": 3, "val": 1, "test": 1}  # 5 usable chains (1YJP is too short)
    s = domain.stats()
    assert len(s["mean"]) == 6 and s["length_range"][1] == 64
    assert isinstance(domain.space(), Torus)
    batch = domain.collate([domain.dataset("train")[i] for i in range(3)])
    assert batch.x.shape == (3, 64, 6) and batch.mask.shape == (3, 64, 6)
    assert batch.x.abs().max() <= math.pi


def test_stats_round_trip_without_data(domain):
    other = ProteinsDomain(paths=["/nonexistent"])
    other.load_stats(domain.stats())
    assert other.plan(2, length=10).shape == (2, 10, 6)


def test_centre_then_decode_gives_the_original_angles(domain, real_chains):
    chain = real_chains[0]
    angles = backbone_to_angles(chain.coords)
    mean = torch.tensor(domain.stats()["mean"], dtype=torch.float64)
    x = centre(angles, mean)[None]
    n = len(angles)
    plan = SamplePlan(shape=(1, n, 6), mask=defined_mask(n)[None], info={"lengths": [n]})
    backbone = domain.decode(x, plan)[0]
    assert backbone.shape == (n, 4, 3)
    again = backbone_to_angles(backbone[:, :3])
    ok = defined_mask(n)
    d = torch.remainder(again[ok] - angles[ok] + math.pi, 2 * math.pi) - math.pi
    assert d.abs().max() < 1e-3


def test_plan_lengths(domain):
    plan = domain.plan(3, length="80")
    assert plan.info["lengths"] == [80, 80, 80] and plan.shape == (3, 80, 6)
    plan = domain.plan(50, length="60..128")
    lengths = plan.info["lengths"]
    assert min(lengths) >= 60 and max(lengths) <= 128 and len(set(lengths)) > 1
    assert plan.mask.shape == (50, max(lengths), 6)
    assert plan.mask.any(-1).sum(1).tolist() == lengths
    assert domain.plan(50, length="60..128").info["lengths"] == lengths  # seeded
    assert domain.plan(50, length="60..128", length_seed=1).info["lengths"] != lengths
    assert parse_count_range(None, MIN_LENGTH, MAX_LENGTH, what="--length", unit="residues") is None
    low, high = domain.stats()["length_range"]  # the default: the training crop lengths
    assert all(low <= n <= high for n in domain.plan(20).info["lengths"])
    for bad in ("abc", "0", "5..3", "2", "10..x"):
        with pytest.raises(GensciError):
            domain.plan(2, length=bad)
    with pytest.raises(GensciError, match="unknown sampling option"):
        domain.plan(2, foo=1)
    with pytest.raises(GensciError, match="unconditional"):
        domain.plan(2, conditions={"label": "1"})


def test_write_and_read_back(domain, tmp_path):
    from biotite.structure.io import pdb

    plan = domain.plan(3, length="20..30")
    x = Torus().noise(plan.shape, generator=torch.Generator().manual_seed(0), mask=plan.mask)
    samples = domain.decode(x, plan)
    out = domain.write(samples, tmp_path / "out")
    files = sorted(out.glob("*.pdb"))
    assert [f.name for f in files] == ["sample_000.pdb", "sample_001.pdb", "sample_002.pdb"]
    for f, bb, n in zip(files, samples, plan.info["lengths"]):
        atoms = pdb.PDBFile.read(str(f)).get_structure(model=1)
        assert len(atoms) == 4 * n
        assert set(atoms.res_name) == {"GLY"} and set(atoms.chain_id) == {"A"}
        assert list(atoms.atom_name[:4]) == ["N", "CA", "C", "O"]
    back = domain.read(out)
    assert [len(b) for b in back] == plan.info["lengths"]
    centred = samples[0] - samples[0][:, 1].mean(0)  # the writer centres on the CA centroid
    assert np.abs(back[0] - centred).max() < 2e-3
    single = domain.write(samples[:1], tmp_path / "one.pdb")
    assert single.is_file() and len(domain.read(single)) == 1
    with pytest.raises(GensciError, match="give a folder"):
        domain.write(samples, tmp_path / "many.pdb")
    assert domain.evaluate(samples)["count"] == 3.0


def test_missing_data_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(GensciError, match="domain.paths"):
        ProteinsDomain().prepare()


@pytest.mark.filterwarnings("ignore:skipped sctm")
def test_requested_conditions_travel_through_pdb_files(data_dir, tmp_path):
    """sample with a condition -> write PDB -> read -> evaluate reports the condition error."""
    from biotite.structure.io import pdb

    from domains.proteins.secondary import dssp_labels, ss_fractions

    d = ProteinsDomain(paths=[str(data_dir)], crop_length=64, ss_condition=True)
    helix = d.conditions[0]
    value = round((helix["low"] + helix["high"]) / 2, 3)
    plan = d.plan(3, {"helix": str(value)}, length="20..30")
    samples = d.decode(Torus().noise(plan.shape, generator=torch.Generator().manual_seed(1), mask=plan.mask), plan)
    assert samples.conditions == {"helix": value} and samples.lengths == plan.info["lengths"]
    assert samples[1:].conditions == {"helix": value} and len(samples[1:]) == 2 and isinstance(samples[0], np.ndarray)
    out = d.write(samples, tmp_path / "out")
    text = (out / "sample_000.pdb").read_text()
    assert f"REMARK 250 REQUESTED CONDITION: helix = {value!r}" in text
    assert text.index("REMARK 250") < text.index("CRYST1")
    assert len(pdb.PDBFile.read(str(out / "sample_000.pdb")).get_structure(model=1)) == 4 * plan.info["lengths"][0]
    back = d.read(out)
    assert back.conditions == {"helix": value} and back.lengths == plan.info["lengths"]
    fresh, read = d.evaluate(samples), d.evaluate(back)
    achieved = np.array([ss_fractions(dssp_labels(bb))[0] for bb in back])
    assert read["condition_helix_target"] == fresh["condition_helix_target"] == value
    assert read["condition_helix_mae"] == pytest.approx(np.abs(achieved - value).mean())
    assert read["condition_helix_mae"] == pytest.approx(fresh["condition_helix_mae"], abs=0.05)
    paths = d.write_trajectory([samples, samples], tmp_path / "trajectory")
    assert len(paths) == 3 and "REMARK 250 REQUESTED CONDITION: helix" in paths[0].read_text()
    # one structure in one file; a folder of differently conditioned files keeps none
    assert d.read(d.write(samples[:1], tmp_path / "one.pdb")).conditions == {"helix": value}
    other = d.decode(Torus().noise(plan.shape, generator=torch.Generator().manual_seed(2), mask=plan.mask),
                     d.plan(3, {"helix": str(helix["low"])}, length="20..30"))
    d.write(other[:1], out / "sample_003.pdb")
    assert d.read(out).conditions == {}
    assert "condition_helix_mae" not in d.evaluate(list(samples))  # a plain list carries none


def test_read_keeps_odd_samples_and_skips_impossible_ones_with_a_warning(domain, tmp_path):
    """Reading samples back checks bonds only: random angles stay (evaluation judges them), a
    CA at 9999 Å is skipped with a warning naming the reason."""
    plan = domain.plan(2, length="20..30")
    samples = domain.decode(Torus().noise(plan.shape, generator=torch.Generator().manual_seed(4), mask=plan.mask), plan)
    out = domain.write(samples, tmp_path / "out")
    first = out / "sample_000.pdb"
    lines = first.read_text().splitlines()
    k = next(i for i, line in enumerate(lines) if line.startswith("ATOM") and line[12:16].strip() == "CA")
    lines[k] = lines[k][:30] + f"{9999.0:8.3f}" * 3 + lines[k][54:]
    first.write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match=r"kept 1 chains, skipped 1 \(bond length 1\); first: sample_000.pdb:A: bond"):
        back = domain.read(out)
    assert back.lengths == plan.info["lengths"][1:]
