"""Benchmark: does promotion on shadow evidence pick the better model? (issue #18 item 4, synthetic world)

Two registered versions of different quality: ``--strong`` (e.g. the workspace's champion, trained on
the whole world) and ``--weak`` (e.g. a bundle trained on a small world, registered into the same
store). For each direction (weak champion + strong challenger, then strong champion + weak
challenger) the script

1. points the aliases (champion, challenger) at the pair and starts `churnguard serve --challenger
   shadow` pinned to the champion;
2. sends ``--customers`` holdout customers as predict traffic and waits for the shadow process;
3. runs `churnguard promote --version challenger --evidence LOG --labels MATURED --dry-run`: the
   decision uses the arm log and the holdout's observed churn labels (observable data) only;
4. evaluation only (this script may read the truth, the product never does): each arm's scores on
   the same customers against the world's true churn probability: ROC AUC on the labels divided by
   the oracle's (true probability) AUC on those labels, and the rank correlation with the truth.

The aliases are restored afterwards. Run on a workspace whose registry holds both versions:

    CHURNGUARD_HOME=WS MLFLOW_TRACKING_URI=sqlite:///WS/mlflow.db \\
        .venv/bin/python benchmarks/serving_challenger.py --strong 1 --weak 3

Writes benchmarks/results/serving_challenger.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.serving_harness import (
    KEY,
    LOGS,
    REPO,
    VENV_BIN,
    free_port,
    load_average,
    server_env,
    start,
    stop,
    wait_ready,
)
from churnguard.core.benchmarking import write_result
from churnguard.core.config import PATHS
from churnguard.mlops.registry import tracking_uri


def registry():
    from mlflow import MlflowClient

    uri = tracking_uri()
    return MlflowClient(uri, uri)


def holdout(n: int):
    import pandas as pd

    table = pd.read_parquet(PATHS.features / "customers.parquet")
    return table[table["split"] == "holdout"].sample(n, random_state=7).reset_index(drop=True)


def shadow_traffic(champion: str, customers, log_dir: Path) -> dict:
    """Serve the champion with the challenger in shadow; send every customer once; wait for the shadow."""
    import httpx

    port = free_port()
    cmd = [str(VENV_BIN / "python"), "-m", "churnguard.cli", "serve", "--port", str(port), "--log-level", "warning"]
    cmd += ["--model-uri", f"models:/churnguard/{champion}", "--redis-url", "none", "--rate-limit", "1000000"]
    cmd += ["--challenger", "shadow", "--arm-log-dir", str(log_dir)]
    log = LOGS / "serving-challenger.log"
    proc = start(cmd, server_env(), log)
    ids = customers["customer_id"].astype(str).tolist()
    try:
        with httpx.Client(timeout=60, headers={"X-API-Key": KEY}) as c:
            url = f"http://127.0.0.1:{port}"
            wait_ready(c, f"{url}/health", proc, log)
            while (c.get(f"{url}/health").json()["challenger"] or {}).get("state") != "ready":
                time.sleep(0.25)
            for i in range(0, len(ids), 100):
                body = {"customers": [{"customer_id": cid} for cid in ids[i : i + 100]]}
                assert c.post(f"{url}/v1/predict", json=body).status_code == 200
            while (info := c.get(f"{url}/health").json()["challenger"])["scored_rows"] + info["dropped"] < len(ids):
                time.sleep(0.25)
            return info
    finally:
        stop(proc)


def promote_dry_run(log_dir: Path, labels: Path) -> subprocess.CompletedProcess:
    cmd = [str(VENV_BIN / "python"), "-m", "churnguard.cli", "promote", "--version", "challenger", "--dry-run"]
    cmd += ["--why", "benchmark", "--evidence", str(log_dir), "--labels", str(labels)]
    return subprocess.run(cmd, env=server_env(), capture_output=True, text=True, cwd=REPO, timeout=600)


def against_truth(log_dir: Path, customers) -> dict:
    """Evaluation only: each arm's ROC AUC over the oracle's, and its rank correlation with the truth."""
    from scipy.stats import spearmanr

    from churnguard.core.truth import load_truth
    from churnguard.mlops.promotion import rank_auc, read_arm_log

    log = read_arm_log([log_dir]).drop_duplicates("customer_id").set_index("customer_id")
    ids = [i for i in customers["customer_id"].astype(str) if i in log.index]
    truth = load_truth(PATHS.truth, ["customer_id", "p_churn"])["p_churn"].reindex(ids).to_numpy()
    y = customers.set_index("customer_id").loc[ids, "churned"].to_numpy(bool)
    oracle = rank_auc(y, truth)
    out = {"oracle_roc_auc": round(oracle, 4), "customers": len(ids)}
    for arm in ("champion", "challenger"):
        scores = log.loc[ids, f"{arm}_probability"].to_numpy(float)
        out[f"{arm}_auc_over_oracle"] = round(rank_auc(y, scores) / oracle, 4)
        out[f"{arm}_spearman_with_truth"] = round(float(spearmanr(scores, truth).statistic), 4)
    return out


def one_direction(champion: str, challenger: str, customers, labels: Path) -> dict:
    from churnguard.mlops.promotion import move_alias

    client = registry()
    move_alias(client, "churnguard", "champion", champion, why="serving_challenger benchmark", who="benchmark")
    move_alias(client, "churnguard", "challenger", challenger, why="serving_challenger benchmark", who="benchmark")
    log_dir = Path(tempfile.mkdtemp(prefix="cg-arms-"))
    shadow = shadow_traffic(champion, customers, log_dir)
    decision = promote_dry_run(log_dir, labels)
    evidence = next((line for line in decision.stdout.splitlines() if line.startswith("shadow evidence")), None)
    return {
        "champion": champion,
        "challenger": challenger,
        "shadow": {k: shadow.get(k) for k in ("scored_rows", "dropped", "version")},
        "would_promote": decision.returncode == 0,
        "evidence": evidence,
        "refusal": decision.stderr.strip().splitlines()[-1] if decision.returncode else None,
        "against_truth": against_truth(log_dir, customers),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--strong", required=True, help="the better version (e.g. the workspace's champion)")
    ap.add_argument("--weak", required=True, help="the worse version (e.g. a small world's bundle)")
    ap.add_argument("--customers", type=int, default=3000, help="holdout customers sent as traffic")
    args = ap.parse_args()
    load_start = load_average()
    client = registry()
    saved = {a: str(client.get_model_version_by_alias("churnguard", a).version) for a in ("champion", "challenger")}
    customers = holdout(args.customers)
    labels = Path(tempfile.mkdtemp()) / "matured_labels.parquet"
    customers[["customer_id", "churned"]].to_parquet(labels)  # the holdout's observed outcomes
    try:
        runs = [one_direction(args.weak, args.strong, customers, labels)]
        runs.append(one_direction(args.strong, args.weak, customers, labels))
    finally:
        from churnguard.mlops.promotion import move_alias

        for alias, version in saved.items():
            move_alias(client, "churnguard", alias, version, why="restored after the benchmark", who="benchmark")
    numbers = {
        "runs": runs,
        "goals": {
            "strong_challenger_promoted": runs[0]["would_promote"],
            "weak_challenger_refused": not runs[1]["would_promote"],
        },
        "load_average_at_start": load_start,
        "load_average_at_end": load_average(),
    }
    run_info = {"strong": args.strong, "weak": args.weak, "customers": args.customers}
    write_result("serving_challenger", run_info, numbers)
    for r in runs:
        print(
            f"champion v{r['champion']} / challenger v{r['challenger']}: would promote {r['would_promote']}; "
            f"{r['evidence']}; truth: {r['against_truth']}"
        )


if __name__ == "__main__":
    main()
