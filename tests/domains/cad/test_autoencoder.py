"""The command-sequence autoencoder and the DeepCAD reconstruction accuracies."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from domains.cad.autoencoder import CommandAutoencoder
from domains.cad.vector import valid_rows
from domains.cad.metrics import command_accuracy, parameter_accuracy
from domains.cad.sequence import CADError
from domains.cad.vector import ARC, ARG_COLUMNS, ARG_MASK, CIRCLE, EOS, EXT, LINE, MAX_ROWS, SOL
from gensci.config import compose, config_dir, instantiate, to_plain
from gensci.domain import Batch
from gensci.training.objective import ModuleLoss

COL = {name: i + 1 for i, name in enumerate(ARG_COLUMNS)}


# ---------------------------------------------------------------- hand-made valid vectors
def _row(cmd: int, **args: int) -> list[int]:
    row = [cmd] + [-1] * 16
    for name, v in args.items():
        row[COL[name]] = int(v)
    return row


def _rectangle(rng: np.random.Generator) -> list[list[int]]:
    """A counter-clockwise rectangle starting at its lower-left corner (128, 128)."""
    w, h = (int(v) for v in rng.integers(20, 96, size=2))
    return [_row(SOL), _row(LINE, x=128 + w, y=128), _row(LINE, x=128 + w, y=128 + h),
            _row(LINE, x=128, y=128 + h), _row(LINE, x=128, y=128)]


def _circle(rng: np.random.Generator, at: tuple[int, int] | None = None) -> list[list[int]]:
    r = int(rng.integers(8, 40))
    cx, cy = at if at is not None else (128 + r, 128)
    return [_row(SOL), _row(CIRCLE, x=cx, y=cy, r=r)]


def _slot(rng: np.random.Generator) -> list[list[int]]:
    """A stadium: two lines joined by two half-circle arcs (sweep 128 = π)."""
    length, h = int(rng.integers(30, 90)), 2 * int(rng.integers(8, 30))
    return [_row(SOL), _row(LINE, x=128 + length, y=128 - h // 2),
            _row(ARC, x=128 + length, y=128 + h // 2, alpha=128, f=1),
            _row(LINE, x=128, y=128 + h // 2), _row(ARC, x=128, y=128 - h // 2, alpha=128, f=1)]


def _extrude(rng: np.random.Generator, b: int = 0, u: int = 0) -> list[int]:
    theta, phi, gamma, px, py, pz = (int(v) for v in rng.integers(0, 256, size=6))
    return _row(EXT, theta=theta, phi=phi, gamma=gamma, px=px, py=py, pz=pz, s=int(rng.integers(40, 250)),
                e1=int(rng.integers(140, 250)), e2=128, b=b, u=u)


def synthetic_vectors(n: int = 16, seed: int = 0) -> np.ndarray:
    """``n`` valid ``(60, 17)`` vectors: plates, discs, slots, plates with holes, two-extrude parts."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        kind = i % 5
        if kind == 0:
            rows = _rectangle(rng) + [_extrude(rng)]
        elif kind == 1:
            rows = _circle(rng) + [_extrude(rng, u=int(rng.integers(0, 3)))]
        elif kind == 2:
            rows = _slot(rng) + [_extrude(rng)]
        elif kind == 3:
            rows = _rectangle(rng) + _circle(rng, at=(150, 150)) + [_extrude(rng)]
        else:
            rows = _rectangle(rng) + [_extrude(rng)] + _circle(rng) + [_extrude(rng, b=int(rng.integers(1, 3)))]
        rows += [_row(EOS)] * (MAX_ROWS - len(rows))
        out.append(rows)
    return np.asarray(out, dtype=np.int64)


def tiny(**kwargs) -> CommandAutoencoder:
    sizes = dict(d_model=64, layers=2, heads=4, feedforward=128, latent=32, dropout=0.0, arg_embedding=16)
    return CommandAutoencoder(**{**sizes, **kwargs})


# ---------------------------------------------------------------- shapes and masks
def test_shapes_and_the_latent_range():
    torch.manual_seed(0)
    model = tiny().eval()
    x = torch.as_tensor(synthetic_vectors(4))
    z = model.encode(x)
    cmd, args = model.decode_logits(z)
    assert z.shape == (4, 32) and bool((z.abs() < 1).all())
    assert cmd.shape == (4, MAX_ROWS, 6) and args.shape == (4, MAX_ROWS, 16, 256)
    out = model(x)
    assert torch.equal(out[0], cmd) and torch.equal(out[1], args)
    assert model.decode(z).shape == (4, MAX_ROWS, 17) and model.decode(z).dtype == torch.int64


def test_rows_after_the_first_eos_do_not_change_the_latent():
    torch.manual_seed(0)
    model = tiny().eval()
    x = torch.as_tensor(synthetic_vectors(5))
    noisy = x.clone()
    g = torch.Generator().manual_seed(1)
    after = ~valid_rows(x[..., 0])  # every row after the first EOS
    noisy[..., 0] = torch.where(after, torch.randint(0, 6, x[..., 0].shape, generator=g), x[..., 0])
    noisy[..., 1:] = torch.where(after.unsqueeze(-1), torch.randint(-1, 256, x[..., 1:].shape, generator=g), x[..., 1:])
    assert not torch.equal(noisy, x)
    torch.testing.assert_close(model.encode(noisy), model.encode(x), atol=1e-5, rtol=1e-5)
    # a change before the EOS does change z
    moved = x.clone()
    moved[:, 1, COL["x"]] += 7
    assert (model.encode(moved) - model.encode(x)).abs().max() > 1e-4


def test_decode_respects_the_argument_masks_and_the_first_eos():
    torch.manual_seed(0)
    model = tiny().eval()
    with torch.no_grad():  # large output biases: every command is drawn somewhere
        model.cmd_head.bias.copy_(torch.tensor([2.0, 2.0, 2.0, 1.9, 2.0, 2.0]))
    vec = model.decode(3 * torch.randn(64, 32, generator=torch.Generator().manual_seed(0)), constrained=False)  # the plain argmax
    cmd, args = vec[..., 0], vec[..., 1:]
    assert set(cmd.unique().tolist()) == set(range(6))
    used = torch.as_tensor(ARG_MASK)[cmd]
    assert bool((args[~used] == -1).all()) and bool(((args[used] >= 0) & (args[used] < 256)).all())
    after = ~valid_rows(cmd)
    assert after.any() and bool((cmd[after] == EOS).all())
    # and these vectors score themselves perfectly
    assert command_accuracy(vec, vec) == 1.0


def test_bad_input_raises_one_line_cad_errors():
    model = tiny()
    x = torch.as_tensor(synthetic_vectors(2))
    for bad, words in [(x[:, :50], "shape"), (x.float(), "integers"), (x + 300, "outside")]:
        with pytest.raises(CADError, match=words):
            model.encode(bad)
    missing = x.clone()
    missing[0, 1, COL["x"]] = -1
    with pytest.raises(CADError, match="-1"):
        model.loss(missing)
    with pytest.raises(CADError, match="latents"):
        model.decode(torch.zeros(2, 31))


# ---------------------------------------------------------------- the loss
@pytest.mark.parametrize("causal", [True, False])
def test_loss_is_one_command_ce_plus_two_argument_ce_over_used_entries(causal: bool):
    torch.manual_seed(0)
    model = tiny(causal=causal).eval()
    x = torch.as_tensor(synthetic_vectors(3))
    loss, logs = model.loss(Batch(x))  # on the first 10 rows only, when causal
    with torch.no_grad():
        cmd_logits, arg_logits = model(x)  # on all 60 rows
    # by hand: commands over the real rows and the first EOS, arguments where the true command uses them
    ce_cmd, ce_args, n_cmd, n_args = 0.0, 0.0, 0, 0
    for b in range(3):
        first_eos = x[b, :, 0].tolist().index(EOS)
        for i in range(first_eos + 1):
            c = int(x[b, i, 0])
            ce_cmd -= float(torch.log_softmax(cmd_logits[b, i], -1)[c]); n_cmd += 1
            for j in np.flatnonzero(ARG_MASK[c]):
                ce_args -= float(torch.log_softmax(arg_logits[b, i, j], -1)[int(x[b, i, j + 1])]); n_args += 1
    assert n_cmd == sum(x[b, :, 0].tolist().index(EOS) + 1 for b in range(3))
    assert logs["command_loss"].item() == pytest.approx(ce_cmd / n_cmd, rel=1e-4)
    assert logs["argument_loss"].item() == pytest.approx(ce_args / n_args, rel=1e-4)
    assert loss.item() == pytest.approx(ce_cmd / n_cmd + 2 * ce_args / n_args, rel=1e-4)
    # the engine's ModuleLoss objective defers to it
    same, _ = ModuleLoss().loss(model, Batch(x), torch.Generator())
    assert same.item() == pytest.approx(loss.item(), rel=1e-6)


def test_soft_targets_spread_over_the_tolerance_except_in_exact_columns():
    model = tiny(soft_tolerance=2)
    logits = torch.randn(3, 256, generator=torch.Generator().manual_seed(0))
    target = torch.tensor([100, 0, 100])
    exact = torch.tensor([False, False, True])
    logp = torch.log_softmax(logits, -1)
    w = torch.tensor([1.0, 2.0, 3.0, 2.0, 1.0]) / 9  # triangle over 98..102
    expected = [-(w * logp[0, 98:103]).sum(), -(torch.tensor([3.0, 2.0, 1.0]) / 6 * logp[1, 0:3]).sum(), -logp[2, 100]]
    got = model._argument_ce(logits, target, exact)
    assert got.item() == pytest.approx(float(sum(expected) / 3), rel=1e-5)


# ---------------------------------------------------------------- the accuracies
def _vec(rows: list[list[int]]) -> np.ndarray:
    return np.asarray(rows + [_row(EOS)] * (MAX_ROWS - len(rows)), dtype=np.int64)


def test_accuracies_on_hand_made_cases():
    true = _vec([_row(SOL), _row(LINE, x=10, y=20), _row(ARC, x=30, y=40, alpha=64, f=1),
                 _row(EXT, theta=1, phi=2, gamma=3, px=4, py=5, pz=6, s=7, e1=8, e2=9, b=1, u=2)])
    assert command_accuracy(true, true) == 1.0 and parameter_accuracy(true, true) == 1.0
    pred = true.copy()
    pred[1, 0] = CIRCLE          # one of 4 commands wrong: its arguments are not scored
    pred[1, COL["x"]] = 200
    pred[2, COL["x"]] = 32       # |Δ| = 2 < 3: right
    pred[2, COL["y"]] = 43       # |Δ| = 3: wrong
    pred[2, COL["f"]] = 0        # the arc flag must match exactly
    pred[3, COL["theta"]] = 0    # |Δ| = 1: right
    pred[3, COL["b"]] = 2        # |Δ| = 1 but exact: wrong
    pred[3, COL["u"]] = 2        # unchanged
    pred[5, 0] = LINE            # after the true EOS: not scored
    assert command_accuracy(pred, true) == pytest.approx(3 / 4)
    # scored: Arc x,y,α,f (1 + 0 + 1 + 0) and Ext's 11 (10 right, b wrong) -> 12 / 15
    assert parameter_accuracy(pred, true) == pytest.approx(12 / 15)
    assert parameter_accuracy(pred, true, tolerance=4) == pytest.approx(13 / 15)
    # unused columns are never scored, even if they differ
    noise = true.copy()
    noise[1, COL["r"]] = 77
    assert parameter_accuracy(noise, true) == 1.0


def test_accuracies_average_per_sequence_then_over_sequences():
    a = _vec([_row(SOL), _row(CIRCLE, x=1, y=2, r=3), _row(EXT, **{k: 5 for k in ARG_COLUMNS[5:14]}, b=0, u=0)])
    b = _vec([_row(SOL)])
    pa, pb = a.copy(), b.copy()
    pa[0, 0] = LINE                                   # a: 2 of 3 commands right
    pa[1, COL["r"]] = 9                               # a: circle 2 of 3 arguments right, Ext 11 of 11
    true, pred = np.stack([a, b]), np.stack([pa, pb])
    assert command_accuracy(pred, true) == pytest.approx((2 / 3 + 1) / 2)
    # b has no argument to score and is left out; a: 13 of 14
    assert parameter_accuracy(pred, true) == pytest.approx(13 / 14)
    assert math.isnan(parameter_accuracy(pb, b))
    assert command_accuracy(torch.as_tensor(pred), torch.as_tensor(true)) == command_accuracy(pred, true)
    with pytest.raises(CADError, match="shape"):
        command_accuracy(pred[:, :, :16], true[:, :, :16])
    with pytest.raises(CADError, match="differ"):
        command_accuracy(pred[:1], true)


# ---------------------------------------------------------------- it learns
def test_a_tiny_model_overfits_sixteen_vectors():
    torch.manual_seed(0)
    x = torch.as_tensor(synthetic_vectors(16))
    model = tiny()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    start = time.perf_counter()
    for _ in range(150):
        loss, _ = model.loss(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    y = model.decode(model.encode(x))
    assert command_accuracy(y, x) == 1.0
    assert parameter_accuracy(y, x) >= 0.95
    assert time.perf_counter() - start < 60


# ---------------------------------------------------------------- the config fragment
def test_the_config_fragment_composes_as_the_autoencoder_stage():
    cfg = compose("points/moons", ["+model@stages.autoencoder.model=cad_autoencoder"])
    node = to_plain(cfg)["stages"]["autoencoder"]["model"]
    assert node == OmegaConf.to_container(OmegaConf.load(config_dir() / "model" / "cad_autoencoder.yaml"))
    model = instantiate(node)
    assert isinstance(model, CommandAutoencoder)
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
    z = model.eval().encode(torch.as_tensor(synthetic_vectors(2)))
    assert z.shape == (2, node["latent"])
