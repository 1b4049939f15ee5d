"""Constrained decoding: Viterbi over the grammar against brute force, caps, argument bounds and
the separation of repeated loop points."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from domains.cad.autoencoder import CommandAutoencoder
from domains.cad.constrained import (GRAMMAR, argument_bounds, grammar_commands, has_repeated_points, is_grammatical,
                                     separate_loop_points)
from domains.cad.families import generate
from domains.cad.sequence import CADError
from domains.cad.vector import ARC, ARG_COLUMNS, CIRCLE, EOS, EXT, LINE, SOL, decode, encode

LETTERS = "LACESX"


def _score(logp: np.ndarray, cmds) -> float:
    """Σ log p over the rows up to and including the first EOS."""
    total = 0.0
    for i, c in enumerate(cmds):
        total += logp[i, c]
        if c == EOS:
            break
    return total


def _string(cmds) -> str:
    return "".join(LETTERS[c] for c in cmds)


def test_the_grammar_accepts_what_decodes_and_rejects_what_does_not():
    for text, ok in [("SCXE", True), ("SLLLXE", True), ("SLAXE", True), ("SAAXE", True), ("SLLXE", False),
                     ("SLXE", False), ("SXE", False), ("XE", False), ("E", False), ("SCLXE", False),
                     ("SCSCXSLLLXE", True), ("SCXSC", False), ("SC" * 7 + "XE", False), ("SCX" * 10 + "E", True),
                     ("SCX" * 11 + "E", False), ("S" + "L" * 15 + "XE", True), ("S" + "L" * 16 + "XE", False)]:
        assert (GRAMMAR.match(text) is not None) == ok, text


@pytest.mark.parametrize("seed", range(4))
def test_viterbi_finds_the_best_grammatical_sequence_found_by_brute_force(seed):
    n = 6
    logp = torch.randn(3, n, 6, generator=torch.Generator().manual_seed(seed)).mul(2.0).log_softmax(-1)
    best = grammar_commands(logp).numpy()
    for b in range(3):
        lp = logp[b].numpy()
        valid = [c for c in itertools.product(range(6), repeat=n) if GRAMMAR.match(_string(c))]
        target = max(_score(lp, c) for c in valid)
        assert GRAMMAR.match(_string(best[b])) is not None
        assert _score(lp, best[b]) == pytest.approx(target, abs=1e-9)
        first = int(np.argmax(best[b] == EOS))
        assert (best[b][first:] == EOS).all()


def test_an_argmax_that_follows_the_grammar_is_kept():
    parts = generate(24, seed=3, progress=False)
    vectors = np.stack([encode(p) for p in parts])
    onehot = torch.nn.functional.one_hot(torch.as_tensor(vectors[..., 0]), 6).double()
    logp = torch.log(onehot * 0.9 + 0.02)
    assert is_grammatical(vectors[..., 0]).all()
    assert torch.equal(grammar_commands(logp), torch.as_tensor(vectors[..., 0]))


@pytest.mark.parametrize("wanted, capped", [
    ("SCX" * 12 + "E", "SCX" * 10 + "E"),                  # at most 10 extrudes
    ("SC" * 8 + "XE", "SC" * 6 + "XE"),                    # at most 6 loops in a profile
    ("S" + "L" * 18 + "XE", "S" + "L" * 15 + "XE"),        # at most 15 curves in a loop
])
def test_the_caps_hold_however_strongly_the_logits_break_them(wanted, capped):
    n = 60
    one_hot = lambda text: torch.nn.functional.one_hot(  # noqa: E731
        torch.as_tensor([LETTERS.index(ch) for ch in text] + [EOS] * (n - len(text))), 6).double()
    logp = torch.log(0.6 * one_hot(wanted) + 0.35 * one_hot(capped) + 0.05 / 6).unsqueeze(0)
    assert GRAMMAR.match(wanted) is None and GRAMMAR.match(capped) is not None
    out = _string(grammar_commands(logp)[0].numpy())
    assert out[:len(capped)] == capped


def test_argument_bounds_allow_only_meaningful_values():
    allowed = argument_bounds()
    col = {name: i for i, name in enumerate(ARG_COLUMNS)}
    assert allowed[col["f"]].sum() == 2 and allowed[col["b"]].sum() == 4 and allowed[col["u"]].sum() == 3
    assert not allowed[col["s"], 0] and not allowed[col["r"], 0] and allowed[col["r"], 1:].all()
    assert allowed[col["x"]].all() and allowed[col["e1"]].all()


def _vector(rows: list[list[int]]) -> np.ndarray:
    full = [r + [-1] * (17 - len(r)) for r in rows]
    full += [[EOS] + [-1] * 16] * (60 - len(full))
    return np.asarray(full, dtype=np.int64)


def test_a_repeated_loop_point_moves_to_the_next_most_likely_value():
    # a triangle whose second end point repeats the first: (160, 128) twice
    ext = [EXT] + [-1] * 5 + [64, 64, 64, 128, 128, 128, 128, 160, 128, 0, 0]  # plane, size 1, extent, new, one side
    vec = _vector([[SOL], [LINE, 160, 128], [LINE, 160, 128], [LINE, 128, 128], ext, [EOS]])
    with pytest.raises(CADError, match="zero length"):
        decode(vec)
    assert has_repeated_points(vec)
    scores = np.full((60, 2, 256), -50.0)
    scores[2, 0, 160], scores[2, 0, 150] = -0.5, -0.9   # row 2: x = 160, runner-up 150
    scores[2, 1, 128], scores[2, 1, 170] = -0.5, -0.7   # y = 128, runner-up 170: (160, 170) is the best other pair
    fixed = separate_loop_points(vec, scores)
    assert tuple(fixed[2, 1:3]) == (160, 170)
    assert not has_repeated_points(fixed)
    decode(fixed)  # builds a sequence now
    assert np.array_equal(separate_loop_points(fixed, scores), fixed)  # nothing else changes


def test_constrained_decoding_always_yields_a_grammatical_vector_without_repeated_points():
    torch.manual_seed(0)
    ae = CommandAutoencoder(d_model=32, layers=1, heads=4, feedforward=64, latent=16, arg_embedding=8).eval()
    z = torch.randn(64, 16)
    plain, constrained = ae.decode(z, constrained=False).numpy(), ae.decode(z, constrained=True).numpy()
    assert not is_grammatical(plain[..., 0]).all()  # an untrained decoder breaks the grammar...
    assert is_grammatical(constrained[..., 0]).all()  # ...which constrained decoding never does
    assert not any(has_repeated_points(v) for v in constrained)
    col = {name: i + 1 for i, name in enumerate(ARG_COLUMNS)}
    arcs = constrained[..., 0] == ARC
    assert set(np.unique(constrained[..., col["f"]][arcs])) <= {0, 1}
    exts = constrained[..., 0] == EXT
    assert (constrained[..., col["b"]][exts] < 4).all() and (constrained[..., col["u"]][exts] < 3).all()
    assert (constrained[..., col["r"]][constrained[..., 0] == CIRCLE] >= 1).all()
    for v in constrained:
        try:
            decode(v)
        except CADError as err:  # only geometry the grammar cannot see may fail (e.g. a loop with no area)
            assert "zero length" not in str(err) and "SOL" not in str(err) and "circle shares" not in str(err)
