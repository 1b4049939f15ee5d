"""The CAD domain's image side: meshes from the worker, cached renders, InfoNCE against its closed
form, a tiny encoder that learns to retrieve, retrieval at chance when untrained, user images
prepared like renders, and ``gensci sample MODEL --image photo.png`` end to end."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("OCP")

import gensci  # noqa: E402
from domains.cad.image_encoder import ContrastiveImageCAD, info_nce  # noqa: E402
from domains.cad.json_codec import read_json  # noqa: E402
from domains.cad.render import write_png  # noqa: E402
from domains.cad.renders import load_image, prepare_image, render_vectors  # noqa: E402
from domains.cad.retrieval import embed_pairs, retrieval, top1_accuracy  # noqa: E402
from domains.cad.sequence import CADError  # noqa: E402
from domains.cad.vector import EOS, SOL, encode  # noqa: E402
from domains.cad.worker import BuildWorker  # noqa: E402
from gensci.config import compose  # noqa: E402
from gensci.core.state import State  # noqa: E402
from gensci.errors import GensciError  # noqa: E402

from .parts import box  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_vectors() -> np.ndarray:
    """The vectors of the fixture parts the codec reads (22), in file order."""
    out = []
    for f in sorted(FIXTURES.glob("*.json")):
        if f.name == "golden.json" or f.name.startswith("reject_"):
            continue
        out.append(encode(read_json(f)))
    return np.stack(out)


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    return render_vectors(fixture_vectors(), size=32, cache_dir=tmp_path_factory.mktemp("cache"), progress=False)


def test_the_worker_returns_the_triangulation_on_request() -> None:
    """A 2 x 3 x 4 box: every vertex on its box, the triangles' area 2(ab + bc + ca) = 52."""
    with BuildWorker() as worker:
        r = worker.build(box(2, 3, 4), mesh=True)
        assert worker.build(box(2, 3, 4)).vertices is None  # not asked
    v, f = r.vertices, r.faces
    assert v.shape[1] == 3 and f.shape[1] == 3 and f.max() < len(v)
    np.testing.assert_allclose(v.min(0), [0, 0, 0], atol=1e-9)
    np.testing.assert_allclose(v.max(0), [2, 3, 4], atol=1e-9)
    area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1).sum()
    assert area == pytest.approx(52.0, rel=1e-9)


def test_renders_are_cached_and_reused(renders, tmp_path, monkeypatch) -> None:
    vectors = fixture_vectors()[:3]
    bad = np.full((60, 17), -1)
    bad[:, 0] = EOS
    bad[0, 0] = SOL  # a loop that no extrude uses: does not decode
    first = render_vectors(np.concatenate([vectors, bad[None]]), size=32, cache_dir=tmp_path, progress=False)
    assert first.images.shape == (4, 8, 32, 32) and first.images.dtype == np.uint8
    assert list(first.ok) == [True, True, True, False] and sum(first.causes.values()) == 1
    assert (first.images[3] == 255).all()  # a failed part stays blank
    assert all((img < 250).sum() > 10 for img in first.images[:3].reshape(-1, 32, 32))  # every view shows the part
    keys = first.keys
    assert keys[0] == ("shaded", "iso") and keys[4] == ("edges", "iso")
    assert not np.array_equal(first.images[0, 0], first.images[0, 4])  # the two styles differ
    files = list((tmp_path / "cad" / "renders").glob("*.npz"))
    assert len(files) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("a cached set must not be built again")

    monkeypatch.setattr("domains.cad.worker.build", refuse)
    again = render_vectors(np.concatenate([vectors, bad[None]]), size=32, cache_dir=tmp_path, progress=False)
    assert np.array_equal(again.images, first.images) and np.array_equal(again.ok, first.ok)
    np.testing.assert_array_equal(renders.images[:3], first.images[:3])  # the same parts, rendered alike


def test_info_nce_against_its_closed_form() -> None:
    s = torch.tensor([[2.0, 0.5], [-1.0, 1.0]])
    nll = lambda own, other: -math.log(math.exp(own) / (math.exp(own) + math.exp(other)))  # noqa: E731
    rows = (nll(2.0, 0.5) + nll(1.0, -1.0)) / 2
    cols = (nll(2.0, -1.0) + nll(1.0, 0.5)) / 2
    assert info_nce(s).item() == pytest.approx((rows + cols) / 2, rel=1e-6)
    model = ContrastiveImageCAD(latent=4, embed=8, width=4, temperature=0.5)
    images, latents = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8), torch.randn(3, 4)
    a, b = model.embed_images(images), model.embed_cad(latents)
    assert torch.allclose(a.norm(dim=1), torch.ones(3)) and torch.allclose(b.norm(dim=1), torch.ones(3))
    assert torch.allclose(model.similarity(images, latents), 2.0 * a @ b.T, atol=1e-6)  # exp(s) = 1 / 0.5
    with pytest.raises(CADError, match="square"):
        info_nce(torch.zeros(2, 3))


def test_a_tiny_encoder_learns_to_retrieve_sixteen_parts(renders) -> None:
    """16 fixture parts, random codes as their latents: after a few hundred steps (seconds) the
    isometric render and sketch of each part find its own code among the 16. (Axis views of
    different parts can coincide -- two plates seen edge-on -- so they are trained on, not scored.)"""
    torch.manual_seed(0)
    n = 16
    images = torch.from_numpy(renders.images[:n])
    latents = torch.randn(n, 8, generator=torch.Generator().manual_seed(1))
    model = ContrastiveImageCAD(latent=8, embed=32, width=8, cad_hidden=32, shift=1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)

    class Batch:
        x = State(images=images, latent=latents)

    for _ in range(350):
        loss, _ = model.loss(Batch(), g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        iso = [k for k, key in enumerate(renders.keys) if key[1] == "iso"]
        hits = [top1_accuracy(*embed_pairs(model, images[:, k], latents)) for k in iso]
    assert len(iso) == 2 and min(hits) >= 0.9, hits


def test_retrieval_of_an_untrained_encoder_is_at_chance() -> None:
    """Random images and unrelated latents: top-1 within 4 sigma of 1/B; a constant encoder scores
    exactly 1/B, identical embeddings 1, and sizes past the pairs are capped and said so."""
    torch.manual_seed(0)
    model = ContrastiveImageCAD(latent=8, embed=32, width=4).eval()
    images = torch.randint(0, 256, (600, 16, 16), dtype=torch.uint8)
    a, b = embed_pairs(model, images, torch.randn(600, 8))
    out = retrieval(a, b, batch_sizes=(10, 128, 1024), draws=200, seed=0)
    assert out["capped"] == [1024] and "top1@600" in out
    for size, draws in ((10, 200), (128, 200), (600, 1)):
        chance = out[f"chance@{size}"]
        assert chance == 1 / size
        sigma = math.sqrt(chance * (1 - chance) / min(size * draws, 600))  # draws reuse the 600 queries
        assert abs(out[f"top1@{size}"] - chance) < 4 * sigma + 1e-9, (size, out[f"top1@{size}"])
    same = torch.randn(50, 8)
    assert retrieval(torch.ones(50, 8), same, (10,), draws=5)["top1@10"] == pytest.approx(0.1)
    assert retrieval(same, same, (10, 50), draws=5)["top1@50"] == 1.0
    # by default about 1000 queries at every size: 100 draws of 10, 8 of 128
    paired = retrieval(a, b, batch_sizes=(10, 128), seed=3)
    assert paired == retrieval(a, b, batch_sizes=(10, 128), draws=None, seed=3)
    assert paired["top1@10"] == retrieval(a, b, batch_sizes=(10,), draws=100, seed=3)["top1@10"]
    assert paired["top1@10"] != retrieval(a, b, batch_sizes=(10,), draws=10, seed=3)["top1@10"]


def test_user_images_are_prepared_like_renders(renders, tmp_path) -> None:
    """A part photographed off-centre on a dark floor comes out centred, dark on white, filling the
    image to the renders' margin; a render itself comes back nearly unchanged."""
    photo = np.full((120, 200), 30, dtype=np.uint8)
    photo[20:60, 130:190] = 200  # a light 40 x 60 block
    out = prepare_image(photo, 32)
    assert out.shape == (32, 32) and out[0, 0] == 255 and out[-1, -1] == 255
    rows, cols = np.nonzero(out < 128)
    assert cols.max() - cols.min() + 1 == pytest.approx(0.9 * 32, abs=1.5)  # the long side fills 90 %
    assert abs((rows.min() + rows.max()) / 2 - 15.5) <= 1 and abs((cols.min() + cols.max()) / 2 - 15.5) <= 1
    render = renders.images[0, 0]
    assert np.abs(prepare_image(render, 32).astype(float) - render).mean() < 12
    with pytest.raises(CADError, match="background"):
        prepare_image(np.full((10, 10), 7, dtype=np.uint8))
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)  # transparent, with an opaque black square
    rgba[10:30, 10:30] = (0, 0, 0, 255)
    from PIL import Image

    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    img = load_image(tmp_path / "alpha.png", 32)
    assert img[0, 0] == 255 and img[16, 16] == 0
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(CADError, match="not a readable image"):
        load_image(tmp_path / "text.png")


@pytest.fixture(scope="module")
def tiny_image_model(tmp_path_factory) -> Path:
    from gensci.training.train import train

    root = tmp_path_factory.mktemp("cad_image")
    cfg = compose("cad/tiny", [f"domain.source={FIXTURES}", "domain.progress=false", f"domain.cache_dir={root / 'cache'}",
                               "batch_size=16", "stages.autoencoder.trainer.max_steps=40",
                               "stages.image_encoder.trainer.max_steps=30", "trainer.max_steps=40",
                               "trainer.enable_progress_bar=false", f"run_dir={root / 'run'}", "threads=1"])
    return train(cfg)


def test_sampling_from_an_image_end_to_end(tiny_image_model, renders, tmp_path) -> None:
    from gensci.cli import main

    model = gensci.load(tiny_image_model)
    spec = next(c for c in model.conditions if c["name"] == "image")
    assert spec["kind"] == "vector" and spec["dim"] == 32
    photo = tmp_path / "photo.png"
    write_png(np.kron(renders.images[0, 0], np.ones((3, 3), dtype=np.uint8)), photo)  # a 96 x 96 "photo"
    out = tmp_path / "parts"
    assert main(["sample", str(tiny_image_model), "-n", "2", "--image", str(photo), "--guidance", "2",
                 "--redraws", "0", "-q", "-o", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 2 and summary["requested"] == {"image": str(photo)}
    plan = model.domain.plan(3, image=str(photo))
    assert plan.cond["image"].shape == (3, 32) and torch.allclose(plan.cond["image"].norm(dim=1), torch.ones(3))
    assert model.domain.plan(2).cond is None  # no image, no conditions: unconditional
    with pytest.raises(GensciError, match="no image file"):
        model.domain.plan(1, image=str(tmp_path / "missing.png"))
    with pytest.raises(GensciError, match="image=PATH"):
        model.domain.plan(1, colour="red")
    with pytest.raises(GensciError, match="sampling option"):
        model.domain.plan(1, conditions={"image": "x"})


def test_retrieval_on_the_domain_and_an_old_checkpoint(tiny_image_model, tmp_path) -> None:
    """GenCAD's retrieval on the rendered train parts; a checkpoint written before the image stage
    (no image stage, no image condition) loads and samples, and names why it takes no image."""
    from domains.cad.retrieval import evaluate_retrieval
    from gensci.checkpoint import load_checkpoint

    model = gensci.load(tiny_image_model)
    out = evaluate_retrieval(model.domain, split="train", batch_sizes=(10, 1024), draws=3)
    n = out["pairs"]
    assert 15 <= n <= 22 and out["capped"] == [1024] and 0.0 <= out[f"top1@{n}"] <= 1.0
    payload = torch.load(tiny_image_model, weights_only=True)
    assert "image_encoder" in load_checkpoint(tiny_image_model)["stages"]
    stats = payload["stats"]
    index = [c["name"] for c in stats["conditions"]].index("image")
    stats["conditions"] = [c for c in stats["conditions"] if c["name"] != "image"]
    stats.pop("image")
    payload["state_dict"] = {k: v for k, v in payload["state_dict"].items() if not k.startswith(f"cond.embedders.{index}.")}
    payload["stages"].pop("image_encoder")
    payload["trained"] = [t for t in payload["trained"] if t != "image_encoder"]
    payload["config"]["stages"].pop("image_encoder", None)
    old = tmp_path / "old.pt"
    torch.save(payload, old)
    before = gensci.load(old)
    before.domain.progress = False
    assert [c["name"] for c in before.conditions] == ["width", "depth", "height"]
    assert len(before.sample(2, seed=0, progress=False, redraws=0)) == 2
    with pytest.raises(GensciError, match="no image encoder"):
        before.sample(1, image=str(tmp_path / "x.png"), progress=False)
