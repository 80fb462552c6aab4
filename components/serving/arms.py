"""Champion/challenger arms: the sticky A/B assignment and the arm log.

- :func:`challenger_position` maps a customer id to a fixed point in [0, 1) (BLAKE2b of salt and
  id): the customer is in the challenger arm when the point is below ``ab_share``. The same
  customer gets the same arm in every request and every serving process, and raising the share
  only moves champion customers over (nobody flips back), so a ramp-up keeps earlier evidence.
- :class:`ArmLogWriter` appends one JSON line per scored customer
  (:data:`churnguard.mlops.promotion.ARM_LOG_COLUMNS`) to ``<log_dir>/arms-YYYYMMDD-<pid>.jsonl``
  (UTC day; one file per process, so processes never interleave lines). ``churnguard promote``
  reads it back (:func:`churnguard.mlops.promotion.read_arm_log`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Literal

ArmName = Literal["champion", "challenger"]
CHAMPION: ArmName = "champion"
CHALLENGER: ArmName = "challenger"
_SCALE = float(2**64)


def challenger_position(customer_id: str, salt: str) -> float:
    """The customer's fixed point in [0, 1) for this salt."""
    digest = hashlib.blake2b(f"{salt}\x00{customer_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def arm_of(customer_id: str, share: float, salt: str) -> ArmName:
    return CHALLENGER if challenger_position(customer_id, salt) < share else CHAMPION


def version_number(version: str | None) -> float:
    """A version as a gauge value (0: none, or not a number)."""
    try:
        return float(version) if version is not None else 0.0
    except ValueError:
        return 0.0


def log_records(
    ids: Sequence[str],
    mode: str,
    served_arm: Sequence[ArmName],
    versions: Mapping[ArmName, str | None],
    probabilities: Mapping[ArmName, Sequence[float | None]],
    ts: float,
) -> list[dict[str, Any]]:
    """Arm log lines for one request's customers. ``probabilities[arm][i]`` is None where that arm did not score."""
    return [
        {
            "ts": round(ts, 3),
            "customer_id": cid,
            "mode": mode,
            "served_arm": served_arm[i],
            "champion_version": versions.get(CHAMPION),
            "champion_probability": _finite(probabilities.get(CHAMPION), i),
            "challenger_version": versions.get(CHALLENGER),
            "challenger_probability": _finite(probabilities.get(CHALLENGER), i),
        }
        for i, cid in enumerate(ids)
    ]


def _finite(values: Sequence[float | None] | None, i: int) -> float | None:
    if values is None:
        return None
    v = values[i]
    return None if v is None or not math.isfinite(v) else round(float(v), 6)


class ArmLogWriter:
    """Appends arm log lines; a new file each UTC day. Lines are flushed per batch (a crash loses at most one)."""

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self._day: str | None = None
        self._fh: IO[str] | None = None
        self.lines = 0

    def write(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        fh = self._file(time.strftime("%Y%m%d", time.gmtime()))
        fh.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
        fh.flush()
        self.lines += len(records)

    def _file(self, day: str) -> IO[str]:
        if self._fh is None or day != self._day:
            self.close()
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.log_dir / f"arms-{day}-{os.getpid()}.jsonl", "a")
            self._day = day
        return self._fh

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
