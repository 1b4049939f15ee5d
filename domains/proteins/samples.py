"""Generated backbones as the domain hands them around: the structures and what was asked.

:class:`Backbones` is a list of ``(L_i, 4, 3)`` float64 arrays (N, CA, C, O in Å, one per
sample; ``L_i`` its length) that also carries the requested conditions, ``{name: value}``
(e.g. ``{"helix": 0.6}``; empty when unconditional). It behaves as a list everywhere a
list of backbones is expected; slicing keeps the conditions. The PDB writer records them
as ``REMARK 250`` lines (:mod:`domains.proteins.pdb`), so a file read back carries them too.
Backbones read back from files also carry their ``names`` (``sample_003.pdb:A``), which
evaluation uses when it names a sample it leaves out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, SupportsIndex, overload

import numpy as np

__all__ = ["Backbones"]


class Backbones(list):
    """Backbones ``(L_i, 4, 3)`` with the conditions they were requested with (module docstring)."""

    def __init__(self, backbones: Iterable[np.ndarray] = (), conditions: Mapping[str, Any] | None = None,
                 names: Sequence[str] | None = None):
        super().__init__(backbones)
        self.conditions: dict[str, float] = {str(k): float(v) for k, v in (conditions or {}).items()}
        self.names: list[str] | None = None if names is None else [str(n) for n in names]
        if self.names is not None and len(self.names) != len(self):
            raise ValueError(f"{len(self.names)} names for {len(self)} backbones")

    def name(self, i: int) -> str:
        """What backbone ``i`` is called: its file and chain when read back, else ``sample i``."""
        return self.names[i] if self.names is not None else f"sample {i}"

    @property
    def lengths(self) -> list[int]:
        """Residues per backbone."""
        return [len(b) for b in self]

    @overload
    def __getitem__(self, index: SupportsIndex) -> np.ndarray: ...

    @overload
    def __getitem__(self, index: slice) -> Backbones: ...

    def __getitem__(self, index):
        item = super().__getitem__(index)
        if not isinstance(index, slice):
            return item
        return Backbones(item, self.conditions, None if self.names is None else self.names[index])

    def __repr__(self) -> str:
        return f"Backbones(n={len(self)}, lengths={self.lengths}, conditions={self.conditions})"
