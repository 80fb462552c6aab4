"""`churnguard promote`: make a registered version the champion, only through the quality gates.

1. the gates of params ``register.gates`` on the metrics the version's run logged;
2. a fair comparison: candidate and current champion rescored now on the same holdout rows
   (``--features``, default ``data/features/customers.parquet``), candidate AUC must be
   >= champion AUC - ``register.champion_tolerance``;
3. alias moves and who/why/when are recorded as version tags.

Exit 0 when promoted (or already champion), 1 with the reasons when refused, 2 when the
version or the holdout cannot be found. Used by dags/promote_model.py.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--version", default="latest", help="registered model version to promote (default: latest, the newest version)"
    )
    parser.add_argument("--why", required=True, help="reason, recorded as tag promotion_reason")
    parser.add_argument("--who", default=None, help="recorded as tag promoted_by (default: the OS user)")
    parser.add_argument(
        "--features",
        type=Path,
        default=None,
        help="features parquet whose holdout rows decide the comparison "
        "(default: data/features/customers.parquet of the workspace)",
    )
    parser.add_argument("--model-name", default=None, help="default: params register.model_name")
    parser.add_argument("--alias", default=None, help="default: params register.alias")
    parser.add_argument("--dry-run", action="store_true", help="decide and print, move nothing")


def _fail(code: int, message: str) -> int:
    print(f"promotion REFUSED: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from churnguard.core.config import PATHS, load_params
    from churnguard.core.vocabulary import LABEL, SPLIT
    from churnguard.mlops.promotion import decide, move_alias
    from churnguard.mlops.registry import champion_version, configure, file_md5, load_bundle

    cfg = load_params()["register"]
    name, alias = args.model_name or cfg["model_name"], args.alias or cfg["alias"]
    version, who, why = str(args.version).strip(), (args.who or "").strip() or getpass.getuser(), args.why.strip()
    if not why:
        return _fail(2, "--why must not be empty")
    client = configure()
    if version in ("", "latest", "None"):
        found = [int(v.version) for v in client.search_model_versions(f"name = '{name}'")]
        if not found:
            return _fail(2, f"model {name!r} has no registered version yet: train one first")
        version = str(max(found))
        print(f"--version latest: version {version} of {name!r}")
    try:
        mv = client.get_model_version(name, version)
    except Exception as exc:  # MlflowException: RESOURCE_DOES_NOT_EXIST
        return _fail(2, f"model {name!r} has no version {version!r} ({type(exc).__name__})")
    metrics = dict(client.get_run(mv.run_id).data.metrics) if mv.run_id else {}

    current = champion_version(client, name, alias)
    if current is not None and str(current.version) == version:
        print(f"version {version} of {name!r} is already {alias}; nothing to do")
        return 0

    holdout = y = bundle = None
    if current is not None:
        features = args.features or PATHS.features / "customers.parquet"
        if not features.exists():
            return _fail(
                2,
                f"no holdout for the fair comparison with {alias} v{current.version}: {features} "
                "does not exist (pass --features)",
            )
        table = pd.read_parquet(features)
        holdout = table[table[SPLIT] == "holdout"].reset_index(drop=True)
        y = holdout[LABEL].to_numpy()
        logged_hash = (mv.tags or {}).get("dvc_data_hash")
        if logged_hash and logged_hash != file_md5(features):
            print(
                f"note: version {version} was evaluated on other features (hash {logged_hash[:8]}); "
                f"both models are rescored on the {len(holdout)} holdout rows of {features}"
            )
        try:
            bundle = load_bundle(f"models:/{name}/{version}")
        except Exception as exc:
            return _fail(1, f"version {version} could not be loaded ({exc})")

    decision = decide(
        client, name, alias, version, metrics, cfg["gates"], float(cfg["champion_tolerance"]), bundle, holdout, y
    )
    comparison = ""
    if decision.champion_auc is not None:
        comparison = (
            f" holdout ROC AUC {decision.candidate_auc:.4f} vs {alias} v{decision.champion_version} "
            f"{decision.champion_auc:.4f}."
        )
    if not decision.promoted:
        if not args.dry_run:
            client.set_model_version_tag(name, version, "promotion_refused", f"{who}: " + "; ".join(decision.reasons))
        return _fail(1, f"version {version} of {name!r} NOT promoted: " + "; ".join(decision.reasons) + comparison)
    if args.dry_run:
        print(f"dry run: version {version} would become {alias}.{comparison}")
        return 0
    move_alias(client, name, alias, version, why=why, who=who)
    previous = f" (was v{current.version})" if current is not None else ""
    print(
        f"version {version} of {name!r} is now {alias}{previous}; gates passed.{comparison} "
        f"promoted_by={who!r} promotion_reason={why!r}"
    )
    return 0
