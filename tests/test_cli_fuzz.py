"""Fuzzing the command line: ``gensci train`` overrides and ``gensci sample`` / ``evaluate`` arguments.

Every command must end in one of three ways: success (status 0), a usage error of argparse
(``SystemExit(2)``), or status 2 after printing one line ``error: <message>``
(a :class:`GensciError`); never another exception or a traceback.

No heavy work runs: ``gensci train`` stops where the domain would be built
(``instantiate`` is replaced by a sentinel, so everything before it runs: composition,
resolution, seed, threads, the run folder), or prints its config (``--print-config``);
``gensci sample`` / ``evaluate`` stop where the sampler would start drawing (every check of
the options has run by then) and where metrics would be computed (a ``--samples`` file has
been read by then). Models: the bundled points models (moons and labelled moons), loaded
once. The inputs: 0-6 overrides ``key=value`` with known, misspelt and invented keys and
junk values (interpolations, lists, Hydra syntax, odd numbers and text); 0-8 arguments
drawn from the options of both commands, their values and junk.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import string
from datetime import timedelta
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import gensci
import gensci.model
from gensci.cli import main

_LOADED: dict[str, object] = {}
_REAL_LOAD = gensci.load


class _Stop(Exception):
    """The command reached the heavy work: every option was accepted."""


def _cached_load(name):
    if str(name).startswith("points/") and str(name) in ("points/moons", "points/labelled_moons"):
        if str(name) not in _LOADED:
            _LOADED[str(name)] = _REAL_LOAD(name)
        return _LOADED[str(name)]
    return _REAL_LOAD(name)


def _stopping_sampler(*args, **kwargs):
    sampler = _REAL_MAKE_SAMPLER(*args, **kwargs)
    sampler.sample = lambda *a, **k: (_ for _ in ()).throw(_Stop())
    return sampler


_REAL_MAKE_SAMPLER = gensci.model.make_sampler


def _stop(*args, **kwargs):
    raise _Stop()


def run(argv: list[str], folder: Path) -> tuple[str, str]:
    """Run ``gensci argv`` in ``folder`` with the heavy work replaced by :class:`_Stop`; assert
    the contract of the module docstring; return how it ended and what it printed to stderr."""
    import gensci.training.train as training

    out, err = io.StringIO(), io.StringIO()
    threads = torch.get_num_threads()
    cwd = os.getcwd()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gensci, "load", _cached_load)
        patch.setattr(gensci.model, "make_sampler", _stopping_sampler)
        patch.setattr(gensci.model.GenerativeModel, "evaluate", _stop)
        patch.setattr(training, "instantiate", _stop)
        os.chdir(folder)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                status = main(list(argv))
        except _Stop:
            return "accepted", err.getvalue()
        except SystemExit as done:
            assert done.code in (0, 2, None), done.code
            return "usage error" if done.code == 2 else "help", err.getvalue()
        finally:
            os.chdir(cwd)
            torch.set_num_threads(threads)
    if status == 0:
        return "ok", err.getvalue()
    assert status == 2, (status, err.getvalue())
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0] and len(errors[0]) > len("error: "), err.getvalue()
    return "error", err.getvalue()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder with sample files (good, junk, binary, empty), a folder and a junk checkpoint."""
    root = tmp_path_factory.mktemp("cli")
    model = _cached_load("points/moons")
    model.write(model.sample(4, steps=2, seed=0, progress=False), root / "good.csv")
    (root / "junk.csv").write_text("a,b\n1,x\n")
    (root / "bin.csv").write_bytes(b"\x80\x00\xff")
    (root / "empty.csv").write_text("")
    (root / "junk.pt").write_bytes(b"not a checkpoint")
    (root / "dir").mkdir()
    return root


number = st.sampled_from(["0", "-1", "1", "2", "3", "7", "100", "1e3", "1.5", "nan", "inf", "-inf", "10" + "0" * 30,
                          "-0", "0x10", "1_000", ""])
value = st.one_of(
    number, number,
    st.sampled_from(["x", "label=1", "label=0", "label=", "=1", "label=1=2", "x=1", "label=nan", "label=abc",
                     "euler", "heun", "ddpm", "ddim", "sde", "nope", "out.csv", "out.xyz", "out.sdf", "out", "dir",
                     "good.csv", "junk.csv", "bin.csv", "empty.csv", "missing.csv", "test", "train", "val", "nope"]),
    st.text(string.printable, max_size=8),
)
option = st.sampled_from(["-n", "--num", "-o", "--output", "--condition", "--guidance", "--guidance-interval",
                          "--steps", "--sampler", "--seed", "--batch-size", "--bf16", "--redraws", "-q", "--trajectory",
                          "--trajectory-frames", "--samples", "--split", "--atoms", "--length", "--3d", "--fragment", "--oracle", "--x",
                          "-z", "--", "--version"])
models = st.sampled_from(["points/moons", "points/moons", "points/labelled_moons", "points/labelled_moons",
                          "points/nope", "", "junk.pt", "missing.pt", "dir", "-n"])


@st.composite
def sample_arguments(draw: st.DrawFn) -> list[str]:
    """``sample`` or ``evaluate``, a model, then 0-8 options and values (a sample command gets
    ``-o`` most of the time, so that most lists get past argparse)."""
    command = draw(st.sampled_from(["sample", "evaluate"]))
    argv = [command, draw(models)]
    if command == "sample" and draw(st.integers(0, 4)) > 0:
        argv += ["-o", draw(st.sampled_from(["out.csv", "out.csv", "out.xyz", "dir", "out"]))]
    for _ in range(draw(st.integers(0, 8))):
        argv.append(draw(option))
        if draw(st.integers(0, 3)) > 0:
            argv.append(draw(value))
    return argv


experiments = st.sampled_from(["points/moons", "points/labelled_moons", "points/csv", "points/gaussians_to_moons",
                               "points/nope", "moons"])
keys = st.sampled_from(["trainer.max_steps", "trainer.max_stepz", "seed", "threads", "batch_size", "name", "run_dir",
                        "optim.lr", "optim.ema_decay", "process", "sampler", "model", "domain", "trainer", "resume",
                        "stage", "init_weights", "+domain.path", "~optim", "++seed", "domain.n", "model.hidden",
                        "experiment", "unknown", "optim", "a.b.c", ""])
override_value = st.one_of(
    number,
    st.sampled_from(["null", "true", "[1,2]", "[1,2", "{a: 1}", "{", "${nope}", "${seed}", "${oc.env:NOPE}",
                     "${oc.env:HOME}", "'x'", '"', "flow", "otcfm", "euler", "mlp", "cpu", "points", "nope", "a b",
                     "runs/x", "\x00", "x=y", "=", ","]),
    st.text(string.printable, max_size=8),
)
overrides = st.lists(st.builds(lambda k, v, sep: f"{k}{sep}{v}", keys, override_value,
                               st.sampled_from(["=", "=", "=", "", "==", ":"])), max_size=6)


def _ended(result: tuple[str, str]) -> None:
    event(result[0])


_FAST = dict(deadline=timedelta(seconds=10), database=None, derandomize=True,
             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                    HealthCheck.function_scoped_fixture])
_SLOW = dict(_FAST, derandomize=False, max_examples=10_000)


@settings(max_examples=80, **_FAST)
@given(argv=sample_arguments())
def test_sample_and_evaluate_arguments(folder: Path, argv: list[str]) -> None:
    _ended(run(argv, folder))


@settings(max_examples=40, **_FAST)
@given(experiment=experiments, overrides=overrides, print_config=st.booleans())
def test_train_overrides(folder: Path, experiment: str, overrides: list[str], print_config: bool) -> None:
    _ended(run(["train", experiment, *overrides] + (["--print-config"] if print_config else []), folder))


@pytest.mark.slow
@settings(**_SLOW)
@given(argv=sample_arguments())
def test_sample_and_evaluate_arguments_slow(folder: Path, argv: list[str]) -> None:
    _ended(run(argv, folder))


@pytest.mark.slow
@settings(**_SLOW)
@given(experiment=experiments, overrides=overrides, print_config=st.booleans())
def test_train_overrides_slow(folder: Path, experiment: str, overrides: list[str], print_config: bool) -> None:
    _ended(run(["train", experiment, *overrides] + (["--print-config"] if print_config else []), folder))


@pytest.mark.parametrize("argv, how", [
    (["sample", "points/moons", "-o", "out.csv", "-n", "5"], "accepted"),
    (["evaluate", "points/moons", "--samples", "good.csv"], "accepted"),
    (["sample", "points/moons", "-o", "out.csv", "-n", "0"], "error"),
    (["sample", "points/moons", "-n", "5"], "usage error"),
    (["train", "points/moons", "trainer.max_steps=3"], "accepted"),
    (["train", "points/moons", "--print-config"], "ok"),
    (["train", "points/moons", "trainer.max_stepz=3"], "error"),
])
def test_the_harness_tells_the_endings_apart(folder: Path, argv: list[str], how: str) -> None:
    """The fuzzer's harness: valid commands reach the heavy work, invalid ones end as they should."""
    assert run(argv, folder)[0] == how


@pytest.mark.parametrize("argv, message", [
    (["train", "points/moons", "process=0"], "bad config override: .*must be a string or a list"),
    (["train", "points/moons", "seed=${nope}", "--print-config"], "the config does not resolve: .*nope"),
    (["train", "points/moons", "name=${oc.env:NOPE_GENSCI}"], "the config does not resolve: .*NOPE_GENSCI"),
    (["train", "points/moons", "seed=abc"], "seed must be a whole number .* got 'abc'"),
    (["train", "points/moons", "seed=[1,2]"], "seed must be a whole number .* got \\[1, 2\\]"),
    (["train", "points/moons", "threads=x"], "threads must be null, 0 .* got 'x'"),
    (["train", "points/moons", "threads=" + "1" + "0" * 31], "threads must be null, 0 .* up to 1024, got 1"),
    (["sample", "points/moons", "-o", "out.csv", "--seed", "1" + "0" * 30], "the seed must be a whole number in"),
    (["sample", "points/moons", "-o", "a\x00b.csv"], "a path cannot hold a NUL character"),
    (["sample", "points/moons", "-o", "\r"], "a path cannot hold control characters"),
    (["evaluate", "points/moons", "--samples", "."], "is a folder; points samples are one CSV file"),
    (["train", "points/moons", "process=[1,2]"], "bad config override: .*not iterable"),
    (["evaluate", "points/moons", "--", "--num", "--guidance"], "unexpected argument --guidance"),
])
def test_crashes_found_by_fuzzing_are_one_line_errors(folder: Path, argv: list[str], message: str) -> None:
    """Each raised ValueError, TypeError or an OmegaConf interpolation error with a traceback
    (the NUL path failed only when the samples were written, after sampling)."""
    how, stderr = run(argv, folder)
    assert how == "error" and re.search(message, stderr.strip().splitlines()[-1]), stderr
