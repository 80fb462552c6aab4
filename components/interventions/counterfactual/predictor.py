"""What every backend scores against: the base model's churn probability, shifted so the target
threshold maps to 0.5 (backends search for class 0 = "stays"), and alibi's array format."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churnguard.interventions.counterfactual.action_space import ActionSpace
from churnguard.models.tabular import BaseModel


class _Codec:
    """Frames <-> alibi's array format (categoricals as indices into category_map)."""

    def __init__(self, space: ActionSpace):
        self.space = space
        self.category_map = {
            i: list(space.categories[c]) for i, c in enumerate(space.features) if c in space.categorical
        }
        self.index = {c: {v: j for j, v in enumerate(space.categories[c])} for c in space.categorical}

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        f = self.space.impute(frame)
        cols = []
        for c in self.space.features:
            if c in self.index:
                cols.append(f[c].map(self.index[c]).fillna(0).to_numpy(dtype=float))
            else:
                cols.append(f[c].to_numpy(dtype=float))
        return np.stack(cols, axis=1)

    def decode(self, X: np.ndarray) -> pd.DataFrame:
        data = {}
        for i, c in enumerate(self.space.features):
            if c in self.index:
                vals = np.asarray(self.space.categories[c], dtype=object)
                data[c] = vals[np.clip(np.rint(np.asarray(X[:, i], dtype=float)).astype(int), 0, len(vals) - 1)]
            else:
                data[c] = np.asarray(X[:, i], dtype=float)
        return pd.DataFrame(data)


class _Predictor:
    """Churn probability of the base model, shifted so that ``threshold`` maps to 0.5."""

    def __init__(self, base: BaseModel, space: ActionSpace, threshold: float):
        self.base, self.space, self.threshold = base, space, threshold

    def proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.base.predict_proba(frame)

    def _fast(self, codec: _Codec):
        """For the gradient-boosting family: skip pandas, map codec indices to the encoder's codes."""
        if getattr(self, "_fast_cache", None) is None:
            self._fast_cache: Any = False
            pipe = self.base.pipeline
            try:
                pre, clf = pipe.named_steps["pre"], pipe.named_steps["clf"]
                enc = pre.named_transformers_["cat"]
                if (
                    type(clf).__name__ == "HistGradientBoostingClassifier"
                    and type(enc).__name__ == "OrdinalEncoder"
                    and list(pre.transformers_[0][2]) == self.space.categorical
                    and list(pre.transformers_[1][2]) == self.space.numeric
                ):
                    maps = []
                    for c, cats in zip(self.space.categorical, enc.categories_):
                        code = {str(v): float(j) for j, v in enumerate(cats)}
                        maps.append(np.array([code.get(v, np.nan) for v in codec.space.categories[c]]))
                    self._fast_cache = (clf, maps)
            except (KeyError, AttributeError, IndexError):
                self._fast_cache = False
        return self._fast_cache

    def array_two_class(self, X: np.ndarray, codec: _Codec) -> np.ndarray:
        """Same as ``two_class`` on alibi's array format (used inside CFRL training: called every step)."""
        fast = self._fast(codec)
        if not fast:
            return self.two_class(codec.decode(X))
        clf, maps = fast
        Z = np.asarray(X, dtype=float).copy()
        for j, m in enumerate(maps):
            Z[:, j] = m[np.clip(np.rint(Z[:, j]).astype(int), 0, len(m) - 1)]
        return self._shift(clf.predict_proba(Z)[:, 1])

    def two_class(self, frame: pd.DataFrame) -> np.ndarray:
        return self._shift(self.proba(frame))

    def _shift(self, p: np.ndarray) -> np.ndarray:
        p = np.clip(p, 1e-6, 1 - 1e-6)
        t = float(np.clip(self.threshold, 1e-6, 1 - 1e-6))
        q = 1 / (1 + np.exp(-(np.log(p / (1 - p)) - np.log(t / (1 - t)))))
        return np.stack([1 - q, q], axis=1)
