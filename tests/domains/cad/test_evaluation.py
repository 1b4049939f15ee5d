"""CAD evaluation: with a perfect autoencoder the reconstruction scores are perfect and the
median CD sits at its noise floor; samples equal to the references cover them all."""

import numpy as np
import pytest
import torch

pytest.importorskip("OCP")

from domains.cad.evaluation import (family_accuracy, generation_metrics, reconstruction_metrics,  # noqa: E402
                                    reference_clouds)
from domains.cad.families import generate  # noqa: E402
from domains.cad.vector import encode  # noqa: E402


class Identity(torch.nn.Module):
    """An "autoencoder" whose latent is the vector itself: reconstruction is exact."""

    def __init__(self):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def encode(self, v: torch.Tensor) -> torch.Tensor:
        return v.float().flatten(1)

    def decode(self, z: torch.Tensor, constrained: bool = True, simple_loops: bool = True) -> torch.Tensor:
        return z.round().long().view(-1, 60, 17)


@pytest.fixture(scope="module")
def parts():
    seqs = generate(12, seed=5, families=["plate", "flange", "shaft", "washer"], progress=False)
    return np.stack([encode(s) for s in seqs]), np.array([s.labels["family"] for s in seqs], dtype=object)


def test_a_perfect_autoencoder_scores_perfectly_with_cd_at_its_floor(parts):
    vectors, _ = parts
    out = reconstruction_metrics(Identity(), vectors, n_built=6, progress=False)
    assert out["ae_acc_cmd"] == 100.0 and out["ae_acc_param"] == 100.0 and out["ae_strict_validity"] == 1.0
    # the reconstruction is the same part sampled with the same seed: CD 0, below the floor of two samplings
    assert out["ae_median_cd_x1e3"] == pytest.approx(0.0, abs=1e-9) and out["ae_cd_noise_floor_x1e3"] > 1.0


def test_samples_equal_to_the_references_cover_them(parts):
    vectors, _ = parts
    refs = reference_clouds(vectors, 8, progress=False)
    assert len(refs) == 8
    same = generation_metrics(refs, refs)
    assert same["cov"] == 100.0 and same["mmd_x1e3"] == pytest.approx(0.0, abs=1e-9) and same["jsd_x1e2"] == pytest.approx(0.0)
    one = generation_metrics([refs[0]] * 8, refs)
    assert one["cov"] == pytest.approx(100.0 / 8) and one["mmd_x1e3"] > 0 and one["jsd_x1e2"] > 0


def test_family_of_training_parts_is_recovered(parts):
    vectors, family = parts
    for name in set(family):
        rows = family == name
        assert family_accuracy(Identity(), vectors, family, vectors[rows], name, k=1) == 1.0
