"""Torch models: a differentiable surrogate of the base model and the robust (hardened) model.

The robust model starts with a feature-denoising layer: each mutable feature's code is
squashed by a learned per-feature cap (``cap * tanh(z / cap)``: a manipulated value cannot
push the logit without limit) and blended with its reconstruction from the immutable context
(a linear map trained with a reconstruction loss), so a value that disagrees with what
customers like this one normally show is pulled back towards the expected value.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def mlp(d_in: int, hidden: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(d_in, h), nn.ReLU()]
        d_in = h
    layers.append(nn.Linear(d_in, 1))
    return nn.Sequential(*layers)


class Surrogate(nn.Module):
    """A plain MLP distilled from the base model's logits (for gradient-based attacks)."""

    def __init__(self, d_in: int, hidden: list[int]):
        super().__init__()
        self.net = mlp(d_in, hidden)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(-1)


class FeatureDenoiser(nn.Module):
    mut: torch.Tensor
    ctx: torch.Tensor

    def __init__(self, d_in: int, mutable_pos: list[int], cap: float = 2.5, trust: float = 2.0):
        super().__init__()
        self.register_buffer("mut", torch.as_tensor(mutable_pos, dtype=torch.long))
        ctx = [i for i in range(d_in) if i not in set(mutable_pos)]
        self.register_buffer("ctx", torch.as_tensor(ctx, dtype=torch.long))
        m = len(mutable_pos)
        self.raw_cap = nn.Parameter(torch.full((m,), math.log(math.expm1(cap))))
        self.gate = nn.Parameter(torch.full((m,), trust))
        self.context = nn.Linear(len(ctx), m)

    def parts(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        zm, zc = z[:, self.mut], z[:, self.ctx]
        return zm, zc, self.context(zc)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        zm, zc, expected = self.parts(z)
        cap = nn.functional.softplus(self.raw_cap)
        squashed = cap * torch.tanh(zm / cap)
        g = torch.sigmoid(self.gate)
        return torch.cat([zc, g * squashed + (1 - g) * expected], dim=1)

    def reconstruction_loss(self, z: torch.Tensor) -> torch.Tensor:
        zm, _zc, expected = self.parts(z)
        return ((expected - zm) ** 2).mean()


class MonotoneAdditive(nn.Module):
    """Sum over mutable features of monotone bounded functions g_i (K tanh units, one direction
    per feature): no interaction between manipulable features, so the worst bounded move is a
    corner of the box and its effect on the logit is bounded by design."""

    direction: torch.Tensor

    def __init__(self, direction: list[float], units: int = 3):
        super().__init__()
        m = len(direction)
        self.register_buffer("direction", torch.as_tensor(direction, dtype=torch.float32))
        self.raw_w = nn.Parameter(torch.full((m, units), -1.0))
        self.centre = nn.Parameter(torch.linspace(-1.0, 2.0, units).repeat(m, 1))
        self.raw_scale = nn.Parameter(torch.zeros(m, units))

    def forward(self, zm: torch.Tensor) -> torch.Tensor:
        w = nn.functional.softplus(self.raw_w)
        scale = nn.functional.softplus(self.raw_scale) + 0.1
        units = torch.tanh((zm.unsqueeze(-1) - self.centre) / scale) * w
        return (units.sum(-1) * self.direction).sum(-1)


class RobustNet(nn.Module):
    """Denoising layer, then either an MLP of everything (``direction=None``) or an MLP of the
    immutable context plus monotone additive terms of the denoised mutable features."""

    def __init__(
        self,
        d_in: int,
        mutable_pos: list[int],
        hidden: list[int],
        cap: float,
        trust: float,
        direction: list[float] | None = None,
    ):
        super().__init__()
        self.denoise = FeatureDenoiser(d_in, mutable_pos, cap, trust)
        m = len(mutable_pos)
        self.monotone = direction is not None
        if direction is not None:
            self.context_net = mlp(d_in - m, hidden)
            self.behaviour = MonotoneAdditive(direction)
        else:
            self.net = mlp(d_in, hidden)
        self.m = m

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        d = self.denoise(z)
        if not self.monotone:
            return self.net(d).squeeze(-1)
        ctx, zm = d[:, : -self.m], d[:, -self.m :]
        return self.context_net(ctx).squeeze(-1) + self.behaviour(zm)


def distill(
    z: torch.Tensor,
    target_logit: np.ndarray,
    hidden: list[int],
    epochs: int,
    seed: int,
    batch: int = 512,
    lr: float = 3e-3,
) -> Surrogate:
    """Fit a surrogate MLP to the base model's logits (mean squared error)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = Surrogate(z.shape[1], hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    y = torch.as_tensor(target_logit, dtype=torch.float32)
    for _ in range(epochs):
        for idx in torch.randperm(len(z), generator=gen).split(batch):
            opt.zero_grad()
            loss = ((model(z[idx]) - y[idx]) ** 2).mean()
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def predict_logit(model: nn.Module, z: torch.Tensor, batch: int = 8192) -> np.ndarray:
    model.eval()
    return torch.cat([model(z[i : i + batch]) for i in range(0, len(z), batch)]).numpy()
