"""Fit the protection part: surrogate, GAN seed, adversarial training, detectors, decision.

Reads no ground truth: only the feature table (with labels) and the base model. The part is
fitted on at most ``harden.fit_rows`` training customers (a sample stratified by label and
cold start beyond that), and every trainer runs a number of steps that does not grow with
the customer count beyond that sample, so the stage's cost is bounded at any size.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from churnguard.adversarial.attacks import AttackSpace, Generator, generate, train_generator
from churnguard.adversarial.bounds import FeatureBounds
from churnguard.adversarial.certify import corner, label_directions, reverse_bounds
from churnguard.adversarial.classify import AttackClassifier
from churnguard.adversarial.config import HardenConfig
from churnguard.adversarial.decision import ProtectedDecision
from churnguard.adversarial.detectors import AnomalyDetector, DetectorData
from churnguard.adversarial.encoding import TabularEncoder
from churnguard.adversarial.models import RobustNet, Surrogate, distill, predict_logit
from churnguard.adversarial.protection import ProtectionPart
from churnguard.adversarial.robust_training import RobustTrainer
from churnguard.core.numeric import logit
from churnguard.core.vocabulary import LABEL
from churnguard.features.table import FeatureSchema

Log = Callable[[str], Any]


def established_mask(frame: pd.DataFrame) -> np.ndarray:
    return frame["is_cold_start"].to_numpy() == 0 if "is_cold_start" in frame else np.ones(len(frame), bool)


def attackable_mask(frame: pd.DataFrame, mutable: list[str]) -> np.ndarray:
    """Established customers with every mutable feature observed (attacks change values, not gaps)."""
    return established_mask(frame) & frame[mutable].notna().all(axis=1).to_numpy()


def fit_sample(train: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """At most ``rows`` training customers, stratified by label and cold start (all of them when fewer)."""
    train = train.reset_index(drop=True)
    if len(train) <= rows:
        return train
    strata = train[LABEL].astype(str) + "/" + pd.Series(established_mask(train)).astype(str)
    share = rows / len(train)
    picked = train.groupby(strata, group_keys=False).sample(frac=share, random_state=seed)
    return picked.sort_index().reset_index(drop=True)


def manipulated_copies(
    customers: pd.DataFrame,
    enc: TabularEncoder,
    bounds: FeatureBounds,
    gen: torch.nn.Module,
    direction: torch.Tensor,
    seed: int,
) -> pd.DataFrame:
    """Manipulated copies of the attackable ``customers`` for weighting the detectors: half moved
    by the GAN generator, half a random fraction of the way to their churn-ward corner (the
    threat model's moves; no fraud label is involved)."""
    rows = customers[attackable_mask(customers, bounds.mutable)]
    if rows.empty:
        return rows
    space = AttackSpace.build(rows, enc, bounds)
    x_gan, oh_gan = generate(space, gen, seed + 17)  # type: ignore[arg-type]
    g = torch.Generator().manual_seed(seed + 19)
    frac = torch.rand(len(rows), 1, generator=g) ** 0.5
    x_dir = space.round(space.x0 + frac * (corner(space, direction) - space.x0))
    half = len(rows) // 2
    return pd.concat(
        [space.materialize(x_gan, oh_gan).iloc[:half], space.materialize(x_dir, space.onehot).iloc[half:]],
        ignore_index=True,
    )


@dataclass
class _Fitting:
    """What the steps of :func:`fit_protection` share."""

    train: pd.DataFrame
    cfg: HardenConfig
    enc: TabularEncoder
    bounds: FeatureBounds
    z: torch.Tensor
    y: np.ndarray
    t0: float
    log: Log

    def progress(self, what: str) -> None:
        self.log(f"{what} ({time.perf_counter() - self.t0:.1f}s, cpu {time.process_time():.1f}s)")


def _fit_surrogate(f: _Fitting, base: Any) -> tuple[Surrogate, dict[str, float]]:
    """A differentiable copy of the base model, and both offer thresholds."""
    base_p = base.predict_proba(f.train)
    sur = distill(f.z, logit(base_p), list(f.cfg.surrogate.hidden), f.cfg.surrogate.epochs, f.cfg.seed)
    sur_logit = predict_logit(sur, f.z)
    share = f.cfg.offer_share
    thresholds = {
        "base_probability": float(np.quantile(base_p, 1 - share)),
        "surrogate_logit": float(np.quantile(sur_logit, 1 - share)),
    }
    f.progress(f"surrogate distilled: corr with base logit {np.corrcoef(sur_logit, logit(base_p))[0, 1]:.4f}")
    return sur, thresholds


def _seed_generator(f: _Fitting, space: AttackSpace, surrogate: Surrogate, thr: float, real) -> Generator:
    """GAN seed: a generator that flips the base model (through its surrogate)."""
    g = f.cfg.gan
    gen = train_generator(
        space, surrogate, thr, g.steps, g.hidden, g.noise_dim, g.realism_weight, f.cfg.seed, real=real
    )  # fmt: skip
    f.progress("GAN seed trained")
    return gen


def _fit_detectors(f: _Fitting, gen: Generator, direction: torch.Tensor) -> tuple[AnomalyDetector, AttackClassifier]:
    """Detectors on established customers: fit / calibrate-A / calibrate-B, disjoint 60/20/20."""
    rng = np.random.default_rng(f.cfg.seed)
    est = established_mask(f.train)
    te = f.train[est]
    order = rng.permutation(len(te))
    n_fit, n_a = int(0.6 * len(te)), int(0.2 * len(te))
    fit_i, a_i, b_i = order[:n_fit], order[n_fit : n_fit + n_a], order[n_fit + n_a :]
    manipulated = manipulated_copies(te.iloc[a_i], f.enc, f.bounds, gen, direction, f.cfg.seed)
    data = DetectorData(te.iloc[fit_i], te.iloc[a_i], te.iloc[b_i], f.y[est][fit_i], manipulated)
    detector = AnomalyDetector.fit(
        data, f.bounds.mutable, list(f.bounds.categorical), f.enc, f.cfg.detect, f.cfg.seed
    )  # fmt: skip
    patterns = {k: list(v) for k, v in f.cfg.patterns.items()}
    classifier = AttackClassifier.fit(detector.view.names, patterns, f.cfg.detect.raised_deviation)
    f.progress(f"detectors calibrated: thresholds {detector.thresholds}, weights {detector.weights}")
    return detector, classifier


def fit_protection(
    train: pd.DataFrame, schema: FeatureSchema, base: Any, cfg: HardenConfig, log: Log = print
) -> ProtectionPart:
    t0 = time.perf_counter()
    torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    n_train = len(train)
    train = fit_sample(train, cfg.fit_rows, cfg.seed)
    enc = TabularEncoder.fit(train, schema.numeric, schema.categorical)
    bounds = FeatureBounds.from_params(cfg, train, schema.numeric, schema.categorical)
    f = _Fitting(train, cfg, enc, bounds, enc.encode(train), train[LABEL].to_numpy().astype(np.float32), t0, log)
    surrogate, thresholds = _fit_surrogate(f, base)
    att = attackable_mask(train, bounds.mutable)
    space = AttackSpace.build(train[att], enc, bounds)
    real = f.z[torch.as_tensor(att)]
    gen = _seed_generator(f, space, surrogate, thresholds["surrogate_logit"], real)
    mut_pos = [enc.numeric.index(c) for c in bounds.mutable]
    direction = label_directions(real[:, mut_pos].numpy(), f.y[att])  # churn-ward, from the training labels
    robust = RobustNet(
        enc.width,
        mut_pos,
        list(cfg.robust.hidden),
        cfg.robust.cap,
        cfg.robust.trust,
        direction.tolist() if cfg.robust.architecture == "monotone" else None,
    )
    trainer = RobustTrainer.build(robust, gen, space, real, f.z, f.y, train[att], att, direction, cfg)
    thresholds["hardened_probability"] = trainer.train(thresholds["surrogate_logit"], f.progress)
    detector, classifier = _fit_detectors(f, gen, torch.as_tensor(direction, dtype=torch.float32))
    for p in list(robust.parameters()) + list(surrogate.parameters()):
        p.requires_grad_(False)
    part = ProtectionPart(enc, bounds, robust, surrogate, detector, classifier, thresholds)
    part.meta = {
        "trained_on": len(train),
        "training_customers": n_train,
        "established": int(established_mask(train).sum()),
        "behaviour_directions": direction.tolist(),
        "certified": cfg.robust.architecture == "monotone",
        "fit_seconds": round(time.perf_counter() - t0, 1),
        "seed_generator": gen,
    }
    _fit_decision(part, train, base, cfg)
    return part


def _fit_decision(part: ProtectionPart, train: pd.DataFrame, base: Any, cfg: HardenConfig) -> None:
    """The protected decision's thresholds from the fitted customers (no truth: scores and verdicts)."""
    if cfg.decision.reverse_budget > 0 and part.meta["certified"]:
        part.reverse = dataclasses.replace(reverse_bounds(part.bounds), budget=cfg.decision.reverse_budget * cfg.budget)
    part.decision = ProtectedDecision.fit(
        cfg.decision.score,
        base.predict_proba(train),
        part.decision_probability(train),
        part.protect(train)["protection_verdict"].to_numpy() == "clean",
        cfg.offer_share,
    )
