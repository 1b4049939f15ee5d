"""Distorted step grids: closed forms, the T-grid snap, and every sampler walking them."""

from __future__ import annotations

import pytest
import torch

from gensci.core.categorical import CategoricalDiffusion
from gensci.core.flow import FlowMatching
from gensci.core.gaussian import GaussianDiffusion
from gensci.core.spaces import Euclidean
from gensci.errors import GensciError
from samplers.ddpm import DDPMSampler
from samplers.grids import DISTORTIONS, distort, distorted_grid
from samplers.ode import EulerSampler, HeunSampler
from tests.samplers.test_ode import integrate


@pytest.mark.parametrize("name", sorted(DISTORTIONS) + ["power:0.5", "power:4"])
def test_distortions_map_the_unit_interval_monotonically(name):
    u = torch.linspace(0, 1, 101, dtype=torch.float64)
    d = distort(u, name)
    assert float(d[0]) == pytest.approx(0.0, abs=1e-12) and float(d[-1]) == pytest.approx(1.0, abs=1e-12)
    assert (d[1:] > d[:-1]).all()
    process = CategoricalDiffusion(3, transition="uniform", timesteps=500)
    grid = distorted_grid(process, 10, name)
    assert float(grid[0]) == 0.0 and float(grid[-1]) == 1.0 and (grid[1:] > grid[:-1]).all()
    assert torch.allclose(grid * 500, (grid * 500).round(), atol=1e-3)  # on the T grid


def test_grids_in_closed_form_and_the_process_default():
    flow = FlowMatching()
    k = torch.arange(11, dtype=torch.float64) / 10
    torch.testing.assert_close(EulerSampler(10, distortion="polydec").time_grid(flow), (1 - (1 - k) ** 2).float())
    torch.testing.assert_close(EulerSampler(10, distortion="power:3").time_grid(flow), (1 - (1 - k) ** 3).float())
    torch.testing.assert_close(EulerSampler(10, distortion="power:2").time_grid(flow),
                               EulerSampler(10, distortion="polydec").time_grid(flow))
    assert torch.equal(EulerSampler(10).time_grid(flow), flow.time_grid(10))  # "process" by default
    ddpm = GaussianDiffusion(Euclidean(), timesteps=20)
    assert torch.equal(DDPMSampler(20, distortion="process").time_grid(ddpm), ddpm.time_grid(20))
    assert len(DDPMSampler(20, distortion="polydec").time_grid(ddpm)) < 21  # snapped points merge near T
    with pytest.raises(GensciError, match="unknown time distortion"):
        EulerSampler(10, distortion="sigmoid")
    for bad in ("power:0", "power:-1", "power:x", "power:inf"):
        with pytest.raises(GensciError, match="positive number"):
            EulerSampler(10, distortion=bad)
    with pytest.raises(GensciError, match="exceeds"):
        DDPMSampler(30, distortion="polydec").time_grid(ddpm)


@pytest.mark.parametrize("name", ["polydec", "power:3", "cos", "polyinc"])
def test_euler_on_a_distorted_grid_is_the_left_riemann_sum_there(name):
    """dx/dt = 3 t^2 from 0: Euler is sum_k 3 t_k^2 (t_{k+1} - t_k) on the grid it walks, and
    Heun on the same grid is closer to the exact 1."""
    steps = 10
    grid = distort(torch.arange(steps + 1, dtype=torch.float64) / steps, name).float().double()
    expected = float((3 * grid[:-1] ** 2 * (grid[1:] - grid[:-1])).sum())
    got = integrate(EulerSampler(steps, distortion=name, progress=False))
    assert torch.allclose(got, torch.full_like(got, expected), atol=1e-7, rtol=0)
    heun = integrate(HeunSampler(steps, distortion=name, progress=False))
    assert abs(float(heun[0, 0]) - 1) < abs(float(got[0, 0]) - 1)
