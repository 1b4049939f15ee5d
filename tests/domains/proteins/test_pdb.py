import numpy as np
import pytest
import torch

from domains.proteins.nerf import place_oxygen
from domains.proteins.pdb import CRYST1, write_pdb, write_pdb_models, write_pdbs
from gensci.errors import GensciError


def _read(path):
    from biotite.structure.io import pdb

    return pdb.PDBFile.read(str(path))


def test_one_structure_reads_back_as_poly_glycine_chain_a(tmp_path, real_chains):
    chain = real_chains[0]
    path = write_pdb(torch.as_tensor(chain.coords), tmp_path / "out" / "one.pdb", center=False)
    pdb_file = _read(path)
    assert pdb_file.get_model_count() == 1
    atoms = pdb_file.get_structure(model=1)
    n = len(chain)
    assert len(atoms) == 4 * n
    assert atoms.atom_name.tolist() == ["N", "CA", "C", "O"] * n
    assert atoms.element.tolist() == ["N", "C", "C", "O"] * n
    assert set(atoms.res_name) == {"GLY"} and set(atoms.chain_id) == {"A"}
    assert atoms.res_id.tolist() == np.repeat(np.arange(1, n + 1), 4).tolist()
    xyz = atoms.coord.reshape(n, 4, 3)
    np.testing.assert_allclose(xyz[:, :3], chain.coords, atol=1e-3)
    np.testing.assert_allclose(xyz[:, 3], place_oxygen(torch.as_tensor(chain.coords)).numpy(), atol=1e-3)
    assert list(tmp_path.joinpath("out").iterdir()) == [path]  # no temporary file left behind


def test_records_follow_the_pdb_columns(tmp_path, real_chains):
    chain = real_chains[1]
    backbone = np.concatenate([chain.coords, chain.oxygen[:, None]], axis=1)  # real O kept as given
    lines = write_pdb(backbone, tmp_path / "x.pdb").read_text().splitlines()
    assert all(len(line) == 80 for line in lines)
    assert lines[0].rstrip() == CRYST1 == "CRYST1    1.000    1.000    1.000  90.00  90.00  90.00 P 1           1"
    assert lines[1][:14] == "MODEL        1" and lines[1][10:14] == "   1"
    atom = lines[3]  # the CA of residue 1
    assert atom[:6] == "ATOM  " and atom[6:11] == "    2" and atom[12:16] == " CA " and atom[17:20] == "GLY"
    assert atom[21] == "A" and atom[22:26] == "   1" and atom[76:78] == " C"
    xyz = [float(atom[30:38]), float(atom[38:46]), float(atom[46:54])]
    np.testing.assert_allclose(xyz, chain.coords[0, 1] - chain.coords[:, 1].mean(0), atol=1e-3)
    n = len(chain)
    ter = lines[-3]
    assert ter[:6] == "TER   " and int(ter[6:11]) == 4 * n + 1 and ter[17:20] == "GLY" and ter[21] == "A"
    assert int(ter[22:26]) == n
    assert [line.rstrip() for line in lines[-2:]] == ["ENDMDL", "END"]
    centred = _read(tmp_path / "x.pdb").get_structure(model=1).coord
    np.testing.assert_allclose(centred[1::4].mean(0), 0.0, atol=1e-3)


def test_trajectory_reads_back_as_a_stack(tmp_path, real_chains):
    x = torch.as_tensor(real_chains[0].coords)
    frames = torch.stack([x, x + 1.0, 2.0 * x])
    pdb_file = _read(write_pdb_models(frames, tmp_path / "traj.pdb", center=False))
    stack = pdb_file.get_structure()
    assert pdb_file.get_model_count() == 3 and stack.stack_depth() == 3 and stack.array_length() == 4 * len(x)
    np.testing.assert_allclose(stack.coord[2, 1::4], 2.0 * x[:, 1].numpy(), atol=1e-3)
    text = (tmp_path / "traj.pdb").read_text()
    assert text.count("MODEL ") == 3 and text.count("ENDMDL") == 3 and text.count("TER ") == 3


def test_a_batch_becomes_one_file_per_structure(tmp_path, real_chains):
    n = 60
    batch = torch.zeros(3, n, 3, 3, dtype=torch.float64)
    lengths = [60, 45, 50]
    for i, (chain, m) in enumerate(zip(real_chains, lengths)):
        batch[i, :m] = torch.as_tensor(chain.coords[:m])
    mask = torch.arange(n).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    paths = write_pdbs(batch, tmp_path, mask=mask, stem="sample")
    assert [p.name for p in paths] == ["sample_000.pdb", "sample_001.pdb", "sample_002.pdb"]
    assert [len(_read(p).get_structure(model=1)) for p in paths] == [4 * m for m in lengths]


def test_bad_input_writes_nothing(tmp_path, real_chains):
    path = tmp_path / "keep.pdb"
    path.write_text("old\n")
    x = torch.as_tensor(real_chains[0].coords).clone()
    x[5, 1, 0] = float("nan")
    with pytest.raises(GensciError, match="NaN"):
        write_pdb(x, path)
    with pytest.raises(GensciError, match="PDB columns"):
        write_pdb(torch.as_tensor(real_chains[0].coords) * 1e4, path)
    with pytest.raises(GensciError, match=r"\(L, 3, 3\)"):
        write_pdb(torch.zeros(5, 2, 3), path)
    with pytest.raises(GensciError, match="same number of residues"):
        write_pdb_models([x[:5].nan_to_num(), x[:6].nan_to_num()], path)
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["keep.pdb"]
