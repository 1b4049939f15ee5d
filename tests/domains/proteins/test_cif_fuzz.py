"""Fuzzing the protein reader with mmCIF and BinaryCIF files that are nearly right, and some that are not.

Three kinds of input, each written to a file and read with :func:`read_chains`:

* mmCIF text: a window of 5PTI's ``_atom_site`` rows (with a data block line and ``loop_``)
  after 0-6 mutations: values replaced by odd numbers, ``?`` / ``.``, quotes, long values or
  random text; values deleted (rows out of step), rows deleted, duplicated or truncated, the
  ``loop_`` or a column name changed, random bytes inserted;
* BinaryCIF, structured: the same structure written by biotite (plain and compressed
  encodings), its MessagePack tree changed in 1-5 places: ``srcSize`` / ``rowCount`` /
  type codes / encoding parameters set to odd values (huge, negative, of another type),
  keys deleted, encoding kinds renamed, data bytes flipped or cut, string tables changed;
* BinaryCIF, raw: the packed bytes with a few bytes flipped, inserted or cut.

The reader must end as the PDB fuzzer requires (``test_reader_fuzz``): chains and one-line
skip reasons, or one :class:`GensciError` line. During the test the bounds of
:mod:`domains.proteins.cif_limits` are lowered (100,000 rows, 8 MiB a column), so that the
refusals are exercised cheaply; no example may allocate more than :data:`MAX_BYTES`.
"""

from __future__ import annotations

import copy
import gzip
import io
import string
import tempfile
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domains.proteins import cif_limits
from domains.proteins.structures import read_chains
from gensci.errors import GensciError

DATA = Path(__file__).resolve().parents[2] / "data" / "proteins"
REASONS = {"unreadable", "no protein", "chain not found", "non-standard residue", "missing backbone atoms",
           "non-finite coordinates", "chain break", "bond length", "bond angle", "CA-CA distance",
           "coincident atoms", "too short", "too long"}
#: the most one example may allocate (traced peak, bytes)
MAX_BYTES = 96 * 2**20
#: the bounds of cif_limits while fuzzing
LOW_ROWS, LOW_BYTES = 100_000, 8 * 2**20


def _atom_site() -> tuple[list[str], list[list[str]]]:
    """5PTI's ``_atom_site`` column names and its rows, grouped by residue."""
    lines = gzip.open(DATA / "5PTI.cif.gz", "rt").read().splitlines()
    header = [ln.strip() for ln in lines if ln.startswith("_atom_site.")]
    groups: dict[str, list[str]] = {}
    for ln in lines:
        if ln.startswith(("ATOM", "HETATM")):
            groups.setdefault(ln.split()[16], []).append(ln)
    return header, list(groups.values())


HEADER, RESIDUES = _atom_site()


def cif_text(rows: list[str], header: list[str] = HEADER, loop: str = "loop_") -> str:
    return "\n".join(["data_FUZZ", "#", "_entry.id FUZZ", "#", loop, *header, *rows, "#"]) + "\n"


def _structure(n: int = 12):
    from biotite.structure.io import pdbx

    return pdbx.get_structure(pdbx.CIFFile.read(io.StringIO(cif_text([r for res in RESIDUES[:n] for r in res]))), model=1)


def _bcif(compressed: bool) -> dict:
    from biotite.structure.io import pdbx

    out = pdbx.BinaryCIFFile()
    pdbx.set_structure(out, _structure())
    if compressed:
        out = pdbx.compress(out)
    buffer = io.BytesIO()
    out.write(buffer)
    return msgpack.unpackb(buffer.getvalue(), raw=False)


BCIF = {"plain": _bcif(False), "compressed": _bcif(True)}


def _warm_up() -> None:
    """Read the material once, so that biotite's lazily loaded tables (the chemical component
    dictionary behind ``filter_amino_acids``, 120 MiB) are not counted as an example's memory."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "warm.cif"
        path.write_text(cif_text([r for res in RESIDUES[:12] for r in res]))
        read_chains(path, min_length=1)


_warm_up()

odd_number = st.sampled_from(["nan", "NaN", "inf", "-inf", "1e30", "1e400", "-0", "99999999", "0x10", "1.2.3",
                              "?", ".", "''", '""', "'", '"', ";", "_x", "loop_", "data_X", "#"])
odd_token = st.one_of(
    odd_number,
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**12), 10**12).map(str),
    st.text(string.ascii_letters + string.digits + "'\"_.;#", min_size=1, max_size=12),
    st.integers(1, 5000).map(lambda n: "x" * n),  # long values, some past the lowered bound
    st.text(max_size=8),
)


def _mutate_rows(draw: st.DrawFn, rows: list[str]) -> list[str]:
    if not rows:
        return rows
    k = draw(st.integers(0, len(rows) - 1))
    tokens = rows[k].split()
    op = draw(st.sampled_from(["token", "token", "token", "drop token", "delete", "duplicate", "truncate", "bytes"]))
    if op == "delete":
        return rows[:k] + rows[k + 1:]
    if op == "duplicate":
        return rows[:k + 1] + [rows[k]] + rows[k + 1:]
    if op == "truncate":
        line = rows[k][: draw(st.integers(0, len(rows[k])))]
    elif op == "bytes":
        at = draw(st.integers(0, len(rows[k])))
        line = rows[k][:at] + draw(st.text(max_size=6)) + rows[k][at:]
    else:
        i = draw(st.integers(0, max(len(tokens) - 1, 0)))  # a line cut to nothing has no tokens
        tokens = tokens[:i] + ([] if op == "drop token" else [draw(odd_token)]) + tokens[i + 1:]
        line = " ".join(tokens)
    return rows[:k] + [line] + rows[k + 1:]


@st.composite
def mutated_cif(draw: st.DrawFn) -> bytes:
    """A window of 1-20 residues of 5PTI as mmCIF with 0-6 mutations (module docstring)."""
    n = draw(st.integers(1, 20))
    start = draw(st.integers(0, len(RESIDUES) - n))
    rows = [r for res in RESIDUES[start:start + n] for r in res]
    for _ in range(draw(st.integers(0, 6))):
        rows = _mutate_rows(draw, rows)
    header, loop = list(HEADER), "loop_"
    if draw(st.integers(0, 9)) == 0:
        i = draw(st.integers(0, len(header) - 1))
        header[i] = draw(st.sampled_from(["_atom_site.x", "_atom_site.", "_other.id", "_atom_site.id", ""]))
    if draw(st.integers(0, 19)) == 0:
        loop = draw(st.sampled_from(["", "loop", "data_", "LOOP_"]))
    data = cif_text(rows, header, loop).encode()
    if draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(max_size=16)) + data[at:]
    return data


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = []
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        out.append(prefix + (key,))
        out += _paths(child, prefix + (key,))
    return out


SIZE_KEYS = ("srcSize", "rowCount", "byteCount", "type", "srcType", "origin", "factor", "min", "max", "numSteps")
odd_value = st.one_of(
    st.sampled_from([0, 1, -1, 2, 3, 7, 33, 2**31 - 1, 2**31, 2**32, 10**9, 10**12, -(2**31), 2**63 - 1, None, True,
                     "", "x", 1.5, float("nan"), float("inf"), [], {}, b"", b"\x00" * 3]),
    st.integers(-(2**40), 2**40),
    st.integers(0, 200_000),
)
kinds = st.sampled_from(["ByteArray", "FixedPoint", "IntervalQuantization", "RunLength", "Delta", "IntegerPacking",
                         "StringArray", "Unknown", ""])


@st.composite
def mutated_bcif(draw: st.DrawFn) -> bytes:
    """A BinaryCIF tree with 1-5 structured changes, packed (module docstring)."""
    data = copy.deepcopy(BCIF[draw(st.sampled_from(sorted(BCIF)))])
    paths = _paths(data)
    sizes = [p for p in paths if p[-1] in SIZE_KEYS]
    for _ in range(draw(st.integers(1, 5))):
        path = draw(st.sampled_from(sizes)) if draw(st.booleans()) else draw(st.sampled_from(paths))
        parent = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            value = parent[path[-1]]
        except (KeyError, IndexError, TypeError):  # an earlier change removed or retyped the path
            continue
        if not isinstance(parent, (dict, list)):  # the path now runs into bytes or text: nothing to set
            continue
        op = draw(st.sampled_from(["odd", "odd", "delete", "kind", "bytes", "cut", "text"]))
        if op == "delete":
            del parent[path[-1]]
        elif op == "kind" and isinstance(parent, dict) and "kind" in parent:
            parent["kind"] = draw(kinds)
        elif op in ("bytes", "cut") and isinstance(value, bytes) and value:
            if op == "cut":
                parent[path[-1]] = value[: draw(st.integers(0, len(value)))]
            else:
                raw = bytearray(value)
                for _ in range(draw(st.integers(1, 4))):
                    raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
                parent[path[-1]] = bytes(raw)
        elif op == "text" and isinstance(value, str):
            parent[path[-1]] = draw(st.one_of(st.text(max_size=20), st.integers(0, 3000).map(lambda n: "Q" * n)))
        else:
            parent[path[-1]] = draw(odd_value)
    return msgpack.packb(data, use_bin_type=True)


@st.composite
def raw_bcif(draw: st.DrawFn) -> bytes:
    """The packed bytes of a BinaryCIF file with 1-6 bytes flipped, inserted or cut."""
    data = bytearray(msgpack.packb(BCIF[draw(st.sampled_from(sorted(BCIF)))], use_bin_type=True))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "flip", "insert", "cut"]))
        if op == "flip":
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[at: at + draw(st.integers(1, 64))]
    return bytes(data)


def _one_line(text: str) -> bool:
    return bool(text) and "\n" not in text and "\r" not in text


def check_reader(data: bytes, suffix: str) -> None:
    """Read ``data`` as a ``suffix`` file under lowered bounds; assert the module's contract."""
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setattr(cif_limits, "MAX_ROWS", LOW_ROWS)
        patch.setattr(cif_limits, "MAX_COLUMN_BYTES", LOW_BYTES)
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(data)
        tracemalloc.start()
        try:
            chains, report = read_chains(path, min_length=1, allow_empty=True)
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
        assert chain.coords.shape == (len(chain), 3, 3) and len(chain.sequence) == len(chain)
        assert np.isfinite(chain.coords).all()


_FAST = dict(deadline=timedelta(seconds=5), database=None, derandomize=True,
             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_SLOW = dict(_FAST, derandomize=False, max_examples=10_000)


@settings(max_examples=100, **_FAST)
@given(data=mutated_cif())
def test_mutated_cif(data: bytes) -> None:
    check_reader(data, ".cif")


@settings(max_examples=150, **_FAST)
@given(data=mutated_bcif())
def test_mutated_bcif_fields(data: bytes) -> None:
    check_reader(data, ".bcif")


@settings(max_examples=80, **_FAST)
@given(data=raw_bcif())
def test_mutated_bcif_bytes(data: bytes) -> None:
    check_reader(data, ".bcif")


@pytest.mark.slow
@settings(**_SLOW)
@given(data=mutated_cif())
def test_mutated_cif_slow(data: bytes) -> None:
    check_reader(data, ".cif")


@pytest.mark.slow
@settings(**_SLOW)
@given(data=mutated_bcif())
def test_mutated_bcif_fields_slow(data: bytes) -> None:
    check_reader(data, ".bcif")


@pytest.mark.slow
@settings(**_SLOW)
@given(data=raw_bcif())
def test_mutated_bcif_bytes_slow(data: bytes) -> None:
    check_reader(data, ".bcif")


def test_unmutated_material_is_kept(tmp_path: Path) -> None:
    """The fuzzer's base material reads as it should: one chain of 12 residues from each form."""
    (tmp_path / "w.cif").write_text(cif_text([r for res in RESIDUES[:12] for r in res]))
    for name, content in BCIF.items():
        (tmp_path / f"{name}.bcif").write_bytes(msgpack.packb(content, use_bin_type=True))
    chains, report = read_chains(tmp_path, min_length=1)
    assert [len(c) for c in chains] == [12, 12, 12] and report.skipped == []


def _column(content: dict, name: str) -> dict:
    atom_site = next(c for c in content["dataBlocks"][0]["categories"] if c["name"] == "_atom_site")
    return next(c for c in atom_site["columns"] if c["name"] == name)


@pytest.mark.parametrize("case", ["srcSize", "no srcSize", "string table"])
def test_binary_cif_that_would_decode_huge_is_refused(tmp_path: Path, case: str) -> None:
    """Found by fuzzing: a 10 kB BinaryCIF whose RunLength claims 2**30 values made biotite
    allocate 4 GiB per column (the process was killed for memory); now a one-line skip,
    decided before anything is decoded. The production bounds are used here."""
    content = copy.deepcopy(BCIF["compressed"])
    steps = _column(content, "label_seq_id")["data"]["encoding"]
    run_length = next(s for s in steps if s["kind"] == "RunLength")
    if case == "srcSize":
        run_length["srcSize"] = 2**30
    elif case == "no srcSize":
        del run_length["srcSize"]
    else:  # each row a string of 3000 characters: 10 M rows x 3000 x 4 bytes
        table = _column(content, "label_comp_id")["data"]["encoding"][0]
        table["stringData"] = "Q" * 3000 + table["stringData"]
        table["offsets"] = np.array([0, 3000] + [3000] * 30, "<i4").tobytes()
        table["offsetEncoding"] = [{"kind": "ByteArray", "type": 3}]
        table["dataEncoding"] = [{"kind": "RunLength", "srcSize": 10_000_000, "srcType": 3},
                                 {"kind": "ByteArray", "type": 3}]
        _column(content, "label_comp_id")["data"]["data"] = np.array([0, 10_000_000], "<i4").tobytes()
    (tmp_path / "bomb.bcif").write_bytes(msgpack.packb(content, use_bin_type=True))
    tracemalloc.start()
    try:
        chains, report = read_chains(tmp_path / "bomb.bcif", min_length=1, allow_empty=True)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert chains == [] and [s.reason for s in report.skipped] == ["unreadable"]
    reason = str(report.skipped[0])
    assert _one_line(reason) and ("srcSize" in reason if case != "string table" else "MiB" in reason), reason
    assert peak < MAX_BYTES


def test_mmcif_with_one_huge_value_is_refused(tmp_path: Path) -> None:
    """Found by fuzzing: one 100 kB value in _atom_site made biotite build 400 MB string
    arrays (rows x widest value); a 2 MB value is now refused before parsing."""
    rows = [r for res in RESIDUES[:12] for r in res]
    tokens = rows[0].split()
    tokens[3] = "x" * 2_000_000
    (tmp_path / "wide.cif").write_text(cif_text([" ".join(tokens)] + rows[1:] * 10))
    tracemalloc.start()
    try:
        chains, report = read_chains(tmp_path / "wide.cif", min_length=1, allow_empty=True)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert chains == [] and [s.reason for s in report.skipped] == ["unreadable"]
    assert "more than the 1,024 MiB allowed" in str(report.skipped[0]) and _one_line(str(report.skipped[0]))
    assert peak < 64 * 2**20
