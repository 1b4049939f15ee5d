"""``precision="auto"``: bf16 only with bfloat16 units and a passing recorded check; the record
is read from a bundled model's JSON or from a checkpoint itself."""

import json

import numpy as np
import pytest

import gensci
import gensci.machine as machine
from gensci.errors import GensciError
from gensci.precision_auto import read_precision_check, resolve_precision

PASSED = {"model": "molecules/qm9", "unchanged": True}
FAILED = {"model": "molecules/qm9", "unchanged": False}


@pytest.fixture
def units(monkeypatch):
    """Pretend the machine has (a name) or lacks (None) bfloat16 units."""
    def set_units(name):
        monkeypatch.setattr(machine, "bf16_hardware", lambda device="cpu", flags=None: name)
    return set_units


@pytest.mark.parametrize("hardware, check, expected", [
    ("AVX-512 BF16", PASSED, "bf16"),
    ("AVX-512 BF16", FAILED, "fp32"),
    ("AVX-512 BF16", None, "fp32"),
    ("AVX-512 BF16", {"model": "x"}, "fp32"),  # a check without a verdict is no evidence
    (None, PASSED, "fp32"),
    (None, None, "fp32"),
])
def test_auto_needs_both_the_units_and_a_passing_check(units, hardware, check, expected):
    units(hardware)
    choice = resolve_precision("auto", "cpu", check, "molecules/qm9")
    assert choice.precision == expected and choice.requested == "auto"
    if expected == "bf16":
        assert choice.line() == "precision: bf16 (auto: AVX-512 BF16, checked on molecules/qm9)"
    elif hardware is None:
        assert "no bfloat16 units" in choice.reason
    else:
        assert "AVX-512 BF16, but" in choice.reason


def test_the_cpu_flags_decide_when_given():
    assert resolve_precision("auto", "cpu", PASSED, flags={"avx512f"}).precision == "fp32"
    assert resolve_precision("auto", "cpu", PASSED, flags={"amx_bf16"}).precision == "bf16"


def test_an_explicit_precision_is_taken_as_asked(units):
    units(None)
    assert resolve_precision("bf16", "cpu", None).precision == "bf16"
    units("AMX")
    assert resolve_precision("fp32", "cpu", PASSED).precision == "fp32"
    with pytest.raises(GensciError, match="auto, fp32 or bf16, got 'fp16'"):
        resolve_precision("fp16")


def test_the_check_is_read_from_the_bundled_record_or_the_checkpoint(tmp_path):
    pt = tmp_path / "qm9.pt"
    assert read_precision_check(pt, {"precision_check": PASSED}, bundled=True) is None  # no record beside it
    pt.with_suffix(".json").write_text(json.dumps({"metrics": {}, "precision_check": PASSED}))
    assert read_precision_check(pt, {}, bundled=True) == PASSED
    assert read_precision_check(pt, {"precision_check": FAILED}, bundled=False) == FAILED  # a user's checkpoint
    assert read_precision_check(pt, {}, bundled=False) is None
    pt.with_suffix(".json").write_text("{not json")
    with pytest.raises(GensciError, match="not readable JSON"):
        read_precision_check(pt, {}, bundled=True)


def test_a_model_samples_in_what_auto_resolves_to(units):
    model = gensci.load("points/moons")
    assert model.precision_check is None  # the bundled moons record holds no check
    units("AVX-512 BF16")
    plain = model.sample(200, seed=1, progress=False).x
    assert model.last_precision.precision == "fp32"
    np.testing.assert_array_equal(plain, model.sample(200, seed=1, progress=False, precision="fp32").x)
    model.precision_check = PASSED
    auto = model.sample(200, seed=1, progress=False).x
    assert model.last_precision.precision == "bf16" and "checked on molecules/qm9" in model.last_precision.reason
    np.testing.assert_array_equal(auto, model.sample(200, seed=1, progress=False, precision="bf16").x)
    assert not np.array_equal(auto, plain)
    units(None)
    model.sample(20, seed=1, progress=False)
    assert model.last_precision.precision == "fp32"
