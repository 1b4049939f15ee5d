"""SD files opened for RDKit only after their declared sizes are checked.

RDKit's V3000 reader reserves room for the atom and bond counts a record declares in its
``M  V30 COUNTS na nb ...`` line before it reads a single atom: a damaged or hostile 800-byte
file declaring 99,999,999 atoms makes it take 3.6 GB and seconds, and a larger count can
exhaust the machine's memory. :func:`sd_supplier` scans the file's COUNTS lines first and
refuses a record that declares more than :data:`MAX_DECLARED` atoms or bonds, naming the
line; V2000 counts have three digits and need no check.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gensci.errors import GensciError

__all__ = ["MAX_DECLARED", "check_declared_counts", "sd_supplier"]

#: the most atoms (or bonds) one record may declare: far above any molecule or protein in an SD file
MAX_DECLARED = 1_000_000

_COUNTS = b"M  V30 COUNTS"


def check_declared_counts(path: str | os.PathLike, limit: int = MAX_DECLARED) -> None:
    """Raise :class:`GensciError` at the first V3000 COUNTS line declaring more than ``limit``
    atoms or bonds. Unparsable counts are left to RDKit, which rejects that record."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.startswith(_COUNTS):
                continue
            fields = line[len(_COUNTS):].split()
            for what, field in zip(("atoms", "bonds"), fields[:2]):
                if field.isdigit() and int(field) > limit:
                    raise GensciError(f"{path} line {number}: the record declares {int(field):,} {what} "
                                      f"(V3000 COUNTS); more than {limit:,} is taken for a damaged file")


def sd_supplier(path: str | os.PathLike, **kwargs: Any):
    """``Chem.SDMolSupplier(path, **kwargs)`` once :func:`check_declared_counts` passes."""
    from rdkit import Chem

    check_declared_counts(path)
    return Chem.SDMolSupplier(str(Path(path)), **kwargs)
