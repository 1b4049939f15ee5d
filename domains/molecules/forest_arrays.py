"""A fitted random forest as plain arrays: stored in ``.npz`` (no pickle), predicted in numpy.

The oracle's cache must never run code when read (a pickled scikit-learn model can), so a
fitted ``RandomForestRegressor`` / ``RandomForestClassifier`` (Breiman, Mach. Learn. 2001) is
kept as the arrays of its trees, every tree's nodes laid end to end:

    left[i], right[i]   children of node i (global indices; -1 at a leaf)
    feature[i]          the feature tested at node i; threshold[i] its split value
    missing_left[i]     where a NaN feature value goes (scikit-learn's ``missing_go_to_left``)
    value[i]            the leaf's prediction: a mean (regressor) or class fractions (classifier)
    roots[t]            the first node of tree t

A sample walks each tree from its root, left when ``x[feature] <= threshold``, and the forest
averages the leaves it reaches in tree order, as scikit-learn does:

    regressor:   ŷ = (1/T) Σ_t value_t(leaf_t(x))
    classifier:  p = (1/T) Σ_t value_t(leaf_t(x)),   ŷ = classes[argmax p]

so predictions equal scikit-learn's (to rounding of the sum; tested to 1e-12). The file is read
with ``np.load(allow_pickle=False)`` and checked before use: every child lies after its parent
and inside its own tree (so every walk ends at a leaf), and every tested feature exists.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from gensci.errors import GensciError
from gensci.io import atomic_path

__all__ = ["ForestArrays", "save_forest", "load_forest", "FORMAT", "VERSION"]

FORMAT = "gensci-forest"
VERSION = 1

#: rows densified at a time when predicting (a chunk of 1024 rows × 2048 bits is 8 MB)
CHUNK = 1024


@dataclass
class ForestArrays:
    """A forest's trees as arrays (module docstring); ``classes`` is empty for a regressor."""

    roots: np.ndarray
    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    value: np.ndarray  # (n_nodes, 1) for a regressor, (n_nodes, n_classes) for a classifier
    n_features: int
    classes: np.ndarray

    @property
    def is_classifier(self) -> bool:
        return len(self.classes) > 0

    @classmethod
    def from_sklearn(cls, forest: Any) -> "ForestArrays":
        """The arrays of a fitted single-output scikit-learn random forest."""
        classes = np.asarray(getattr(forest, "classes_", []))
        if classes.ndim != 1 or getattr(forest, "n_outputs_", 1) != 1:
            raise GensciError("only single-output forests can be stored as arrays")
        n_classes = len(classes)
        parts: dict[str, list[np.ndarray]] = {k: [] for k in ("left", "right", "feature", "threshold", "missing", "value")}
        roots, start = [], 0
        for estimator in forest.estimators_:
            tree = estimator.tree_
            roots.append(start)
            for key, children in (("left", tree.children_left), ("right", tree.children_right)):
                children = np.asarray(children, dtype=np.int64)
                parts[key].append(np.where(children < 0, -1, children + start))
            parts["feature"].append(np.asarray(tree.feature, dtype=np.int64))
            parts["threshold"].append(np.asarray(tree.threshold, dtype=np.float64))
            missing = getattr(tree, "missing_go_to_left", None)
            parts["missing"].append(np.zeros(tree.node_count, np.uint8) if missing is None else np.asarray(missing, np.uint8))
            value = np.asarray(tree.value, dtype=np.float64)[:, 0, :]
            parts["value"].append(value[:, :n_classes] if n_classes else value[:, :1])
            start += tree.node_count
        return cls(roots=np.asarray(roots, dtype=np.int64), left=np.concatenate(parts["left"]),
                   right=np.concatenate(parts["right"]), feature=np.concatenate(parts["feature"]),
                   threshold=np.concatenate(parts["threshold"]), missing_left=np.concatenate(parts["missing"]),
                   value=np.concatenate(parts["value"]), n_features=int(forest.n_features_in_),
                   classes=classes.astype(str) if n_classes else np.zeros(0, dtype=str))

    def check(self) -> None:
        """Raise :class:`GensciError` unless the arrays describe trees every walk leaves at a leaf."""
        n = len(self.left)
        if not len(self.roots) or any(len(a) != n for a in (self.right, self.feature, self.threshold, self.missing_left, self.value)):
            raise GensciError("forest arrays of unequal lengths")
        if self.value.ndim != 2 or self.value.shape[1] != max(len(self.classes), 1):
            raise GensciError(f"forest values of shape {self.value.shape} for {len(self.classes)} classes")
        ends = np.append(self.roots[1:], n)
        if self.roots[0] != 0 or np.any(ends <= self.roots):
            raise GensciError("forest tree offsets are not increasing")
        tree_end = np.repeat(ends, ends - self.roots)  # per node: the end of its tree
        index = np.arange(n)
        inner = self.left >= 0
        if np.any((self.right >= 0) != inner):
            raise GensciError("a forest node has one child")
        for child in (self.left[inner], self.right[inner]):
            if np.any(child <= index[inner]) or np.any(child >= tree_end[inner]):
                raise GensciError("a forest node points outside its tree or backwards")
        if np.any(self.feature[inner] < 0) or np.any(self.feature[inner] >= self.n_features):
            raise GensciError("a forest node tests a feature the input does not have")

    def _leaves(self, x: np.ndarray) -> np.ndarray:
        """The leaf each row of dense ``x`` reaches in each tree: ``(n_trees, n_rows)``."""
        rows = np.arange(len(x))[None, :]
        nodes = np.repeat(self.roots[:, None], len(x), axis=1)
        while True:
            inner = self.left[nodes] >= 0
            if not inner.any():
                return nodes
            values = x[rows, np.where(inner, self.feature[nodes], 0)]
            go_left = np.where(np.isnan(values), self.missing_left[nodes] == 1, values <= self.threshold[nodes])
            nodes = np.where(inner, np.where(go_left, self.left[nodes], self.right[nodes]), nodes)

    def _mean(self, x: np.ndarray) -> np.ndarray:
        """The leaves' values averaged over trees, summed in tree order: ``(n_rows, width)``."""
        leaves = self._leaves(x)
        total = np.zeros((len(x), self.value.shape[1]), dtype=np.float64)
        for tree in leaves:
            total += self.value[tree]
        return total / len(self.roots)

    def predict(self, x: Any) -> np.ndarray:
        """Predictions for the rows of ``x`` (dense or sparse, ``n_features`` columns): float64
        values for a regressor, class labels (strings) for a classifier."""
        if x.shape[1] != self.n_features:
            raise GensciError(f"the forest takes {self.n_features} features, got {x.shape[1]}")
        means = []
        for start in range(0, x.shape[0], CHUNK):
            block = x[start:start + CHUNK]
            block = block.toarray() if sparse.issparse(block) else np.asarray(block)
            means.append(self._mean(block.astype(np.float32)))  # scikit-learn compares float32 inputs
        mean = np.concatenate(means) if means else np.zeros((0, self.value.shape[1]))
        if self.is_classifier:
            return self.classes[np.argmax(mean, axis=1)].astype(object)
        return mean[:, 0]


def save_forest(path: str | os.PathLike, forest: ForestArrays, meta: dict[str, Any]) -> Path:
    """Write ``forest`` and the JSON-able ``meta`` to ``path`` (``.npz``, atomically)."""
    arrays = {"format": np.asarray(FORMAT), "version": np.asarray(VERSION), "meta": np.asarray(json.dumps(meta)),
              "roots": forest.roots, "left": forest.left, "right": forest.right, "feature": forest.feature,
              "threshold": forest.threshold, "missing_left": forest.missing_left, "value": forest.value,
              "n_features": np.asarray(forest.n_features), "classes": forest.classes.astype(str)}
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:  # a handle: np.savez would add ".npz" to a name
        np.savez_compressed(handle, **arrays)
    return Path(path)


def load_forest(path: str | os.PathLike) -> tuple[ForestArrays, dict[str, Any]]:
    """Read a forest written by :func:`save_forest` without unpickling anything; raise
    :class:`GensciError` naming the problem for any other or damaged file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["format"]) != FORMAT or int(data["version"]) != VERSION:
                raise GensciError(f"{path} is not a {FORMAT} file of version {VERSION}")
            forest = ForestArrays(
                roots=data["roots"].astype(np.int64), left=data["left"].astype(np.int64),
                right=data["right"].astype(np.int64), feature=data["feature"].astype(np.int64),
                threshold=data["threshold"].astype(np.float64), missing_left=data["missing_left"].astype(np.uint8),
                value=data["value"].astype(np.float64), n_features=int(data["n_features"]),
                classes=data["classes"].astype(str))
            meta = json.loads(str(data["meta"]))
    except GensciError:
        raise
    except (OSError, ValueError, KeyError, EOFError, TypeError, zipfile.BadZipFile) as err:
        raise GensciError(f"{path} is not a readable forest: {type(err).__name__}: {err}") from None
    if not isinstance(meta, dict):
        raise GensciError(f"{path} holds no forest record")
    forest.check()
    return forest, meta
