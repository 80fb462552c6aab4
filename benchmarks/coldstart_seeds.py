"""Cold-start acceptance table over generator seeds and graph-mechanism settings.

For each setting (default world; contagion_strength 0, i.e. no social influence at all: neither
churned-neighbour exposure nor referral onboarding; contagion 0 *and* referral_homophily 0, i.e. a
referral graph that carries no churn information) and each seed: generate a world,
build the feature table, fit clusters + the cold-start part exactly as the stages do, and
evaluate on the holdout cold-start cohort (ROC AUC, top-decile lift of (a) cluster prior,
(b) GBM on demographics + hand-made graph features, (c) GNN, (d) ensemble, (e) oracle).

Writes benchmarks/results/coldstart_seeds.json (every run + summary) and
benchmarks/results/coldstart_seeds.md (the markdown tables used in docs/coldstart.md).

    .venv/bin/python benchmarks/coldstart_seeds.py [--customers 50000] [--seeds 1 2 3]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from churnguard.coldstart.clusters import fit_clusters
from churnguard.coldstart.evaluation import evaluate_coldstart
from churnguard.coldstart.part import load_part, save_part
from churnguard.coldstart.training import fit_coldstart
from churnguard.core.benchmarking import RESULTS, write_result
from churnguard.core.config import load_params
from churnguard.core.truth import load_truth
from churnguard.core.vocabulary import LABEL, SPLIT
from churnguard.features.table import build_feature_table
from churnguard.world import generate_world

SETTINGS = {
    "default": {},
    "contagion_0": {"contagion_strength": 0.0},
    "no_graph_signal": {"contagion_strength": 0.0, "referral_homophily": 0.0},
}
GRAPH_PARAMS = [
    "referral_share",
    "referral_homophily",
    "contagion_strength",
    "referral_onboarding",
    "onboarding_months",
]
MODELS = ["cluster_prior", "gbm", "gnn", "ensemble", "oracle"]


def one_run(params: dict, setting: str, seed: int, customers: int, workdir: Path) -> dict:
    t0 = time.perf_counter()
    world = copy.deepcopy(params["world"]) | SETTINGS[setting]
    world["customers"] = customers
    raw, truth = workdir / "raw", workdir / "truth"
    generate_world(world, seed, raw, truth, progress=False)
    table, _ = build_feature_table(
        raw / "customers.parquet", raw, params["data"], params["features"], world["observation_date"]
    )
    features = workdir / "customers.parquet"
    table.to_parquet(features, index=False)
    t1 = time.perf_counter()
    rows = table[(table[SPLIT] == "train") & ~table["is_cold_start"].astype(bool)]
    cluster = fit_clusters(rows, rows[LABEL].to_numpy(), params["cluster"], int(params["cluster"]["seed"]))
    graph = (pd.read_parquet(raw / "referrals.parquet"), pd.read_parquet(raw / "former_customers.parquet"))
    part, fit = fit_coldstart(table, graph, cluster, params["train_gnn"])
    save_part(part, workdir / "coldstart")
    t2 = time.perf_counter()
    truth_p = load_truth(truth, ["customer_id", "p_received"])
    ev = evaluate_coldstart(table, load_part(workdir / "coldstart"), truth_p, params["evaluate_coldstart"])
    out = {
        "setting": setting,
        "seed": seed,
        "customers": customers,
        "gnn": part.gnn_arch,
        "n_holdout_cold_start": ev["n_holdout_cold_start"],
        "with_edges": ev["with_edges"],
        "gnn_validation": {a: i["validation_auc_with_edges"] for a, i in fit.get("gnn_candidates", {}).items()},
        "ensemble_weights": fit["ensemble"]["coef"] | {"edge_offset": fit["ensemble"]["edge_offset"]},
        "seconds_world_and_features": round(t1 - t0, 1),
        "seconds_cluster_and_train": round(t2 - t1, 1),
    }
    for group in ("cohort", "cohort_with_edges", "cohort_no_edges"):
        out[group] = {
            m: (
                {"roc_auc": ev[group][m]["roc_auc"], "top_decile_lift": ev[group][m]["top_decile_lift"]}
                if ev[group].get(m)
                else None
            )
            for m in MODELS
        }
    c = out["cohort"]
    best = max(("cluster_prior", "gbm", "gnn"), key=lambda m: c[m]["roc_auc"])
    out["best_single"] = best
    out["ensemble_minus_best_single"] = c["ensemble"]["roc_auc"] - c[best]["roc_auc"]
    out["ensemble_minus_gbm"] = c["ensemble"]["roc_auc"] - c["gbm"]["roc_auc"]
    out["ensemble_to_oracle"] = c["ensemble"]["roc_auc"] / c["oracle"]["roc_auc"]
    e = {m: (v["roc_auc"] if v else float("nan")) for m, v in out["cohort_with_edges"].items()}
    out["with_edges_gnn_minus_gbm"] = e["gnn"] - e["gbm"]
    out["with_edges_ensemble_minus_gbm"] = e["ensemble"] - e["gbm"]
    return out


def summarise(runs: list[dict]) -> dict:
    summary = {}
    for setting in dict.fromkeys(r["setting"] for r in runs):
        rs = [r for r in runs if r["setting"] == setting]
        s = {"seeds": [r["seed"] for r in rs]}
        for key in (
            "ensemble_minus_best_single",
            "ensemble_minus_gbm",
            "ensemble_to_oracle",
            "with_edges_gnn_minus_gbm",
            "with_edges_ensemble_minus_gbm",
        ):
            v = np.array([r[key] for r in rs])
            s[key] = {
                "mean": float(v.mean()),
                "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                "min": float(v.min()),
                "max": float(v.max()),
            }
        s["ensemble_beats_best_single_all_seeds"] = bool(all(r["ensemble_minus_best_single"] > 0 for r in rs))
        s["ensemble_beats_best_single_seeds"] = int(sum(r["ensemble_minus_best_single"] > 0 for r in rs))
        s["ensemble_minus_best_single"]["standard_error"] = s["ensemble_minus_best_single"]["std"] / np.sqrt(len(rs))
        s["ensemble_reaches_093_oracle_all_seeds"] = bool(all(r["ensemble_to_oracle"] >= 0.93 for r in rs))
        summary[setting] = s
    return summary


def markdown(runs: list[dict], summary: dict) -> str:
    lines = []
    for setting in summary:
        lines += [
            f"### {setting} ({json.dumps(SETTINGS[setting]) if SETTINGS[setting] else 'params.yaml world'})",
            "",
            "| seed | n cold (with edges) | (a) cluster | (b) GBM | (c) GNN | (d) ensemble | (e) oracle | "
            "(d)/(e) | (d) − best single | with edges: (c) − (b) | with edges: (d) − (b) |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in [r for r in runs if r["setting"] == setting]:
            c = r["cohort"]
            auc = " | ".join(f"{c[m]['roc_auc']:.3f} / {c[m]['top_decile_lift']:.2f}" for m in MODELS)
            lines.append(
                f"| {r['seed']} | {r['n_holdout_cold_start']} ({r['with_edges']}) | {auc} | "
                f"{r['ensemble_to_oracle']:.3f} | {r['ensemble_minus_best_single']:+.3f} | "
                f"{r['with_edges_gnn_minus_gbm']:+.3f} | {r['with_edges_ensemble_minus_gbm']:+.3f} |"
            )
        s = summary[setting]
        lines += [
            "",
            f"Mean ± sd over seeds: (d) − best single {s['ensemble_minus_best_single']['mean']:+.4f} ± "
            f"{s['ensemble_minus_best_single']['std']:.4f} (standard error "
            f"{s['ensemble_minus_best_single']['standard_error']:.4f}; (d) ahead in "
            f"{s['ensemble_beats_best_single_seeds']} of {len(s['seeds'])} seeds); (d) − (b) {s['ensemble_minus_gbm']['mean']:+.4f} ± "
            f"{s['ensemble_minus_gbm']['std']:.4f}; (d)/(e) {s['ensemble_to_oracle']['mean']:.3f} "
            f"(min {s['ensemble_to_oracle']['min']:.3f}); with edges (c) − (b) "
            f"{s['with_edges_gnn_minus_gbm']['mean']:+.4f} ± {s['with_edges_gnn_minus_gbm']['std']:.4f}.",
            "",
        ]
    lines.append(
        "GNN kept per run (setting/seed: kept, validation AUC with edges gatv2 / sage): "
        + ", ".join(
            f"{r['setting']}/{r['seed']}: {r['gnn']} ({r['gnn_validation'].get('gatv2', float('nan')):.3f} / "
            f"{r['gnn_validation'].get('sage', float('nan')):.3f})"
            for r in runs
        )
        + "."
    )
    lines.insert(0, "Cells: holdout cold-start ROC AUC / top-decile lift.\n")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=50_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS))
    args = ap.parse_args()
    params = load_params()
    runs = []
    partial = RESULTS / "coldstart_seeds.partial.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    for setting in args.settings:
        for seed in args.seeds:
            with tempfile.TemporaryDirectory() as tmp:
                r = one_run(params, setting, seed, args.customers, Path(tmp))
            runs.append(r)
            print(
                f"{setting} seed {seed}: " + ", ".join(f"{m} {r['cohort'][m]['roc_auc']:.3f}" for m in MODELS),
                flush=True,
            )
            partial.write_text(json.dumps(runs, indent=2))
            (RESULTS / "coldstart_seeds.md").write_text(markdown(runs, summarise(runs)))
    summary = summarise(runs)
    write_result(
        "coldstart_seeds",
        {
            "customers": args.customers,
            "seeds": args.seeds,
            "settings": args.settings,
            "train_gnn": params["train_gnn"],
            "cluster": params["cluster"],
            "world_graph": {k: params["world"].get(k) for k in GRAPH_PARAMS},
        },
        {"summary": summary, "runs": runs},
    )
    (RESULTS / "coldstart_seeds.md").write_text(markdown(runs, summary))
    partial.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
