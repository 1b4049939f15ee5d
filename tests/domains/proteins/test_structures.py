from pathlib import Path

import numpy as np
import pytest
import torch

from domains.proteins.structures import (
    BackboneChain,
    crop_start,
    extract_chains,
    random_crop,
    read_chains,
    read_structure,
)
from gensci.errors import GensciError


def _write(atoms, path: Path) -> Path:
    """Write an AtomArray as PDB, mmCIF or BinaryCIF (by suffix) with biotite."""
    from biotite.structure.io import pdb, pdbx

    if path.suffix == ".pdb":
        f = pdb.PDBFile()
        f.set_structure(atoms)
    else:
        f = pdbx.CIFFile() if path.suffix == ".cif" else pdbx.BinaryCIFFile()
        pdbx.set_structure(f, atoms)
    f.write(str(path))
    return path


@pytest.fixture(scope="module")
def small(data_dir):
    atoms = read_structure(data_dir / "2xcjA.pdb.gz")
    return atoms[atoms.element != "H"]


def test_committed_data_reads_with_one_short_chain_skipped(data_dir, real_chains):
    chains, report = read_chains(data_dir)
    assert report.files == 6 and report.kept == 5 == len(chains)
    assert report.counts() == {"too short": 1}
    assert str(report.skipped[0]) == "1YJP.cif.gz:A: too short (7 < 40 residues)"
    assert report.summary() == "read 6 files: kept 5 chains, skipped 1 (too short 1)"
    by_name = {c.name: c for c in chains}
    pti = by_name["5PTI.cif.gz:A"]  # mmCIF with deuterium, waters and phosphate: 58 residues of BPTI
    assert len(pti) == 58 and pti.sequence.startswith("RPDFCLEPPYTGPCKARIIRYFYNAKAGLCQTFVYGGCRAKRNNFKSAEDCMRTCGGA"[:20])
    for chain in chains:
        assert chain.coords.shape == (len(chain), 3, 3) and chain.coords.dtype == np.float64
        peptide = np.linalg.norm(chain.coords[1:, 0] - chain.coords[:-1, 2], axis=-1)
        assert 1.2 < peptide.min() and peptide.max() < 1.5
        assert not np.isnan(chain.oxygen).any()


def test_pdb_mmcif_and_binarycif_give_the_same_chain(tmp_path, small):
    import gzip

    paths = [_write(small, tmp_path / f"x{s}") for s in (".pdb", ".cif", ".bcif")]
    gz = tmp_path / "y.bcif.gz"
    gz.write_bytes(gzip.compress(paths[2].read_bytes()))
    results = [read_chains(p)[0] for p in paths + [gz]]
    first = results[0][0]
    for (chain,) in results:
        np.testing.assert_allclose(chain.coords, first.coords, atol=1e-3)
        assert chain.sequence == first.sequence and len(chain) == 84


def test_chain_selection(tmp_path, small, data_dir):
    other = read_structure(data_dir / "2va0A.pdb.gz")
    other = other[other.element != "H"]
    other.chain_id[:] = "B"
    other.coord += 100.0
    path = _write(small + other, tmp_path / "two.pdb")
    both, _ = read_chains(path)
    assert [(c.chain_id, len(c)) for c in both] == [("A", 84), ("B", 99)]
    only_b, _ = read_chains(path, chains="B")
    assert [c.chain_id for c in only_b] == ["B"]
    _, report = read_chains(path, chains=["B", "Z"])
    assert report.counts() == {"chain not found": 1} and report.skipped[0].chain_id == "Z"


def _broken_copies(small, tmp_path: Path) -> dict[str, Path]:
    res = small.res_id
    no_ca = small[~((res == 10) & (small.atom_name == "CA"))]
    cut = small[~np.isin(res, [30, 31, 32])]
    odd = small.copy()
    odd.res_name[res == 20] = "MSE"
    odd.hetero[res == 20] = True
    water = small[:3].copy()
    water.res_name[:] = "HOH"
    water.hetero[:] = True
    out = {
        "missing backbone atoms": _write(no_ca, tmp_path / "no_ca.pdb"),
        "chain break": _write(cut, tmp_path / "cut.cif"),
        "non-standard residue": _write(odd, tmp_path / "mse.pdb"),
        "no protein": _write(water, tmp_path / "water.pdb"),
        "unreadable": tmp_path / "junk.pdb",
    }
    out["unreadable"].write_text("not a structure\n")
    return out


def test_broken_inputs_are_skipped_with_their_reason(tmp_path, small, data_dir):
    broken = _broken_copies(small, tmp_path)
    chains, report = read_chains(tmp_path, min_length=40, allow_empty=True)
    assert chains == []
    reasons = {Path(s.source).name: s.reason for s in report.skipped}
    assert reasons == {p.name: reason for reason, p in broken.items()}
    details = {s.reason: s.detail for s in report.skipped}
    assert details["missing backbone atoms"] == "residue 10 VAL lacks CA"
    assert details["chain break"].startswith("C-N ") and details["chain break"].endswith("between residues 29 and 33")
    assert details["non-standard residue"] == "MSE 20"
    assert report.files == 5 and report.kept == 0
    with pytest.raises(GensciError, match=r"no usable protein chains in .*skipped 5"):
        read_chains(tmp_path, min_length=40)


def test_length_filters(small):
    _, skipped = extract_chains(small, "x", min_length=100)
    assert [(s.reason, s.detail) for s in skipped] == [("too short", "84 < 100 residues")]
    _, skipped = extract_chains(small, "x", max_length=80)
    assert [(s.reason, s.detail) for s in skipped] == [("too long", "84 > 80 residues")]
    kept, skipped = extract_chains(small, "x", min_length=84, max_length=84)
    assert len(kept) == 1 and skipped == []


def test_user_mistakes_raise_one_clear_error(tmp_path):
    with pytest.raises(GensciError, match="no such file or folder"):
        read_chains(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(GensciError, match="no structure files"):
        read_chains(tmp_path)
    with pytest.raises(GensciError, match="unknown structure format"):
        read_structure(tmp_path / "notes.txt")
    with pytest.raises(GensciError, match="min_length <= max_length"):
        read_chains(tmp_path, min_length=50, max_length=10)


def test_random_crop_is_reproducible_and_in_range(real_chains):
    chain = real_chains[0]
    starts = [crop_start(len(chain), 40, torch.Generator().manual_seed(s)) for s in range(50)]
    assert starts == [crop_start(len(chain), 40, torch.Generator().manual_seed(s)) for s in range(50)]
    assert min(starts) >= 0 and max(starts) <= len(chain) - 40 and len(set(starts)) > 10
    g = torch.Generator().manual_seed(3)
    crop = random_crop(chain, 40, g)
    assert isinstance(crop, BackboneChain) and len(crop) == 40 == len(crop.sequence) == len(crop.oxygen)
    s = int(np.flatnonzero(chain.res_ids == crop.res_ids[0])[0])
    np.testing.assert_array_equal(crop.coords, chain.coords[s : s + 40])
    angles = torch.arange(30.0).unsqueeze(1).repeat(1, 6)
    assert random_crop(angles, 40, g).shape == (30, 6)  # already short enough: unchanged
    window = random_crop(angles, 10, g)
    assert window.shape == (10, 6) and torch.equal(window[:, 0], window[0, 0] + torch.arange(10.0))
