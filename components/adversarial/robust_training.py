"""Adversarial training of the hardened model (``RobustNet``) on clean + manipulated customers.

Each batch: clean cross-entropy + ``adversarial_weight`` x a penalty on manipulated copies of
attackable customers (half moved by the GAN generator, which keeps adapting to the robust
model, half a random fraction of the way to their churn-ward corner, with the churn-riskiest
payment method half the time) + ``reconstruction_weight`` x the denoiser's reconstruction
loss + ``worst_case_weight`` x the cross-entropy of the exact worst case (certify.py) against
each customer's own label (the offer hunter's corner for non-churners, the risk hider's for
churners). Penalty ``consistency``: cross-entropy towards the customer's own clean probability;
``gain``: the rise of the logit over the clean logit. Either way a bounded move must not raise
the score. The number of batches is ``epochs`` x (fitted customers / batch size): the fitted
customers are capped by ``harden.fit_rows``, so the cost does not grow with the world.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from churnguard.adversarial.attacks import AttackSpace, Generator, apply_move
from churnguard.adversarial.certify import corner, worst_case_logit
from churnguard.adversarial.config import HardenConfig
from churnguard.adversarial.models import RobustNet, predict_logit
from churnguard.core.vocabulary import LABEL

bce = nn.functional.binary_cross_entropy_with_logits


def _riskiest_categories(space: AttackSpace, attackable: pd.DataFrame) -> list[tuple[slice, int]]:
    """Per mutable categorical, the value with the highest training churn rate (a directional move)."""
    out = []
    for col, block in space.cat_blocks:
        rates = attackable.groupby(attackable[col].astype(str))[LABEL].mean()
        best = rates.idxmax()
        out.append((block, space.enc.categories[col].index(best) if best in space.enc.categories[col] else 0))
    return out


@dataclass
class RobustTrainer:
    robust: RobustNet
    gen: Generator
    space: AttackSpace
    real: torch.Tensor  # codes of the attackable customers
    z: torch.Tensor  # codes of every fitted customer
    y: torch.Tensor
    y_att: torch.Tensor
    direction: torch.Tensor
    churnward: torch.Tensor
    cat_best: list[tuple[slice, int]]
    cfg: HardenConfig
    opt: torch.optim.Optimizer
    opt_g: torch.optim.Optimizer
    g: torch.Generator

    @classmethod
    def build(
        cls,
        robust: RobustNet,
        gen: Generator,
        space: AttackSpace,
        real: torch.Tensor,
        z: torch.Tensor,
        y: np.ndarray,
        attackable: pd.DataFrame,
        att: np.ndarray,
        direction: np.ndarray,
        cfg: HardenConfig,
    ) -> RobustTrainer:
        dir_t = torch.as_tensor(direction, dtype=torch.float32)
        yt = torch.as_tensor(y)
        return cls(
            robust, gen, space, real, z, yt, yt[torch.as_tensor(att)], dir_t, corner(space, dir_t),
            _riskiest_categories(space, attackable), cfg,
            torch.optim.Adam(robust.parameters(), lr=cfg.robust.lr, weight_decay=1e-5),
            torch.optim.Adam(gen.parameters(), lr=cfg.gan.lr),
            torch.Generator().manual_seed(cfg.seed),
        )  # fmt: skip

    def _generator_step(self, arows: torch.Tensor, thr: float) -> None:
        """The generator keeps adapting to the robust model (the robust model frozen meanwhile)."""
        for p in self.robust.parameters():
            p.requires_grad_(False)
        u, cl = self.gen(self.real[arows], torch.randn(len(arows), self.gen.noise_dim, generator=self.g))
        x_adv, oh_adv = apply_move(self.space, u, cl, arows, hard=False)
        loss = nn.functional.softplus(-(self.robust(self.space.encode(x_adv, oh_adv, arows)) - thr - 0.5)).mean()
        self.opt_g.zero_grad()
        loss.backward()
        self.opt_g.step()
        for p in self.robust.parameters():
            p.requires_grad_(True)

    @torch.no_grad()
    def _manipulated(self, arows: torch.Tensor, drows: torch.Tensor) -> torch.Tensor:
        """Codes of manipulated copies: GAN moves of ``arows``, directional moves of ``drows``."""
        space, g = self.space, self.g
        u, cl = self.gen(self.real[arows], torch.randn(len(arows), self.gen.noise_dim, generator=g))
        x_gan, oh_gan = apply_move(space, u, cl, arows, hard=True)
        frac = torch.rand(len(drows), 1, generator=g) ** 0.5
        x_dir = space.x0[drows] + frac * (self.churnward[drows] - space.x0[drows])
        oh_dir = space.onehot[drows].clone()
        switch = torch.rand(len(drows), generator=g) < 0.5
        for block, k in self.cat_best:
            oh_dir[switch, block] = 0.0
            oh_dir[switch, block.start + k] = 1.0
        return torch.cat([space.encode(x_gan, oh_gan, arows), space.encode(x_dir, oh_dir, drows)])

    def _loss(self, idx: torch.Tensor, arows: torch.Tensor, drows: torch.Tensor, half: int) -> torch.Tensor:
        rc, robust = self.cfg.robust, self.robust
        z_adv, both = self._manipulated(arows, drows), torch.cat([arows, drows])
        if rc.penalty == "gain":  # rise of the logit over the customer's own clean logit
            adv_loss = torch.relu(robust(z_adv) - robust(self.real[both]).detach()).mean()
        else:  # consistency (TRADES-like): keep the clean probability
            adv_loss = bce(robust(z_adv), torch.sigmoid(robust(self.real[both])).detach())
        loss = (
            bce(robust(self.z[idx]), self.y[idx])
            + rc.adversarial_weight * adv_loss
            + rc.reconstruction_weight * robust.denoise.reconstruction_loss(self.z[idx])
        )
        if rc.worst_case_weight > 0:
            wrows = torch.randint(0, len(self.space.x0), (half,), generator=self.g)
            yw = self.y_att[wrows]
            worst = torch.where(
                yw < 0.5,
                worst_case_logit(robust, self.space, self.direction, wrows, up=True),
                worst_case_logit(robust, self.space, self.direction, wrows, up=False),
            )
            loss = loss + rc.worst_case_weight * bce(worst, yw)
        return loss

    def train(self, thr: float, progress: Callable[[str], Any]) -> float:
        """Train; returns the hardened model's offer threshold (probability, top ``offer_share``)."""
        rc, bs = self.cfg.robust, self.cfg.robust.batch_size
        n_att, half = len(self.space.x0), bs // 2
        for epoch in range(rc.epochs):
            self.robust.train()
            perm = torch.randperm(len(self.z), generator=self.g)
            for b in range(max(1, len(perm) // bs)):
                idx = perm[b * bs : (b + 1) * bs]
                arows = torch.randint(0, n_att, (half,), generator=self.g)
                drows = torch.randint(0, n_att, (half,), generator=self.g)
                for _ in range(self.cfg.gan.updates_per_batch):
                    self._generator_step(arows, thr)
                loss = self._loss(idx, arows, drows, half)
                self.opt.zero_grad()
                loss.backward()
                self.opt.step()
            thr = float(np.quantile(predict_logit(self.robust, self.z), 1 - self.cfg.offer_share))
            progress(f"robust epoch {epoch + 1}: loss {loss.item():.4f}")
        self.robust.eval()
        return float(1 / (1 + np.exp(-thr)))
