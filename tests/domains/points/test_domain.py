from pathlib import Path

import numpy as np
import pytest
import torch

from domains.points import PointsDomain
from gensci.errors import GensciError


@pytest.fixture
def csv_domain(tmp_path: Path) -> PointsDomain:
    rng = np.random.default_rng(0)
    lines = ["u,v,kind,size"]
    for i in range(200):
        kind = "a" if i % 2 else "b"
        size = "" if i % 7 == 0 else f"{rng.uniform(1, 3):.3f}"
        lines.append(f"{rng.normal(5, 2):.4f},{rng.normal(-1, 0.5):.4f},{kind},{size}")
    path = tmp_path / "vec.csv"
    path.write_text("\n".join(lines) + "\n")
    dom = PointsDomain(dataset=None, path=str(path), categorical_conditions=["kind"], numeric_conditions=["size"])
    dom.prepare()
    return dom


def test_statistics_normalise_the_train_split(csv_domain: PointsDomain):
    x = csv_domain.dataset("train").x
    assert torch.allclose(x.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(x.std(0, unbiased=False), torch.ones(2), atol=1e-4)
    specs = {s["name"]: s for s in csv_domain.conditions}
    assert specs["kind"]["classes"] == ["a", "b"] and 1.0 <= specs["size"]["low"] < specs["size"]["high"] <= 3.0
    cond = csv_domain.dataset("train").cond
    assert torch.isnan(cond["size"]).any(), "missing values stay missing (NaN), never imputed"


def test_plan_rejects_unknown_and_out_of_range_conditions(csv_domain: PointsDomain):
    with pytest.raises(GensciError, match=r"unknown condition 'colour'; this model knows: size \(numeric, trained on \[1\.\d+, 2\.\d+\]\), kind \(one of a, b\)"):
        csv_domain.plan(4, {"colour": "red"})
    with pytest.raises(GensciError, match="outside the training range"):
        csv_domain.plan(4, {"size": "99"})
    with pytest.raises(GensciError, match="not a known class; choose one of a, b"):
        csv_domain.plan(4, {"kind": "c"})
    plan = csv_domain.plan(4, {"kind": "b"})
    assert plan.cond["kind"].tolist() == [1.0] * 4 and torch.isnan(plan.cond["size"]).all()


def test_decode_write_read_round_trip(csv_domain: PointsDomain, tmp_path: Path):
    plan = csv_domain.plan(5, {"kind": "a"})
    x = torch.randn(5, 2)
    table = csv_domain.decode(x, plan)
    np.testing.assert_allclose(csv_domain.encode_x(table.x).numpy(), x.numpy(), atol=1e-5)
    path = csv_domain.write(table, tmp_path / "out" / "s.csv")
    back = csv_domain.read(path)
    np.testing.assert_allclose(back.x, table.x, rtol=1e-12)
    assert list(back.conditions["kind"]) == ["a"] * 5


def test_a_written_file_is_evaluated_with_its_requested_conditions(csv_domain: PointsDomain, tmp_path: Path):
    plan = csv_domain.plan(40, {"kind": "b", "size": "2"})
    table = csv_domain.decode(torch.randn(40, 2, generator=torch.Generator().manual_seed(0)), plan)
    back = csv_domain.read(csv_domain.write(table, tmp_path / "s.csv"))
    assert list(back.conditions["kind"]) == ["b"] * 40 and back.conditions["size"].tolist() == [2.0] * 40
    fresh, read = csv_domain.evaluate(table), csv_domain.evaluate(back)
    assert {"kind_accuracy", "size_mae"} <= set(read)
    assert read == pytest.approx(fresh)


def test_stats_restore_without_data(csv_domain: PointsDomain):
    fresh = PointsDomain(dataset=None, path="/nonexistent.csv")
    fresh.load_stats(csv_domain.stats())
    assert fresh.network_kwargs() == csv_domain.network_kwargs()
    assert fresh.plan(3).shape == (3, 2)


def test_png_output_is_a_readable_image(csv_domain: PointsDomain, tmp_path: Path):
    import matplotlib.image

    plan = csv_domain.plan(50, {"kind": "a"})
    path = csv_domain.write(csv_domain.decode(torch.randn(50, 2), plan), tmp_path / "s.png")
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0
