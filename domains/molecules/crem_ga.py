"""A genetic-algorithm baseline for molecule design with CReM mutations.

CReM (Polishchuk, "CReM: chemically reasonable mutations framework for structure
generation", J. Cheminform. 12, 28, 2020) mutates a molecule by replacing one of its
fragments (or hydrogen) with a fragment that was seen in the same chemical context — the
atoms within ``radius`` bonds of the attachment points — in a reference set of molecules.
Every product is therefore built from pieces of known molecules joined in known ways.

:class:`CremGeneticAlgorithm` is the design-loop strategy ``crem_ga``: round 0 proposes a
seeded random sample of the training molecules (as the genetic-algorithm baselines of PMO
start from the data: Gao et al., NeurIPS 2022); every later round picks parents from the
loop's elites by tournament selection and proposes one fresh CReM mutant per draw, keeping
only molecules of at most the model's heavy-atom count whose atom types the model's
vocabulary knows (so the domain's writer and graphs hold them).

The fragment database is built once from a seeded subsample of the training SMILES with
CReM's own fragmentation (:func:`build_fragment_db`, the steps of ``crem.fragmentation``,
``crem.frag_to_env_mp`` and ``crem.import_env_to_db`` run in process) and cached as
``cache_root()/crem/<sha256>.db``, keyed by the molecules and the settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rdkit import Chem, RDLogger

from gensci.errors import GensciError
from gensci.inverse.strategies import Proposal, Strategy
from gensci.io import cache_root

if TYPE_CHECKING:
    from gensci.inverse.candidates import Candidate
    from gensci.inverse.loop import DesignContext

__all__ = ["CremGeneticAlgorithm", "build_fragment_db", "fragment_db", "crem_mutants"]

DB_FORMAT = 1


def _crem_version() -> str:
    try:
        from crem import _version

        return str(getattr(_version, "__version__", "unknown"))
    except ImportError as err:  # pragma: no cover - crem is a dependency of this module
        raise GensciError("the crem_ga strategy needs the crem package (pip install crem)") from err


def build_fragment_db(smiles: Iterable[str], path: str | Path, radius: int = 3, max_core_atoms: int = 10) -> Path:
    """Build CReM's SQLite fragment database of ``smiles`` at ``path`` (written under a
    temporary name, then renamed): fragmentation of heavy-atom and hydrogen bonds, context
    of ``radius`` bonds, cores of at most ``max_core_atoms`` heavy atoms, occurrence counts."""
    from crem import frag_to_env_mp, import_env_to_db
    from crem.fragmentation import fragment_mol

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lg = RDLogger.logger()
    lg.setLevel(RDLogger.CRITICAL)
    try:
        frag_to_env_mp.init(None, int(radius), False, int(max_core_atoms), False, ",")
        counts: Counter[str] = Counter()
        for i, smi in enumerate(smiles):
            for line in sorted(fragment_mol(smi, str(i), mode=0, sep_out=",")):
                for item in frag_to_env_mp.process_line(line):
                    counts[",".join(map(str, item))] += 1
    finally:
        lg.setLevel(RDLogger.WARNING)
    if not counts:
        raise GensciError("CReM found no fragments in the given molecules")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
    text = Path(tmp).with_suffix(".txt")
    try:
        os.close(fd)
        os.unlink(tmp)  # sqlite creates the file
        with open(text, "w") as handle:
            for line in sorted(counts):
                handle.write(f"{counts[line]} {line}\n")
        import_env_to_db.main(str(text), tmp, int(radius), True, 1, False)
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, text):
            if os.path.exists(leftover):
                os.unlink(leftover)
    return path


def fragment_db(smiles: Sequence[str], size: int | None = 20_000, seed: int = 0, radius: int = 3, max_core_atoms: int = 10,
                cache_dir: str | Path | None = None) -> Path:
    """The cached fragment database of a seeded subsample of ``size`` molecules of
    ``smiles`` (all of them when ``size`` is None or larger), built on first use."""
    smiles = list(smiles)
    if size is not None and len(smiles) > size:
        rng = np.random.default_rng(seed)
        smiles = [smiles[i] for i in sorted(rng.choice(len(smiles), size=int(size), replace=False))]
    smiles = sorted(set(smiles))
    key = hashlib.sha256(json.dumps({"format": DB_FORMAT, "crem": _crem_version(), "radius": int(radius),
                                     "max_core_atoms": int(max_core_atoms), "smiles": smiles}).encode()).hexdigest()
    path = cache_root(cache_dir) / "crem" / f"{key}.db"
    if not path.exists():
        build_fragment_db(smiles, path, radius=radius, max_core_atoms=max_core_atoms)
    return path


def _fits(mol: Chem.Mol | None, max_atoms: int | None, allowed: set[tuple[str, int]] | None) -> bool:
    if mol is None or mol.GetNumHeavyAtoms() == 0:
        return False
    if max_atoms is not None and mol.GetNumHeavyAtoms() > max_atoms:
        return False
    if allowed is not None:
        for atom in mol.GetAtoms():
            if atom.GetAtomicNum() != 1 and (atom.GetSymbol(), atom.GetFormalCharge()) not in allowed:
                return False
    if len(Chem.GetMolFrags(mol)) != 1:
        return False
    return True


def crem_mutants(smiles: str, db: str | Path, radius: int = 3, min_size: int = 0, max_size: int = 4, min_inc: int = -2,
                 max_inc: int = 2, max_atoms: int | None = None, allowed: set[tuple[str, int]] | None = None) -> list[str]:
    """Every CReM mutant of ``smiles`` (hydrogens replaceable; fragments of ``min_size`` to
    ``max_size`` heavy atoms replaced by ones ``min_inc`` .. ``max_inc`` atoms larger), as
    sorted canonical SMILES, without the molecule itself and keeping only molecules with at
    most ``max_atoms`` heavy atoms whose ``(element, charge)`` atom types lie in ``allowed``."""
    from crem.crem import mutate_mol

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return []
    own = Chem.MolToSmiles(mol)
    out = set()
    lg = RDLogger.logger()
    lg.setLevel(RDLogger.CRITICAL)
    try:
        for product in mutate_mol(Chem.AddHs(mol), str(db), radius=int(radius), min_size=int(min_size), max_size=int(max_size),
                                  min_inc=int(min_inc), max_inc=int(max_inc), replace_cycles=False, ncores=1):
            m = Chem.MolFromSmiles(product)
            if not _fits(m, max_atoms, allowed):
                continue
            canonical = Chem.MolToSmiles(m)
            if canonical != own:
                out.add(canonical)
    except Exception:  # noqa: BLE001 - a molecule CReM cannot fragment has no mutants
        return sorted(out)
    finally:
        lg.setLevel(RDLogger.WARNING)
    return sorted(out)


class CremGeneticAlgorithm(Strategy):
    """A genetic algorithm with CReM mutations (module docstring).

    Args:
        tournament: contestants per tournament; the best-scoring one becomes a parent.
        radius: CReM context radius (bonds), also the database's.
        min_size / max_size: heavy atoms of a replaced fragment.
        min_inc / max_inc: heavy atoms the replacement may add (or remove).
        max_atoms: largest molecule kept (default the model's, 9 for QM9).
        db: a fragment database to use instead of building one from the training split.
        db_molecules: training molecules the database is built from (a seeded subsample).
        db_seed: the subsample's seed.
        explore: share of each later round drawn from the training molecules instead
            of mutated (0 by default; the rest of a round is filled with them anyway when
            no parent has a fresh mutant left).
    """

    name = "crem_ga"

    def __init__(self, tournament: int = 3, radius: int = 3, min_size: int = 0, max_size: int = 4, min_inc: int = -2,
                 max_inc: int = 2, max_atoms: int | None = None, db: str | Path | None = None, db_molecules: int | None = 20_000,
                 db_seed: int = 0, explore: float = 0.0):
        if tournament < 1:
            raise GensciError(f"crem_ga needs tournament >= 1, got {tournament}")
        if not 0 <= explore <= 1:
            raise GensciError(f"crem_ga needs explore in [0, 1], got {explore}")
        self.tournament, self.radius = int(tournament), int(radius)
        self.min_size, self.max_size, self.min_inc, self.max_inc = int(min_size), int(max_size), int(min_inc), int(max_inc)
        self.max_atoms = None if max_atoms is None else int(max_atoms)
        self.db = None if db is None else str(db)
        self.db_molecules, self.db_seed, self.explore = db_molecules, int(db_seed), float(explore)
        self.population: list[list[Any]] = []  # [smiles, score] of the loop's elites, best first
        self._train: list[str] | None = None
        self._allowed: set[tuple[str, int]] | None = None
        self._limit: int | None = self.max_atoms
        self._mutants: dict[str, list[str]] = {}

    # ----------------------------------------------------------------- setup
    def setup(self, ctx: DesignContext) -> None:
        domain = ctx.model.domain
        if not hasattr(domain, "smiles"):
            raise GensciError("the crem_ga strategy needs a molecules model (a domain with training SMILES)")
        self._train = list(domain.smiles("train"))
        vocab = getattr(domain, "vocabulary", None)
        self._allowed = None if vocab is None else {(str(e), int(c)) for e, c in vocab.atom_types}
        if self._limit is None:
            try:
                self._limit = int(domain.network_kwargs()["max_atoms"])
            except (AttributeError, KeyError, TypeError):
                self._limit = None
        if self.db is None:
            self.db = str(fragment_db(self._train, size=self.db_molecules, seed=self.db_seed, radius=self.radius))

    # -------------------------------------------------------------- proposing
    def mutants(self, smiles: str) -> list[str]:
        """The (cached) sorted CReM mutants of ``smiles`` that fit the model."""
        if smiles not in self._mutants:
            self._mutants[smiles] = crem_mutants(smiles, self.db, self.radius, self.min_size, self.max_size, self.min_inc,
                                                 self.max_inc, self._limit, self._allowed)
        return self._mutants[smiles]

    def _from_training(self, n: int, rng: np.random.Generator, taken: set[str]) -> list[Chem.Mol]:
        out: list[Chem.Mol] = []
        train = self._train or []
        for i in rng.permutation(len(train)):
            if len(out) >= n:
                break
            mol = Chem.MolFromSmiles(train[int(i)])
            if not _fits(mol, self._limit, self._allowed):
                continue
            key = Chem.MolToSmiles(mol)
            if key in taken:
                continue
            taken.add(key)
            out.append(mol)
        return out

    def offspring(self, n: int, rng: np.random.Generator, taken: set[str]) -> list[Chem.Mol]:
        """Up to ``n`` mutants not in ``taken`` of parents drawn by tournament from the population."""
        alive = list(range(len(self.population)))
        out: list[Chem.Mol] = []
        while len(out) < n and alive:
            contestants = rng.choice(len(alive), size=min(self.tournament, len(alive)), replace=False)
            pick = alive[int(min(contestants))]  # the population is sorted best first
            fresh = [s for s in self.mutants(self.population[pick][0]) if s not in taken]
            if not fresh:
                alive.remove(pick)
                continue
            child = fresh[int(rng.integers(len(fresh)))]
            taken.add(child)
            out.append(Chem.MolFromSmiles(child))
        return out

    def propose(self, ctx: DesignContext, n: int, round: int, seed: int) -> list[Proposal]:
        if self._train is None:
            self.setup(ctx)
        rng = np.random.default_rng(seed)
        taken = {c.key for c in ctx.candidates if c.key is not None}
        mols: list[Chem.Mol] = []
        if self.population:
            mutate = n - int(round_half(self.explore * n))
            mols = self.offspring(mutate, rng, taken)
        mols += self._from_training(n - len(mols), rng, taken)
        return [Proposal(ctx.model.domain.collect(mols), {})]

    def update(self, ctx: DesignContext, round: int, elites: list[Candidate]) -> None:
        population = []
        for c in elites:
            if c.key is not None and c.score is not None:
                population.append([str(c.key), float(c.score)])
        population.sort(key=lambda p: -p[1])  # stable: ties keep the loop's order
        self.population = population

    def state_dict(self) -> dict[str, Any]:
        return {"population": [list(p) for p in self.population]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.population = [[str(s), float(v)] for s, v in state.get("population", [])]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "tournament": self.tournament, "radius": self.radius, "min_size": self.min_size,
                "max_size": self.max_size, "min_inc": self.min_inc, "max_inc": self.max_inc, "max_atoms": self.max_atoms,
                "db_molecules": self.db_molecules, "db_seed": self.db_seed, "explore": self.explore}


def round_half(x: float) -> float:
    """``x`` rounded half up (Python's ``round`` rounds half to even)."""
    return float(np.floor(x + 0.5))
