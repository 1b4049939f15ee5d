"""The machine a record was made on, for benchmark and training records, and what it runs fast."""

from __future__ import annotations

import platform
from collections.abc import Iterable
from pathlib import Path

__all__ = ["BF16_CPU_FLAGS", "bf16_hardware", "cpu_flags", "cpu_name"]

#: ``/proc/cpuinfo`` flags of CPUs with native bfloat16 matrix units, and their names
BF16_CPU_FLAGS = {"avx512_bf16": "AVX-512 BF16", "amx_bf16": "AMX"}


def cpu_name() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The feature flags of the first ``flags`` line of ``cpuinfo`` (default: ``/proc/cpuinfo``);
    empty where there is no such file (not Linux) or no such line."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def bf16_hardware(device: str = "cpu", flags: Iterable[str] | None = None) -> str | None:
    """What runs bfloat16 matrix products natively on ``device`` ("cpu", "cuda", ...), in words,
    or None where nothing does (bfloat16 is then emulated, and slower than float32).

    A CUDA GPU counts when torch reports bfloat16 support (compute capability 8.0 and up); a
    CPU when its ``flags`` (default: :func:`cpu_flags`) include ``avx512_bf16`` or ``amx_bf16``.
    """
    if device == "cuda":
        import torch

        return "CUDA bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else None
    if device != "cpu":
        return None
    have = set(cpu_flags() if flags is None else flags)
    names = [name for flag, name in BF16_CPU_FLAGS.items() if flag in have]
    return " + ".join(names) or None
