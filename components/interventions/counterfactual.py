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
            rank = {v: i for i, v in enumerate(order)}
            o = original[c].astype(str).to_numpy()
            p = proposal[c].astype(str).to_numpy()
            ok = np.array([(a in rank and b in rank and rank[b] >= rank[a]) for a, b in zip(o, p)], dtype=bool)
            out[c] = np.where(ok, p, o)
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


def changed_features(space: ActionSpace, original: pd.DataFrame, cf: pd.DataFrame) -> list[list[dict]]:
    out = []
    for i in range(len(original)):
        ch = []
        for c in space.actionable:
            o, n = original[c].iloc[i], cf[c].iloc[i]
            same = (np.isclose(float(o), float(n), rtol=1e-6, atol=1e-6) if c in space.numeric else str(o) == str(n))
            if not same:
                ch.append({"feature": c, "old": o.item() if hasattr(o, "item") else o,
                           "new": n.item() if hasattr(n, "item") else n})
        out.append(ch)
    return out


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


class AlibiCFRLBackend:
    name = "alibi_cfrl"
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
        keys = [tuple(str(imp[c].iloc[i]) for c in self.space.ordered) for i in range(len(imp))]
        out = np.empty_like(X)
        for key in sorted(set(keys)):
            rows = np.array([i for i, k in enumerate(keys) if k == key])
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
            expl = self.explainer.explain(X=X[rows], Y_t=np.zeros(len(rows), dtype=int), C=[cond],
                                          batch_size=max(1, len(rows)))
            out[rows] = expl.data["cf"]["X"]
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
def repair(space: ActionSpace, predictor: _Predictor, original: pd.DataFrame, threshold: float,
           max_candidates: int = 400) -> pd.DataFrame:
    """Exhaustive search of the (small) action space for rows a backend left invalid: the valid
    candidate with the fewest changed features (then the lowest probability); the row unchanged when
    none is valid. Candidates: each ordered categorical at any allowed level, each capped numeric at
    0 % or its full cap, each free categorical at any value. All rows' candidates are scored in one batch."""
    import itertools

    original = original.reindex(columns=space.features).reset_index(drop=True)
    out = original.copy()
    owners, combos_all, changed_all, axes_all = [], [], [], []
    for i in range(len(original)):
        row = original.iloc[i]
        cond = space.allowed(row)
        axes = [(c, cond[c]) for c in space.ordered]
        axes += [(c, [float(row[c]), round(float(row[c]) * (1 - cap), 2)]) for c, cap in space.decrease_caps.items()]
        axes += [(c, [str(row[c])] + [v for v in cond[c] if v != str(row[c])]) for c in space.free_values]
        combos = list(itertools.product(*[vals for _, vals in axes]))[:max_candidates]
        axes_all.append(axes)
        for combo in combos:
            owners.append(i)
            combos_all.append(combo)
            changed_all.append(sum(1 for j, (c, _) in enumerate(axes) if str(combo[j]) != str(row[c])))
    if not owners:
        return out
    owners_a = np.asarray(owners)
    cand = original.iloc[owners_a].reset_index(drop=True)
    names = [c for c, _ in axes_all[0]]
    for j, c in enumerate(names):
        cand[c] = [combo[j] for combo in combos_all]
    for c in space.numeric:
        cand[c] = pd.to_numeric(cand[c], errors="coerce")
    p = predictor.proba(cand)
    changed = np.asarray(changed_all)
    ok = p < threshold
    order = np.lexsort((p, changed, ~ok, owners_a))   # per owner: valid first, fewest changes, lowest p
    first = order[np.r_[True, owners_a[order][1:] != owners_a[order][:-1]]]
    for k in first:
        if ok[k]:
            for c in names:
                out.at[owners_a[k], c] = cand[c].iloc[k]
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
        """Counterfactual per row (projected onto the action space) and aggregate quality numbers."""
        features = features.reset_index(drop=True)
        # serving may send partial rows: absent model features are missing (and stay as they are)
        features = features.reindex(columns=list(dict.fromkeys([*features.columns, *self.space.features])))
        p_before = self.predictor.proba(features)
        need = np.nonzero(p_before >= self.threshold)[0]
        t0 = time.perf_counter()
        cf = features.reindex(columns=self.space.features).copy()
        raw_violations = np.zeros(len(features), dtype=int)
        if len(need):
            proposal = self.backend.propose(features.iloc[need])
            raw_violations[need] = self.space.immutable_changes(features.iloc[need], proposal)
            projected = self.space.project(features.iloc[need].reset_index(drop=True), proposal)
            for c in self.space.features:
                cf[c] = cf[c].astype(object)
                cf.loc[need, c] = projected[c].to_numpy()
        for c in self.space.numeric:
            cf[c] = pd.to_numeric(cf[c], errors="coerce")
        backend_seconds = time.perf_counter() - t0
        p_backend = self.predictor.proba(cf)
        repaired = np.zeros(len(features), dtype=bool)
        if self.use_repair:
            bad = need[p_backend[need] >= self.threshold]
            if len(bad):
                fixed = repair(self.space, self.predictor, cf.iloc[bad].reset_index(drop=True), self.threshold)
                fixed = self.space.project(features.iloc[bad].reset_index(drop=True), fixed)
                for c in self.space.features:
                    cf[c] = cf[c].astype(object)
                    cf.loc[bad, c] = fixed[c].to_numpy()
                for c in self.space.numeric:
                    cf[c] = pd.to_numeric(cf[c], errors="coerce")
                repaired[bad] = True
        seconds = time.perf_counter() - t0
        p_after = self.predictor.proba(cf)
        changes = changed_features(self.space, features.reindex(columns=self.space.features), cf)
        final_violations = self.space.immutable_changes(features, cf)
        ids = features[ID].astype(str).tolist() if ID in features.columns else [str(i) for i in range(len(features))]
        out = []
        for i in range(len(features)):
            out.append({"customer_id": ids[i], "backend": self.backend.name + ("+repair" if repaired[i] else ""),
                        "needed": bool(i in set(need)),
                        "p_before": float(p_before[i]), "new_probability": float(p_after[i]),
                        "valid": bool(p_after[i] < self.threshold), "changes": changes[i]})
        needed = np.zeros(len(features), dtype=bool)
        needed[need] = True
        valid = p_after < self.threshold
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
