"""What the machine runs fast: CPU flags read from cpuinfo text, bfloat16 units named from them."""

import pytest
import torch

from gensci.machine import bf16_hardware, cpu_flags

CPUINFO = """processor	: 0
vendor_id	: AuthenticAMD
model name	: AMD EPYC
flags		: fpu vme sse2 avx2 avx512f avx512_bf16 avx512_vnni
bugs		: sysret_ss_attrs

processor	: 1
flags		: fpu other
"""


def test_flags_come_from_the_first_flags_line():
    flags = cpu_flags(CPUINFO)
    assert {"avx512_bf16", "avx512f", "fpu"} <= flags
    assert "other" not in flags and "sysret_ss_attrs" not in flags
    assert cpu_flags("model name\t: something\n") == frozenset()


@pytest.mark.parametrize("flags, named", [
    ({"avx2", "avx512f"}, None),  # AVX-512 without its BF16 extension emulates bfloat16
    ({"avx512f", "avx512_bf16"}, "AVX-512 BF16"),
    ({"amx_bf16", "amx_tile"}, "AMX"),
    ({"avx512_bf16", "amx_bf16"}, "AVX-512 BF16 + AMX"),
    (set(), None),
])
def test_cpu_bf16_units_are_named_from_the_flags(flags, named):
    assert bf16_hardware("cpu", flags) == named


def test_other_devices_count_only_as_torch_reports(monkeypatch):
    assert bf16_hardware("mps", {"avx512_bf16"}) is None  # CPU flags say nothing about other devices
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bf16_hardware("cuda") is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert bf16_hardware("cuda") == "CUDA bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert bf16_hardware("cuda") is None
