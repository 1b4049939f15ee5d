"""gensci evaluate's points figure: the samples over the data, per requested class over that class."""

import numpy as np
from PIL import Image

import gensci
from domains.points.data import PointTable
from domains.points.figures import scatter_panels
from gensci.cli import main


def test_panels_hold_the_samples_over_the_data_and_per_class_over_that_class():
    data = PointTable(x=np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]), columns=["a", "b"],
                      conditions={"label": np.array(["0", "1", "0", "1"], dtype=object)})
    samples = PointTable(x=np.array([[5.0, 5.0], [6.0, 6.0], [7.0, 7.0]]), columns=["a", "b"],
                         conditions={"label": np.array(["1", "1", "1"], dtype=object)})
    whole, one = scatter_panels(samples, data, ["label"], split="val")
    np.testing.assert_array_equal(whole.data, data.x)
    np.testing.assert_array_equal(whole.samples, samples.x)
    assert "val split" in whole.title and one.title.startswith("label=1")
    np.testing.assert_array_equal(one.data, [[1.0, 1.0], [3.0, 3.0]])  # that class's points only
    np.testing.assert_array_equal(one.samples, samples.x)
    unconditional = PointTable(x=samples.x, columns=["a", "b"])
    assert len(scatter_panels(unconditional, data, ["label"])) == 1  # no class asked: one panel
    flat = scatter_panels(PointTable(x=np.array([[1.0], [2.0]]), columns=["a"]), PointTable(x=np.ones((3, 1)), columns=["a"]), [])
    np.testing.assert_array_equal(flat[0].samples, [[1.0, 0.0], [2.0, 0.0]])


def test_evaluate_writes_the_scatter_beside_the_metrics(tmp_path, capsys):
    out = tmp_path / "metrics.json"
    assert main(["evaluate", "points/labelled_moons", "-n", "200", "--condition", "label=1", "--steps", "5",
                 "-q", "-o", str(out)]) == 0
    figure = tmp_path / "metrics_points.png"
    assert f"figure written to {figure}" in capsys.readouterr().out
    with Image.open(figure) as image:
        assert image.format == "PNG" and image.size == (920, 460)  # two panels of 4.6 in at 100 dpi
        assert len(set(image.convert("L").getdata())) > 10  # not a blank canvas
    model = gensci.load("points/moons")
    (path,) = model.domain.figures(model.sample(50, seed=0, progress=False, steps=5), tmp_path / "m", split="train")
    assert path == tmp_path / "m_points.png" and Image.open(path).size == (460, 460)
