"""Time embeddings: distinct, smooth in t, and (Fourier) saved with the weights."""

import io

import pytest
import torch

from gensci.nn.embeddings import GaussianFourierEmbedding, SinusoidalTimeEmbedding, TimeEmbedding


def _smooth_and_distinct(emb: torch.nn.Module) -> None:
    t = torch.tensor([0.2, 0.2 + 1e-5, 0.7])
    e = emb(t)
    near = (e[0] - e[1]).norm()
    far = (e[0] - e[2]).norm()
    assert far > 1.0
    assert near < 1e-2 * far


def test_sinusoidal_formula_and_shape() -> None:
    emb = SinusoidalTimeEmbedding(8, max_period=10000, scale=1000)
    t = torch.tensor([0.0, 0.5])
    e = emb(t)
    assert e.shape == (2, 8)
    # t = 0: cos terms are 1, sin terms 0
    assert torch.equal(e[0], torch.tensor([1.0] * 4 + [0.0] * 4))
    # the first frequency is 1: cos(scale * t)
    assert torch.allclose(e[1, 0], torch.cos(torch.tensor(500.0)))
    assert SinusoidalTimeEmbedding(7)(t).shape == (2, 7)


def test_sinusoidal_distinct_and_smooth() -> None:
    _smooth_and_distinct(SinusoidalTimeEmbedding(64))


def test_fourier_distinct_and_smooth() -> None:
    _smooth_and_distinct(GaussianFourierEmbedding(64, scale=16))


def test_fourier_seeded_and_saved_in_state_dict() -> None:
    a = GaussianFourierEmbedding(32, seed=1)
    assert torch.equal(a.weight, GaussianFourierEmbedding(32, seed=1).weight)
    b = GaussianFourierEmbedding(32, seed=2)
    assert not torch.equal(a.weight, b.weight)
    assert "weight" in a.state_dict()
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b.load_state_dict(torch.load(buf, weights_only=True))
    t = torch.rand(5)
    assert torch.equal(a(t), b(t))


def test_fourier_feature_scale() -> None:
    emb = GaussianFourierEmbedding(4096, scale=16)
    assert abs(emb.weight.std().item() - 16) < 1.0


@pytest.mark.parametrize("kind", ["sinusoidal", "fourier"])
def test_time_embedding_mlp(kind: str) -> None:
    emb = TimeEmbedding(24, kind=kind, features=32)
    t = torch.rand(6)
    out = emb(t)
    assert out.shape == (6, 24)
    out.square().sum().backward()
    assert emb.mlp[0].weight.grad is not None and emb.mlp[0].weight.grad.abs().sum() > 0
    assert not torch.allclose(out[0], out[1])


def test_time_embedding_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="sinusoidal"):
        TimeEmbedding(8, kind="learned")
