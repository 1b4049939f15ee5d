"""Evaluation against a split: real chains score as real, random angles do not."""

import warnings

import numpy as np
import pytest
import torch

from domains.proteins.evaluation import evaluate_backbones, ss_metrics
from gensci.core.spaces import Torus
from gensci.errors import GensciError


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no scTM models here
        return fn(*args, **kwargs)


def test_the_reference_itself_scores_zero_distance_and_full_novelty(domain):
    test, train = domain._backbones["test"], domain._backbones["train"]
    m = _quiet(evaluate_backbones, train, train, train)
    for k in ("kl_phi", "kl_angles_mean", "kl_ramachandran", "kl_psi_phi_next"):
        assert m[k] == pytest.approx(0.0, abs=1e-12)
    for method in ("dssp", "psea"):
        for name in ("helix", "strand", "coil"):
            assert m[f"ss_{method}_{name}_diff"] == pytest.approx(0.0)
    assert m["ss_dssp_helix_strand"] == pytest.approx(m["ss_dssp_helix"] + m["ss_dssp_strand"])
    assert m["novelty_max_tm_mean"] == pytest.approx(1.0, abs=1e-4)
    assert m["baseline_kl_ramachandran"] > 0.2  # right marginals, wrong phi-psi coupling
    assert m["clash_free_fraction"] == 1.0
    # a held-out chain is a different fold from every training chain
    assert _quiet(evaluate_backbones, test, test, train)["novelty_max_tm_mean"] < 0.6


def test_domain_evaluate_tells_random_angles_from_the_test_split(domain):
    test = domain._backbones["test"]
    real = _quiet(domain.evaluate, test)
    plan = domain.plan(8, length="60..90")
    noise = domain.decode(Torus().noise(plan.shape, generator=torch.Generator().manual_seed(0), mask=plan.mask), plan)
    rand = _quiet(domain.evaluate, noise)
    assert real["kl_ramachandran"] == pytest.approx(0.0, abs=1e-12)
    assert rand["kl_ramachandran"] > real["baseline_kl_ramachandran"] > 0.1
    assert rand["kl_angles_mean"] > 1.0  # uniform bond angles are far off
    assert rand["ss_dssp_helix"] < 0.1 and rand["ref_ss_dssp_helix"] == real["ss_dssp_helix"]
    assert rand["clash_free_fraction"] < 1.0 and rand["diversity_clusters"] == 8
    assert _quiet(domain.evaluate, noise) == rand  # seeded subsets: the same numbers again
    with pytest.raises(GensciError, match="split"):
        domain.evaluate(test, split="holdout")


def test_ss_metrics_without_reference_has_no_differences(real_chains):
    bb = [np.concatenate([c.coords, c.oxygen[:, None]], 1) for c in real_chains]
    m = ss_metrics(bb, None)
    assert "ss_dssp_helix" in m and not any(k.startswith("ref_") or k.endswith("_diff") for k in m)


def test_figures_write_a_ramachandran_png(domain, tmp_path):
    paths = domain.figures(domain._backbones["val"], tmp_path / "metrics")
    assert [p.name for p in paths] == ["metrics_ramachandran.png"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG"
