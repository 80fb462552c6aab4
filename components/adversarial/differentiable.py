"""A differentiable stand-in of the protected decision, for attacks that know the defence.

Gradient attacks need the decision margin and the detectors' combined evidence as smooth
functions of the raw mutable values. Where the real thing is differentiable it is copied
exactly (behaviour view, robust z, kNN distance, churn signal, context gap, the hardened
model); where it is not, a smooth surrogate stands in (Tramèr et al.'s advice for
non-differentiable defences):

* the base model (gradient boosting): its distilled ``Surrogate`` MLP;
* the IsolationForest: a small MLP fitted to the forest's scores on clean and box-moved
  customers (``fit_forest_surrogate``);
* the tail calibrators (step functions): the log tail probability interpolated linearly
  between quantile knots, with the same exponential extrapolation beyond the largest value.

Every attack checks its candidates against the real decision; the stand-in only steers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from churnguard.adversarial.attacks import AttackSpace
from churnguard.adversarial.certify import lowest_logit_before_manipulation
from churnguard.adversarial.detector_parts import RATES, TAIL_FLOOR, TailCalibrator
from churnguard.adversarial.protection import ProtectionPart

KNOTS = 256


class SmoothTail(nn.Module):
    """log tail probability of a :class:`TailCalibrator`, piecewise linear in the score."""

    knots: torch.Tensor
    log_tail: torch.Tensor

    def __init__(self, cal: TailCalibrator):
        super().__init__()
        s = cal.sorted
        q = np.unique(np.quantile(s, np.linspace(0, 1, KNOTS)))
        self.register_buffer("knots", torch.as_tensor(q, dtype=torch.float32))
        self.register_buffer("log_tail", torch.as_tensor(np.log(cal.tail(q)), dtype=torch.float32))
        self.top, self.scale = float(s[-1]), float(cal.scale)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        k, lt = self.knots, self.log_tail
        if len(k) < 2:
            return torch.zeros_like(s)
        i = torch.clamp(torch.searchsorted(k, s.detach().contiguous()), 1, len(k) - 1)
        x0, x1, y0, y1 = k[i - 1], k[i], lt[i - 1], lt[i]
        inside = y0 + (y1 - y0) * (s - x0) / torch.clamp(x1 - x0, min=1e-9)
        beyond = lt[-1] - (s - self.top) / self.scale
        out = torch.where(s > self.top, beyond, torch.where(s < k[0], torch.zeros_like(s), inside))
        return torch.clamp(out, min=float(np.log(TAIL_FLOOR)))


def fit_forest_surrogate(part: ProtectionPart, spaces: list[AttackSpace], seed: int, steps: int = 400) -> nn.Module:
    """An MLP fitted to the IsolationForest's raw score on the behaviour view of clean customers
    and of random points of their boxes (where attacks go)."""
    det, g = part.detector, torch.Generator().manual_seed(seed)
    xs = []
    for space in spaces:
        xs.append(space.x0)
        u = torch.rand(space.x0.shape, generator=g)
        xs.append(space.low + u * (space.high - space.low))
    x = torch.cat(xs).numpy().astype(float)
    cols = {c: x[:, j] for j, c in enumerate(part.bounds.mutable)}
    v = det.view.transform(cols)
    target = torch.as_tensor(-det.forest.score_samples(v), dtype=torch.float32)
    vt = torch.as_tensor(v, dtype=torch.float32)
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(vt.shape[1], 64), nn.Tanh(), nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 1))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    mu, sd = float(target.mean()), float(target.std()) + 1e-9
    for _ in range(steps):
        rows = torch.randint(0, len(vt), (min(1024, len(vt)),), generator=g)
        loss = ((net(vt[rows]).squeeze(-1) - (target[rows] - mu) / sd) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return _Rescaled(net.eval(), mu, sd)


class _Rescaled(nn.Module):
    def __init__(self, net: nn.Module, mu: float, sd: float):
        super().__init__()
        self.net, self.mu, self.sd = net, mu, sd

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.net(v).squeeze(-1) * self.sd + self.mu


class DecisionScore(nn.Module):
    """codes -> the score that picks the categorical values: the base model's margin through its
    surrogate (the hardened model's input to the decision already takes the worst value), or the
    hardened model's own margin for a decision on it alone."""

    def __init__(self, part: ProtectionPart):
        super().__init__()
        assert part.decision is not None, "the protection part has no protected decision"
        self.part = part

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        part, d = self.part, self.part.decision
        assert d is not None
        if d.kind == "hardened" and part.reverse is None:
            return part.robust(z) - d.hardened_logit
        return part.surrogate(z) - part.thresholds["surrogate_logit"]


class DifferentiableDecision:
    """Decision margin and detector evidence of ``part`` as torch functions of raw mutable values."""

    def __init__(self, part: ProtectionPart, forest: nn.Module):
        det = part.detector
        self.score = DecisionScore(part)
        assert part.decision is not None
        self.part, self.det, self.forest, self.decision = part, det, forest, part.decision
        view = det.view
        self.mut = view.mutable
        self.log_cols = torch.as_tensor(view.log_cols)
        self.median = torch.as_tensor(view.median, dtype=torch.float32)
        self.scale = torch.as_tensor(view.scale, dtype=torch.float32)
        self.direction = torch.as_tensor(det.direction, dtype=torch.float32)
        self.reference = torch.as_tensor(det.reference, dtype=torch.float32)
        self.coef = torch.as_tensor(det.churn_coef, dtype=torch.float32)
        self.tails = {k: SmoothTail(det.calibrators[k]) for k in det.names}
        self.weights = {k: det.weights.get(k, 1.0) for k in det.names}
        self.threshold = float(det.thresholds["suspicious"])
        self.direction_h = torch.as_tensor(part.meta["behaviour_directions"], dtype=torch.float32)
        self._reverse_spaces: dict[int, AttackSpace] = {}

    def view(self, x: torch.Tensor) -> torch.Tensor:
        cols = [torch.where(self.log_cols, torch.log1p(torch.clamp(x, min=0)), x)]
        for r in self.det.view.rates:
            a, b = RATES[r]
            cols.append((x[:, self.mut.index(a)] / (x[:, self.mut.index(b)] + 1.0)).unsqueeze(1))
        return (torch.cat(cols, 1) - self.median) / self.scale

    def evidence(self, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        """The combined evidence (the verdict is clean while it stays at or below ``threshold``)."""
        v = self.view(x)
        k = min(self.det.k, self.reference.shape[0] - 1)
        raw = {
            "isolation_forest": self.forest(v),
            "robust_z": (torch.relu(v * self.direction - 1.0) ** 2).sum(1),
            "knn": torch.cdist(v, self.reference).topk(k, dim=1, largest=False).values.mean(1),
        }
        if len(self.coef):
            raw["churn_signal"] = torch.log1p(torch.clamp(x, min=0)) @ self.coef[:-1] + self.coef[-1]
            if context is not None:
                raw["context_gap"] = raw["churn_signal"] - context
        return sum(-2.0 * self.weights[k] * self.tails[k](raw[k]) for k in self.tails)

    def margin(self, space: AttackSpace, x: torch.Tensor, onehot: torch.Tensor | None = None) -> torch.Tensor:
        """Decision score minus its threshold (base model through its surrogate): >= 0 earns an offer."""
        part, d = self.part, self.decision
        margin_b = part.surrogate(space.encode(x, onehot)) - part.thresholds["surrogate_logit"]
        if part.reverse is None:
            margin_h = part.robust(space.encode(x, onehot)) - d.hardened_logit
        else:
            if id(space) not in self._reverse_spaces:  # the reverse box of each attacked row, built once
                self._reverse_spaces[id(space)] = AttackSpace.build(space.frame, part.encoder, part.reverse)
            rev = self._reverse_spaces[id(space)]
            margin_h = lowest_logit_before_manipulation(part.robust, rev, self.direction_h, x) - d.hardened_logit
        score = {"base": margin_b, "hardened": margin_h}.get(d.kind, torch.minimum(margin_b, margin_h))
        return score - d.threshold

    def context(self, space: AttackSpace) -> torch.Tensor | None:
        """The context model's prediction per row (immutable: computed once)."""
        if self.det.context is None:
            return None
        return torch.as_tensor(self.det.context.predict(space.frame), dtype=torch.float32)
