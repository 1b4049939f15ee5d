"""The optional scTM hook: skipped with a message, or run with registered callables."""

import numpy as np
import pytest

from domains.proteins import sctm


@pytest.fixture(autouse=True)
def _no_registered_models():
    sctm.clear_sctm_models()
    yield
    sctm.clear_sctm_models()


def test_without_models_sctm_is_skipped_with_a_message(real_chains, monkeypatch):
    monkeypatch.setattr(sctm.importlib.util, "find_spec", lambda name: None)
    metrics, note = sctm.sctm_metrics([real_chains[0].coords])
    assert metrics == {} and "skipped" in note and "register_sctm_models" in note


def test_fake_models_give_the_closed_form_scores(real_chains):
    """A fold that returns the designed backbone scores 1; one that returns a torn copy of
    it scores about one half; the best of the designs counts."""
    backbones = {c.sequence: c.coords for c in real_chains[:2]}
    calls = []

    def inverse_fold(backbone, k):
        calls.append(k)
        seq = next(s for s, bb in backbones.items() if np.array_equal(bb, backbone))
        return ["torn:" + seq] * (k - 1) + [seq]

    def fold(sequence):
        if sequence.startswith("torn:"):
            torn = backbones[sequence[5:]][:, 1].copy()
            torn[len(torn) // 2 :] += 60.0
            return torn
        return backbones[sequence]

    sctm.register_sctm_models(fold, inverse_fold, name="fake")
    metrics, note = sctm.sctm_metrics(list(backbones.values()), sequences_per_backbone=3)
    assert "fake" in note and calls == [3, 3]
    assert metrics["sctm_mean"] == pytest.approx(1.0, abs=1e-4) and metrics["sctm_designable_fraction"] == 1.0

    sctm.register_sctm_models(fold, lambda bb, k: ["torn:" + next(s for s, b in backbones.items() if b is bb)], "torn")
    scores = sctm.sctm_scores(list(backbones.values()), sctm.sctm_models()[0], 1)
    assert scores == pytest.approx([0.5, 0.5], abs=0.01)
