"""Fuzzing the atoms readers: SDF and XYZ sample files, ``--fragment`` files and training data.

Readers under test:

* :func:`domains.atoms.files.read_molecules` (``read_sdf`` / ``read_xyz``), through the
  domain's :meth:`~domains.atoms.domain.AtomsDomain.read` for ``gensci evaluate atoms/...
  --samples FILE`` and through ``_read_fragment`` for ``gensci sample atoms/... --fragment
  FILE`` (checked against the QM9 vocabulary H, C, N, O, F and charges -1..+1);
* ``domains.atoms.data._read_files``: a user's training data (``.sdf``, ``.xyz``, ``.smi``),
  whose bonds RDKit perceives or embeds;
* :meth:`domains.atoms.conformers.ConformerDomain.start` on an SDF, what ``gensci refine
  atoms/conformers FILE`` reads (:mod:`domains.atoms.refine_inputs`).

Inputs are files the writers produce (:func:`write_sdf` V2000 and V3000, :func:`write_xyz`
with properties) after 0-6 mutations of a field or a line (counts, coordinates, elements,
bond atoms and types, charges, data items, XYZ atom counts and comment lines; lines deleted,
repeated, cut or laced with random, also non-UTF-8, bytes). Each reader must return
molecules or raise a :class:`GensciError` of one line; nothing else escapes, nothing hangs
(the deadline) and no example allocates more than :data:`MAX_BYTES`.
"""

from __future__ import annotations

import string
import tempfile
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rdkit import Chem
from rdkit.Chem import AllChem

from domains.atoms.conformers import ConformerDomain
from domains.atoms.data import _read_files
from domains.atoms.domain import AtomsDomain
from domains.atoms.files import read_xyz, write_sdf, write_xyz
from domains.atoms.molecule import ELEMENTS, Molecule3D, from_rdkit
from domains.atoms.output import read_samples
from gensci.errors import GensciError
from tests.fuzz_support import one_line, read_fuzzed

SMILES = ["CCO", "c1ccoc1", "C[NH3+]", "CC(=O)[O-]", "FC(F)C#N", "O"]
#: the most one example may allocate (traced peak, bytes)
MAX_BYTES = 64 * 2**20


def _molecules() -> list[Molecule3D]:
    out = []
    for i, s in enumerate(SMILES):
        mol = Chem.AddHs(Chem.MolFromSmiles(s))
        AllChem.EmbedMolecule(mol, randomSeed=i)
        out.append(from_rdkit(mol, properties={"requested_mu": 1.5, "note": "a b"}))
    return out


def _material() -> dict[str, list[str]]:
    molecules = _molecules()
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, write in (("sdf", lambda p: write_sdf(molecules, p)), ("v3000", lambda p: write_sdf(molecules, p, v3000=True)),
                            ("xyz", lambda p: write_xyz(molecules, p))):
            path = Path(folder) / f"m.{'xyz' if name == 'xyz' else 'sdf'}"
            write(path)
            out[name] = path.read_text().splitlines()
    out["smi"] = SMILES + ["C1=CC=CC=C1", "invalid"]
    return out


MATERIAL = _material()
SUFFIX = {"sdf": ".sdf", "v3000": ".sdf", "xyz": ".xyz", "smi": ".smi"}

odd_field = st.one_of(
    st.sampled_from(["999", "99999", "0", "-1", "-3", "nan", "inf", "1e30", "-1e308", "", " ", "V3000", "V2000", "M  END",
                     "$$$$", "> <x>", "> <bonds_source>", "none", "M  CHG  1   1  9", "M  CHG  2   1 -5   2  4", "M  ISO  1   1 999",
                     "M  V30 COUNTS 99999999 0 0 0 0", "M  V30 BEGIN ATOM", "\udc80", "caf\udce9", "X", "Xx", "R#", "*", "Uuo", "D", "118", "119",
                     "²", "٣", "1_0", "0x10", "a=b", "=x", 'k="v', "k='\\'", "\x00"]),
    st.integers(-10**6, 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(string.printable, max_size=12),
    st.text(max_size=6),
)


def _mutate(draw: st.DrawFn, lines: list[str]) -> list[str]:
    """One random change: a field of a line, or a whole line deleted, repeated, cut, replaced or laced."""
    if not lines:
        return [draw(odd_field)]
    k = draw(st.integers(0, len(lines) - 1))
    op = draw(st.sampled_from(["field", "field", "field", "extra", "delete", "duplicate", "truncate", "insert", "bytes"]))
    if op == "delete":
        return lines[:k] + lines[k + 1:]
    if op == "duplicate":
        return lines[:k + 1] + lines[k: k + draw(st.integers(1, 8))] + lines[k + 1:]
    if op == "insert":
        return lines[:k] + [draw(odd_field)] + lines[k:]
    line = lines[k]
    if op == "truncate":
        line = line[: draw(st.integers(0, len(line)))]
    elif op == "extra":
        line = line + " " + draw(odd_field)
    elif op == "bytes":
        at = draw(st.integers(0, len(line)))
        line = line[:at] + draw(st.text(max_size=6)) + line[at:]
    else:
        fields = line.split()
        i = draw(st.integers(0, max(len(fields) - 1, 0)))
        fields[i:i + 1] = [draw(odd_field)]
        line = " ".join(fields)
    return lines[:k] + [line] + lines[k + 1:]


def _records(kind: str) -> list[list[str]]:
    lines, records, current = MATERIAL[kind], [], []
    if kind == "xyz":
        k = 0
        while k < len(lines):
            n = int(lines[k])
            records.append(lines[k: k + n + 2])
            k += n + 2
        return records
    if kind == "smi":
        return [[s] for s in lines]
    for line in lines:
        current.append(line)
        if line == "$$$$":
            records.append(current)
            current = []
    return records


RECORDS = {kind: _records(kind) for kind in MATERIAL}


@st.composite
def mutated_files(draw: st.DrawFn, kinds: tuple[str, ...]) -> tuple[bytes, str]:
    """1-3 records of one kind of material with 0-6 mutations, maybe with raw bytes mixed in."""
    kind = draw(st.sampled_from(kinds))
    records = RECORDS[kind]
    start = draw(st.integers(0, len(records) - 1))
    lines = [ln for rec in records[start: start + draw(st.integers(1, 3))] for ln in rec]
    for _ in range(draw(st.integers(0, 6))):
        lines = _mutate(draw, lines)
    data = ("\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n"]))).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    return data, SUFFIX[kind]


def _read(data: bytes, suffix: str, reader) -> object | None:
    return read_fuzzed(data, suffix, reader, MAX_BYTES)


def _valid(m: Molecule3D) -> None:
    n = len(m)
    assert m.numbers.shape == (n,) and m.positions.shape == (n, 3) and m.charges.shape == (n,)
    assert m.bonds is None or m.bonds.shape == (n, n)


def check_samples(data: bytes, suffix: str) -> None:
    """``gensci evaluate atoms/... --samples FILE``: molecules with their requested conditions."""
    samples = _read(data, suffix, read_samples)
    if samples is not None:
        event(f"read {min(len(samples.molecules), 3)}")
        for m in samples.molecules:
            _valid(m)


#: the parts of the bundled atoms model that reading a fragment uses
_VOCABULARY = SimpleNamespace(family="flow", elements=list(ELEMENTS), atomic_numbers=[1, 6, 7, 8, 9])
_VOCABULARY.type_index = lambda numbers: AtomsDomain.type_index(_VOCABULARY, numbers)


def check_fragment(data: bytes, suffix: str) -> None:
    """``--fragment FILE``: one molecule of the model's elements and charges."""
    fragment = _read(data, suffix, lambda p: AtomsDomain._read_fragment(_VOCABULARY, p))
    if fragment is not None:
        event("fragment")
        _valid(fragment)
        assert len(fragment) >= 1 and set(fragment.numbers.tolist()) <= {1, 6, 7, 8, 9}
        assert set(fragment.charges.tolist()) <= {-1, 0, 1}


def check_data(data: bytes, suffix: str) -> None:
    """Training data: perceived molecules and their SMILES."""
    result = _read(data, suffix, lambda p: _read_files(p, kekulize=True, seed=0))
    if result is not None:
        molecules, smiles, dropped = result
        event(f"read {min(len(molecules), 3)}")
        assert len(molecules) == len(smiles) >= 1 and dropped >= 0
        for m in molecules:
            _valid(m)
            assert np.isfinite(m.positions).all()


_CONFORMERS = ConformerDomain(progress=False)


def check_refine_inputs(data: bytes, suffix: str) -> None:
    """``gensci refine atoms/conformers FILE``: start states, one per record, or one refusal."""
    plan = _read(data, suffix, _CONFORMERS.start)
    if plan is not None:
        event(f"read {min(len(plan.info['inputs']), 3)}")
        for m in plan.info["inputs"]:
            _valid(m)
            assert m.bonds is not None and np.isfinite(m.positions).all()
        assert bool(np.isfinite(plan.x0["pos"].numpy()).all())


_FAST = dict(deadline=timedelta(seconds=5), database=None, derandomize=True,
             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_SLOW = dict(_FAST, derandomize=False, max_examples=10_000)
sample_files = mutated_files(("sdf", "v3000", "xyz"))
data_files = mutated_files(("sdf", "v3000", "xyz", "smi"))


@settings(max_examples=200, **_FAST)
@given(case=sample_files)
def test_sample_reader(case: tuple[bytes, str]) -> None:
    check_samples(*case)


@settings(max_examples=120, **_FAST)
@given(case=sample_files)
def test_fragment_reader(case: tuple[bytes, str]) -> None:
    check_fragment(*case)


@settings(max_examples=120, **_FAST)
@given(case=data_files)
def test_data_reader(case: tuple[bytes, str]) -> None:
    check_data(*case)


@settings(max_examples=120, **_FAST)
@given(case=mutated_files(("sdf", "v3000")))
def test_refine_input_reader(case: tuple[bytes, str]) -> None:
    check_refine_inputs(*case)


@pytest.mark.slow
@settings(**_SLOW)
@given(case=mutated_files(("sdf", "v3000")))
def test_refine_input_reader_slow(case: tuple[bytes, str]) -> None:
    check_refine_inputs(*case)


@pytest.mark.slow
@settings(**_SLOW)
@given(case=sample_files)
def test_sample_reader_slow(case: tuple[bytes, str]) -> None:
    check_samples(*case)


@pytest.mark.slow
@settings(**_SLOW)
@given(case=sample_files)
def test_fragment_reader_slow(case: tuple[bytes, str]) -> None:
    check_fragment(*case)


@pytest.mark.slow
@settings(**_SLOW)
@given(case=data_files)
def test_data_reader_slow(case: tuple[bytes, str]) -> None:
    check_data(*case)


@pytest.mark.parametrize("kind", ["sdf", "v3000", "xyz"])
def test_unmutated_material_reads(kind: str) -> None:
    """The fuzzer's base material reads back whole, as samples and as training data."""
    data = ("\n".join(MATERIAL[kind]) + "\n").encode()
    samples = _read(data, SUFFIX[kind], read_samples)
    assert [len(m) for m in samples.molecules] == [len(m) for m in _molecules()]
    assert samples.requested == {"mu": 1.5}
    molecules, smiles, dropped = _read(data, SUFFIX[kind], lambda p: _read_files(p, kekulize=True, seed=0))
    # XYZ holds no charges: the two ions are not perceived as neutral molecules
    assert (len(molecules), dropped) == ((4, 2) if kind == "xyz" else (6, 0))


@pytest.mark.parametrize("name, data, message", [
    ("neg.xyz", b"-2\n\n", r"neg\.xyz:1: expected an atom count, got '-2'"),
    ("short.xyz", b"3\n\nC 0 0 0\n", r"short\.xyz:1: the frame promises 3 atoms; the file ends first"),
    ("junk.xyz", b"2\n\nC 0 0 0\nH 1 x 0\n", r"junk\.xyz:4: expected 'element x y z', got 'H 1 x 0'"),
    ("latin.xyz", b"1\n\xe9\nC 0 0 0\n", r"latin\.xyz: not a text file \(byte 2 is not UTF-8\)"),
])
def test_training_files_found_by_fuzzing(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    """A negative atom count looped forever, a frame cut short was read as a smaller molecule,
    an unparsable coordinate raised ValueError and a non-UTF-8 byte UnicodeDecodeError; each
    is now a one-line error naming the line."""
    (tmp_path / name).write_bytes(data)
    with pytest.raises(GensciError, match=message) as err:
        _read_files(tmp_path / name, kekulize=True, seed=0)
    assert one_line(str(err.value))


@pytest.mark.parametrize("data, message", [
    (b"\xc2\xb2\n\nC 0 0 0\n", r"line 1 \(frame 0\) should be an atom count, got '\xb2'"),
    (b"1\n\n999 0 0 0\n", r"line 3 should read 'element x y z', got '999 0 0 0'"),
])
def test_xyz_samples_found_by_fuzzing(tmp_path: Path, data: bytes, message: str) -> None:
    """A count of '²' (a digit to str.isdigit, not to int) raised ValueError; atomic number 999
    was read, and ``--fragment`` then failed with IndexError in the vocabulary lookup."""
    (tmp_path / "x.xyz").write_bytes(data)
    with pytest.raises(GensciError, match=message) as err:
        AtomsDomain._read_fragment(_VOCABULARY, tmp_path / "x.xyz")
    assert one_line(str(err.value))


@pytest.mark.parametrize("reader", [read_samples, read_xyz])
def test_sample_files_that_are_not_utf8(tmp_path: Path, reader) -> None:
    """A sample file (or an SD data item) that is not UTF-8 raised UnicodeDecodeError."""
    if reader is read_xyz:
        (tmp_path / "x.xyz").write_bytes(b"\x809\n\nC 0 0 0\n")
        path, message = tmp_path / "x.xyz", r"not a text file \(byte 0 is not UTF-8\)"
    else:
        lines = MATERIAL["sdf"][: MATERIAL["sdf"].index("$$$$") + 1]
        k = next(k for k, line in enumerate(lines) if line.startswith(">") and "note" in line)
        sdf = "\n".join(lines[:k + 1] + ["\udc80"] + lines[k + 2:])
        (tmp_path / "x.sdf").write_bytes(sdf.encode("utf-8", "surrogateescape"))
        path, message = tmp_path / "x.sdf", r"record 1 \(from line 1\): a data item is not UTF-8 text"
    with pytest.raises(GensciError, match=message) as err:
        reader(path)
    assert one_line(str(err.value))
