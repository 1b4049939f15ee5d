"""Sizes given conditions: the empirical conditional for one condition, naive Bayes for several."""

from __future__ import annotations

import json
import math

import pytest
import torch

from gensci.conditional_sizes import size_histogram_given, size_table
from gensci.domain import draw_counts
from gensci.errors import GensciError


def _toy(n: int = 4000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sizes 5..20; ``grows`` = size + noise (mostly size), ``free`` independent of size."""
    g = torch.Generator().manual_seed(seed)
    sizes = torch.randint(5, 21, (n,), generator=g)
    grows = sizes.double() + 0.3 * torch.randn(n, generator=g, dtype=torch.float64)
    free = torch.randn(n, generator=g, dtype=torch.float64)
    return sizes, grows, free


def test_one_condition_without_pseudo_count_is_the_empirical_conditional():
    sizes, grows, _ = _toy()
    table = size_table(sizes, {"grows": grows}, bins=8)
    hist = torch.bincount(sizes, minlength=21).double()
    value = 12.0
    edges = torch.tensor(table["grows"]["edges"], dtype=torch.float64)
    b = int(torch.bucketize(torch.tensor(value, dtype=torch.float64), edges, right=True))
    lo = -math.inf if b == 0 else float(edges[b - 1])
    hi = math.inf if b == len(edges) else float(edges[b])
    inside = (grows >= lo) & (grows < hi)
    expected = torch.bincount(sizes[inside], minlength=21).double()
    got = size_histogram_given(hist, table, {"grows": value}, pseudo=0.0)
    torch.testing.assert_close(got / got.sum(), expected / expected.sum())


def test_a_size_driven_condition_moves_the_drawn_sizes_and_an_independent_one_does_not():
    sizes, grows, free = _toy(40000)
    table = size_table(sizes, {"grows": grows, "free": free})
    hist = torch.bincount(sizes, minlength=21).double()
    small = draw_counts(size_histogram_given(hist, table, {"grows": 6.0}), 2000, seed=1).double()
    large = draw_counts(size_histogram_given(hist, table, {"grows": 19.0}), 2000, seed=1).double()
    assert small.mean() < 7.5 and large.mean() > 17.5
    unconditional = hist / hist.sum()
    given_free = size_histogram_given(hist, table, {"free": 0.3})
    # independence: p(n | free) stays p(n) within the sampling noise (about 125 examples per cell)
    assert (given_free / given_free.sum() - unconditional).abs().max() < 0.03
    # two conditions: the free one barely changes what the size-driven one asks for
    both = size_histogram_given(hist, table, {"grows": 19.0, "free": 0.3})
    alone = size_histogram_given(hist, table, {"grows": 19.0})
    assert float((both / both.sum() * torch.arange(21)).sum()) == pytest.approx(
        float((alone / alone.sum() * torch.arange(21)).sum()), abs=0.5)


def test_unknown_values_categories_and_untrained_sizes():
    sizes, grows, _ = _toy(500)
    grows[:100] = math.nan  # unknown values are left out of the table
    table = size_table(sizes, {"grows": grows})
    assert sum(map(sum, table["grows"]["counts"])) == 400
    hist = torch.bincount(sizes, minlength=25).double()  # sizes 21..24 never seen
    got = size_histogram_given(hist, table, {"grows": 100.0})  # beyond the range: the end bin
    assert got[21:].sum() == 0 and got[:5].sum() == 0 and got.argmax() >= 18
    assert torch.equal(size_histogram_given(hist, table, {"label": "aromatic"}), hist)
    assert torch.equal(size_histogram_given(hist, table, {"grows": math.nan}), hist)
    assert torch.equal(size_histogram_given(hist, None, {"grows": 3.0}), hist)
    json.dumps(table)  # travels in a checkpoint's statistics
    with pytest.raises(GensciError, match="values for"):
        size_table(sizes, {"grows": grows[:10]})
