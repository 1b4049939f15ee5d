"""Fuzzing the molecule readers: sample files for ``gensci evaluate --samples`` and data files.

Readers under test:

* :meth:`GeneratedMolecules.read` (through :func:`read_samples`): ``.sdf``, ``.csv`` and
  ``.smi`` sample files, as ``gensci evaluate molecules/... --samples FILE`` reads them;
* :func:`domains.molecules.data.read_sdf` and :func:`~domains.molecules.data.read_csv`:
  a user's training data.

Inputs are files the writers produce (:func:`write_sdf`, :func:`write_csv`, V2000 and
V3000, requested and RDKit-property tags) after 0-6 mutations: SDF counts, atom, bond,
property and data lines with odd fields (huge counts, NaN coordinates, unknown elements,
out-of-range bond atoms and types, charges, a lost ``M  END`` or ``$$$$``), CSV cells and
headers (a missing or repeated SMILES column, extra cells, quotes, NUL bytes), random
SMILES-like text, and lines deleted, repeated, cut or laced with random (also non-UTF-8)
bytes. Each reader must return molecules or raise a :class:`GensciError` of one line;
nothing else escapes, nothing hangs (the deadline) and no example allocates more than
:data:`MAX_BYTES`.
"""

from __future__ import annotations

import string
import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rdkit import Chem

from domains.molecules.data import read_csv, read_sdf
from domains.molecules.output import write_csv, write_sdf
from domains.molecules.samples import GeneratedMolecules
from gensci.errors import GensciError
from tests.fuzz_support import one_line, read_fuzzed

SMILES = ["CCO", "c1ccccc1O", "C[N+](C)(C)C", "CC(=O)[O-]", "CC(=O)Nc1ccc(O)cc1", "C1CC1", "FC(F)(F)c1ccncc1",
          "N#CC=C", "O=S(=O)(N)c1ccccc1", "[2H]C([2H])Cl", "C[C@H](N)C(=O)O"]
#: the most one example may allocate (traced peak, bytes)
MAX_BYTES = 64 * 2**20


def _material() -> dict[str, list[str]]:
    """The lines of sample files as the writers write them (one invalid record among them)."""
    mols = [Chem.MolFromSmiles(s) for s in SMILES] + [None]
    conditions = {"qed": [0.5] * len(mols), "label": ["1"] * len(mols)}
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, write in (("sdf", write_sdf), ("csv", write_csv)):
            path = Path(folder) / f"m.{name}"
            write(mols, path, conditions=conditions, tags_per_record=[{"corrected": i % 2} for i in range(len(mols))])
            out[name] = path.read_text().splitlines()
        writer = Chem.SDWriter(str(Path(folder) / "v3.sdf"))
        writer.SetForceV3000(True)
        for s in SMILES[:5]:
            mol = Chem.MolFromSmiles(s)
            mol.SetProp("gap", "0.25")
            writer.write(mol)
        writer.close()
        out["v3000"] = (Path(folder) / "v3.sdf").read_text().splitlines()
    out["smi"] = ["smiles"] + SMILES + ["invalid"]
    return out


MATERIAL = _material()

smiles_text = st.text("CNOSPFIBrcnos()[]=#@+-0123456789%/\\.*:H", max_size=30)
odd_field = st.one_of(
    st.sampled_from(["999", "99999", "0", "-1", "nan", "inf", "1e30", "-1e308", "", " ", "V3000", "V2000", "M  END",
                     "$$$$", "> <x>", "> <>", "M  CHG  1   1  9", "M  CHG  9", "M  ISO  1   1 999", "M  RAD  1   1  7",
                     "M  V30 COUNTS 99999999 0 0 0 0", "M  V30 BEGIN ATOM", "\udc80", "caf\udce9", "smiles", "SMILES", '"', "'", ",", "\x00"]),
    st.integers(-10**6, 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    smiles_text,
    st.text(string.printable, max_size=12),
    st.text(max_size=6),
)


def _mutate(draw: st.DrawFn, lines: list[str], separator: str) -> list[str]:
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
    elif op == "extra":  # one more field than the line had
        line = line + (separator or " ") + draw(odd_field)
    elif op == "bytes":
        at = draw(st.integers(0, len(line)))
        line = line[:at] + draw(st.text(max_size=6)) + line[at:]
    else:
        fields = line.split(separator) if separator else line.split()
        i = draw(st.integers(0, max(len(fields) - 1, 0)))
        fields[i:i + 1] = [draw(odd_field)]
        line = (separator or " ").join(fields)
    return lines[:k] + [line] + lines[k + 1:]


@st.composite
def mutated_files(draw: st.DrawFn, kind: str) -> bytes:
    """Lines of ``kind`` material ("sdf", "v3000", "csv" or "smi"), 0-6 mutations, maybe raw bytes mixed in."""
    lines = list(MATERIAL[kind])
    if kind in ("sdf", "v3000"):  # a few records, not all
        records, current = [], []
        for line in lines:
            current.append(line)
            if line == "$$$$":
                records.append(current)
                current = []
        start = draw(st.integers(0, len(records) - 1))
        lines = [ln for rec in records[start: start + draw(st.integers(1, 3))] for ln in rec]
    elif kind == "smi":
        lines = lines + draw(st.lists(smiles_text, max_size=5))
    for _ in range(draw(st.integers(0, 6))):
        lines = _mutate(draw, lines, "," if kind == "csv" else "")
    data = ("\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n"]))).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    return data


def _read(data: bytes, suffix: str, reader) -> object | None:
    return read_fuzzed(data, suffix, reader, MAX_BYTES)


def check_samples(data: bytes, suffix: str) -> None:
    """The sample reader of ``gensci evaluate --samples``: records with SMILES or None."""
    samples = _read(data, suffix, lambda p: GeneratedMolecules.read(p, categorical=["label"]))
    if samples is None:
        return
    event(f"read {min(len(samples), 3)}")
    assert isinstance(samples, GeneratedMolecules) and len(samples) >= 1
    assert len(samples.strict) == len(samples.corrected)
    for s in samples.smiles + samples.strict_smiles:
        assert s is None or isinstance(s, str)
    for name, value in samples.requested.items():
        assert isinstance(value, (float, str)), (name, value)


def check_data(data: bytes, suffix: str) -> None:
    """The data readers: a table of parsable SMILES and property columns of its length."""
    table = _read(data, suffix, read_sdf if suffix == ".sdf" else read_csv)
    if table is None:
        return
    event(f"read {min(len(table), 3)}")
    assert len(table) >= 1 and all(Chem.MolFromSmiles(s) is not None for s in table.smiles)
    for values in table.numeric.values():
        assert isinstance(values, np.ndarray) and values.shape == (len(table),)
    for labels in table.categorical.values():
        assert len(labels) == len(table)


_FAST = dict(deadline=timedelta(seconds=5), database=None, derandomize=True,
             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_SLOW = dict(_FAST, derandomize=False, max_examples=10_000)
sample_files = st.one_of(mutated_files("sdf").map(lambda d: (d, ".sdf")), mutated_files("v3000").map(lambda d: (d, ".sdf")),
                         mutated_files("csv").map(lambda d: (d, ".csv")), mutated_files("smi").map(lambda d: (d, ".smi")))
data_files = st.one_of(mutated_files("sdf").map(lambda d: (d, ".sdf")), mutated_files("v3000").map(lambda d: (d, ".sdf")),
                       mutated_files("csv").map(lambda d: (d, ".csv")))


@settings(max_examples=250, **_FAST)
@given(case=sample_files)
def test_sample_reader(case: tuple[bytes, str]) -> None:
    check_samples(*case)


@settings(max_examples=200, **_FAST)
@given(case=data_files)
def test_data_readers(case: tuple[bytes, str]) -> None:
    check_data(*case)


@pytest.mark.slow
@settings(**_SLOW)
@given(case=sample_files)
def test_sample_reader_slow(case: tuple[bytes, str]) -> None:
    check_samples(*case)


@pytest.mark.slow
@settings(**_SLOW)
@given(case=data_files)
def test_data_readers_slow(case: tuple[bytes, str]) -> None:
    check_data(*case)


@pytest.mark.parametrize("kind, suffix", [("sdf", ".sdf"), ("v3000", ".sdf"), ("csv", ".csv"), ("smi", ".smi")])
def test_unmutated_material_reads(kind: str, suffix: str) -> None:
    """The fuzzer's base material reads back whole: every valid molecule, the invalid record as None."""
    samples = _read(("\n".join(MATERIAL[kind]) + "\n").encode(), suffix, GeneratedMolecules.read)
    expected = SMILES[:5] if kind == "v3000" else SMILES + [None]
    assert [s is None for s in samples.smiles] == [s is None for s in expected]


@pytest.mark.parametrize("reader, data, message", [
    ("samples", b"\x80SMILES,valid\nCCO,1\n", r"fuzz\.csv: not a text file \(byte 0 is not UTF-8\)"),
    ("data", b"\x80SMILES,valid\nCCO,1\n", r"fuzz\.csv: not a text file \(byte 0 is not UTF-8\)"),
    ("samples", b"SMILES,valid,requested_qed\nCCO,1,0.5,EXTRA\n", r"fuzz\.csv: line 2 has 4 cells; the header has 3"),
])
def test_crashes_found_by_fuzzing_are_one_line_errors(reader: str, data: bytes, message: str) -> None:
    """A byte that is not UTF-8 raised UnicodeDecodeError in both CSV readers; a row with more
    cells than the header raised AttributeError in the sample reader (a tag named None)."""
    with pytest.raises(GensciError, match=message) as err:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "fuzz.csv"
            path.write_bytes(data)
            GeneratedMolecules.read(path) if reader == "samples" else read_csv(path)
    assert one_line(str(err.value))


@pytest.mark.parametrize("reader", ["samples", "data"])
def test_sd_data_item_that_is_not_utf8(reader: str) -> None:
    """An SD data item that is not UTF-8 raised UnicodeDecodeError in both SDF readers."""
    lines = MATERIAL["sdf"][: MATERIAL["sdf"].index("$$$$") + 1]
    k = next(k for k, line in enumerate(lines) if line.startswith(">"))
    data = "\n".join(lines[:k + 1] + ["caf\udce9"] + lines[k + 2:]).encode("utf-8", "surrogateescape")
    with pytest.raises(GensciError, match=r"fuzz\.sdf:? record 1: a data item is not UTF-8 text") as err:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "fuzz.sdf"
            path.write_bytes(data)
            GeneratedMolecules.read(path) if reader == "samples" else read_sdf(path)
    assert one_line(str(err.value))


@pytest.mark.parametrize("reader", ["samples", "data"])
def test_header_name_with_a_line_break_staysone_line(reader: str) -> None:
    """Found by the slow run: a quoted header name holding a line break made the 'no SMILES
    column' message several lines long."""
    with pytest.raises(GensciError, match=r"the header has a b, valid$") as err:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "fuzz.csv"
            path.write_text('"a\nb",valid\nCCO,1\n')
            GeneratedMolecules.read(path) if reader == "samples" else read_csv(path)
    assert one_line(str(err.value))
