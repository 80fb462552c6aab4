"""Thread discipline: size every math thread pool of a process to the CPU share it really has.

torch, OpenBLAS/MKL and OpenMP each start one worker per core by default, and OpenMP workers
spin while they wait. Two stages sharing 2 cores then run 4+ busy threads and slow each other far
beyond a fair share (issue #21 measured CFRL steps 30x slower at load 5). Every stage therefore
gets a CPU share, ``CHURNGUARD_CPU_SHARE`` (the Airflow DAG sets it per task; default: the cores
this process may use), and :func:`apply_cpu_share` turns it into the pools' environment variables
before numpy or torch load (``pipelines/__init__.py`` calls it before any stage's imports).
Waiting is passive (``OMP_WAIT_POLICY=passive``, ``KMP_BLOCKTIME=0``): an idle worker sleeps
instead of burning the other stage's core. A variable the caller set explicitly is kept;
``CHURNGUARD_CPU_SHARE=none`` leaves every pool at its library default (the benchmark's peer).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

SHARE_VAR = "CHURNGUARD_CPU_SHARE"
LIBRARY_DEFAULTS = "none"
POOL_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_MAX_THREADS", "POLARS_MAX_THREADS")
PASSIVE_WAIT = {"OMP_WAIT_POLICY": "passive", "KMP_BLOCKTIME": "0"}


def available_cores() -> int:
    """Cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def cpu_share(env: MutableMapping[str, str] | None = None) -> int:
    """The CPU share of this process: ``CHURNGUARD_CPU_SHARE`` (a whole number ≥ 1), else every core."""
    env = os.environ if env is None else env
    raw = env.get(SHARE_VAR, "").strip()
    if not raw or raw.lower() == LIBRARY_DEFAULTS:
        return available_cores()
    try:
        share = int(raw)
    except ValueError:
        raise ValueError(f"{SHARE_VAR}={raw!r}: expected a whole number of cores (1, 2, ...)") from None
    if share < 1:
        raise ValueError(f"{SHARE_VAR}={raw!r}: a stage needs at least 1 core")
    return min(share, available_cores())


def apply_cpu_share(env: MutableMapping[str, str] | None = None) -> int:
    """Write the pool sizes and passive waiting into ``env`` (default: this process's environment).

    Must run before numpy, scikit-learn or torch are imported: the pools read these at load time.
    Returns the share (0 with ``CHURNGUARD_CPU_SHARE=none``: nothing is set)."""
    env = os.environ if env is None else env
    if env.get(SHARE_VAR, "").strip().lower() == LIBRARY_DEFAULTS:
        return 0
    share = cpu_share(env)
    for var in POOL_VARS:
        env.setdefault(var, str(share))
    for var, value in PASSIVE_WAIT.items():
        env.setdefault(var, value)
    return share


def limit_torch(share: int | None = None) -> None:
    """torch's intra-op and inter-op pools to the share (call once, before torch runs any op).

    torch reads ``OMP_NUM_THREADS`` for its intra-op pool; the inter-op pool has no variable."""
    import torch

    share = share or cpu_share()
    torch.set_num_threads(share)
    try:
        torch.set_num_interop_threads(share)
    except RuntimeError:  # already started by an earlier parallel op: it keeps its size
        pass
