"""The Ramachandran PNG is a real image with one panel per angle set."""

import numpy as np

from domains.proteins.angles import backbone_to_angles
from domains.proteins.plots import ramachandran_png


def test_ramachandran_png_is_readable_and_not_blank(tmp_path, real_chains):
    import matplotlib.image

    angles = [backbone_to_angles(c.coords) for c in real_chains]
    one = ramachandran_png({"reference": angles}, tmp_path / "one.png")
    two = ramachandran_png({"samples": angles[:2], "reference": angles}, tmp_path / "sub" / "two.png", title="t")
    assert two.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    a, b = matplotlib.image.imread(one), matplotlib.image.imread(two)
    assert b.shape[1] > 1.8 * a.shape[1] and a.shape[0] == b.shape[0]  # two panels side by side
    assert np.ptp(a[..., :3]) > 0.5  # drawn, not a blank canvas
