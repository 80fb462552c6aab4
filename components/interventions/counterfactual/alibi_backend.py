"""Backend ``alibi_cfrl``: alibi's ``CounterfactualRLTabular`` (PyTorch), an actor trained by
reinforcement learning in an autoencoder's latent space; explaining a batch is one forward pass.
**alibi is under the Business Source License 1.1** (production use restricted)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churnguard.interventions.config import AlibiConfig
from churnguard.interventions.counterfactual.action_space import ActionSpace
from churnguard.interventions.counterfactual.predictor import _Codec, _Predictor

# ---- Two re-implementations of alibi 0.9.6 internals (alibi.explainers.backends.cfrl_tabular):
# ``generate_condition`` (used while training) and the callable returned by ``get_he_preprocessor``
# (used on every explain call). Same numbers, without alibi's per-sample Python loops and without
# scikit-learn's ColumnTransformer fixed cost, which dominated CFRL training and batched explaining.
# The preprocessor is checked against alibi's own output at fit time and used only where it matches.


class _FastCondition:
    """alibi's training-time ``generate_condition`` (Beta(2, 2) numeric ranges, Bernoulli(0.5) category
    masks, immutables pinned), vectorised: alibi's own loops over features once per training sample
    and dominated CFRL's training time here."""

    def __init__(self, space: ActionSpace, codec: _Codec, ranges: dict[str, list[float]]):
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
        cat = X_ohe[:, self.n_num :]
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


def _preprocessors(X: np.ndarray, space: ActionSpace, codec: _Codec, seed: int) -> tuple[Any, Any, np.ndarray]:
    """alibi's (preprocessor, inverse) for ``X`` and ``X`` one-hot encoded; the preprocessor is swapped
    for ``_HEPreprocessor`` where that reproduces alibi's own output."""
    from alibi.explainers.backends.cfrl_tabular import get_he_preprocessor

    feature_types = {i: int for i, c in enumerate(space.features) if c in ("age",)}
    pre, inv = get_he_preprocessor(
        X=X, feature_names=space.features, category_map=codec.category_map, feature_types=feature_types
    )
    X_ohe = pre(X).astype(np.float32)
    try:
        fast = _HEPreprocessor(pre)
        probe = np.vstack([X[:500], X[:50] + np.random.default_rng(seed).normal(0, 1, X[:50].shape)])
        if np.allclose(fast(probe), pre(probe), rtol=1e-12, atol=1e-12):
            pre = fast
    except (AttributeError, KeyError, ValueError, IndexError):
        pass
    return pre, inv, X_ohe


def _train_autoencoder(
    X: np.ndarray, X_ohe: np.ndarray, space: ActionSpace, codec: _Codec, cfg: AlibiConfig, seed: int
) -> tuple[Any, Any]:
    """Heterogeneous autoencoder, our own loop: MSE on the numeric head, cross-entropy on each
    categorical head (alibi leaves training the autoencoder to the caller)."""
    import torch
    from alibi.models.pytorch.cfrl_models import ADULTDecoder, ADULTEncoder

    cat_idx = [i for i, c in enumerate(space.features) if c in space.categorical]
    n_num = len(space.features) - len(cat_idx)
    output_dims = [n_num] + [len(codec.category_map[i]) for i in cat_idx]
    encoder = ADULTEncoder(hidden_dim=cfg.hidden_dim, latent_dim=cfg.latent_dim)
    decoder = ADULTDecoder(hidden_dim=cfg.hidden_dim, output_dims=output_dims)
    xt = torch.tensor(X_ohe)
    cat_targets = [torch.tensor(X[:, i].astype(np.int64)) for i in cat_idx]
    decoder(encoder(xt[:2]))  # materialise lazy layers
    opt = torch.optim.Adam(list(encoder.parameters()) + list(decoder.parameters()), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    bs = cfg.autoencoder_batch_size
    for _ in range(cfg.autoencoder_steps):
        idx = torch.randint(0, len(xt), (bs,), generator=gen)
        out = decoder(encoder(xt[idx]))
        loss = torch.nn.functional.mse_loss(out[0], xt[idx, :n_num]) if n_num else torch.zeros(())
        for head, tgt in zip(out[1:], cat_targets):
            loss = loss + torch.nn.functional.cross_entropy(head, tgt[idx]) / max(1, len(cat_idx))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return encoder, decoder


_LOAD_LOCK = threading.Lock()


@contextmanager
def _alibi_loads_whole_modules() -> Iterator[None]:
    """alibi saves CFRL's encoder, decoder, actor and critic as whole pickled torch modules and its
    loader reads them with ``torch.load(path)``, which torch >= 2.6 refuses (weights only by default);
    alibi's ``load_explainer`` takes no ``weights_only``. While alibi loads, and only then, the one
    function its loader calls for each module (``load_model`` of its PyTorch CFRL tabular backend,
    reached through ``explainer.backend``) reads with ``weights_only=False``; every other
    ``torch.load`` in the process keeps torch's safe default. The files are the bundle's own (written
    by fit_counterfactual), trusted as the bundle itself is. The lock keeps concurrent loads from
    restoring each other's replacement."""
    import torch
    from alibi.explainers.backends.pytorch import cfrl_tabular

    def load_model(path):
        model = torch.load(path, weights_only=False)
        model.eval()
        return model

    with _LOAD_LOCK:
        original = cfrl_tabular.load_model
        cfrl_tabular.load_model = load_model
        try:
            yield
        finally:
            cfrl_tabular.load_model = original


class AlibiCFRLBackend:
    name = "alibi_cfrl"
    licence = "Business Source License 1.1 (alibi): production use restricted"
    CHUNK = 256  # rows per alibi explain call

    def __init__(self, space: ActionSpace, predictor: _Predictor, explainer: Any):
        self.space, self.predictor, self.explainer = space, predictor, explainer
        self.codec = _Codec(space)

    @staticmethod
    def _predict_fn(predictor: _Predictor, codec: _Codec):
        return lambda X: predictor.array_two_class(np.asarray(X), codec)

    @classmethod
    def fit(
        cls, space: ActionSpace, predictor: _Predictor, train: pd.DataFrame, cfg: AlibiConfig, seed: int
    ) -> AlibiCFRLBackend:
        import torch
        from alibi.explainers import CounterfactualRLTabular

        torch.manual_seed(seed)
        codec = _Codec(space)
        X = codec.encode(train)
        pre, inv, X_ohe = _preprocessors(X, space, codec, seed)
        encoder, decoder = _train_autoencoder(X, X_ohe, space, codec, cfg, seed)
        ranges = {c: [-float(cap), 0.0] for c, cap in space.decrease_caps.items()}
        explainer = CounterfactualRLTabular(
            predictor=cls._predict_fn(predictor, codec),
            encoder=encoder,
            decoder=decoder,
            latent_dim=cfg.latent_dim,
            encoder_preprocessor=pre,
            decoder_inv_preprocessor=inv,
            coeff_sparsity=cfg.coeff_sparsity,
            coeff_consistency=cfg.coeff_consistency,
            category_map=codec.category_map,
            feature_names=space.features,
            ranges=ranges,
            immutable_features=space.immutable,
            train_steps=cfg.train_steps,
            batch_size=cfg.batch_size,
            backend="pytorch",
            seed=seed,
            num_workers=0,
            conditional_func=_FastCondition(space, codec, ranges),
        )
        explainer.fit(X=X)
        return cls(space, predictor, explainer)

    def _groups(self, imp: pd.DataFrame) -> list[np.ndarray]:
        """Row positions grouped by their ordered categoricals (one alibi condition per group)."""
        if not self.space.ordered:
            return [np.arange(len(imp))]
        indices = imp.groupby(list(self.space.ordered), sort=True).indices.items()
        return [np.asarray(r) for _, r in sorted(indices, key=lambda kv: tuple(map(str, np.atleast_1d(kv[0]))))]

    def _condition(self, imp: pd.DataFrame, rows: np.ndarray) -> dict[str, list]:
        """alibi's condition for one group: upgrades from the group's level, any free value, and the
        numeric cap relative to the group's median."""
        first = imp.iloc[rows[0]]
        cond: dict[str, list[Any]] = {}
        for c, order in self.space.ordered.items():
            v = str(first[c])
            known = set(self.space.categories.get(c, []))
            if v in order and v in known:  # an unknown value (e.g. missing) stays unconditioned; projection keeps it
                cond[c] = [x for x in order[order.index(v) :] if x in known]
        for c, values in self.space.free_values.items():
            cond[c] = [x for x in values if x in set(self.space.categories.get(c, []))]
        for c, cap in self.space.decrease_caps.items():
            cond[c] = [-float(cap) * float(imp[c].iloc[rows].median()), 0.0]
        return cond

    def propose(self, original: pd.DataFrame) -> pd.DataFrame:
        """Raw backend proposals (before projection), in batches grouped by their condition."""
        X = self.codec.encode(original)
        imp = self.space.impute(original).reset_index(drop=True)
        out = np.empty_like(X)
        for rows in self._groups(imp):
            cond = self._condition(imp, rows)
            # alibi tiles the per-row conditional vectors once per row of the call (n^2 rows): keep calls small
            for start in range(0, len(rows), self.CHUNK):
                part = rows[start : start + self.CHUNK]
                expl = self.explainer.explain(
                    X=X[part], Y_t=np.zeros(len(part), dtype=int), C=[cond], batch_size=len(part)
                )
                out[part] = expl.data["cf"]["X"]
        return self.codec.decode(out)

    def save(self, part_dir: Path) -> None:
        self.explainer.save(part_dir / "cfrl")

    @classmethod
    def load(
        cls, part_dir: Path, space: ActionSpace, predictor: _Predictor, cfg: AlibiConfig, seed: int
    ) -> AlibiCFRLBackend:
        from alibi.saving import load_explainer

        with _alibi_loads_whole_modules():
            explainer = load_explainer(part_dir / "cfrl", predictor=cls._predict_fn(predictor, _Codec(space)))
        return cls(space, predictor, explainer)
