"""Real protein chains shared by the protein tests (read once per session)."""

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "data" / "proteins"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def real_chains():
    from domains.proteins.structures import read_chains

    chains, _ = read_chains(DATA)
    return chains



@pytest.fixture(scope="module")
def domain(data_dir):
    """A prepared ProteinsDomain on the committed chains (64-residue crops)."""
    from domains.proteins.domain import ProteinsDomain

    d = ProteinsDomain(paths=[str(data_dir)], crop_length=64, seed=0)
    d.prepare()
    return d
