"""Memory bounds of mmCIF and BinaryCIF reads, checked before biotite builds any array.

Both formats let a small file ask for a huge array:

* **BinaryCIF** (Sehnal et al., PLoS Comput. Biol. 2020) stores each column as bytes and a
  list of encodings applied in reverse to decode them. ``RunLength`` and ``IntegerPacking``
  allocate their declared ``srcSize`` (a 16 kB file claiming ``srcSize = 2**30`` asks for
  4 GiB per column), and a ``StringArray`` builds ``rows x widest string`` characters.
  :func:`check_binary_cif` walks every column of every category, computes the length of
  each decoding step from the declared sizes (``srcSize`` is required, as the format
  specifies) and the exact string widths from the decoded offsets, and refuses a column
  past :data:`MAX_ROWS` rows or :data:`MAX_COLUMN_BYTES` bytes;
* **mmCIF** text: biotite turns each column of a category into a NumPy string array as
  wide as its longest value, so one 100 kB value in ``_atom_site`` (1,000 rows) costs
  400 MB. :func:`check_cif_text` bounds ``rows x widest value`` of the ``atom_site``
  category (the one the structure is read from) from its raw text, without parsing it:
  rows at most whitespace-separated pieces / columns, width at most the longest piece,
  the longest line holding a quote, or the longest ``;``-delimited text field.

Each refusal is a :class:`GensciError` of one line.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gensci.errors import GensciError

__all__ = ["MAX_ROWS", "MAX_COLUMN_BYTES", "check_binary_cif", "check_cif_text"]

#: most rows of one column (more atoms than any entry of the PDB)
MAX_ROWS = 10_000_000
#: most bytes one decoded column (or its string table) may take
MAX_COLUMN_BYTES = 1 << 30
#: bytes per element of the BinaryCIF type codes (1-6 integers, 32-33 floats)
_ITEM_SIZE = {1: 1, 2: 2, 3: 4, 4: 1, 5: 2, 6: 4, 32: 4, 33: 8}
#: encodings whose output has the length of their input
_SAME_LENGTH = ("FixedPoint", "IntervalQuantization", "Delta")


def _count(value: Any, what: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ROWS:
        raise GensciError(f"{where}: {what} {value!r} is not a whole number in 0..{MAX_ROWS:,}")
    return value


def _check_bytes(n: int, item: int, where: str) -> None:
    if n * item > MAX_COLUMN_BYTES:
        raise GensciError(f"{where}: decoding needs {n * item / 2**20:,.0f} MiB, more than the "
                          f"{MAX_COLUMN_BYTES / 2**20:,.0f} MiB allowed for one column")


def _string_width(step: dict, where: str) -> int:
    """The widest string of a ``StringArray`` step's table, from its decoded offsets (as
    biotite slices them), after checking the table's own size."""
    from biotite.structure.io.pdbx.encoding import decode_stepwise, deserialize_encoding

    text = step["stringData"]
    if not isinstance(text, str):
        raise GensciError(f"{where}: stringData is not text")
    n = _decoded_length(step["offsets"], step["offsetEncoding"], f"{where} offsets")
    _check_bytes(n, 8, f"{where} offsets")
    offsets = np.asarray(decode_stepwise(step["offsets"], [deserialize_encoding(e) for e in step["offsetEncoding"]]))
    if offsets.dtype.kind not in "iu":
        raise GensciError(f"{where}: string offsets are not integers")
    length = len(text)
    ends = offsets.astype(np.int64)
    ends = np.where(ends < 0, np.maximum(ends + length, 0), np.minimum(ends, length))  # Python's slicing
    widths = np.maximum(ends[1:] - ends[:-1], 0)
    width = int(widths.max()) if len(widths) else 0
    # the list of slices, then the array of them (4 bytes per character)
    _check_bytes(int(widths.sum()) + len(widths) * (width + 16), 4, f"{where} strings")
    return width


def _decoded_length(data: Any, steps: Any, where: str) -> int:
    """Rows ``steps`` decode ``data`` into, each step's output checked before it exists."""
    if not isinstance(steps, list):
        raise GensciError(f"{where}: the encoding is not a list")
    n = len(data) if isinstance(data, (bytes, list)) else 0
    for step in reversed(steps):
        if not isinstance(step, dict):
            raise GensciError(f"{where}: an encoding step is not a map")
        kind, item = step.get("kind"), 8
        if kind == "ByteArray":
            item = _ITEM_SIZE.get(step.get("type"), 8)
            n = len(data) // item if isinstance(data, bytes) else n
        elif kind in ("RunLength", "IntegerPacking"):
            n = _count(step.get("srcSize"), f"{kind} srcSize", where)
        elif kind == "StringArray":
            n = _decoded_length(data, step.get("dataEncoding"), f"{where} indices")
            item = 4 * max(_string_width(step, where), 1)
        elif kind not in _SAME_LENGTH:
            raise GensciError(f"{where}: unknown encoding {kind!r}")
        if n > MAX_ROWS:
            raise GensciError(f"{where}: {n:,} rows, more than {MAX_ROWS:,}")
        _check_bytes(n, item, where)
    return n


def check_binary_cif(content: Any) -> None:
    """Refuse a BinaryCIF file (its unpacked MessagePack ``content``) that would decode into
    too many rows or bytes (module docstring)."""
    if not isinstance(content, dict) or not isinstance(content.get("dataBlocks"), list):
        raise GensciError("not a BinaryCIF file: no list of data blocks")
    for block in content["dataBlocks"]:
        for category in (block.get("categories") or []) if isinstance(block, dict) else []:
            if not isinstance(category, dict):
                raise GensciError("a BinaryCIF category is not a map")
            name = str(category.get("name"))[:40]
            rows = _count(category.get("rowCount"), "rowCount", name)
            for column in category.get("columns") or []:
                where = f"{name}.{str(column.get('name'))[:40]}" if isinstance(column, dict) else name
                for part in ("data", "mask"):
                    field = column.get(part) if isinstance(column, dict) else None
                    if isinstance(field, dict):
                        n = _decoded_length(field.get("data"), field.get("encoding"), where)
                        if n != rows:
                            raise GensciError(f"{where}: {n:,} values in a category of {rows:,} rows")


def _longest_text_field(lines: list[str]) -> int:
    longest, current = 0, None
    for line in lines:
        if line.startswith(";"):
            if current is None:
                current = len(line)
            else:
                longest, current = max(longest, current), None
        elif current is not None:
            current += len(line) + 1
    return max(longest, current or 0)


def check_cif_text(text: str, where: str = "atom_site") -> None:
    """Refuse the raw text of a category whose string arrays would exceed
    :data:`MAX_COLUMN_BYTES` (module docstring)."""
    pieces = text.split()
    columns = sum(1 for p in pieces if p.startswith(f"_{where}."))
    rows = len(pieces) // max(columns, 1)
    lines = text.splitlines()
    width = max([len(p) for p in pieces] + [len(ln) for ln in lines if "'" in ln or '"' in ln]
                + [_longest_text_field(lines)], default=0)
    if rows > MAX_ROWS:
        raise GensciError(f"{where}: about {rows:,} rows, more than {MAX_ROWS:,}")
    _check_bytes(rows, 4 * max(width, 1), f"{where} ({rows:,} rows, values up to {width:,} characters)")
