"""Differentiable encoding of the model table for torch: attacks work in raw units, models in codes.

Numeric features: missing-value indicator, median imputation, ``log1p`` for non-negative
heavy-tailed columns, standardisation. Categorical features: one-hot over the training
categories (unknown -> all zeros). ``encode_t`` is written in torch so that gradients flow
from a model's logit back to the raw mutable values an attacker changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from churnguard.core.columns import Columns, as_columns, numeric_matrix, text


@dataclass
class TabularEncoder:
    numeric: list[str]
    categorical: list[str]
    categories: dict[str, list[str]]
    median: np.ndarray
    log_cols: np.ndarray  # bool per numeric column
    mean: np.ndarray
    std: np.ndarray
    indicator_cols: np.ndarray  # indices of numeric columns that get a missing indicator

    @classmethod
    def fit(cls, frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> TabularEncoder:
        x = frame[numeric].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        median = np.nan_to_num(np.nanmedian(x, axis=0))
        filled = np.where(np.isnan(x), median, x)
        nonneg = np.nanmin(x, axis=0) >= 0
        skewed = np.nanmax(x, axis=0) > 3 * np.maximum(np.abs(median), 1e-9)
        log_cols = nonneg & skewed & (np.nanmax(x, axis=0) > 1.5)
        t = np.where(log_cols, np.log1p(np.maximum(filled, 0)), filled)
        cats = {c: sorted(map(str, frame[c].astype(str).unique())) for c in categorical}
        return cls(
            list(numeric),
            list(categorical),
            cats,
            median,
            log_cols,
            t.mean(0),
            t.std(0) + 1e-6,
            np.nonzero(np.isnan(x).any(axis=0))[0],
        )

    @property
    def width(self) -> int:
        return len(self.numeric) + len(self.indicator_cols) + sum(len(v) for v in self.categories.values())

    def raw_numeric(self, data: pd.DataFrame | Columns) -> np.ndarray:
        """Numeric features in raw units (absent or unparsable -> NaN)."""
        cols, n = as_columns(data)
        return numeric_matrix(cols, self.numeric, n)

    def onehot(self, data: pd.DataFrame | Columns) -> np.ndarray:
        """One-hot blocks over the training categories (missing or unknown -> all zeros)."""
        cols, n = as_columns(data)
        blocks = []
        for c in self.categorical:
            values = text(cols, c, n)
            blocks.append((values[:, None] == np.asarray(self.categories[c], dtype=object)[None, :]).astype(np.float32))
        return np.concatenate(blocks, axis=1) if blocks else np.zeros((n, 0), np.float32)

    def cat_block(self, column: str) -> slice:
        """Position of a categorical's one-hot block inside ``onehot``."""
        start = 0
        for c in self.categorical:
            if c == column:
                return slice(start, start + len(self.categories[c]))
            start += len(self.categories[c])
        raise KeyError(column)

    def encode_t(self, num: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        nan = torch.isnan(num)
        med = torch.as_tensor(self.median, dtype=num.dtype)
        x = torch.where(nan, med.expand_as(num), num)
        logm = torch.as_tensor(self.log_cols)
        x = torch.where(logm, torch.log1p(torch.clamp(x, min=0)), x)
        x = (x - torch.as_tensor(self.mean, dtype=num.dtype)) / torch.as_tensor(self.std, dtype=num.dtype)
        ind = nan[:, torch.as_tensor(self.indicator_cols, dtype=torch.long)].to(num.dtype)
        return torch.cat([x, ind, onehot.to(num.dtype)], dim=1)

    def encode(self, data: pd.DataFrame | Columns) -> torch.Tensor:
        cols, _ = as_columns(data)  # convert a DataFrame once, not per block
        return self.encode_t(
            torch.as_tensor(self.raw_numeric(cols), dtype=torch.float32), torch.as_tensor(self.onehot(cols))
        )
