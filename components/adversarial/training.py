"""Fit the protection part: surrogate, GAN seed, adversarial training, detectors, classifier.

Reads no ground truth: only the feature table (with labels) and the base model.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from churnguard.adversarial.attacks import AttackSpace, apply_move, generate, train_generator
from churnguard.adversarial.bounds import FeatureBounds
from churnguard.adversarial.certify import corner, label_directions, worst_case_logit
from churnguard.adversarial.classify import AttackClassifier
from churnguard.adversarial.detectors import AnomalyDetector
from churnguard.adversarial.encoding import TabularEncoder
from churnguard.adversarial.models import RobustNet, distill, predict_logit
from churnguard.adversarial.protection import ProtectionPart
from churnguard.core.numeric import logit
from churnguard.core.vocabulary import LABEL
from churnguard.features.table import FeatureSchema


def established_mask(frame: pd.DataFrame) -> np.ndarray:
    return frame["is_cold_start"].to_numpy() == 0 if "is_cold_start" in frame else np.ones(len(frame), bool)


def attackable_mask(frame: pd.DataFrame, mutable: list[str]) -> np.ndarray:
    """Established customers with every mutable feature observed (attacks change values, not gaps)."""
    return established_mask(frame) & frame[mutable].notna().all(axis=1).to_numpy()


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
    x_gan, oh_gan = generate(space, gen, seed + 17)
    g = torch.Generator().manual_seed(seed + 19)
    frac = torch.rand(len(rows), 1, generator=g) ** 0.5
    x_dir = space.round(space.x0 + frac * (corner(space, direction) - space.x0))
    half = len(rows) // 2
    return pd.concat(
        [space.materialize(x_gan, oh_gan).iloc[:half], space.materialize(x_dir, space.onehot).iloc[half:]],
        ignore_index=True,
    )


def fit_protection(
    train: pd.DataFrame, schema: FeatureSchema, base: Any, cfg: dict[str, Any], log=print
) -> ProtectionPart:
    t0 = time.perf_counter()
    seed = int(cfg["seed"])
    torch.set_num_threads(int(cfg["torch_threads"]))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train = train.reset_index(drop=True)
    y = train[LABEL].to_numpy().astype(np.float32)
    enc = TabularEncoder.fit(train, schema.numeric, schema.categorical)
    bounds = FeatureBounds.from_params(cfg, train, schema.numeric, schema.categorical)
    mut_pos = [enc.numeric.index(c) for c in bounds.mutable]
    z = enc.encode(train)
    share = float(cfg["offer_share"])

    # 1. a differentiable copy of the base model
    base_p = base.predict_proba(train)
    sur_cfg = cfg["surrogate"]
    surrogate = distill(z, logit(base_p), list(sur_cfg["hidden"]), int(sur_cfg["epochs"]), seed)
    sur_logit = predict_logit(surrogate, z)
    thresholds = {
        "base_probability": float(np.quantile(base_p, 1 - share)),
        "surrogate_logit": float(np.quantile(sur_logit, 1 - share)),
    }
    log(
        f"surrogate distilled: corr with base logit {np.corrcoef(sur_logit, logit(base_p))[0, 1]:.4f} "
        f"({time.perf_counter() - t0:.1f}s, cpu {time.process_time():.1f}s)"
    )

    # 2. GAN seed: a generator that flips the base model (through its surrogate)
    est = established_mask(train)
    att = attackable_mask(train, bounds.mutable)
    space = AttackSpace.build(train[att], enc, bounds)
    real = z[torch.as_tensor(att)]
    gcfg = cfg["gan"]
    gen = train_generator(
        space,
        surrogate,
        thresholds["surrogate_logit"],
        int(gcfg["steps"]),
        int(gcfg["hidden"]),
        int(gcfg["noise_dim"]),
        float(gcfg["realism_weight"]),
        seed,
        real=real,
    )
    log(f"GAN seed trained ({time.perf_counter() - t0:.1f}s, cpu {time.process_time():.1f}s)")

    # 3. adversarial training of the robust model on clean + generated customers
    rcfg = cfg["robust"]
    # churn-ward direction of each mutable feature (training labels), for the monotone terms
    direction = label_directions(z[torch.as_tensor(att)][:, mut_pos].numpy(), y[att])
    dir_t = torch.as_tensor(direction, dtype=torch.float32)
    robust = RobustNet(
        enc.width,
        mut_pos,
        list(rcfg["hidden"]),
        float(rcfg["cap"]),
        float(rcfg["trust"]),
        direction.tolist() if rcfg["architecture"] == "monotone" else None,
    )
    opt = torch.optim.Adam(robust.parameters(), lr=float(rcfg["lr"]), weight_decay=1e-5)
    opt_g = torch.optim.Adam(gen.parameters(), lr=float(gcfg["lr"]))
    bce = nn.functional.binary_cross_entropy_with_logits
    yt = torch.as_tensor(y)
    # Manipulated copies of attackable customers: half from the generator (adapting to the robust
    # model), half moved a random fraction of the way to the churn-ward corner of their box (the
    # directions come from the training labels). Penalty (params robust.penalty): "consistency",
    # cross-entropy towards the customer's own clean probability, or "gain", the rise of the
    # logit over the clean logit: either way a bounded move must not raise the score.
    x_all = space.x0
    churnward = corner(space, dir_t)
    cat_best = []
    for col, block in space.cat_blocks:
        rates = train[att].groupby(train[att][col].astype(str))[LABEL].mean()
        cat_best.append(
            (block, enc.categories[col].index(rates.idxmax()) if rates.idxmax() in enc.categories[col] else 0)
        )
    w_adv, w_rec = float(rcfg["adversarial_weight"]), float(rcfg["reconstruction_weight"])
    # Exact worst case (certify.py): the box corner against each attackable customer's own label
    # (an offer hunter's best move for non-churners, a risk hider's for churners). Certified only
    # for the monotone architecture; for the MLP it is one more strong manipulated example.
    w_worst = float(rcfg.get("worst_case_weight", 0.0))
    y_att = yt[torch.as_tensor(att)]
    bs = int(rcfg["batch_size"])
    g = torch.Generator().manual_seed(seed)
    thr = thresholds["surrogate_logit"]
    n_att = len(x_all)
    half = bs // 2
    for epoch in range(int(rcfg["epochs"])):
        robust.train()
        perm = torch.randperm(len(z), generator=g)
        n_batches = max(1, len(perm) // bs)
        for b in range(n_batches):
            idx = perm[b * bs : (b + 1) * bs]
            arows = torch.randint(0, n_att, (half,), generator=g)
            drows = torch.randint(0, n_att, (half,), generator=g)
            for _ in range(int(gcfg["updates_per_batch"])):  # the generator keeps adapting to the robust model
                for p in robust.parameters():
                    p.requires_grad_(False)
                u, cl = gen(real[arows], torch.randn(len(arows), gen.noise_dim, generator=g))
                x_adv, oh_adv = apply_move(space, u, cl, arows, hard=False)
                g_loss = nn.functional.softplus(-(robust(space.encode(x_adv, oh_adv, arows)) - thr - 0.5)).mean()
                opt_g.zero_grad()
                g_loss.backward()
                opt_g.step()
                for p in robust.parameters():
                    p.requires_grad_(True)
            with torch.no_grad():
                u, cl = gen(real[arows], torch.randn(len(arows), gen.noise_dim, generator=g))
                x_gan, oh_gan = apply_move(space, u, cl, arows, hard=True)
                frac = torch.rand(len(drows), 1, generator=g) ** 0.5
                x_dir = x_all[drows] + frac * (churnward[drows] - x_all[drows])
                oh_dir = space.onehot[drows].clone()
                switch = torch.rand(len(drows), generator=g) < 0.5
                for block, k in cat_best:
                    oh_dir[switch, block] = 0.0
                    oh_dir[switch, block.start + k] = 1.0
                z_adv = torch.cat([space.encode(x_gan, oh_gan, arows), space.encode(x_dir, oh_dir, drows)])
                both = torch.cat([arows, drows])
            if rcfg["penalty"] == "gain":  # rise of the logit over the customer's own clean logit
                adv_loss = torch.relu(robust(z_adv) - robust(real[both]).detach()).mean()
            else:  # consistency (TRADES-like): keep the clean probability
                adv_loss = bce(robust(z_adv), torch.sigmoid(robust(real[both])).detach())
            loss = bce(robust(z[idx]), yt[idx]) + w_adv * adv_loss + w_rec * robust.denoise.reconstruction_loss(z[idx])
            if w_worst > 0:
                wrows = torch.randint(0, n_att, (half,), generator=g)
                yw = y_att[wrows]
                worst = torch.where(
                    yw < 0.5,
                    worst_case_logit(robust, space, dir_t, wrows, up=True),
                    worst_case_logit(robust, space, dir_t, wrows, up=False),
                )
                loss = loss + w_worst * bce(worst, yw)
            opt.zero_grad()
            loss.backward()
            opt.step()
        rl = predict_logit(robust, z)
        thr = float(np.quantile(rl, 1 - share))
        log(
            f"robust epoch {epoch + 1}: loss {loss.item():.4f} ({time.perf_counter() - t0:.1f}s, cpu {time.process_time():.1f}s)"
        )
    robust.eval()
    thresholds["hardened_probability"] = float(1 / (1 + np.exp(-thr)))

    # 4. detectors on established customers: fit / calibrate-A / calibrate-B, disjoint
    dcfg = cfg["detect"]
    te = train[est]
    order = rng.permutation(len(te))
    n_fit, n_a = int(0.6 * len(te)), int(0.2 * len(te))
    fit_i, a_i, b_i = order[:n_fit], order[n_fit : n_fit + n_a], order[n_fit + n_a :]
    manipulated = manipulated_copies(te.iloc[a_i], enc, bounds, gen, dir_t, seed)
    detector = AnomalyDetector.fit(
        te.iloc[fit_i], te.iloc[a_i], te.iloc[b_i], y[est][fit_i], bounds.mutable, dcfg, seed, manipulated_a=manipulated
    )
    classifier = AttackClassifier.fit(detector.view.names, cfg["patterns"], float(dcfg["raised_deviation"]))
    log(
        f"detectors calibrated: thresholds {detector.thresholds} ({time.perf_counter() - t0:.1f}s, cpu {time.process_time():.1f}s)"
    )
    for p in list(robust.parameters()) + list(surrogate.parameters()):
        p.requires_grad_(False)
    return ProtectionPart(
        enc,
        bounds,
        robust,
        surrogate,
        detector,
        classifier,
        thresholds,
        {
            "trained_on": len(train),
            "established": int(est.sum()),
            "behaviour_directions": direction.tolist(),
            "certified": rcfg["architecture"] == "monotone",
            "fit_seconds": round(time.perf_counter() - t0, 1),
            "seed_generator": gen,
        },
    )
