"""The CReM genetic-algorithm strategy: the cached fragment database and its offspring."""

from types import SimpleNamespace

import pytest
from rdkit import Chem, RDLogger

pytest.importorskip("crem")

from domains.molecules.crem_ga import CremGeneticAlgorithm, crem_mutants, fragment_db  # noqa: E402

RDLogger.DisableLog("rdApp.*")

_CORES = ["C1CC1", "C1CCC1", "C1CCCC1", "C1CCOC1", "C1CCNC1", "c1ccoc1", "c1cc[nH]c1", "c1ccccc1", "c1ccncc1", "C1COC1",
          "C1CN1", "C1CO1", "CC", "CCC", "CC(C)C", "CCO", "CCN", "CC#C", "CC=O", "CC#N", "OCC=O", "NC(=O)C", "CC(=O)OC",
          "C1=CCC1", "N1CC1", "O=C1CCC1", "C#CC#C", "OC1CCC1", "CN(C)C", "COC"]
_SUBSTITUENTS = ["C", "O", "N", "F", "N#C", "O=C", "OC", "CC"]


def _qm9_like() -> list[str]:
    out = []
    for core in _CORES:
        for sub in _SUBSTITUENTS:
            mol = Chem.MolFromSmiles(sub + core)
            if mol is not None and mol.GetNumHeavyAtoms() <= 9:
                out.append(Chem.MolToSmiles(mol))
    return sorted(set(out))


SMILES = _qm9_like()


class _Domain:
    vocabulary = SimpleNamespace(atom_types=(("C", 0), ("N", 0), ("O", 0), ("F", 0)))

    def smiles(self, split):
        return SMILES

    def network_kwargs(self):
        return {"max_atoms": 9}

    def collect(self, mols):
        return list(mols)


def _ctx():
    return SimpleNamespace(model=SimpleNamespace(domain=_Domain()), candidates=[])


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENSCI_CACHE", str(cache))
        path = fragment_db(SMILES)
        again = fragment_db(SMILES)
    assert path == again and path.parent == cache / "crem" and path.suffix == ".db"
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary files left
    return path


def test_mutants_are_valid_new_and_small(db):
    assert len(SMILES) >= 150
    parent = "CCc1ccccc1"  # 8 heavy atoms: +2 atom mutations must be dropped
    mutants = crem_mutants(parent, db, max_atoms=9, allowed={("C", 0), ("N", 0), ("O", 0), ("F", 0)})
    assert mutants and mutants == sorted(mutants)
    own = Chem.MolToSmiles(Chem.MolFromSmiles(parent))
    for smi in mutants:
        mol = Chem.MolFromSmiles(smi)
        assert mol is not None and smi != own and mol.GetNumHeavyAtoms() <= 9
    unbounded = crem_mutants(parent, db)
    assert set(mutants) < set(unbounded) and max(Chem.MolFromSmiles(s).GetNumHeavyAtoms() for s in unbounded) > 9


def _offspring(db, seed):
    strategy = CremGeneticAlgorithm(db=db)
    ctx = _ctx()
    strategy.setup(ctx)
    first = strategy.propose(ctx, 20, 0, seed)[0].samples
    keys = [Chem.MolToSmiles(m) for m in first]
    assert len(set(keys)) == 20 and set(keys) <= set(SMILES)  # round 0: training molecules
    elites = [SimpleNamespace(key=k, score=1.0 - i / 20) for i, k in enumerate(keys)]
    strategy.update(ctx, 0, elites)
    ctx.candidates = [SimpleNamespace(key=k) for k in keys]
    state = strategy.state_dict()
    children = strategy.propose(ctx, 15, 1, seed + 1)[0].samples
    return keys, [Chem.MolToSmiles(m) for m in children], state


def test_offspring_differ_from_parents_and_repeat_with_the_seed(db):
    parents, children, state = _offspring(db, 3)
    assert len(children) == 15 and len(set(children)) == 15
    for smi in children:
        mol = Chem.MolFromSmiles(smi)
        assert mol is not None and mol.GetNumHeavyAtoms() <= 9
        assert smi not in parents
    assert {a.GetSymbol() for smi in children for a in Chem.MolFromSmiles(smi).GetAtoms()} <= {"C", "N", "O", "F"}
    assert _offspring(db, 3)[1] == children
    assert _offspring(db, 4)[1] != children
    restored = CremGeneticAlgorithm(db=db)
    restored.load_state_dict(state)
    assert restored.population == state["population"] and len(state["population"]) == 20
