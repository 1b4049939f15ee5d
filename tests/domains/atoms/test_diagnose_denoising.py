"""``scripts/diagnose_atoms_denoising.py``: a start at t0 near 1 returns the data molecules'
geometry (the corruption and the partial grid are the model's own), a start at 0 is sampling."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from domains.atoms import AtomsDomain
from domains.atoms.network import AtomsNetwork
from gensci.config import compose
from gensci.model import GenerativeModel, build_process
from tests.scripts_support import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("diagnose_atoms_denoising")


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> GenerativeModel:
    domain = AtomsDomain(limit=200, cache_dir=str(tmp_path_factory.mktemp("cache")), progress=False)
    domain.prepare()
    # the displacement target: a network without coordinate steps then leaves x_t as it is
    cfg = OmegaConf.to_container(compose("atoms/tiny", ["process.fields.pos.prediction=displacement"]), resolve=True)
    process = build_process(cfg["process"], domain)
    torch.manual_seed(0)
    network = AtomsNetwork(**domain.network_kwargs(), hidden=32, edge_dim=8, trunk_kwargs={"layers": 2})
    for layer in network.trunk.layers:  # no coordinate steps: the predicted displacement is zero
        torch.nn.init.zeros_(layer.coord[-1].weight)
        torch.nn.init.zeros_(layer.coord[-1].bias)
    return GenerativeModel(domain, process, network, cfg)


def test_a_late_start_keeps_the_data_geometry_and_an_early_one_does_not(script, model):
    batch = model.domain.featurise(model.domain.rows("train")[:16])
    late, drift_late = script.denoise_from(model, batch, 0.999, steps=20, seed=0)
    early, drift_early = script.denoise_from(model, batch, 0.0, steps=20, seed=0)
    # from t0 = 0.999 the positions stay within the path's own 0.001 * |x0 - x1| of the data
    assert drift_late < 0.01
    # the untrained heads draw random types, so only the geometry is the data's: every atom stays put
    for molecule, row in zip(late, batch.x["pos"]):
        d = torch.cdist(torch.as_tensor(molecule.positions), row[: len(molecule)].double())
        assert torch.diagonal(d).max() < 0.02
    assert drift_early > 1.0  # from noise, nothing of the data is left
    assert len(late) == len(early) == 16
    assert [len(m) for m in late] == [int(c) for c in batch.mask["pos"].sum(1)]
