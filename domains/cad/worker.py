"""Builds in a separate, long-lived worker process, so a kernel crash cannot take the caller down.

OpenCASCADE can segfault, hang in a boolean or allocate without bound on bad input (CadQuery
issues #1665, #1873; CAD-Recode runs generated code in a subprocess with a timeout). So every
build here runs in a fresh child interpreter (as with multiprocessing's ``spawn``: nothing of the
caller's torch / OpenMP state is forked, and the caller's main script is not re-run), under an
address-space cap (``RLIMIT_AS = memory_mb`` on Linux, checked to leave room after the imports). The
child builds (:func:`domains.cad.kernel.build_shape`), writes the files asked for, judges the
part (:mod:`domains.cad.validity`) and sends back plain numbers. A build that outlives its
``timeout`` gets its worker killed; a worker that dies (signal, out of memory) is replaced on
the next build. Every input gets exactly one :class:`BuildResult`, in order, whose ``cause``
says in one line why it failed:

* the :class:`CADError` text (``"extrude 2: the cut failed"``),
* ``"timed out after 20 s"``, ``"worker crashed (signal 11, SIGSEGV)"``,
  ``"out of memory (cap 3072 MB)"``.

Tasks travel pickled over a pipe (a :class:`CADSequence` pickles as plain dataclasses and numpy
arrays); answers come back as plain dicts on a second pipe. Asked for (``points=n``), the
worker also samples ``n`` points on the part's surface for the point-cloud metrics
(:mod:`domains.cad.shape_metrics`), seeded, in the part's own coordinates; asked for
(``mesh=True``), it sends back the surface's triangulation (:func:`domains.cad.export.triangulate`,
``vertices (V, 3)`` and ``faces (T, 3)``) for renders, with no file written.
Starting a worker costs about a second (Python plus OCP imports); each start is timed and kept
in :attr:`BuildWorker.startup_seconds` and the first result after it.
"""

from __future__ import annotations

import atexit
import os
import pickle
import signal
import subprocess
import sys
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from domains.cad.sequence import CADError, CADSequence

__all__ = ["BuildResult", "BuildWorker", "build", "build_many"]

#: hooks a test can ask the worker to run before a build (to prove containment)
TEST_HOOKS = ("segfault", "hang", "oom", "abort")


@dataclass
class BuildResult:
    """One build's outcome. ``ok``: the kernel built a shape (``cause`` says why not);
    ``seconds``: the build's wall time (files and checks included, worker start-up excluded);
    ``startup_seconds``: the worker start-up this build waited for (0 when the worker was warm);
    ``points``: the surface points asked for (``points=n``), ``(n, 3)`` in the part's own
    coordinates, None when not asked or not built; ``vertices`` ``(V, 3)`` and ``faces`` ``(T, 3)``:
    the surface's triangulation when asked (``mesh=True``), else None; ``file_errors``: outputs
    asked for (files, points, mesh) that could not be made."""

    ok: bool
    cause: str | None = None
    strict_valid: bool = False
    strict_reasons: list[str] = field(default_factory=list)
    deepcad_valid: bool = False
    deepcad_reason: str | None = None
    volume: float | None = None
    bbox: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None
    n_solids: int = 0
    seconds: float = 0.0
    startup_seconds: float = 0.0
    step_path: str | None = None
    stl_path: str | None = None
    file_errors: list[str] = field(default_factory=list)
    points: np.ndarray | None = None
    vertices: np.ndarray | None = None
    faces: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.ok:  # nothing was built: both criteria fail for the same cause
            self.strict_reasons = self.strict_reasons or [str(self.cause)]
            self.deepcad_reason = self.deepcad_reason or "the build failed"


# ----------------------------------------------------------------------------------- the child


def _out_of_memory(e: BaseException) -> bool:
    return isinstance(e, MemoryError) or "OutOfMemory" in type(e).__name__ or "OutOfMemory" in str(e)


def _run_hook(hook: str, cap_bytes: int) -> None:
    if hook == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif hook == "abort":
        os.abort()
    elif hook == "hang":
        time.sleep(3600)
    elif hook == "oom":
        bytearray(cap_bytes)  # more than the cap leaves: MemoryError


def _build_task(task: dict[str, Any], cap_bytes: int) -> dict[str, Any]:
    """Build, write and judge one part (runs in the worker)."""
    from domains.cad.export import mesh_points, triangulate, write_step, write_stl
    from domains.cad.kernel import build_shape
    from domains.cad.validity import check_strict, deepcad_valid

    if task.get("hook"):
        _run_hook(task["hook"], cap_bytes)
    try:
        shape = build_shape(task["seq"])
    except CADError as e:
        return {"ok": False, "cause": str(e)}
    out: dict[str, Any] = {"ok": True, "file_errors": []}
    step_written = None
    if task.get("step_path"):
        try:
            write_step(shape, task["step_path"])
            out["step_path"] = step_written = os.fspath(task["step_path"])
        except CADError as e:
            out["file_errors"].append(f"STEP: {e}")
    verdict = check_strict(shape, step_path=step_written)
    out.update(strict_valid=verdict.valid, strict_reasons=verdict.reasons, volume=verdict.volume,
               n_solids=verdict.n_solids,
               bbox=None if verdict.bbox is None else tuple(tuple(float(x) for x in v) for v in verdict.bbox))
    out["deepcad_valid"], out["deepcad_reason"] = deepcad_valid(shape)
    if task.get("stl_path"):
        try:
            write_stl(shape, task["stl_path"])
            out["stl_path"] = os.fspath(task["stl_path"])
        except CADError as e:
            out["file_errors"].append(f"STL: {e}")
    if task.get("points"):
        try:  # as DeepCAD samples its STL: faces the mesher skips are left out
            out["points"] = mesh_points(shape, task["points"], task.get("seed", 0), skip_unmeshed=True)
        except CADError as e:
            out["file_errors"].append(f"points: {e}")
    if task.get("mesh"):
        try:  # as the STL export: faces the mesher skips are left out
            out["vertices"], out["faces"] = triangulate(shape, skip_unmeshed=True)
        except CADError as e:
            out["file_errors"].append(f"mesh: {e}")
    return out


def _serve(read_fd: int, write_fd: int, memory_mb: int) -> None:
    """The worker's loop (in the child): import the kernel, cap the address space, then build
    the tasks read from ``read_fd`` and answer on ``write_fd`` until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle
    inbox, conn = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    try:
        import resource

        import domains.cad.export  # noqa: F401 - the OCP imports, paid once per worker
        import domains.cad.validity  # noqa: F401

        cap, size = int(memory_mb) * 2**20, 0
        if sys.platform.startswith("linux"):  # elsewhere RLIMIT_AS is not enforced: no cap
            with open("/proc/self/status") as status:
                size = next((int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize")), 0)
            if size + 256 * 2**20 > cap:
                raise CADError(f"memory_mb={memory_mb} leaves no room: the worker already maps {size >> 20} MB")
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except Exception as e:  # noqa: BLE001 - reported to the caller, which raises it
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            task = inbox.recv()
        except EOFError:
            return
        if task is None:
            return
        start = time.perf_counter()
        try:
            out = _build_task(task, cap - size)
        except BaseException as e:  # noqa: BLE001 - every failure goes back as a one-line cause
            oom = _out_of_memory(e)
            cause = f"out of memory (cap {memory_mb} MB)" if oom else f"kernel error: {type(e).__name__}: {e}"
            out = {"ok": False, "cause": " ".join(cause.split()), "restart": oom}
        out["seconds"] = time.perf_counter() - start
        conn.send(out)
        if out.get("restart"):
            return  # after an allocation failure, start afresh


# ---------------------------------------------------------------------------------- the parent


def _points_and_seed(points: int, seed: int) -> tuple[int, int]:
    """The number of surface points (0: none) and the sampling seed, checked."""
    for name, v in (("points", points), ("seed", seed)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise CADError(f"{name} must be a non-negative integer, got {v!r}")
    return int(points), int(seed)


def _kill(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.kill()
    if process is not None:
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            pass


#: the folder that holds the ``domains`` package, so the child imports the same code
_ROOT = str(Path(__file__).resolve().parents[2])
_CHILD = "import sys; from domains.cad.worker import _serve; _serve(*map(int, sys.argv[1:]))"


class BuildWorker:
    """A crash-contained builder (module docstring); start-up is lazy, use as a context manager
    or call :meth:`close`.

    The worker is a fresh interpreter (``python -c``, like multiprocessing's ``spawn`` but
    without re-running the caller's main script) that talks over two inherited pipes."""

    def __init__(self, timeout: float = 20.0, memory_mb: int = 3072, start_timeout: float = 120.0) -> None:
        if not timeout > 0:
            raise CADError(f"the build timeout must be positive, got {timeout!r}")
        self.timeout, self.memory_mb, self.start_timeout = float(timeout), int(memory_mb), float(start_timeout)
        self._process: subprocess.Popen | None = None
        self._send: Connection | None = None
        self._recv: Connection | None = None
        self._finalizer: Any = None
        #: seconds each worker start took (interpreter, imports, ready)
        self.startup_seconds: list[float] = []

    def _start(self) -> float:
        to_child, from_parent = os.pipe()[::-1]  # (write end, read end)
        from_child, to_parent = os.pipe()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")])))
        start = time.perf_counter()
        try:
            process = subprocess.Popen([sys.executable, "-c", _CHILD, str(from_parent), str(to_parent),
                                        str(self.memory_mb)], pass_fds=(from_parent, to_parent), env=env,
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        finally:
            os.close(from_parent)
            os.close(to_parent)
        send, recv = Connection(to_child, readable=False), Connection(from_child, writable=False)

        def fail(why: str) -> CADError:
            send.close()
            recv.close()
            _kill(process)
            return CADError(why)

        if not recv.poll(self.start_timeout):
            raise fail(f"the CAD worker did not start within {self.start_timeout:g} s")
        try:
            kind, detail = recv.recv()
        except EOFError:
            process.wait(5)
            raise fail(f"the CAD worker died while starting (exit code {process.returncode})") from None
        if kind != "ready":
            raise fail(f"the CAD worker could not start: {detail}")
        self._process, self._send, self._recv = process, send, recv
        self._finalizer = weakref.finalize(self, _kill, process)
        seconds = time.perf_counter() - start
        self.startup_seconds.append(seconds)
        return seconds

    def _drop(self) -> None:
        """Kill the worker (after a timeout or crash); the next build starts a new one."""
        for conn in (self._send, self._recv):
            if conn is not None:
                conn.close()
        _kill(self._process)
        if self._finalizer is not None:
            self._finalizer.detach()
        self._process = self._send = self._recv = self._finalizer = None

    def close(self) -> None:
        """Stop the worker (politely, then by force)."""
        if self._process is not None and self._process.poll() is None:
            try:
                self._send.send(None)  # type: ignore[union-attr]
                self._process.wait(2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._drop()

    def __enter__(self) -> BuildWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _crash_cause(self) -> str:
        """Why the worker died (it is dropped)."""
        try:
            code = self._process.wait(5) if self._process is not None else None
        except subprocess.TimeoutExpired:
            code = None
        self._drop()
        if code is not None and code < 0:
            try:
                return f"worker crashed (signal {-code}, {signal.Signals(-code).name})"
            except ValueError:
                return f"worker crashed (signal {-code})"
        return f"worker crashed (exit code {code})"

    def build(self, seq: CADSequence, step_path: str | os.PathLike | None = None,
              stl_path: str | os.PathLike | None = None, timeout: float | None = None, points: int = 0,
              seed: int = 0, _hook: str | None = None, mesh: bool = False) -> BuildResult:
        """Build ``seq`` in the worker, write the files asked for, and judge the part; with
        ``points=n``, also sample ``n`` surface points (:func:`domains.cad.export.mesh_points`,
        uniform by area, drawn with ``seed``: same seed, same points) into ``result.points``;
        with ``mesh=True``, also return the triangulation in ``result.vertices`` / ``result.faces``.
        ``_hook`` (tests only, one of :data:`TEST_HOOKS`) makes the worker misbehave first."""
        timeout = self.timeout if timeout is None else float(timeout)
        points, seed = _points_and_seed(points, seed)
        if _hook is not None and _hook not in TEST_HOOKS:
            raise CADError(f"unknown test hook {_hook!r}; one of {', '.join(TEST_HOOKS)}")
        startup = 0.0
        if self._process is None or self._process.poll() is not None:
            self._drop()
            startup = self._start()
        assert self._send is not None and self._recv is not None and self._process is not None
        task = {"seq": seq, "step_path": None if step_path is None else os.fspath(step_path),
                "stl_path": None if stl_path is None else os.fspath(stl_path), "hook": _hook,
                "points": points, "seed": seed, "mesh": bool(mesh)}
        try:
            payload = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # noqa: BLE001 - e.g. labels that do not pickle: this input's result
            return BuildResult(False, f"the task could not be sent to the worker: {type(e).__name__}: {e}",
                               startup_seconds=startup)
        start = time.perf_counter()
        try:
            self._send.send_bytes(payload)
            if not self._recv.poll(timeout):
                self._drop()
                return BuildResult(False, f"timed out after {timeout:g} s", seconds=time.perf_counter() - start,
                                   startup_seconds=startup)
            out: dict[str, Any] = self._recv.recv()
        except (EOFError, OSError):  # the worker died before or while answering
            return BuildResult(False, self._crash_cause(), seconds=time.perf_counter() - start,
                               startup_seconds=startup)
        if out.pop("restart", False):
            self._drop()
        return BuildResult(startup_seconds=startup, **out)

    def build_many(self, seqs: Sequence[CADSequence], step_paths: Sequence[str | os.PathLike | None] | None = None,
                   stl_paths: Sequence[str | os.PathLike | None] | None = None, timeout: float | None = None,
                   progress: bool = True, points: int = 0, seed: int = 0, mesh: bool = False) -> list[BuildResult]:
        """:meth:`build` for each sequence, in order; one result per input (each part's points
        drawn with the same ``seed``; triangulations with ``mesh=True``)."""
        points, seed = _points_and_seed(points, seed)
        n = len(seqs)
        for name, paths in (("step_paths", step_paths), ("stl_paths", stl_paths)):
            if paths is not None and len(paths) != n:
                raise CADError(f"{name} has {len(paths)} entries for {n} sequences")
        results: list[BuildResult] = []
        with tqdm(total=n, disable=not progress, desc="building CAD parts", unit="part") as bar:
            for i, seq in enumerate(seqs):
                results.append(self.build(seq, None if step_paths is None else step_paths[i],
                                          None if stl_paths is None else stl_paths[i], timeout, points, seed,
                                          mesh=mesh))
                bar.update(1)
                bar.set_postfix(built=sum(r.ok for r in results), strict=sum(r.strict_valid for r in results),
                                refresh=False)
        return results


_SHARED: dict[int, BuildWorker] = {}


def _shared(memory_mb: int) -> BuildWorker:
    if memory_mb not in _SHARED:
        _SHARED[memory_mb] = BuildWorker(memory_mb=memory_mb)
    return _SHARED[memory_mb]


@atexit.register
def _close_shared() -> None:
    for worker in _SHARED.values():
        worker.close()


def build(seq: CADSequence, step_path: str | os.PathLike | None = None, stl_path: str | os.PathLike | None = None,
          timeout: float = 20.0, memory_mb: int = 3072, points: int = 0, seed: int = 0,
          mesh: bool = False) -> BuildResult:
    """Build one part in the shared worker for ``memory_mb`` (see :class:`BuildWorker`)."""
    return _shared(memory_mb).build(seq, step_path, stl_path, timeout, points, seed, mesh=mesh)


def build_many(seqs: Sequence[CADSequence], step_paths: Sequence[str | os.PathLike | None] | None = None,
               stl_paths: Sequence[str | os.PathLike | None] | None = None, timeout: float = 20.0,
               memory_mb: int = 3072, progress: bool = True, points: int = 0, seed: int = 0,
               mesh: bool = False) -> list[BuildResult]:
    """Build parts in order in the shared worker; one :class:`BuildResult` per input."""
    return _shared(memory_mb).build_many(seqs, step_paths, stl_paths, timeout, progress, points, seed, mesh)
