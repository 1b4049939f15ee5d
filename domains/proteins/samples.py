"""Generated backbones as the domain hands them around: the structures and what was asked.

:class:`Backbones` is a list of ``(L_i, 4, 3)`` float64 arrays (N, CA, C, O in Å, one per
sample; ``L_i`` its length) that also carries the requested conditions, ``{name: value}``
(e.g. ``{"helix": 0.6}``; empty when unconditional). It behaves as a list everywhere a
list of backbones is expected; slicing keeps the conditions. The PDB writer records them
as ``REMARK 250`` lines (:mod:`domains.proteins.pdb`), so a file read back carries them too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, SupportsIndex, overload

import numpy as np

__all__ = ["Backbones"]


class Backbones(list):
    """Backbones ``(L_i, 4, 3)`` with the conditions they were requested with (module docstring)."""

    def __init__(self, backbones: Iterable[np.ndarray] = (), conditions: Mapping[str, Any] | None = None):
        super().__init__(backbones)
        self.conditions: dict[str, float] = {str(k): float(v) for k, v in (conditions or {}).items()}

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
        return Backbones(item, self.conditions) if isinstance(index, slice) else item

    def __repr__(self) -> str:
        return f"Backbones(n={len(self)}, lengths={self.lengths}, conditions={self.conditions})"
