"""`gensci data geom`: a tiny archive in GEOM's RDKit layout becomes SDF shards of each
molecule's lowest-energy conformers that the atoms domain reads; foreign pickles are refused;
offline, the error says to use --archive (no test touches the network)."""

import io
import json
import os
import pickle
import tarfile
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

import gensci.download as dl
from domains.atoms import AtomsDomain
from domains.atoms.geom import GEOM_ELEMENTS, fetch_geom, load_pickle
from gensci.cli import main
from gensci.errors import GensciError

SMILES = ("CCO", "Oc1ccccc1", "CC(=O)N[C@@H](C)C(=O)[O-]")
CONFS = 4


def _geom_record(smiles: str, seed: int) -> dict:
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    ids = list(AllChem.EmbedMultipleConfs(mol, CONFS, params))
    assert len(ids) == CONFS
    energies = np.random.default_rng(seed).permutation(CONFS) * 0.01 - 100.0  # Hartree, not in conformer order
    conformers = [{"rd_mol": Chem.Mol(mol, confId=c), "totalenergy": float(e), "boltzmannweight": 0.1 * (k + 1),
                   "geom_id": 1000 * seed + k} for k, (c, e) in enumerate(zip(ids, energies))]
    return {"smiles": smiles, "conformers": conformers, "uniqueconfs": CONFS, "charge": Chem.GetFormalCharge(mol)}


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return [_geom_record(s, seed) for seed, s in enumerate(SMILES)]


@pytest.fixture(scope="module")
def archive(tmp_path_factory, records) -> Path:
    path = tmp_path_factory.mktemp("geom") / "rdkit_folder.tar.gz"
    summary = {r["smiles"]: {"pickle_path": f"drugs/{r['smiles']}.pickle"} for r in records}
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, "rdkit_folder/summary_drugs.json", json.dumps(summary).encode())
        # a qm9 member that would be refused if it were read: it must be skipped
        _add(tar, "rdkit_folder/qm9/C.pickle", pickle.dumps({"x": os.stat_result((0,) * 10)}))
        for k, r in enumerate(records):
            _add(tar, f"rdkit_folder/drugs/{r['smiles'].replace('/', '_')}.pickle", pickle.dumps(r, protocol=2 + k))
    return path


def test_shards_hold_the_lowest_energy_conformers_with_hydrogens(archive, records, tmp_path):
    folder = fetch_geom(cache_dir=tmp_path, archive=archive, progress=False, conformers=2)
    assert folder == tmp_path / "atoms" / "geom-drugs"
    assert [p.name for p in sorted(folder.glob("*.sdf"))] == ["part_0000.sdf"]
    assert json.loads((folder / ".done").read_text())["records"] == 6
    got = list(Chem.SDMolSupplier(str(folder / "part_0000.sdf"), removeHs=False))
    assert len(got) == 2 * len(records) and all(m is not None for m in got)
    for r, pair in zip(records, (got[0:2], got[2:4], got[4:6])):
        best = sorted(r["conformers"], key=lambda c: c["totalenergy"])[:2]
        for mol, conf in zip(pair, best):
            assert mol.GetProp("geom_smiles") == r["smiles"]
            assert float(mol.GetProp("total_energy")) == conf["totalenergy"]
            assert float(mol.GetProp("boltzmann_weight")) == conf["boltzmannweight"]
            ref = conf["rd_mol"]
            assert mol.GetNumAtoms() == ref.GetNumAtoms() and any(a.GetAtomicNum() == 1 for a in mol.GetAtoms())
            np.testing.assert_allclose(mol.GetConformer().GetPositions(), ref.GetConformer().GetPositions(), atol=1e-4)
            assert Chem.MolToSmiles(Chem.RemoveHs(mol)) == Chem.MolToSmiles(Chem.RemoveHs(ref))
    # converted: a second call returns at once, even without the archive
    assert fetch_geom(cache_dir=tmp_path, progress=False, conformers=2) == folder

    domain = AtomsDomain(source=str(folder), elements=list(GEOM_ELEMENTS), cache_dir=str(tmp_path), progress=False)
    assert len(domain.data) == 6
    assert domain.data.num_atoms.tolist() == [m.GetNumAtoms() for m in got]


def test_shards_split_and_an_interrupted_run_restarts(archive, tmp_path, monkeypatch):
    import domains.atoms.geom as geom

    monkeypatch.setattr(geom, "SHARD_SIZE", 5)
    folder = geom.geom_folder(tmp_path)
    folder.mkdir(parents=True)
    (folder / "part_0007.sdf").write_text("stale\n")  # what an interrupted run left, no .done
    fetch_geom(cache_dir=tmp_path, archive=archive, progress=False, conformers=3)
    assert sorted(p.name for p in folder.glob("*.sdf")) == ["part_0000.sdf", "part_0001.sdf"]
    assert [len(Chem.SDMolSupplier(str(p), removeHs=False)) for p in sorted(folder.glob("*.sdf"))] == [5, 4]


def test_a_pickle_naming_a_foreign_global_is_refused(tmp_path):
    evil = pickle.dumps({"smiles": "C", "conformers": [], "x": os.stat_result((0,) * 10)})
    with pytest.raises(GensciError, match="refusing to unpickle os.stat_result"):
        load_pickle(io.BytesIO(evil), "drugs/C.pickle")
    path = tmp_path / "rdkit_folder.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, "rdkit_folder/drugs/C.pickle", evil)
    with pytest.raises(GensciError, match="refusing"):
        fetch_geom(cache_dir=tmp_path, archive=path, progress=False)
    assert not (tmp_path / "atoms" / "geom-drugs" / ".done").exists()


def test_cli_prints_the_override(archive, tmp_path, capsys):
    assert main(["data", "geom", "--archive", str(archive), "--cache-dir", str(tmp_path), "-q"]) == 0
    out = capsys.readouterr().out
    assert f"domain.source={tmp_path / 'atoms' / 'geom-drugs'} domain.elements=[H,B,C," in out


def test_offline_error_names_archive(tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(dl, "urlopen", refuse)
    with pytest.raises(GensciError, match="--archive FILE"):
        fetch_geom(cache_dir=tmp_path, progress=False)
    assert main(["data", "geom", "--cache-dir", str(tmp_path), "-q"]) == 2
    err = capsys.readouterr().err
    assert "--archive FILE" in err and "domain.source=PATH" in err and len(err.strip().splitlines()) == 1
