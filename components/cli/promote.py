"""`churnguard promote`: make a registered version the champion, only through the quality gates.

1. the gates of params ``register.gates`` on the metrics the version's run logged;
2. a fair comparison: candidate and current champion rescored now on the same holdout rows
   (``--features``, default ``data/features/customers.parquet``), candidate AUC must be
   >= champion AUC - ``register.champion_tolerance``;
3. with ``--evidence``: live traffic. The arm log serving wrote in shadow or A/B mode
   (``serving.challenger.log_dir``) is joined with matured churn labels (``--labels``: customer_id,
   churned) and the challenger must not be worse than the champion by more than
   ``serving.challenger.evidence.tolerance`` at the interval's lower bound, on enough customers
   (:func:`churnguard.mlops.promotion.arm_evidence`). The evidence is tagged on the version
   (``churnguard.evidence``), promoted or not;
4. alias moves and who/why/when are recorded as version tags; a promoted challenger loses the
   ``challenger`` alias (it is the champion now).

``--version`` takes a number, ``latest`` or an alias (``challenger``). Exit 0 when promoted (or
already champion), 1 with the reasons when refused, 2 when the version, the holdout or the
evidence cannot be found. Used by dags/promote_model.py.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--version",
        default="latest",
        help="version to promote: a number, latest (the newest version) or an alias such as challenger",
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
    parser.add_argument(
        "--evidence",
        type=Path,
        nargs="+",
        default=None,
        help="arm log folder(s) or files written by serving in shadow/ab mode (serving.challenger.log_dir)",
    )
    parser.add_argument(
        "--labels", type=Path, help="matured labels for --evidence: parquet or csv, customer_id, churned"
    )
    parser.add_argument("--mode", choices=("shadow", "ab"), help="which arm log lines decide (default: shadow if any)")
    parser.add_argument("--model-name", default=None, help="default: params register.model_name")
    parser.add_argument("--alias", default=None, help="default: params register.alias")
    parser.add_argument("--dry-run", action="store_true", help="decide and print, move nothing")


class Refused(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def _fail(code: int, message: str) -> int:
    print(f"promotion REFUSED: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    from churnguard.core.config import load_params
    from churnguard.mlops.config import register_config
    from churnguard.mlops.promotion import EVIDENCE_TAG
    from churnguard.mlops.registry import champion_version, configure

    cfg = register_config(load_params()["register"])
    name, alias = args.model_name or cfg.model_name, args.alias or cfg.alias
    who, why = (args.who or "").strip() or getpass.getuser(), args.why.strip()
    try:
        if not why:
            raise Refused(2, "--why must not be empty")
        if args.evidence and not args.labels:
            raise Refused(2, "--evidence needs --labels (matured churn labels: customer_id, churned)")
        client = configure()
        version, from_alias = resolve_version(client, name, str(args.version).strip())
        current = champion_version(client, name, alias)
        if current is not None and str(current.version) == version:
            print(f"version {version} of {name!r} is already {alias}; nothing to do")
            return 0
        reasons, comparison, evidence = judge(args, client, cfg, name, alias, version, current)
    except Refused as exc:
        return _fail(exc.code, str(exc))
    if evidence is not None and not args.dry_run:
        client.set_model_version_tag(name, version, EVIDENCE_TAG, evidence.tag())
    if reasons:
        if not args.dry_run:
            client.set_model_version_tag(name, version, "promotion_refused", f"{who}: " + "; ".join(reasons))
        return _fail(1, f"version {version} of {name!r} NOT promoted: " + "; ".join(reasons) + comparison)
    if args.dry_run:
        print(f"dry run: version {version} would become {alias}.{comparison}")
        return 0
    promote(client, name, alias, version, from_alias, why=why, who=who)
    previous = f" (was v{current.version})" if current is not None else ""
    print(
        f"version {version} of {name!r} is now {alias}{previous}; gates passed.{comparison} "
        f"promoted_by={who!r} promotion_reason={why!r}"
    )
    return 0


def resolve_version(client: Any, name: str, version: str) -> tuple[str, str | None]:
    """(version number, alias it came from or None) for a number, ``latest`` or an alias."""
    if version in ("", "latest", "None"):
        found = [int(v.version) for v in client.search_model_versions(f"name = '{name}'")]
        if not found:
            raise Refused(2, f"model {name!r} has no registered version yet: train one first")
        print(f"--version latest: version {max(found)} of {name!r}")
        return str(max(found)), None
    if not version.isdigit():
        try:
            mv = client.get_model_version_by_alias(name, version)
        except Exception as exc:  # MlflowException: alias not found
            raise Refused(2, f"model {name!r} has no alias {version!r} ({type(exc).__name__})") from exc
        print(f"--version {version}: version {mv.version} of {name!r}")
        return str(mv.version), version
    try:
        client.get_model_version(name, version)
    except Exception as exc:  # MlflowException: RESOURCE_DOES_NOT_EXIST
        raise Refused(2, f"model {name!r} has no version {version!r} ({type(exc).__name__})") from exc
    return version, None


def judge(args, client, cfg, name: str, alias: str, version: str, current) -> tuple[list[str], str, Any]:
    """(reasons against, the holdout comparison in words, the live-traffic evidence or None)."""
    from churnguard.mlops.promotion import decide

    mv = client.get_model_version(name, version)
    metrics = dict(client.get_run(mv.run_id).data.metrics) if mv.run_id else {}
    bundle, holdout, y = holdout_for(args, mv, current, alias, name, version)
    decision = decide(
        client, name, alias, version, metrics, dict(cfg.gates), cfg.champion_tolerance, bundle, holdout, y
    )
    comparison = ""
    if decision.champion_auc is not None:
        comparison = (
            f" holdout ROC AUC {decision.candidate_auc:.4f} vs {alias} v{decision.champion_version} "
            f"{decision.champion_auc:.4f}."
        )
    reasons = list(decision.reasons)
    evidence = None
    if args.evidence:
        if current is None:
            raise Refused(2, f"--evidence compares with the {alias}, and {name!r} has no {alias} yet")
        evidence = live_evidence(args, str(current.version), version)
        print(evidence.summary())
        reasons += evidence.reasons
    return reasons, comparison, evidence


def holdout_for(args, mv, current, alias: str, name: str, version: str):
    """(candidate bundle, holdout rows, labels) for the fair comparison; all None without a champion."""
    if current is None:
        return None, None, None
    import pandas as pd

    from churnguard.core.config import PATHS
    from churnguard.core.vocabulary import LABEL, SPLIT
    from churnguard.mlops.registry import file_md5, load_bundle

    features = args.features or PATHS.features / "customers.parquet"
    if not features.exists():
        raise Refused(
            2,
            f"no holdout for the fair comparison with {alias} v{current.version}: {features} "
            "does not exist (pass --features)",
        )
    table = pd.read_parquet(features)
    holdout = table[table[SPLIT] == "holdout"].reset_index(drop=True)
    logged_hash = (mv.tags or {}).get("dvc_data_hash")
    if logged_hash and logged_hash != file_md5(features):
        print(
            f"note: version {version} was evaluated on other features (hash {logged_hash[:8]}); "
            f"both models are rescored on the {len(holdout)} holdout rows of {features}"
        )
    try:
        bundle = load_bundle(f"models:/{name}/{version}")
    except Exception as exc:
        raise Refused(1, f"version {version} could not be loaded ({exc})") from exc
    return bundle, holdout, holdout[LABEL].to_numpy()


def live_evidence(args, champion: str, challenger: str):
    """Arm log + matured labels -> ArmEvidence for (champion, challenger)."""
    import pandas as pd

    from churnguard.mlops.promotion import arm_evidence, matured_labels, read_arm_log
    from churnguard.serving.config import ServingConfig

    missing = [str(p) for p in args.evidence if not Path(p).exists()]
    if missing or not args.labels.exists():
        raise Refused(
            2, f"evidence not found: {', '.join(missing + ([] if args.labels.exists() else [str(args.labels)]))}"
        )
    log = read_arm_log(args.evidence)
    pair = log[(log["champion_version"] == champion) & (log["challenger_version"] == challenger)]
    if pair.empty:
        raise Refused(2, f"the arm log has no line comparing champion v{champion} with v{challenger}")
    mode = args.mode or ("shadow" if (pair["mode"] == "shadow").any() else "ab")
    read = pd.read_csv if args.labels.suffix == ".csv" else pd.read_parquet
    labels = matured_labels(read(args.labels))
    settings = ServingConfig.from_params().challenger.evidence
    return arm_evidence(log, labels, champion, challenger, mode, settings)


def promote(client: Any, name: str, alias: str, version: str, from_alias: str | None, why: str, who: str) -> None:
    from churnguard.mlops.promotion import drop_alias_if_at, move_alias

    move_alias(client, name, alias, version, why=why, who=who)
    if from_alias and from_alias != alias and drop_alias_if_at(client, name, from_alias, version):
        print(f"alias {from_alias!r} removed from version {version} (it is {alias} now)")
