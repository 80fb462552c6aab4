"""`churnguard serve`: run the serving job (FastAPI + uvicorn) following models:/churnguard@champion."""

from __future__ import annotations

import argparse
import logging
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="bind address (default: serving.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: serving.port)")
    parser.add_argument("--poll-interval", type=float, help="seconds between registry polls (serving.poll_interval_s)")
    parser.add_argument("--model-uri", help="serve this URI and do not follow the alias (e.g. models:/churnguard/3)")
    parser.add_argument(
        "--redis-url",
        help="online store (serving.redis.url; env CHURNGUARD_REDIS_URL); 'none' to serve batch features only",
    )
    parser.add_argument("--redis-prefix", help="online store key prefix (serving.redis.prefix, default cg:user:)")
    parser.add_argument(
        "--rate-limit",
        type=float,
        help="requests/s per API key (serving.rate_limit.per_second); burst becomes twice this",
    )
    parser.add_argument("--max-body-bytes", type=int, help="larger request bodies get 413 (serving.max_body_bytes)")
    parser.add_argument(
        "--allow-unverified-model",
        action="store_true",
        help="load versions without an artifact digest tag (registered before digests existed); "
        "a version whose digest differs is still refused (docs/security.md)",
    )
    parser.add_argument(
        "--challenger",
        choices=("none", "shadow", "ab"),
        help="champion/challenger traffic (serving.challenger.mode): shadow scores the challenger off the hot path, "
        "ab answers a sticky share of customers with it",
    )
    parser.add_argument("--ab-share", type=float, help="share of customers the challenger answers in ab mode")
    parser.add_argument("--arm-log-dir", help="where the arm log goes (serving.challenger.log_dir)")
    parser.add_argument("--log-level", default="info", help="uvicorn log level (debug, info, warning, error)")


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    """The flags given, as a nested mapping like services.yaml's ``serving:`` section (flags win)."""
    out: dict[str, Any] = {}
    for flag, key in (
        ("host", "host"),
        ("port", "port"),
        ("poll_interval", "poll_interval_s"),
        ("model_uri", "model_uri"),
    ):
        if getattr(args, flag) is not None:
            out[key] = getattr(args, flag)
    if args.redis_url:
        out.setdefault("redis", {})["url"] = None if args.redis_url.lower() == "none" else args.redis_url
    if args.redis_prefix:
        out.setdefault("redis", {})["prefix"] = args.redis_prefix
    if args.rate_limit:
        out["rate_limit"] = {"per_second": args.rate_limit, "burst": max(1, int(2 * args.rate_limit))}
    if args.max_body_bytes:
        out["max_body_bytes"] = args.max_body_bytes
    if args.allow_unverified_model:
        out["integrity"] = {"require_digest": False}
    if args.challenger:
        out["challenger"] = {"mode": args.challenger}
    if args.ab_share is not None:
        out.setdefault("challenger", {})["ab_share"] = args.ab_share
    if args.arm_log_dir:
        out.setdefault("challenger", {})["log_dir"] = args.arm_log_dir
    return out


def run(args: argparse.Namespace) -> int:
    import os

    # Before numpy/scikit-learn load: the OpenMP runtime reads this once. Measured here: one-row
    # HistGradientBoosting predict 8.5 ms CPU with OMP_NUM_THREADS=1 vs 281 ms with the default
    # (spinning OpenMP threads); threadpoolctl's runtime limit (serving.math_threads) alone did not
    # recover it. Set it yourself to override.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    import uvicorn

    from churnguard.core.telemetry import init_tracing, shutdown_tracing
    from churnguard.serving.app import create_app
    from churnguard.serving.config import ServingConfig

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cfg = ServingConfig.from_params(overrides=overrides_from(args))
    if not cfg.integrity.require_digest:
        logging.getLogger("churnguard.serving").warning(
            "versions without an artifact digest will be loaded unverified (serving.integrity.require_digest off)"
        )
    if not cfg.auth.api_keys:
        logging.getLogger("churnguard.serving").warning(
            "no API keys configured (CHURNGUARD_API_KEYS or serving.auth.api_keys): every /v1 route answers 401"
        )
    init_tracing("churnguard-serve")  # off unless OTEL_* asks for it (components/core/telemetry.py)
    app = create_app(cfg)
    try:
        uvicorn.run(app, host=cfg.host, port=cfg.port, log_level=args.log_level.lower(), access_log=False)
    finally:
        shutdown_tracing()
    return 0
