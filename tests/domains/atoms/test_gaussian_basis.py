"""The Gaussian expansion against its formula, element by element."""

import math

import torch

from domains.atoms.gaussian_basis import gaussians


def test_gaussians_follow_the_formula_with_one_or_per_centre_widths():
    d = torch.tensor([[0.0, 1.3], [2.5, 4.0]], dtype=torch.float64)
    centres = torch.tensor([0.5, 1.0, 3.0])
    widths = torch.tensor([0.1, 0.5, 2.0])
    one = gaussians(d, centres, 0.7)
    per = gaussians(d, centres, widths)
    assert one.shape == per.shape == (2, 2, 3) and one.dtype == torch.float64
    for i in range(2):
        for j in range(2):
            for k in range(3):
                x = d[i, j].item() - centres[k].item()
                assert math.isclose(one[i, j, k].item(), math.exp(-x * x / (2 * 0.49)), rel_tol=1e-12)
                w = widths[k].item()
                assert math.isclose(per[i, j, k].item(), math.exp(-x * x / (2 * w * w)), rel_tol=1e-6)
    assert gaussians(torch.tensor([1.0]), centres, widths)[0, 1] == 1.0  # peak at its centre
