"""Bounded attacks: a GAN generator (training seed) and constrained PGD (evaluation only).

Both move only the mutable features, inside the box of ``FeatureBounds`` (immutables are
copied, counts are rounded, categorical values are chosen among the valid ones), and both
try to push a customer's churn logit above the offer threshold: the fraudster's goal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from churnguard.adversarial.bounds import FeatureBounds
from churnguard.adversarial.encoding import TabularEncoder
from churnguard.core.columns import Columns


@dataclass
class AttackSpace:
    """Rows under attack, in raw units, with the box each may move in."""

    frame: pd.DataFrame  # (Columns when built for scoring only)
    enc: TabularEncoder
    bounds: FeatureBounds
    num: torch.Tensor  # (n, p) raw numeric
    onehot: torch.Tensor  # (n, q)
    mut_idx: torch.Tensor  # positions of mutable features among numeric
    low: torch.Tensor  # (n, m)
    high: torch.Tensor
    cat_blocks: list[tuple[str, slice]]

    @classmethod
    def build(
        cls, frame: pd.DataFrame | Columns, enc: TabularEncoder, bounds: FeatureBounds, budget: float | None = None
    ) -> AttackSpace:
        """``frame``: a DataFrame (attacks), or Columns where only ``encode`` is needed (scoring)."""
        if isinstance(frame, pd.DataFrame):
            frame = frame.reset_index(drop=True)
        num = enc.raw_numeric(frame)
        mut_idx = [enc.numeric.index(c) for c in bounds.mutable]
        low, high = bounds.box(num[:, mut_idx], budget)
        blocks = [(c, enc.cat_block(c)) for c in bounds.categorical if c in enc.categorical]
        f = lambda a: torch.as_tensor(a, dtype=torch.float32)
        return cls(
            frame,
            enc,
            bounds,
            f(num),
            f(enc.onehot(frame)),
            torch.as_tensor(mut_idx),
            f(low),
            f(high),
            blocks,
        )

    @property
    def x0(self) -> torch.Tensor:
        return self.num[:, self.mut_idx]

    def encode(self, xm: torch.Tensor, onehot: torch.Tensor | None = None, rows=None) -> torch.Tensor:
        num = self.num if rows is None else self.num[rows]
        oh = (self.onehot if rows is None else self.onehot[rows]) if onehot is None else onehot
        num = num.clone()
        num[:, self.mut_idx] = xm
        return self.enc.encode_t(num, oh)

    def round(self, xm: torch.Tensor) -> torch.Tensor:
        x = self.bounds.project(self.x0.numpy(), xm.detach().numpy())
        return torch.as_tensor(x, dtype=torch.float32)

    def best_categories(self, model: nn.Module, xm: torch.Tensor) -> torch.Tensor:
        """Greedy: for each mutable categorical pick the valid value with the highest logit."""
        oh = self.onehot.clone()
        with torch.no_grad():
            for _col, block in self.cat_blocks:
                width = block.stop - block.start
                scores = []
                for k in range(width):
                    trial = oh.clone()
                    trial[:, block] = 0.0
                    trial[:, block.start + k] = 1.0
                    scores.append(model(self.encode(xm, trial)))
                best = torch.stack(scores, 1).argmax(1)
                oh[:, block] = nn.functional.one_hot(best, width).float()
        return oh

    def materialize(self, xm: torch.Tensor, onehot: torch.Tensor) -> pd.DataFrame:
        """The attacked customers as a feature frame (immutables copied from the originals)."""
        out = self.frame.copy()
        # re-project in float64 against the original values: exact bounds despite float32 tensors
        x = self.bounds.project(self.frame[self.bounds.mutable].to_numpy(dtype=float), xm.detach().numpy())
        for j, c in enumerate(self.bounds.mutable):
            out[c] = x[:, j].astype(out[c].dtype) if np.issubdtype(out[c].dtype, np.integer) else x[:, j]
        for col, block in self.cat_blocks:
            choice = onehot[:, block].argmax(1).numpy()
            values = np.asarray(self.enc.categories[col], dtype=object)
            allowed = set(self.bounds.categorical[col])
            picked = values[choice]
            out[col] = np.where([v in allowed for v in picked], picked, out[col].to_numpy())
        return out


def pgd(
    space: AttackSpace, model: nn.Module, steps: int, step_frac: float, seed: int, random_start: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Projected sign-gradient ascent on the model's logit inside each row's box."""
    g = torch.Generator().manual_seed(seed)
    x0, low, high = space.x0, space.low, space.high
    width = high - low
    x = x0 + random_start * (torch.rand(x0.shape, generator=g) - 0.5) * width
    x = torch.max(torch.min(x, high), low)
    model.eval()
    for _ in range(steps):
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(space.encode(x)).sum(), x)
        x = torch.max(torch.min(x + step_frac * width * grad.sign(), high), low)
    x = space.round(x)
    return x, space.best_categories(model, x)


class Generator(nn.Module):
    """Maps a customer's codes and noise to a bounded move: u in (-1, 1) per mutable feature."""

    def __init__(self, d_in: int, m: int, cat_widths: list[int], hidden: int, noise_dim: int):
        super().__init__()
        self.noise_dim = noise_dim
        self.body = nn.Sequential(nn.Linear(d_in + noise_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.move = nn.Linear(hidden, m)
        self.cats = nn.ModuleList(nn.Linear(hidden, w) for w in cat_widths)

    def forward(self, z: torch.Tensor, noise: torch.Tensor):
        h = self.body(torch.cat([z, noise], 1))
        return torch.tanh(self.move(h)), [head(h) for head in self.cats]


def apply_move(
    space: AttackSpace, u: torch.Tensor, cat_logits: list[torch.Tensor], rows: torch.Tensor, hard: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw mutable values and one-hot codes after a generator move (always inside the box)."""
    x0, low, high = space.x0[rows], space.low[rows], space.high[rows]
    x = x0 + torch.relu(u) * (high - x0) - torch.relu(-u) * (x0 - low)
    oh = space.onehot[rows].clone()
    for (_col, block), logits in zip(space.cat_blocks, cat_logits):
        valid = torch.zeros(block.stop - block.start, dtype=torch.bool)
        values = space.enc.categories[_col]
        for k, v in enumerate(values):
            valid[k] = v in set(space.bounds.categorical[_col])
        logits = logits.masked_fill(~valid, -1e9)
        soft = torch.softmax(logits, 1)
        oh[:, block] = nn.functional.one_hot(soft.argmax(1), soft.shape[1]).float() if hard else soft
    return x, oh


def train_generator(
    space: AttackSpace,
    target: nn.Module,
    threshold_logit: float,
    steps: int,
    hidden: int,
    noise_dim: int,
    realism_weight: float,
    seed: int,
    batch: int = 256,
    lr: float = 2e-3,
    generator: Generator | None = None,
    real: torch.Tensor | None = None,
) -> Generator:
    """GAN: the generator flips ``target`` above the threshold while the discriminator keeps the
    moved customers looking like real ones (codes of unattacked customers, ``real``)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    d_in = space.enc.width
    cat_widths = [b.stop - b.start for _c, b in space.cat_blocks]
    gen = generator or Generator(d_in, len(space.bounds.mutable), cat_widths, hidden, noise_dim)
    disc = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, 1))
    opt_g = torch.optim.Adam(gen.parameters(), lr=lr)
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr)
    z_all = space.encode(space.x0)
    real = z_all if real is None else real
    bce = nn.functional.binary_cross_entropy_with_logits
    for p in target.parameters():
        p.requires_grad_(False)
    target.eval()
    n = len(z_all)
    for _ in range(steps if n else 0):
        rows = torch.randint(0, n, (min(batch, n),), generator=g)
        noise = torch.randn(len(rows), gen.noise_dim, generator=g)
        u, cl = gen(z_all[rows], noise)
        x, oh = apply_move(space, u, cl, rows, hard=False)
        z_adv = space.encode(x, oh, rows)
        # discriminator step
        real_rows = torch.randint(0, len(real), (len(rows),), generator=g)
        d_loss = bce(disc(real[real_rows]).squeeze(-1), torch.ones(len(rows))) + bce(
            disc(z_adv.detach()).squeeze(-1), torch.zeros(len(rows))
        )
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        # generator step: cross the threshold, look real
        flip = nn.functional.softplus(-(target(z_adv) - threshold_logit - 0.5)).mean()
        fool = bce(disc(z_adv).squeeze(-1), torch.ones(len(rows)))
        g_loss = flip + realism_weight * fool
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
    for p in target.parameters():
        p.requires_grad_(True)
    return gen


@torch.no_grad()
def generate(space: AttackSpace, gen: Generator, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Materialize the generator's attack on every row of ``space`` (rounded, valid categories)."""
    g = torch.Generator().manual_seed(seed)
    rows = torch.arange(len(space.frame))
    u, cl = gen(space.encode(space.x0), torch.randn(len(rows), gen.noise_dim, generator=g))
    x, oh = apply_move(space, u, cl, rows, hard=True)
    return space.round(x), oh
