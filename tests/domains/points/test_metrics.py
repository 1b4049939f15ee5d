import numpy as np

from domains.points.data import PointTable
from domains.points.metrics import knn_predict, point_metrics


def test_w2_is_zero_for_identical_sets_and_the_shift_for_translated_ones():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2))
    held = PointTable(x=x, columns=["a", "b"])
    assert point_metrics(PointTable(x=x.copy(), columns=["a", "b"]), held, held, [])["w2"] < 1e-6
    shifted = PointTable(x=x + np.array([3.0, 4.0]), columns=["a", "b"])
    assert abs(point_metrics(shifted, held, held, [])["w2"] - 5.0) < 1e-6


def test_knn_oracle_and_class_accuracy():
    rng = np.random.default_rng(1)
    a = rng.normal(loc=-5, size=(100, 2))
    b = rng.normal(loc=5, size=(100, 2))
    train = PointTable(x=np.vstack([a, b]), columns=["p", "q"], conditions={"label": np.array(["0"] * 100 + ["1"] * 100, dtype=object)})
    assert list(knn_predict(train.x, train.conditions["label"], np.array([[-5.0, -5.0], [5.0, 5.0]]))) == ["0", "1"]
    spec = [{"name": "label", "kind": "categorical", "num_classes": 2, "classes": ["0", "1"]}]
    good = PointTable(x=b[:50], columns=["p", "q"], conditions={"label": np.array(["1"] * 50, dtype=object)})
    bad = PointTable(x=a[:50], columns=["p", "q"], conditions={"label": np.array(["1"] * 50, dtype=object)})
    assert point_metrics(good, train, train, spec)["label_accuracy"] == 1.0
    assert point_metrics(bad, train, train, spec)["label_accuracy"] == 0.0
    assert point_metrics(good, train, train, spec)["label_oracle_accuracy"] == 1.0
