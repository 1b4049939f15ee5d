"""Vector conditions (``kind="vector"``, values ``(B, D)``): the null path, dropout rates, batching,
checkpoints and classifier-free guidance."""

import io
import math

import pytest
import torch

from gensci.core.guidance import Guidance, GuidedModel, drop_all
from gensci.domain import BatchDataset, check_conditions, describe_condition
from gensci.errors import GensciError
from gensci.nn.conditions import ConditionEncoder, ConditionSpec, VectorEmbedding, specs_from_dicts, specs_to_dicts
from gensci.nn.mlp import VectorFieldMLP

D = 6
SPECS = [{"name": "image", "kind": "vector", "dim": D, "description": "an embedding"},
         {"name": "size", "kind": "numeric", "low": 0.0, "high": 4.0, "mean": 2.0, "std": 1.0}]


def _encoder(dropout: float = 0.0, dropout_each: float = 0.0) -> ConditionEncoder:
    torch.manual_seed(0)
    return ConditionEncoder(SPECS, 16, dropout=dropout, dropout_each=dropout_each)


def _cond(b: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {"image": torch.randn(b, D, generator=g), "size": 4 * torch.rand(b, generator=g)}


def test_spec_needs_a_length_and_travels_as_plain_types() -> None:
    with pytest.raises(ValueError, match="dim"):
        ConditionSpec("image", "vector")
    with pytest.raises(ValueError, match="kind"):
        ConditionSpec("image", "matrix", dim=3)
    dicts = specs_to_dicts(SPECS)
    buf = io.BytesIO()
    torch.save({"conditions": dicts}, buf)
    buf.seek(0)
    assert specs_from_dicts(torch.load(buf, weights_only=True)["conditions"]) == specs_from_dicts(SPECS)
    assert ConditionSpec.from_values("e", torch.zeros(5, 3), kind="vector").dim == 3


def test_nan_rows_equal_the_null_embedding() -> None:
    """A row with a NaN (all or one entry), a missing key, ``cond=None`` and the null: one vector."""
    enc = _encoder().eval()
    b = 5
    cond = _cond(b)
    cond["image"][1] = math.nan
    cond["image"][3, 2] = math.nan
    cond["size"][:] = math.nan
    out = enc(cond, b)
    null = enc.null(b)
    assert torch.equal(out[[1, 3]], null[[1, 3]])
    assert not torch.allclose(out[[0, 2, 4]], null[[0, 2, 4]])
    assert torch.equal(enc(None, b), null)
    assert torch.equal(enc({"size": cond["size"]}, b), null)
    single = VectorEmbedding(D, 16)
    y = torch.randn(4, D)
    y[2] = math.nan
    emb = single(y, keep=torch.tensor([True, False, True, True]))
    assert torch.equal(emb[1], single.null) and torch.equal(emb[2], single.null)
    assert torch.allclose(emb[0], single.net(y[:1])[0])


def test_one_vector_broadcasts_and_bad_shapes_are_named() -> None:
    enc = _encoder().eval()
    v = torch.randn(D)
    assert torch.equal(enc({"image": v}, 3), enc({"image": v.expand(3, D)}, 3))
    with pytest.raises(ValueError, match=r"image.*\(3, 6\)"):
        enc({"image": torch.randn(3, D + 1)}, 3)
    with pytest.raises(ValueError, match="image"):
        enc({"image": torch.randn(3)}, 3)


def test_joint_and_separate_dropout_rates() -> None:
    """Joint drop p: the image is kept at rate (1 - p)(1 - q), both at (1 - p)(1 - q)^2, each dropped
    row is exactly the null of its property."""
    p, q, b = 0.2, 0.3, 6000
    enc = _encoder(dropout=p, dropout_each=q)
    cond = _cond(b)
    image, size = enc.embedders
    image_on = image(cond["image"])
    out = enc.train()(cond, b, generator=torch.Generator().manual_seed(3))
    size_on = size((cond["size"] - 2.0) / 1.0)
    patterns = {(ki, ks): (image_on if ki else image.null.expand(b, -1)) + (size_on if ks else size.null.expand(b, -1))
                for ki in (0, 1) for ks in (0, 1)}
    which = {k: torch.isclose(out, v, atol=1e-6).all(dim=1) for k, v in patterns.items()}
    assert bool((sum(w.long() for w in which.values()) == 1).all())
    for (ki, ks), hits in which.items():
        kept = ki + ks
        expected = (1 - p) * (1 - q) ** kept * q ** (2 - kept) + (p if kept == 0 else 0.0)
        observed = hits.float().mean().item()
        assert abs(observed - expected) < 4 * math.sqrt(expected * (1 - expected) / b), ((ki, ks), observed, expected)


def test_batching_takes_the_rows_of_vectors() -> None:
    x = torch.arange(10.0)[:, None]
    cond = {"image": torch.arange(60.0).reshape(10, D), "size": torch.arange(10.0)}
    batch = BatchDataset(x, cond).__getitems__([7, 2])
    assert torch.equal(batch.cond["image"], cond["image"][[7, 2]]) and torch.equal(batch.cond["size"], torch.tensor([7.0, 2.0]))
    dropped = drop_all(batch.cond)
    assert dropped["image"].shape == (2, D) and bool(torch.isnan(dropped["image"]).all())


def test_guidance_with_a_vector_condition() -> None:
    """Scale 0 is the unconditional model exactly; scale s mixes (1 - s) u + s c from one batched call."""
    torch.manual_seed(0)
    net = VectorFieldMLP(3, hidden=32, depth=2, conditions=SPECS).eval()
    with torch.no_grad():  # the film layer starts at zero: give the conditions a way in
        net.film.weight.normal_(std=0.2)
    b = 4
    x, t = torch.randn(b, 3), torch.rand(b)
    cond = _cond(b)
    with torch.no_grad():
        u = net(x, t, cond=None)
        c = net(x, t, cond=cond)
        assert not torch.allclose(u, c)
        assert torch.equal(GuidedModel(net, Guidance(scale=0.0))(x, t, cond=cond), u)
        assert torch.equal(GuidedModel(net, Guidance(scale=1.0))(x, t, cond=cond), c)
        assert torch.allclose(GuidedModel(net, Guidance(scale=2.5))(x, t, cond=cond), -1.5 * u + 2.5 * c, atol=1e-5)
        only_image = {"image": cond["image"]}
        assert torch.allclose(GuidedModel(net, Guidance(scale=2.0))(x, t, cond=only_image),
                              2 * net(x, t, cond=only_image) - u, atol=1e-5)


def test_a_network_with_a_vector_condition_reloads_from_plain_dicts() -> None:
    torch.manual_seed(0)
    net = VectorFieldMLP(3, hidden=16, depth=1, conditions=SPECS).eval()
    buf = io.BytesIO()
    torch.save({"conditions": net.conditions, "weights": net.state_dict()}, buf)
    buf.seek(0)
    payload = torch.load(buf, weights_only=True)
    again = VectorFieldMLP(3, hidden=16, depth=1, conditions=payload["conditions"]).eval()
    again.load_state_dict(payload["weights"])
    x, t, cond = torch.randn(2, 3), torch.rand(2), _cond(2)
    assert torch.equal(net(x, t, cond=cond), again(x, t, cond=cond))


def test_requests_name_vector_conditions_as_options() -> None:
    assert "vector of 6" in describe_condition(SPECS[0])
    with pytest.raises(GensciError, match="sampling option"):
        check_conditions(SPECS, {"image": "photo.png"})
    assert check_conditions(SPECS, {"size": "1.5"}) == {"size": 1.5}
