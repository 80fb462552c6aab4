"""The one door to the synthetic world's ground truth.

Only evaluation code may call this (a test runs every model stage under an audit hook and
fails if any of them opens a file under ``data/truth``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

TRUTH_FILE = "customers_truth.parquet"


def has_truth(truth_dir: Path) -> bool:
    """True for the synthetic source; a CSV source has no ground truth."""
    return (truth_dir / TRUTH_FILE).exists()


def load_truth(truth_dir: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Ground truth per active customer, indexed by customer_id."""
    return pd.read_parquet(truth_dir / TRUTH_FILE, columns=columns).set_index("customer_id")
