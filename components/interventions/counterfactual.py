"""Counterfactual explanations behind one small interface, with two backends selectable in params.

- ``alibi_cfrl``: alibi's ``CounterfactualRLTabular`` (PyTorch backend): an actor trained by
  reinforcement learning in an autoencoder's latent space; explaining a batch is one forward pass.
  **alibi is under the Business Source License 1.1** (production use restricted): keep the other
  backend for deployments that cannot accept it.
- ``dice``: DiCE (``dice-ml``, MIT licence), model-agnostic random search, one customer at a time.

Both explain the champion's base model (``models/base``) towards "stays" (churn probability below
``target_threshold``) while respecting the action space from params:
- immutable: every model feature that is not actionable (age, tenure, history, region, ...);
- ``monthly_charges`` may only decrease, by at most ``max_relative_change`` of the customer's own
  charge (a discount only grows, up to its cap);
- ordered categoricals (``contract``, ``plan``) may only move up their order (upgrades only);
- ``campaign_offer`` may be set to one of the offers.
Whatever a backend proposes is projected onto that space before it is returned (so a returned
counterfactual never changes an immutable feature); the backend's own violations are counted
before projection and reported (``immutable_changes_raw``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from components.features.table import ID, FeatureSchema
from components.models.tabular import BaseModel

SPACE_FILE = "counterfactual_space.joblib"
BACKENDS = ("alibi_cfrl", "dice")


@dataclass
class ActionSpace:
    """Which model features may change, and how."""

    features: list[str]                     # the model's feature order (categorical first)
    categorical: list[str]
    numeric: list[str]
    decrease_caps: dict[str, float]         # numeric feature -> max relative decrease (0.2 = 20 %)
    ordered: dict[str, list[str]]           # categorical -> order; may only move up
    free_values: dict[str, list[str]]       # categorical -> values it may be set to
    medians: dict[str, float] = field(default_factory=dict)   # numeric imputation in the search space
    categories: dict[str, list[str]] = field(default_factory=dict)

    @property
    def actionable(self) -> list[str]:
        return [f for f in self.features if f in self.decrease_caps or f in self.ordered or f in self.free_values]

    @property
    def immutable(self) -> list[str]:
        act = set(self.actionable)
        return [f for f in self.features if f not in act]

    @classmethod
    def from_params(cls, cfg: dict[str, Any], schema: FeatureSchema, train: pd.DataFrame) -> "ActionSpace":
        decrease, ordered, free = {}, {}, {}
        for name, spec in (cfg.get("actionable") or {}).items():
            if name not in schema.columns:
                continue  # this data source has no such feature: nothing to act on
            if "max_relative_decrease" in spec:
                decrease[name] = float(spec["max_relative_decrease"])
            elif "order" in spec:
                ordered[name] = [str(v) for v in spec["order"]]
            elif "values" in spec:
                free[name] = [str(v) for v in spec["values"]]
        for name in cfg.get("immutable") or []:
            if name in decrease or name in ordered or name in free:
                raise ValueError(f"fit_counterfactual: {name!r} is both immutable and actionable")
        num = train[schema.numeric].apply(pd.to_numeric, errors="coerce")
        medians = {c: float(v) if np.isfinite(v) else 0.0 for c, v in num.median().items()}
        cats = {}
        for c in schema.categorical:
            values = sorted(set(train[c].astype(str)) | set(ordered.get(c, [])) | set(free.get(c, [])))
            cats[c] = values
        return cls(schema.columns, list(schema.categorical), list(schema.numeric), decrease, ordered, free,
                   medians, cats)

    def impute(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.reindex(columns=self.features).copy()
        for c in self.numeric:
            out[c] = pd.to_numeric(out[c], errors="coerce").fillna(self.medians.get(c, 0.0)).astype(float)
        for c in self.categorical:
            out[c] = out[c].astype(object).where(out[c].notna(), "missing").astype(str)
        return out

    def allowed(self, row: pd.Series) -> dict[str, list]:
        """Per-customer condition: categorical values allowed, numeric [low, high] absolute."""
        cond: dict[str, list] = {}
        for c, cap in self.decrease_caps.items():
            v = float(row[c])
            cond[c] = [v * (1 - cap), v]
        for c, order in self.ordered.items():
            v = str(row[c])
            cond[c] = order[order.index(v):] if v in order else [v]
        for c, values in self.free_values.items():
            cond[c] = sorted(set(values) | {str(row[c])})
        return cond

    def project(self, original: pd.DataFrame, proposal: pd.DataFrame) -> pd.DataFrame:
        """Force a proposal onto the action space (immutables back, caps, upgrades only)."""
        out = original.reindex(columns=self.features).copy()
        for c, cap in self.decrease_caps.items():
            o = pd.to_numeric(original[c], errors="coerce").to_numpy(dtype=float)
            p = pd.to_numeric(proposal[c], errors="coerce").to_numpy(dtype=float)
            out[c] = np.round(np.clip(np.where(np.isnan(p), o, p), o * (1 - cap), o), 2)
        for c, order in self.ordered.items():
            o = original[c].astype(str).to_numpy()
            p = proposal[c].astype(str).to_numpy()
            ro, rp = _ranks(o, order), _ranks(p, order)
            out[c] = np.where((ro >= 0) & (rp >= ro), p, o)
        for c, values in self.free_values.items():
            o = original[c].astype(str).to_numpy()
            p = proposal[c].astype(str).to_numpy()
            out[c] = np.where(np.isin(p, values), p, o)
        return out

    def immutable_changes(self, original: pd.DataFrame, proposal: pd.DataFrame) -> np.ndarray:
        """Per row: how many immutable features a proposal changed (imputed space, tolerance 1e-4 relative)."""
        a, b = self.impute(original), self.impute(proposal)
        n = np.zeros(len(a), dtype=int)
        for c in self.immutable:
            if c in self.numeric:
                x, y = a[c].to_numpy(float), b[c].to_numpy(float)
                n += ~np.isclose(x, y, rtol=1e-4, atol=1e-4)
            else:
                n += a[c].to_numpy() != b[c].to_numpy()
        return n


def _ranks(values: np.ndarray, order: list[str]) -> np.ndarray:
    """Position of each value in ``order`` (-1 where it is not in it), vectorised."""
    return pd.Categorical(np.asarray(values, dtype=object), categories=order).codes.astype(np.int64)


def changed_features(space: ActionSpace, original: pd.DataFrame, cf: pd.DataFrame) -> list[list[dict]]:
    """Per row: the actionable features whose value differs (old -> new). Vectorised comparison; only
    the changed cells are turned into Python objects."""
    n = len(original)
    out: list[list[dict]] = [[] for _ in range(n)]
    for c in space.actionable:
        o_arr, n_arr = original[c].to_numpy(), cf[c].to_numpy()
        if c in space.numeric:
            a = pd.to_numeric(pd.Series(o_arr), errors="coerce").to_numpy(dtype=float)
            b = pd.to_numeric(pd.Series(n_arr), errors="coerce").to_numpy(dtype=float)
            diff = ~np.isclose(a, b, rtol=1e-6, atol=1e-6, equal_nan=True)
        else:
            diff = pd.Series(o_arr).astype(str).to_numpy() != pd.Series(n_arr).astype(str).to_numpy()
        for i in np.nonzero(diff)[0].tolist():
            o, v = o_arr[i], n_arr[i]
            out[i].append({"feature": c, "old": o.item() if hasattr(o, "item") else o,
                           "new": v.item() if hasattr(v, "item") else v})
    order = {c: j for j, c in enumerate(space.actionable)}
    return [sorted(ch, key=lambda d: order[d["feature"]]) if len(ch) > 1 else ch for ch in out]


class _Predictor:
    """Churn probability of the base model, shifted so that ``threshold`` maps to 0.5."""

    def __init__(self, base: BaseModel, space: ActionSpace, threshold: float):
        self.base, self.space, self.threshold = base, space, threshold

    def proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.base.predict_proba(frame)

    def _fast(self, codec: "_Codec"):
        """For the gradient-boosting family: skip pandas, map codec indices to the encoder's codes."""
        if getattr(self, "_fast_cache", None) is None:
            self._fast_cache = False
            pipe = self.base.pipeline
            try:
                pre, clf = pipe.named_steps["pre"], pipe.named_steps["clf"]
                enc = pre.named_transformers_["cat"]
                if (type(clf).__name__ == "HistGradientBoostingClassifier" and type(enc).__name__ == "OrdinalEncoder"
                        and list(pre.transformers_[0][2]) == self.space.categorical
                        and list(pre.transformers_[1][2]) == self.space.numeric):
                    maps = []
                    for c, cats in zip(self.space.categorical, enc.categories_):
                        code = {str(v): float(j) for j, v in enumerate(cats)}
                        maps.append(np.array([code.get(v, np.nan) for v in codec.space.categories[c]]))
                    self._fast_cache = (clf, maps)
            except (KeyError, AttributeError, IndexError):
                self._fast_cache = False
        return self._fast_cache

    def array_two_class(self, X: np.ndarray, codec: "_Codec") -> np.ndarray:
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


# ----------------------------------------------------------------------------- alibi CFRL
class _Codec:
    """Frames <-> alibi's array format (categoricals as indices into category_map)."""

    def __init__(self, space: ActionSpace):
        self.space = space
        self.category_map = {i: list(space.categories[c]) for i, c in enumerate(space.features) if c in space.categorical}
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


class _FastCondition:
    """alibi's training-time ``generate_condition`` (Beta(2, 2) numeric ranges, Bernoulli(0.5) category
    masks, immutables pinned), vectorised: alibi's own loops over features once per training sample
    and dominated CFRL's training time here."""

    def __init__(self, space: ActionSpace, codec: "_Codec", ranges: dict[str, list[float]]):
        num = [c for c in space.features if c not in space.categorical]
        bounds = []
        for c in num:
            lo, hi = (0.0, 0.0) if c in space.immutable else tuple(ranges.get(c, (-1.0, 1.0)))
            bounds += [lo, hi]
        self.bounds = np.asarray(bounds, dtype=float)
        mutable = []
        for i, c in enumerate(space.features):
            if i in codec.category_map:
                mutable += [0.0 if c in space.immutable else 1.0] * len(codec.category_map[i])
        self.mutable = np.asarray(mutable, dtype=float)
        self.n_num = len(num)

    def __call__(self, X_ohe: np.ndarray) -> np.ndarray:
        size = X_ohe.shape[0]
        if X_ohe.shape[1] != self.n_num + self.mutable.size:  # alibi's "is conditioning on?" probe
            return np.zeros((size, self.bounds.size + self.mutable.size), dtype=np.float32)
        c_num = np.random.beta(2, 2, size=(size, self.bounds.size)) * self.bounds
        cat = X_ohe[:, self.n_num:]
        c_cat = ((cat + np.random.rand(*cat.shape) * self.mutable) > 0.5).astype(np.float32)
        return np.concatenate([c_num, c_cat], axis=1)


class _HEPreprocessor:
    """alibi's heterogeneous preprocessor from ``get_he_preprocessor`` (StandardScaler on the numeric
    columns, then one-hot of each categorical index, unknown -> all zeros), the same numbers without
    scikit-learn's ColumnTransformer, whose fixed cost (~9 ms per call) dominated batched explaining:
    alibi calls it several times per explain call."""

    def __init__(self, transform: Any):
        ct = transform.__self__
        num, cat = ct.named_transformers_["num"], ct.named_transformers_["cat"]
        if [t[0] for t in ct.transformers_[:2]] != ["num", "cat"]:
            raise ValueError("unexpected alibi preprocessor layout")
        self.num_ids, self.cat_ids = list(ct.transformers_[0][2]), list(ct.transformers_[1][2])
        self.mean = np.asarray(num.mean_, dtype=float) if num.with_mean else np.zeros(len(self.num_ids))
        self.scale = np.asarray(num.scale_, dtype=float) if num.with_std else np.ones(len(self.num_ids))
        self.levels = [np.asarray(c, dtype=float) for c in cat.categories_]

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        parts = [(X[:, self.num_ids] - self.mean) / self.scale]
        parts += [(X[:, [j]] == lv[None, :]).astype(float) for j, lv in zip(self.cat_ids, self.levels)]
        return np.concatenate(parts, axis=1)


class AlibiCFRLBackend:
    name = "alibi_cfrl"
    CHUNK = 256    # rows per alibi explain call
    licence = "Business Source License 1.1 (alibi): production use restricted"

    def __init__(self, space: ActionSpace, predictor: _Predictor, explainer: Any):
        self.space, self.predictor, self.explainer = space, predictor, explainer
        self.codec = _Codec(space)

    @staticmethod
    def _predict_fn(predictor: _Predictor, codec: _Codec):
        return lambda X: predictor.array_two_class(np.asarray(X), codec)

    @classmethod
    def fit(cls, space: ActionSpace, predictor: _Predictor, train: pd.DataFrame, cfg: dict[str, Any],
            seed: int) -> "AlibiCFRLBackend":
        import torch
        from alibi.explainers import CounterfactualRLTabular
        from alibi.explainers.backends.cfrl_tabular import get_he_preprocessor
        from alibi.models.pytorch.cfrl_models import ADULTDecoder, ADULTEncoder

        torch.manual_seed(seed)
        codec = _Codec(space)
        X = codec.encode(train)
        feature_types = {i: int for i, c in enumerate(space.features) if c in ("age",)}
        pre, inv = get_he_preprocessor(X=X, feature_names=space.features, category_map=codec.category_map,
                                       feature_types=feature_types)
        X_ohe = pre(X).astype(np.float32)
        try:   # the fast equivalent, used only where it reproduces alibi's own output
            fast = _HEPreprocessor(pre)
            probe = np.vstack([X[:500], X[:50] + np.random.default_rng(seed).normal(0, 1, X[:50].shape)])
            if np.allclose(fast(probe), pre(probe), rtol=1e-12, atol=1e-12):
                pre = fast
        except (AttributeError, KeyError, ValueError, IndexError):
            pass
        num_idx = [i for i, c in enumerate(space.features) if c not in space.categorical]
        cat_idx = [i for i, c in enumerate(space.features) if c in space.categorical]
        n_num = len(num_idx)
        output_dims = [n_num] + [len(codec.category_map[i]) for i in cat_idx]
        latent = int(cfg["latent_dim"])
        encoder, decoder = ADULTEncoder(hidden_dim=int(cfg["hidden_dim"]), latent_dim=latent), \
            ADULTDecoder(hidden_dim=int(cfg["hidden_dim"]), output_dims=output_dims)
        # Heterogeneous autoencoder: MSE on the numeric head, cross-entropy on each categorical head.
        xt = torch.tensor(X_ohe)
        cat_targets = [torch.tensor(X[:, i].astype(np.int64)) for i in cat_idx]
        encoder(xt[:2]); decoder(encoder(xt[:2]))  # materialise lazy layers
        opt = torch.optim.Adam(list(encoder.parameters()) + list(decoder.parameters()), lr=1e-3)
        gen = torch.Generator().manual_seed(seed)
        bs = int(cfg["autoencoder_batch_size"])
        for _ in range(int(cfg["autoencoder_steps"])):
            idx = torch.randint(0, len(xt), (bs,), generator=gen)
            out = decoder(encoder(xt[idx]))
            loss = torch.nn.functional.mse_loss(out[0], xt[idx, :n_num]) if n_num else 0.0
            for head, tgt in zip(out[1:], cat_targets):
                loss = loss + torch.nn.functional.cross_entropy(head, tgt[idx]) / max(1, len(cat_idx)) * 1.0
            opt.zero_grad()
            loss.backward()
            opt.step()
        ranges = {c: [-float(cap), 0.0] for c, cap in space.decrease_caps.items()}
        explainer = CounterfactualRLTabular(
            predictor=cls._predict_fn(predictor, codec), encoder=encoder, decoder=decoder, latent_dim=latent,
            encoder_preprocessor=pre, decoder_inv_preprocessor=inv,
            coeff_sparsity=float(cfg["coeff_sparsity"]), coeff_consistency=float(cfg["coeff_consistency"]),
            category_map=codec.category_map, feature_names=space.features, ranges=ranges,
            immutable_features=space.immutable, train_steps=int(cfg["train_steps"]),
            batch_size=int(cfg["batch_size"]), backend="pytorch", seed=seed, num_workers=0,
            conditional_func=_FastCondition(space, codec, ranges))
        explainer.fit(X=X)
        return cls(space, predictor, explainer)

    def propose(self, original: pd.DataFrame) -> pd.DataFrame:
        """Raw backend proposals (before projection), in batches grouped by their condition."""
        X = self.codec.encode(original)
        imp = self.space.impute(original).reset_index(drop=True)
        out = np.empty_like(X)
        if self.space.ordered:
            groups = [np.asarray(r) for _, r in sorted(imp.groupby(list(self.space.ordered), sort=True).indices.items(),
                                                        key=lambda kv: tuple(map(str, np.atleast_1d(kv[0]))))]
        else:
            groups = [np.arange(len(imp))]
        for rows in groups:
            first = imp.iloc[rows[0]]
            cond = {}
            for c, order in self.space.ordered.items():
                v = str(first[c])
                known = set(self.space.categories.get(c, []))
                if v in order and v in known:  # an unknown value (e.g. missing) stays unconditioned; projection keeps it
                    cond[c] = [x for x in order[order.index(v):] if x in known]
            for c, values in self.space.free_values.items():
                cond[c] = [x for x in values if x in set(self.space.categories.get(c, []))]
            for c, cap in self.space.decrease_caps.items():
                cond[c] = [-float(cap) * float(imp[c].iloc[rows].median()), 0.0]
            # alibi tiles the per-row conditional vectors once per row of the call (n^2 rows): keep calls small
            for start in range(0, len(rows), self.CHUNK):
                part = rows[start:start + self.CHUNK]
                expl = self.explainer.explain(X=X[part], Y_t=np.zeros(len(part), dtype=int), C=[cond],
                                              batch_size=len(part))
                out[part] = expl.data["cf"]["X"]
        return self.codec.decode(out)

    def save(self, part_dir: Path) -> None:
        self.explainer.save(part_dir / "cfrl")

    @classmethod
    def load(cls, part_dir: Path, space: ActionSpace, predictor: _Predictor) -> "AlibiCFRLBackend":
        from alibi.saving import load_explainer

        import torch

        codec = _Codec(space)
        # alibi saves whole torch modules; torch >= 2.6 loads weights only by default. These files are
        # this bundle's own (written by the fit_counterfactual stage), trusted as the bundle itself is.
        original = torch.load
        torch.load = lambda *a, **k: original(*a, **{**k, "weights_only": False})
        try:
            explainer = load_explainer(part_dir / "cfrl", predictor=cls._predict_fn(predictor, codec))
        finally:
            torch.load = original
        return cls(space, predictor, explainer)


# ----------------------------------------------------------------------------- DiCE
class DiceBackend:
    name = "dice"
    licence = "MIT (dice-ml)"
    SAMPLE_FILE = "dice_sample.parquet"

    def __init__(self, space: ActionSpace, predictor: _Predictor, sample: pd.DataFrame, cfg: dict[str, Any],
                 seed: int):
        self.space, self.predictor, self.sample, self.cfg, self.seed = space, predictor, sample, cfg, seed
        self._dice = None

    @classmethod
    def fit(cls, space: ActionSpace, predictor: _Predictor, train: pd.DataFrame, cfg: dict[str, Any],
            seed: int) -> "DiceBackend":
        rows = min(len(train), int(cfg.get("data_rows", 2000)))
        sample = space.impute(train.sample(rows, random_state=seed)).reset_index(drop=True)
        return cls(space, predictor, sample, cfg, seed)

    def _explainer(self):
        if self._dice is None:
            import dice_ml

            space, predictor = self.space, self.predictor

            class _Model:
                def predict_proba(self, X):
                    return predictor.two_class(pd.DataFrame(X, columns=space.features))

                def predict(self, X):
                    return self.predict_proba(X).argmax(1)

            data = self.sample.copy()
            data["stays"] = predictor.two_class(data).argmax(1)
            d = dice_ml.Data(dataframe=data, continuous_features=list(space.numeric), outcome_name="stays")
            m = dice_ml.Model(model=_Model(), backend="sklearn")
            self._dice = dice_ml.Dice(d, m, method=str(self.cfg.get("method", "random")))
        return self._dice

    def propose(self, original: pd.DataFrame) -> pd.DataFrame:
        dice = self._explainer()
        imp = self.space.impute(original).reset_index(drop=True)
        out = []
        for i in range(len(imp)):
            row = imp.iloc[[i]]
            cond = self.space.allowed(imp.iloc[i])
            permitted = {c: v for c, v in cond.items()}
            for c in self.space.decrease_caps:
                lo, hi = permitted[c]
                permitted[c] = [lo, hi + 1e-6]
            try:
                res = dice.generate_counterfactuals(row, total_CFs=1, desired_class=0,
                                                    features_to_vary=self.space.actionable,
                                                    permitted_range=permitted, random_seed=self.seed,
                                                    verbose=False)
                cf = res.cf_examples_list[0].final_cfs_df
                out.append(cf[self.space.features].iloc[[0]] if cf is not None and len(cf) else row)
            except Exception:  # DiCE raises when it finds nothing: keep the original (invalid)
                out.append(row)
        return pd.concat(out, ignore_index=True)

    def save(self, part_dir: Path) -> None:
        self.sample.to_parquet(part_dir / self.SAMPLE_FILE, index=False)

    @classmethod
    def load(cls, part_dir: Path, space: ActionSpace, predictor: _Predictor, cfg: dict[str, Any],
             seed: int) -> "DiceBackend":
        return cls(space, predictor, pd.read_parquet(part_dir / cls.SAMPLE_FILE), cfg, seed)


# ----------------------------------------------------------------------------- repair
def repair(space: ActionSpace, predictor: _Predictor, original: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Exhaustive search of the (small) action space around each ``original`` row: the valid candidate
    with the fewest changed features (then the lowest probability); the row unchanged when none is
    valid. Candidates: each ordered categorical kept or moved to any higher level, each capped numeric
    kept or cut by its full cap, each free categorical kept or set to any of its values. Vectorised:
    one candidate grid for all rows, invalid cells masked, every valid candidate scored in one batch."""
    import itertools

    rows = original.reindex(columns=space.features).reset_index(drop=True)
    n = len(rows)
    out = rows.copy()
    if n == 0:
        return out
    axes: list[tuple[str, np.ndarray, np.ndarray]] = []     # (feature, values (n, m), allowed (n, m))
    for c, order in space.ordered.items():
        raw = rows[c].to_numpy(dtype=object)
        r = _ranks(pd.Series(raw).astype(str).to_numpy(), order)
        vals = np.empty((n, 1 + len(order)), dtype=object)
        vals[:, 0], vals[:, 1:] = raw, np.asarray(order, dtype=object)[None, :]
        ok = np.ones(vals.shape, dtype=bool)
        ok[:, 1:] = (r[:, None] >= 0) & (np.arange(len(order))[None, :] > r[:, None])
        axes.append((c, vals, ok))
    for c, cap in space.decrease_caps.items():
        v = pd.to_numeric(rows[c], errors="coerce").to_numpy(dtype=float)
        cut = np.round(v * (1 - cap), 2)
        axes.append((c, np.stack([v, cut], axis=1), np.stack([np.ones(n, bool), np.isfinite(v) & (cut < v)], axis=1)))
    for c, values in space.free_values.items():
        raw = rows[c].to_numpy(dtype=object)
        vals = np.empty((n, 1 + len(values)), dtype=object)
        vals[:, 0], vals[:, 1:] = raw, np.asarray(values, dtype=object)[None, :]
        ok = np.ones(vals.shape, dtype=bool)
        ok[:, 1:] = pd.Series(raw).astype(str).to_numpy()[:, None] != np.asarray(values, dtype=object)[None, :]
        axes.append((c, vals, ok))
    if not axes:
        return out
    grid = np.array(list(itertools.product(*[range(v.shape[1]) for _, v, _ in axes])), dtype=np.int64)  # (C, A)
    allowed = np.ones((n, len(grid)), dtype=bool)
    for a, (_, _, ok) in enumerate(axes):
        allowed &= ok[:, grid[:, a]]
    owners, cidx = np.nonzero(allowed)
    cand = {c: rows[c].to_numpy()[owners] for c in space.features}
    for a, (c, vals, _) in enumerate(axes):
        cand[c] = vals[owners, grid[cidx, a]]
    p = predictor.proba(pd.DataFrame(cand))
    changed = (grid[cidx] != 0).sum(axis=1)
    ok = p < threshold
    order = np.lexsort((p, changed, ~ok, owners))   # per owner: valid first, fewest changes, lowest p
    first = order[np.r_[True, owners[order][1:] != owners[order][:-1]]]
    first = first[ok[first]]
    for a, (c, vals, _) in enumerate(axes):
        col = out[c].to_numpy(dtype=float if c in space.decrease_caps else object).copy()
        col[owners[first]] = vals[owners[first], grid[cidx[first], a]]
        out[c] = col
    return out


# ----------------------------------------------------------------------------- interface
@dataclass
class CounterfactualExplainer:
    """The interface every caller uses, whatever the backend."""

    space: ActionSpace
    backend: Any
    threshold: float
    use_repair: bool = True

    @property
    def predictor(self) -> _Predictor:
        return self.backend.predictor

    def explain_frame(self, features: pd.DataFrame) -> tuple[list[dict], dict[str, Any]]:
        """Counterfactual per row (projected onto the action space) and aggregate quality numbers.

        Batched end to end: one backend call per condition group, vectorised projection, one batched
        scoring of every repair candidate, column-wise bookkeeping."""
        features = features.reset_index(drop=True)
        # serving may send partial rows: absent model features are missing (and stay as they are)
        features = features.reindex(columns=list(dict.fromkeys([*features.columns, *self.space.features])))
        original = features.reindex(columns=self.space.features)
        p_before = self.predictor.proba(features)
        need = np.nonzero(p_before >= self.threshold)[0]
        t0 = time.perf_counter()
        cf = original.copy()
        raw_violations = np.zeros(len(features), dtype=int)

        def put(rows: np.ndarray, values: pd.DataFrame) -> None:
            for c in self.space.actionable:   # projection returns the original for every other feature
                col = cf[c].to_numpy(dtype=float if c in self.space.numeric else object).copy()
                col[rows] = values[c].to_numpy()
                cf[c] = col

        if len(need):
            orig_need = original.iloc[need].reset_index(drop=True)
            proposal = self.backend.propose(orig_need)
            raw_violations[need] = self.space.immutable_changes(orig_need, proposal)
            put(need, self.space.project(orig_need, proposal))
        backend_seconds = time.perf_counter() - t0
        p_backend = p_before.copy()   # rows that need no counterfactual are unchanged
        if len(need):
            p_backend[need] = self.predictor.proba(cf.iloc[need])
        p_after = p_backend.copy()
        repaired = np.zeros(len(features), dtype=bool)
        if self.use_repair:
            bad = need[p_backend[need] >= self.threshold]
            if len(bad):
                orig_bad = original.iloc[bad].reset_index(drop=True)
                fixed = self.space.project(orig_bad, repair(self.space, self.predictor, orig_bad, self.threshold))
                put(bad, fixed)
                p_after[bad] = self.predictor.proba(cf.iloc[bad])
                repaired[bad] = True
        seconds = time.perf_counter() - t0
        changes = changed_features(self.space, original, cf)
        final_violations = self.space.immutable_changes(original, cf)
        ids = features[ID].astype(str).tolist() if ID in features.columns else [str(i) for i in range(len(features))]
        needed = np.zeros(len(features), dtype=bool)
        needed[need] = True
        valid = p_after < self.threshold
        name, name_rep = self.backend.name, self.backend.name + "+repair"
        out = [{"customer_id": cid, "backend": name_rep if rep else name, "needed": nd, "p_before": pb,
                "new_probability": pa, "valid": ok, "changes": ch}
               for cid, rep, nd, pb, pa, ok, ch in zip(ids, repaired.tolist(), needed.tolist(), p_before.tolist(),
                                                       p_after.tolist(), valid.tolist(), changes)]
        stats = {
            "backend": self.backend.name, "explained": int(needed.sum()),
            "validity": float(valid[needed].mean()) if needed.any() else float("nan"),
            "validity_backend_alone": float((p_backend < self.threshold)[needed].mean()) if needed.any() else float("nan"),
            "repaired": int(repaired.sum()),
            "backend_seconds": backend_seconds,
            "backend_per_second": float(needed.sum() / backend_seconds) if backend_seconds > 0 else float("nan"),
            "sparsity_mean_changed_features": float(np.mean([len(changes[i]) for i in need])) if len(need) else 0.0,
            "immutable_changes": int(final_violations[needed].sum()),
            "immutable_changes_raw": int(raw_violations[needed].sum()),
            "mean_probability_drop": float((p_before - p_after)[needed].mean()) if needed.any() else 0.0,
            "seconds": seconds, "per_second": float(needed.sum() / seconds) if seconds > 0 else float("nan"),
        }
        return out, stats


def fit_explainer(base: BaseModel, train: pd.DataFrame, cfg: dict[str, Any], seed: int) -> CounterfactualExplainer:
    space = ActionSpace.from_params(cfg, base.schema, train)
    predictor = _Predictor(base, space, float(cfg["target_threshold"]))
    rows = train.sample(min(len(train), int(cfg["train_rows"])), random_state=seed)
    backend_name = cfg["backend"]
    if backend_name == "alibi_cfrl":
        backend = AlibiCFRLBackend.fit(space, predictor, rows, cfg["alibi_cfrl"], seed)
    elif backend_name == "dice":
        backend = DiceBackend.fit(space, predictor, rows, cfg["dice"], seed)
    else:
        raise ValueError(f"fit_counterfactual.backend must be one of {BACKENDS}, got {backend_name!r}")
    return CounterfactualExplainer(space, backend, float(cfg["target_threshold"]), bool(cfg.get("repair", True)))


def save_explainer(explainer: CounterfactualExplainer, part_dir: Path, cfg: dict[str, Any], seed: int) -> None:
    joblib.dump({"space": explainer.space, "threshold": explainer.threshold, "backend": explainer.backend.name,
                 "repair": explainer.use_repair,
                 "cfg": cfg, "seed": seed}, part_dir / SPACE_FILE)
    explainer.backend.save(part_dir)


def load_explainer(part_dir: Path, base: BaseModel) -> CounterfactualExplainer:
    meta = joblib.load(part_dir / SPACE_FILE)
    space, thr = meta["space"], meta["threshold"]
    predictor = _Predictor(base, space, thr)
    if meta["backend"] == "alibi_cfrl":
        backend = AlibiCFRLBackend.load(part_dir, space, predictor)
    else:
        backend = DiceBackend.load(part_dir, space, predictor, meta["cfg"].get("dice", {}), meta["seed"])
    return CounterfactualExplainer(space, backend, thr, bool(meta.get("repair", True)))
