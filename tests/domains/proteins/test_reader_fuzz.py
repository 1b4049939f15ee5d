"""Fuzzing the protein reader with PDB files that are nearly right, and some that are not.

Two kinds of input, both written to a ``.pdb`` file and read with :func:`read_chains`:

* a real chain's ATOM records (a window of 2xcjA) with a few mutations: coordinates made huge,
  NaN, infinite or unparsable, lines deleted, duplicated under an altloc, truncated or laced
  with random bytes, residue numbers with gaps and insertion codes, odd residue and atom names,
  occupancies, chains;
* valid-looking ATOM / HETATM records assembled from random fields, a few per residue.

The reader must end in one of two ways: chains and a report (every skip a known reason on one
line; every kept chain finite and physically possible), or a :class:`GensciError` of one line.
Nothing hangs (the deadline), and no example allocates more than :data:`MAX_BYTES` (the
traced peak of the read and of P-SEA / DSSP on what was kept). The default run is
deterministic and short; the ``slow`` variant draws 10,000 random examples of each kind.
"""

from __future__ import annotations

import gzip
import string
import tempfile
import tracemalloc
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domains.proteins.geometry_checks import backbone_problem
from domains.proteins.secondary import dssp_labels, psea_labels
from domains.proteins.structures import GEOMETRY_LEVELS, STANDARD_RESIDUES, read_chains
from gensci.errors import GensciError

DATA = Path(__file__).resolve().parents[2] / "data" / "proteins"
#: every reason the reader may give for a skip
REASONS = {"unreadable", "no protein", "chain not found", "non-standard residue", "missing backbone atoms",
           "non-finite coordinates", "chain break", "bond length", "bond angle", "CA-CA distance",
           "coincident atoms", "too short", "too long"}
#: the most one example may allocate (traced peak, bytes)
MAX_BYTES = 64 * 2**20
#: coordinate texts that parse as numbers but are no ordinary coordinate
ODD_NUMBERS = ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e30", "1e38", "1e39", "-1e39", "9999.999",
               "-999.999", "99999999", "0", "-0.0", "+5", "1_000"]
#: coordinate texts that do not parse
NOT_NUMBERS = ["", "   .   ", "*******", "1.2.3", "0x10", "e5", "--1"]


def _residues() -> list[list[str]]:
    """2xcjA's heavy-atom ATOM records, grouped by residue."""
    lines = [ln for ln in gzip.open(DATA / "2xcjA.pdb.gz", "rt").read().splitlines()
             if ln.startswith("ATOM") and ln[76:78].strip() != "H"]
    groups: dict[str, list[str]] = {}
    for ln in lines:
        groups.setdefault(ln[22:27], []).append(ln)
    return list(groups.values())


RESIDUES = _residues()


def _warm_up() -> None:
    """Read one window and label it, so that lazy imports are not counted as an example's memory."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "warm.pdb"
        path.write_text("\n".join(ln for residue in RESIDUES[:12] for ln in residue) + "\n")
        (chain,), _ = read_chains(path, min_length=1)
    psea_labels(chain.coords)
    dssp_labels(chain.coords)


_warm_up()


def _field(line: str, start: int, end: int, text: str) -> str:
    """``line`` with columns ``[start, end)`` set to ``text`` (right-aligned, cut to fit)."""
    line = line.ljust(end)
    return line[:start] + text[-(end - start):].rjust(end - start) + line[end:]


ordinary = st.floats(-999.0, 9999.0).map(lambda v: f"{v:.3f}")
coordinate = st.one_of(  # mostly numbers, so that reads get past the parser
    ordinary, ordinary, ordinary, ordinary,
    st.sampled_from(ODD_NUMBERS), st.sampled_from(ODD_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(NOT_NUMBERS),
    st.text(string.printable, max_size=8),
)
residue_name = st.one_of(st.sampled_from(sorted(STANDARD_RESIDUES) + ["MSE", "HOH", "UNK", "DA", "NA", "GLX"]),
                         st.text(string.ascii_uppercase + string.digits + " ", max_size=3))
atom_name = st.one_of(st.sampled_from(["N", "CA", "C", "O", "CB", "OXT", "H", "D", "X"]),
                      st.text(string.ascii_uppercase + string.digits + "'* ", max_size=4))
one_char = st.one_of(st.sampled_from([" ", "A", "B"]), st.characters(min_codepoint=32, max_codepoint=126))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _mutate(draw: st.DrawFn, lines: list[str]) -> list[str]:
    """One random change to a list of ATOM records."""
    if not lines:
        return lines
    k = draw(st.integers(0, len(lines) - 1))
    line = lines[k]
    op = draw(st.sampled_from(["coord", "delete", "altloc", "resseq", "icode", "resname", "atom", "occupancy",
                               "chain", "truncate", "bytes", "duplicate", "shift"]))
    if op == "coord":
        axis = draw(st.integers(0, 2))
        line = _field(line, 30 + 8 * axis, 38 + 8 * axis, draw(coordinate))
    elif op == "delete":
        return lines[:k] + lines[k + 1:]
    elif op == "altloc":
        return lines[:k] + [_field(line, 16, 17, "A"), _field(draw(st.sampled_from(lines)), 16, 17, "B")] + lines[k + 1:]
    elif op == "resseq":  # a gap, a repeat or a jump back
        line = _field(line, 22, 26, str(draw(st.integers(-999, 9999))))
    elif op == "icode":
        line = _field(line, 26, 27, draw(one_char))
    elif op == "resname":
        line = _field(line, 17, 20, draw(residue_name))
    elif op == "atom":
        line = _field(line, 12, 16, draw(atom_name))
    elif op == "occupancy":
        line = _field(line, 54, 60, draw(st.one_of(st.sampled_from(["0.00", "-1.00", "nan", "", "1e9"]),
                                                   st.floats(-10, 10).map(lambda v: f"{v:.2f}"))))
    elif op == "chain":
        line = _field(line, 21, 22, draw(one_char))
    elif op == "truncate":
        line = line[: draw(st.integers(0, len(line)))]
    elif op == "bytes":
        at = draw(st.integers(0, len(line)))
        line = line[:at] + draw(st.text(max_size=6)) + line[at:]
    elif op == "duplicate":
        return lines[: k + 1] + [line] + lines[k + 1:]
    elif op == "shift":  # the whole window moved far, within what the format can write
        offset = draw(st.sampled_from([5000.0, -500.0, 1e4]))
        return [_field(ln, 30, 38, f"{x + offset:.3f}") if (x := _number(ln[30:38])) is not None else ln
                for ln in lines]
    lines = list(lines)
    lines[k] = line
    return lines


@st.composite
def mutated_real_files(draw: st.DrawFn) -> bytes:
    """A window of 1-30 real residues with 0-6 mutations, maybe with random bytes mixed in."""
    n = draw(st.integers(1, 30))
    start = draw(st.integers(0, len(RESIDUES) - n))
    lines = [ln for residue in RESIDUES[start:start + n] for ln in residue]
    for _ in range(draw(st.integers(0, 6))):
        lines = _mutate(draw, lines)
    data = ("\n".join(lines) + draw(st.sampled_from(["\n", "", "\nEND\n", "\nTER\n"]))).encode()
    if draw(st.booleans()) and draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(max_size=32)) + data[at:]
    return data


backbone_atom = st.one_of(st.sampled_from(["N", "CA", "C", "O"]), atom_name)
parsed_coordinate = st.one_of(ordinary, ordinary, ordinary, st.sampled_from(ODD_NUMBERS))


@st.composite
def residue_block(draw: st.DrawFn, messy: bool) -> list[str]:
    """1-6 ATOM or HETATM records of one residue, each field random but mostly well placed;
    unless ``messy``, every number parses (so that the read gets past the parser)."""
    record = draw(st.sampled_from(["ATOM  ", "ATOM  ", "HETATM"]))
    res, chain, number, icode = draw(residue_name), draw(one_char), draw(st.integers(-999, 9999)), draw(one_char)
    lines = []
    for name in draw(st.one_of(st.just(["N", "CA", "C", "O"]), st.lists(backbone_atom, min_size=1, max_size=6))):
        x, y, z = (draw(coordinate if messy else parsed_coordinate) for _ in range(3))
        occupancy = draw(st.sampled_from(["1.00", "0.50", "0.00", "nan", "-1.0"] + (["", "x"] if messy else [])))
        element = draw(st.sampled_from([" N", " C", " O", " H", " D", " S", "XX", "  "]))
        line = (f"{record}{draw(st.integers(-9999, 99999)):>5} {name:<4}{draw(one_char)}{res:>3} {chain}"
                f"{number:>4}{icode}   {x[-8:]:>8}{y[-8:]:>8}{z[-8:]:>8}{occupancy:>6}{'0.00':>6}          {element}")
        lines.append(line[: draw(st.integers(0, len(line)))] if messy and draw(st.integers(0, 19)) == 0 else line)
    return lines


@st.composite
def synthetic_files(draw: st.DrawFn) -> bytes:
    """Up to 12 residues of random records, clean (numbers that parse) or messy."""
    blocks = draw(st.lists(residue_block(draw(st.booleans())), max_size=12))
    return ("\n".join(ln for block in blocks for ln in block) + "\n").encode()


def _one_line(text: str) -> bool:
    return bool(text) and "\n" not in text and "\r" not in text


def check_reader(data: bytes, geometry: str) -> None:
    """Read ``data`` as a PDB file; assert the contract of the module docstring."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.pdb"
        path.write_bytes(data)
        tracemalloc.start()
        try:
            chains, report = read_chains(path, min_length=1, allow_empty=True, geometry=geometry)
            for chain in chains:
                for assign in (psea_labels, dssp_labels):
                    try:
                        assert assign(np.concatenate([chain.coords, chain.oxygen[:, None]], 1)).shape == (len(chain),)
                    except GensciError as err:
                        assert _one_line(str(err)), str(err)
        except GensciError as err:
            assert _one_line(str(err)), str(err)
            event("GensciError")
            return
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert peak < MAX_BYTES, f"{peak / 2**20:.0f} MiB"
    assert report.files == 1 and report.kept == len(chains)
    event(f"kept {min(len(chains), 2)}" + "".join(sorted({f", {s.reason}" for s in report.skipped})))
    for skip in report.skipped:
        assert skip.reason in REASONS, skip
        assert _one_line(str(skip)), str(skip)
    for chain in chains:
        assert chain.coords.shape == (len(chain), 3, 3) and len(chain.sequence) == len(chain) == len(chain.res_ids)
        assert np.isfinite(chain.coords).all()
        names = [str(r) for r in chain.res_ids]
        assert backbone_problem(chain.coords, names, strict=geometry == "strict") is None


_FAST = dict(deadline=timedelta(seconds=5), database=None, derandomize=True,
             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_SLOW = dict(_FAST, derandomize=False, max_examples=10_000)
levels = st.sampled_from(GEOMETRY_LEVELS)


@settings(max_examples=200, **_FAST)
@given(data=mutated_real_files(), geometry=levels)
def test_mutated_real_files(data: bytes, geometry: str) -> None:
    check_reader(data, geometry)


@settings(max_examples=120, **_FAST)
@given(data=synthetic_files(), geometry=levels)
def test_synthetic_records(data: bytes, geometry: str) -> None:
    check_reader(data, geometry)


@pytest.mark.slow
@settings(**_SLOW)
@given(data=mutated_real_files(), geometry=levels)
def test_mutated_real_files_slow(data: bytes, geometry: str) -> None:
    check_reader(data, geometry)


@pytest.mark.slow
@settings(**_SLOW)
@given(data=synthetic_files(), geometry=levels)
def test_synthetic_records_slow(data: bytes, geometry: str) -> None:
    check_reader(data, geometry)


def test_unmutated_windows_are_kept() -> None:
    """The fuzzer's base material reads as it should: a plain window is one kept chain."""
    data = ("\n".join(ln for residue in RESIDUES[10:30] for ln in residue) + "\n").encode()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "window.pdb"
        path.write_bytes(data)
        chains, report = read_chains(path, min_length=1)
    assert [len(c) for c in chains] == [20] and report.skipped == []
