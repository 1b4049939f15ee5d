"""Geometry sanity: garbage coordinates are skipped with one reason, every real chain passes."""

from pathlib import Path

import numpy as np
import pytest

from domains.proteins.geometry_checks import (
    BOND_ANGLE_RANGE,
    BOND_LENGTH_RANGE,
    CA_CA_RANGE,
    MIN_ATOM_SEPARATION,
    MIN_CA_SEPARATION,
    backbone_problem,
)
from domains.proteins.structures import read_chains, read_structure
from gensci.errors import GensciError


@pytest.fixture(scope="module")
def small(data_dir):
    atoms = read_structure(data_dir / "2xcjA.pdb.gz")
    return atoms[atoms.element != "H"]


@pytest.fixture(scope="module")
def chain(real_chains):
    return next(c for c in real_chains if c.name == "2xcjA.pdb.gz:A")


def _names(n: int) -> list[str]:
    return [f"{i + 1} GLY" for i in range(n)]


def _write(atoms, path: Path, text_edits: dict[tuple[int, str], tuple[str, str, str]] | None = None) -> Path:
    """Write ``atoms`` as PDB; then put raw text (e.g. ``"nan"``) into the x, y, z columns of
    the atoms ``(res_id, atom_name)`` named in ``text_edits`` (biotite writes no NaN)."""
    from biotite.structure.io import pdb

    f = pdb.PDBFile()
    f.set_structure(atoms)
    f.write(str(path))
    lines = path.read_text().splitlines()
    for k, line in enumerate(lines):
        key = (int(line[22:26]), line[12:16].strip()) if line.startswith("ATOM") else None
        if text_edits and key in text_edits:
            lines[k] = line[:30] + "".join(f"{v:>8}" for v in text_edits[key]) + line[54:]
    path.write_text("\n".join(lines) + "\n")
    return path


def _moved(atoms, res_id: int, atom: str, xyz) -> object:
    out = atoms.copy()
    out.coord[(out.res_id == res_id) & (out.atom_name == atom)] = xyz
    return out


def test_a_real_chain_passes_and_the_bounds_are_ordered(chain):
    assert backbone_problem(chain.coords, _names(len(chain))) is None
    assert BOND_LENGTH_RANGE[0] < 1.458 < 1.525 < BOND_LENGTH_RANGE[1]
    assert BOND_ANGLE_RANGE[0] < 111.2 < BOND_ANGLE_RANGE[1]
    assert CA_CA_RANGE[0] < 2.9 < 3.8 < CA_CA_RANGE[1]
    assert MIN_ATOM_SEPARATION < MIN_CA_SEPARATION < CA_CA_RANGE[0]


def test_every_real_chain_passes_the_strict_checks(real_chains):
    """The committed chains keep a margin to every bound (the ~50 MDAnalysisTests chains too:
    their shortest CA-CA step, a cis peptide, is 2.83 Å, their longest 4.14 Å)."""
    assert len(real_chains) == 5
    for c in real_chains:
        assert backbone_problem(c.coords, _names(len(c))) is None, c.name
    steps = np.concatenate([np.linalg.norm(np.diff(c.coords[:, 1], axis=0), axis=-1) for c in real_chains])
    assert CA_CA_RANGE[0] + 0.1 < steps.min() and steps.max() < CA_CA_RANGE[1] - 0.1


@pytest.mark.parametrize("case, reason, detail", [
    ("nan", "non-finite coordinates", "CA of residue 6 GLY"),
    ("far", "bond length", "N-CA "),
    ("squeezed", "coincident atoms", "N and CA of residue 6 GLY"),
    ("folded", "bond angle", "N-CA-C "),
    ("stretched", "chain break", "CA-CA "),
    ("cis-too-close", "CA-CA distance", "CA-CA "),
    ("overlap", "coincident atoms", "CA of residues 3 GLY and 9 GLY"),
])
def test_each_problem_is_named(chain, case, reason, detail):
    x = chain.coords[:12].copy()
    names, bonded = _names(len(x)), np.ones(len(x) - 1, dtype=bool)
    if case == "nan":
        x[5, 1] = np.nan
    elif case == "far":
        x[5, 1] = 9999.0
    elif case == "squeezed":
        x[5, 1] = x[5, 0] + 0.1
    elif case == "folded":  # N-CA-C of 30 degrees, bonds kept
        u = (x[5, 0] - x[5, 1]) / np.linalg.norm(x[5, 0] - x[5, 1])
        w = np.cross(u, [0.0, 0.0, 1.0])
        w /= np.linalg.norm(w)
        x[5, 2] = x[5, 1] + 1.52 * (np.cos(np.radians(30)) * u + np.sin(np.radians(30)) * w)
    elif case == "stretched":
        x[6:] += (x[6, 1] - x[5, 1]) * 0.3
    elif case == "cis-too-close":
        x[6:] -= (x[6, 1] - x[5, 1]) * 0.4
    elif case == "overlap":  # residue 9, cut loose (breaks accepted), moved onto residue 3
        x[8] += x[2, 1] - x[8, 1] + 0.3
        bonded[7:9] = False
    problem = backbone_problem(x, names, bonded)
    assert problem is not None and problem[0] == reason and detail in problem[1], problem
    assert "\n" not in problem[1]


def test_bonds_level_keeps_odd_angles_but_not_impossible_bonds(chain):
    x = chain.coords[:12].copy()
    x[6:] -= (x[6, 1] - x[5, 1]) * 0.4  # CA-CA too short: judged only by the strict level
    assert backbone_problem(x, _names(12), strict=False) is None
    x[5, 1] = 9999.0
    assert backbone_problem(x, _names(12), strict=False)[0] == "bond length"
    x[5, 1] = np.inf
    assert backbone_problem(x, _names(12), strict=False)[0] == "non-finite coordinates"


def test_pairs_across_an_accepted_break_are_not_checked(chain):
    x = chain.coords[:12].copy()
    x[6:] += 20.0
    bonded = np.ones(11, dtype=bool)
    assert backbone_problem(x, _names(12), bonded)[0] == "chain break"
    bonded[5] = False
    assert backbone_problem(x, _names(12), bonded) is None


def test_garbage_files_are_skipped_with_one_reason_each(tmp_path, small):
    """The files that used to be kept as 'kept 1 chains, skipped 0'."""
    res = small.res_id
    first, ca = int(res[0]) + 5, small.atom_name == "CA"
    n_of = small.coord[(res == first) & (small.atom_name == "N")][0]
    origin = small.copy()
    origin.coord[:] = 0.0
    cases = {
        "far.pdb": (_moved(small, first, "CA", [9999.0, 9999.0, 9999.0]), None, "bond length"),
        "inf.pdb": (small, {(first, "CA"): ("inf", "0.000", "0.000")}, "non-finite coordinates"),
        "nan.pdb": (small, {(first, "CA"): ("nan", "nan", "nan")}, "non-finite coordinates"),
        "origin.pdb": (origin, None, "coincident atoms"),
        "ca_on_n.pdb": (_moved(small, first, "CA", n_of), None, "coincident atoms"),
    }
    for name, (atoms, edits, _) in cases.items():
        _write(atoms, tmp_path / name, edits)
    assert ca.sum() == 84
    chains, report = read_chains(tmp_path, min_length=1, allow_empty=True)
    assert chains == [] and report.kept == 0 and report.files == 5
    reasons = {Path(s.source).name: s.reason for s in report.skipped}
    assert reasons == {name: reason for name, (_, _, reason) in cases.items()}
    details = {Path(s.source).name: s.detail for s in report.skipped}
    assert details["nan.pdb"] == f"CA of residue {first} {small.res_name[res == first][0]}"
    assert details["far.pdb"].startswith("N-CA ") and "allowed 1.2-1.8 Å" in details["far.pdb"]
    assert all("\n" not in str(s) for s in report.skipped)
    assert report.summary() == ("read 5 files: kept 0 chains, skipped 5 "
                                "(bond length 1, coincident atoms 2, non-finite coordinates 2)")


def test_generated_backbones_are_read_at_the_bonds_level(tmp_path, small):
    """A backbone with an N-CA-C angle of 60° is kept at the bonds level (its evaluation judges it)."""
    from scipy.spatial.transform import Rotation

    second = int(small.res_id[0]) + 1
    pick = lambda name: small.coord[(small.res_id == second) & (small.atom_name == name)][0]  # noqa: E731
    n, ca, c = pick("N"), pick("CA"), pick("C")
    tau = np.degrees(np.arccos(np.dot(n - ca, c - ca) / np.linalg.norm(n - ca) / np.linalg.norm(c - ca)))
    axis = np.cross(n - ca, c - ca)
    turn = Rotation.from_rotvec(np.radians(tau - 60.0) * axis / np.linalg.norm(axis))
    odd = small.copy()  # the first residue and N of the second turn rigidly about CA: every bond stays
    upstream = (odd.res_id < second) | ((odd.res_id == second) & (odd.atom_name == "N"))
    odd.coord[upstream] = turn.apply(odd.coord[upstream] - ca) + ca
    path = _write(odd, tmp_path / "odd.pdb")
    _, strict = read_chains(path, min_length=1, allow_empty=True)
    assert strict.counts() == {"bond angle": 1} and "N-CA-C 60.0°" in strict.skipped[0].detail
    kept, report = read_chains(path, min_length=1, geometry="bonds")
    assert len(kept) == 1 and report.skipped == []
    with pytest.raises(GensciError, match="geometry must be one of strict, bonds"):
        read_chains(path, geometry="loose")
