"""The build worker: results and files, crash / hang / out-of-memory containment (the next build
still works), one result per input in order."""

import math
import pickle
import sys

import numpy as np
import pytest

pytest.importorskip("OCP")
trimesh = pytest.importorskip("trimesh")

from domains.cad.export import read_step  # noqa: E402
from domains.cad.kernel import build_shape, shape_volume  # noqa: E402
from domains.cad.sequence import CADError, CADSequence  # noqa: E402
from domains.cad.worker import BuildWorker, build  # noqa: E402
from tests.domains.cad.parts import box, emptied, extrude, plate_with_hole, rect  # noqa: E402


@pytest.fixture(scope="module")
def worker():
    with BuildWorker(timeout=30.0) as w:
        yield w


def test_sequences_pickle() -> None:
    seq = plate_with_hole()
    seq.labels["family"] = "plate"
    back = pickle.loads(pickle.dumps(seq))
    assert back.labels == {"family": "plate"}
    assert shape_volume(build_shape(back)) == pytest.approx(shape_volume(build_shape(seq)), rel=1e-12)


def test_build_writes_files_and_judges(worker, tmp_path) -> None:
    r = worker.build(plate_with_hole(4, 3, 1, 0.5), step_path=tmp_path / "p.step", stl_path=tmp_path / "p.stl")
    assert r.ok and r.cause is None and r.strict_valid and r.deepcad_valid, r
    assert r.volume == pytest.approx(12 - math.pi / 4, rel=1e-9)
    np.testing.assert_allclose(r.bbox, [[0, 0, 0], [4, 3, 1]], atol=1e-7)
    assert r.n_solids == 1 and r.file_errors == [] and 0 < r.seconds < 30
    assert shape_volume(read_step(r.step_path)) == pytest.approx(r.volume, rel=1e-9)
    mesh = trimesh.load(r.stl_path)
    assert mesh.is_watertight and mesh.volume == pytest.approx(r.volume, rel=1e-2)


def test_kernel_errors_come_back_as_causes(worker) -> None:
    r = worker.build(CADSequence([extrude(rect(1, 1), 1), extrude(rect(1, 1), 0.0, operation="cut")]))
    assert not r.ok and r.cause.startswith("extrude 2: zero-length extrude")
    assert not r.strict_valid and not r.deepcad_valid and r.volume is None
    assert r.strict_reasons == [r.cause] and r.deepcad_reason == "the build failed"
    empty = worker.build(emptied())
    assert empty.ok and not empty.strict_valid and not empty.deepcad_valid
    assert any(reason.startswith("no solid") for reason in empty.strict_reasons)
    assert empty.deepcad_reason == "empty bounding box"


@pytest.mark.parametrize("hook, cause", [("segfault", "worker crashed (signal 11, SIGSEGV)"),
                                         ("abort", "worker crashed (signal 6, SIGABRT)"),
                                         ("oom", "out of memory (cap 3072 MB)")])
def test_crashes_are_contained(worker, hook: str, cause: str) -> None:
    if hook == "oom" and not sys.platform.startswith("linux"):
        pytest.skip("the address-space cap is set on Linux only")
    starts = len(worker.startup_seconds)
    r = worker.build(box(), _hook=hook)
    assert not r.ok and r.cause == cause and r.strict_reasons == [cause]
    after = worker.build(box(2, 3, 4))
    assert after.ok and after.volume == pytest.approx(24.0) and after.startup_seconds > 0
    assert len(worker.startup_seconds) == max(starts, 1) + 1  # one fresh worker after the crash


def test_hangs_time_out(worker) -> None:
    r = worker.build(box(), timeout=0.5, _hook="hang")
    assert not r.ok and r.cause == "timed out after 0.5 s" and 0.5 <= r.seconds < 10
    assert worker.build(box(1, 1, 1)).volume == pytest.approx(1.0)


def test_build_many_keeps_order_and_never_drops(worker, tmp_path) -> None:
    seqs = [box(1, 1, h) for h in (1, 2, 3)]
    seqs.insert(1, CADSequence([extrude(rect(1, 1), 0.0)]))
    seqs.append(box(1, 1, 5))
    seqs[-1].labels["hook"] = lambda: None  # cannot be pickled: that input fails alone
    paths = [tmp_path / f"{i}.step" for i in range(len(seqs))]
    results = worker.build_many(seqs, step_paths=paths, progress=False)
    assert len(results) == len(seqs)
    assert [r.ok for r in results] == [True, False, True, True, False]
    assert [r.volume for r in results if r.ok] == pytest.approx([1.0, 2.0, 3.0])
    assert results[1].cause.startswith("extrude 1: zero-length")
    assert results[4].cause.startswith("the task could not be sent to the worker")
    assert [r.step_path is not None for r in results] == [True, False, True, True, False]
    with pytest.raises(CADError, match="step_paths has 1 entries for 5 sequences"):
        worker.build_many(seqs, step_paths=paths[:1], progress=False)


def test_startup_is_measured_and_cap_checked(worker) -> None:
    assert worker.startup_seconds and all(0 < s < 60 for s in worker.startup_seconds)
    with BuildWorker(memory_mb=100) as small, pytest.raises(CADError, match="memory_mb=100 leaves no room"):
        small.build(box())


def test_module_level_build(tmp_path) -> None:
    r = build(box(2, 2, 2), step_path=tmp_path / "b.step", timeout=30.0)
    assert r.ok and r.strict_valid and r.volume == pytest.approx(8.0) and (tmp_path / "b.step").is_file()
