"""Geometric sanity metrics on real chains and on broken ones."""

import numpy as np

from domains.proteins.metrics import backbone_metrics


def _backbones(chains):
    return [np.concatenate([c.coords, c.oxygen[:, None]], axis=1) for c in chains]


def test_real_chains_look_like_proteins(real_chains):
    m = backbone_metrics(_backbones(real_chains))
    assert m["count"] == len(real_chains)
    assert 3.75 < m["ca_ca_mean"] < 3.85
    assert m["ca_ca_ideal_fraction"] > 0.8
    assert m["clash_free_fraction"] == 1.0
    assert 0.8 < m["rg_ratio"] < 1.3


def test_a_collapsed_chain_clashes(real_chains):
    bb = _backbones(real_chains[:1])[0].copy()
    bb[10] = bb[20]  # residue 10 on top of residue 20
    m = backbone_metrics([bb])
    assert m["clash_free_fraction"] == 0.0
    assert backbone_metrics([]) == {"count": 0.0}
