"""Condition encoder: learned nulls, NaN = missing, joint and per-property classifier-free dropout."""

import io
import math

import pytest
import torch

from gensci.nn.conditions import (
    CategoricalEmbedding,
    ConditionEncoder,
    ConditionSpec,
    SoftClusterEmbedding,
    specs_from_dicts,
    specs_to_dicts,
)

SPECS = [
    ConditionSpec("logp", "numeric", low=-2.0, high=5.0, mean=1.5, std=2.0),
    ConditionSpec("active", "categorical", num_classes=3),
    {"name": "sa", "kind": "numeric", "mean": 3.0, "std": 1.0},
]
B = 16


def _encoder(dropout: float = 0.1) -> ConditionEncoder:
    torch.manual_seed(0)
    return ConditionEncoder(SPECS, 32, dropout=dropout)


def _cond(b: int = B) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return {
        "logp": torch.randn(b, generator=g),
        "active": torch.randint(0, 3, (b,), generator=g).float(),
        "sa": torch.rand(b, generator=g) * 5,
    }


def test_spec_dict_round_trip_is_plain_and_weights_only_safe() -> None:
    dicts = specs_to_dicts(SPECS)
    buf = io.BytesIO()
    torch.save({"conditions": dicts}, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)["conditions"]
    assert specs_from_dicts(loaded) == specs_from_dicts(SPECS)
    assert all(type(v) in (str, int, float, type(None)) for d in dicts for v in d.values())


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="kind"):
        ConditionSpec("x", "ordinal")
    with pytest.raises(ValueError, match="num_classes"):
        ConditionSpec("x", "categorical")
    with pytest.raises(ValueError, match="unknown field"):
        ConditionSpec.from_dict({"name": "x", "kind": "numeric", "colour": 1})
    with pytest.raises(ValueError, match="duplicate"):
        ConditionEncoder([ConditionSpec("x"), ConditionSpec("x")], 8)


def test_domain_spec_dicts_pass_as_they_are() -> None:
    """A domain's condition dicts (class names, units) build the same encoder as the bare specs."""
    full = [{"name": "gap", "kind": "numeric", "low": 0.1, "high": 0.6, "mean": 0.25, "std": 0.05, "unit": "Ha"},
            {"name": "aromatic", "kind": "categorical", "num_classes": 2, "classes": ["no", "yes"]},
            {"name": "label", "kind": "categorical", "classes": ["0", "1", "2"], "description": "a toy label"}]
    bare = [{k: v for k, v in d.items() if k not in ("classes", "unit", "description")} for d in full]
    bare[2]["num_classes"] = 3
    assert specs_from_dicts(full) == specs_from_dicts(bare)
    torch.manual_seed(0)
    a = ConditionEncoder(full, 16)
    torch.manual_seed(0)
    b = ConditionEncoder(bare, 16)
    assert list(a.state_dict()) == list(b.state_dict())
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    with pytest.raises(ValueError, match="num_classes=3 but 2 classes"):
        ConditionSpec.from_dict({"name": "x", "kind": "categorical", "num_classes": 3, "classes": ["a", "b"]})


def test_spec_from_values_ignores_nan() -> None:
    s = ConditionSpec.from_values("y", torch.tensor([1.0, float("nan"), 3.0]))
    assert (s.low, s.high, s.mean, s.std) == (1.0, 3.0, 2.0, 1.0)
    c = ConditionSpec.from_values("k", torch.tensor([0.0, 2.0, float("nan")]), kind="categorical")
    assert c.num_classes == 3


def test_none_nan_and_null_bit_identical() -> None:
    enc = _encoder(dropout=0.3)
    nan = {k: torch.full((B,), float("nan")) for k in ("logp", "active", "sa")}
    for training in (False, True):
        enc.train(training)
        a = enc(None, B)
        b = enc(nan, B, generator=torch.Generator().manual_seed(1))
        c = enc.null(B)
        assert torch.equal(a, b) and torch.equal(a, c)
    # a missing key equals a NaN value for that key
    enc.eval()
    cond = _cond()
    partial = {k: v for k, v in cond.items() if k != "sa"}
    assert torch.equal(enc(partial, B), enc({**partial, "sa": torch.full((B,), math.nan)}, B))
    assert not torch.equal(enc(partial, B), enc(cond, B))


def test_dropout_one_gives_null_and_eval_gives_conditional() -> None:
    enc = _encoder(dropout=1.0)
    cond = _cond()
    enc.train()
    assert torch.equal(enc(cond, B), enc.null(B))
    enc.eval()
    out = enc(cond, B)
    assert not torch.allclose(out, enc.null(B))
    enc0 = _encoder(dropout=0.0).train()
    assert torch.equal(enc0(cond, B), out)  # same weights (same seed), no dropout


def test_joint_dropout_is_per_sample_and_reproducible() -> None:
    enc = _encoder(dropout=0.5).train()
    b = 400
    cond = _cond(b)
    full = enc.eval()(cond, b)
    null = enc.null(b)
    enc.train()
    out1 = enc(cond, b, generator=torch.Generator().manual_seed(7))
    out2 = enc(cond, b, generator=torch.Generator().manual_seed(7))
    out3 = enc(cond, b, generator=torch.Generator().manual_seed(8))
    assert torch.equal(out1, out2)
    assert not torch.equal(out1, out3)
    dropped = (out1 == null).all(dim=1)
    kept = (out1 == full).all(dim=1)
    assert bool((dropped ^ kept).all())  # every sample either fully dropped or fully kept
    assert 0.4 < dropped.float().mean().item() < 0.6
    enc.generator = torch.Generator().manual_seed(7)  # attribute form
    assert torch.equal(enc(cond, b), out1)


def test_numeric_values_are_normalised_by_the_spec() -> None:
    a = ConditionEncoder([ConditionSpec("y", mean=10.0, std=2.0)], 16).eval()
    b = ConditionEncoder([ConditionSpec("y")], 16).eval()
    b.load_state_dict(a.state_dict())
    assert torch.allclose(a({"y": torch.tensor([12.0, 6.0])}, 2), b({"y": torch.tensor([1.0, -2.0])}, 2))


def test_soft_cluster_embedding_is_a_convex_mix_of_centres() -> None:
    emb = SoftClusterEmbedding(8, clusters=5)
    y = torch.tensor([-1.0, 0.0, 2.0, float("nan")])
    out = emb(y)
    probs = torch.softmax(emb.assign(y[:3, None]), dim=-1)
    assert torch.allclose(probs.sum(-1), torch.ones(3))
    assert torch.allclose(out[:3], probs @ emb.centers.weight.T)
    assert torch.equal(out[3], emb.null)
    assert not torch.allclose(out[0], out[2])


def test_categorical_embedding_null_row_and_errors() -> None:
    emb = CategoricalEmbedding(3, 4, name="active")
    out = emb(torch.tensor([0.0, 2.0, float("nan")]))
    assert torch.equal(out[2], emb.table.weight[3])
    with pytest.raises(ValueError, match=r"'active'.*\[0, 2\]"):
        emb(torch.tensor([3.0]))
    with pytest.raises(ValueError, match="integers"):
        emb(torch.tensor([-1.0]))
    with pytest.raises(ValueError, match="integers"):
        emb(torch.tensor([0.5]))


def test_encoder_errors() -> None:
    enc = _encoder()
    with pytest.raises(ValueError, match=r"unknown condition.*'logq'.*'logp', 'active', 'sa'"):
        enc({"logq": torch.zeros(B)}, B)
    with pytest.raises(ValueError, match="shape"):
        enc({"logp": torch.zeros(B + 1)}, B)
    with pytest.raises(ValueError, match="class indices"):
        enc({"active": torch.full((B,), 5.0)}, B)


def test_scalar_condition_broadcasts() -> None:
    enc = _encoder().eval()
    assert torch.equal(enc({"logp": torch.tensor(1.0)}, 4), enc({"logp": torch.ones(4)}, 4))


def test_gradients_reach_null_and_values() -> None:
    enc = _encoder(dropout=0.5).train()
    enc(_cond(), B, generator=torch.Generator().manual_seed(0)).square().sum().backward()
    assert enc.embedders[0].null.grad.abs().sum() > 0
    assert enc.embedders[0].centers.weight.grad.abs().sum() > 0


def _pattern_embeddings(enc: ConditionEncoder, cond: dict[str, torch.Tensor], b: int) -> torch.Tensor:
    """``(2^K, B, dim)``: the eval-mode embedding with exactly the properties of pattern ``m`` kept
    (bit k of ``m`` set = property k kept; the others NaN, i.e. null)."""
    names = enc.names
    out = []
    for m in range(2 ** len(names)):
        masked = {n: cond[n] if m >> k & 1 else torch.full((b,), float("nan")) for k, n in enumerate(names)}
        out.append(enc.eval()(masked, b))
    enc.train()
    return torch.stack(out)


def test_separate_dropout_covers_every_subset_at_its_rate() -> None:
    torch.manual_seed(0)
    p, q, b = 0.2, 0.3, 4000
    enc = ConditionEncoder(SPECS, 32, dropout=p, dropout_each=q)
    cond = _cond(b)
    candidates = _pattern_embeddings(enc, cond, b)
    out = enc.train()(cond, b, generator=torch.Generator().manual_seed(5))
    match = (candidates == out[None]).all(dim=-1)  # (2^K, B)
    assert bool((match.sum(dim=0) == 1).all()), "each sample is exactly one keep pattern"
    pattern = match.float().argmax(dim=0)
    k = len(SPECS)
    for m in range(2**k):
        kept = bin(m).count("1")
        expected = (1 - p) * (1 - q) ** kept * q ** (k - kept) + (p if m == 0 else 0.0)
        observed = (pattern == m).float().mean().item()
        assert abs(observed - expected) < 4 * math.sqrt(expected * (1 - expected) / b) + 1e-3, (m, observed, expected)


def test_separate_dropout_keeps_the_joint_draw_and_is_off_in_eval() -> None:
    cond, b = _cond(400), 400
    joint = _encoder(dropout=0.5).train()
    both = _encoder(dropout=0.5)
    both.dropout_each = 0.4
    null = joint.null(b)
    a = joint(cond, b, generator=torch.Generator().manual_seed(7))
    c = both.train()(cond, b, generator=torch.Generator().manual_seed(7))
    fully_dropped = (a == null).all(dim=1)
    assert bool((c[fully_dropped] == null[fully_dropped]).all()), "the joint drop is drawn first, unchanged"
    assert not torch.equal(a, c)
    assert torch.equal(both.eval()(cond, b), joint.eval()(cond, b))
    with pytest.raises(ValueError, match="dropout_each"):
        ConditionEncoder(SPECS, 8, dropout_each=1.0)


def test_log_scale_condition_sees_the_logarithm_normalised() -> None:
    values = torch.tensor([1.0, 10.0, 100.0, 1000.0])
    spec = ConditionSpec.from_values("size", values, scale="log")
    logs = torch.log(values.double())
    assert spec.scale == "log" and (spec.low, spec.high) == (1.0, 1000.0)
    assert spec.mean == pytest.approx(float(logs.mean())) and spec.std == pytest.approx(float(logs.std(unbiased=False)))
    # the same weights on a linear spec fed log y must give the same embedding
    torch.manual_seed(0)
    log_encoder = ConditionEncoder([spec], 16)
    linear = ConditionSpec("size", mean=spec.mean, std=spec.std)
    linear_encoder = ConditionEncoder([linear], 16)
    linear_encoder.load_state_dict(log_encoder.state_dict())
    y = torch.tensor([3.0, 250.0, float("nan")])
    torch.testing.assert_close(log_encoder({"size": y}, 3), linear_encoder({"size": torch.log(y)}, 3))
    assert ConditionSpec.from_dict(spec.to_dict()) == spec


def test_log_scale_needs_positive_numeric_values() -> None:
    with pytest.raises(ValueError, match="positive"):
        ConditionSpec.from_values("x", torch.tensor([0.0, 1.0]), scale="log")
    with pytest.raises(ValueError, match="positive"):
        ConditionSpec("x", low=-1.0, high=2.0, scale="log")
    with pytest.raises(ValueError, match="scale"):
        ConditionSpec("x", scale="sqrt")
    with pytest.raises(ValueError, match="numeric"):
        ConditionSpec("c", kind="categorical", num_classes=2, scale="log")
