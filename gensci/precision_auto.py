"""``precision="auto"``: bfloat16 where the machine runs it fast and a recorded check found the
model's metrics unchanged in it; float32 everywhere else.

The choice needs both halves. Hardware (:func:`gensci.machine.bf16_hardware`): a CUDA GPU with
bfloat16 support, or a CPU with AVX-512 BF16 or AMX units; elsewhere bfloat16 is emulated and
slower than float32. Evidence: the model's precision check (``scripts/check_precision.py``,
:mod:`gensci.precision_check`), stored under ``precision_check`` in a bundled model's JSON record
beside its ``.pt`` or, for any other checkpoint, in the checkpoint itself, with the verdict
``unchanged: true``. A model without such a check samples in float32.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gensci import machine
from gensci.errors import GensciError

__all__ = ["PRECISION_CHOICES", "PrecisionChoice", "read_precision_check", "resolve_precision"]

#: what a user may ask for: ``auto`` resolves to one of the other two
PRECISION_CHOICES = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision a sampling call runs in (``fp32`` / ``bf16``), what was asked, and why."""

    precision: str
    requested: str
    reason: str

    def line(self) -> str:
        """One line for the user, e.g. ``precision: bf16 (auto: AVX-512 BF16, checked on molecules/qm9)``."""
        return f"precision: {self.precision} ({self.reason})"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def read_precision_check(path: Path, payload: dict[str, Any], bundled: bool) -> dict[str, Any] | None:
    """The precision check of the checkpoint at ``path``: for a ``bundled`` model the
    ``precision_check`` block of its JSON record beside it; otherwise the checkpoint
    ``payload``'s own ``precision_check`` entry; None where there is none."""
    if bundled:
        record = Path(path).with_suffix(".json")
        if not record.is_file():
            return None
        try:
            check = json.loads(record.read_text()).get("precision_check")
        except (OSError, ValueError, AttributeError) as err:
            raise GensciError(f"the record {record} of a bundled model is not readable JSON ({err})") from None
    else:
        check = payload.get("precision_check")
    return check if isinstance(check, dict) else None


def resolve_precision(requested: str, device: str = "cpu", check: dict[str, Any] | None = None,
                      name: str = "this model", flags: Any = None) -> PrecisionChoice:
    """The precision to sample ``name`` in on ``device`` for ``requested`` (auto, fp32 or bf16).

    ``fp32`` and ``bf16`` are taken as asked. ``auto`` gives bf16 only when
    :func:`~gensci.machine.bf16_hardware` names bfloat16 units on ``device`` (``flags``: the CPU
    flags to judge by, default the machine's) and ``check`` holds ``unchanged: true``."""
    if requested not in PRECISION_CHOICES:
        raise GensciError(f"precision must be auto, fp32 or bf16, got {requested!r}")
    if requested != "auto":
        return PrecisionChoice(requested, requested, "as asked")
    hardware = machine.bf16_hardware(device, flags)
    if hardware is None:
        return PrecisionChoice("fp32", "auto", f"auto: no bfloat16 units on this {device}")
    if check is None:
        return PrecisionChoice("fp32", "auto", f"auto: {hardware}, but no precision check is recorded for {name}")
    if check.get("unchanged") is not True:
        return PrecisionChoice("fp32", "auto", f"auto: {hardware}, but the precision check of {name} found its "
                                               "metrics changed in bf16")
    return PrecisionChoice("bf16", "auto", f"auto: {hardware}, checked on {check.get('model', name)}")
