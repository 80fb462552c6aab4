"""Stage `fit_counterfactual`: the causal uplift model (randomized campaign) + the counterfactual
explainer (alibi CFRL or DiCE) = bundle part `interventions` (order 30).

Reads params: fit_counterfactual. Writes models/interventions/ and metrics/fit_counterfactual.json.
"""

from __future__ import annotations

import json
import shutil
import time

import pandas as pd
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits

from churnguard.core.config import PATHS, load_params
from churnguard.core.metrics import split_timings, write_metrics
from churnguard.core.skips import skip_part
from churnguard.core.threads import limit_torch
from churnguard.core.vocabulary import LABEL, SPLIT
from churnguard.interventions.config import fit_counterfactual_config
from churnguard.interventions.counterfactual import fit_explainer
from churnguard.interventions.part import InterventionsPart, save_part
from churnguard.interventions.scenarios import ceilings, load_scenarios
from churnguard.interventions.uplift import fit_uplift
from churnguard.models.tabular import load_part as load_base


def main() -> None:
    raw = load_params()["fit_counterfactual"]
    cfg = fit_counterfactual_config(raw)
    seed = cfg.seed
    limit_torch(cfg.torch_threads)
    t0 = time.perf_counter()
    # The check reads the file's schema only: a stage that reads a table with pyarrow's thread pool and
    # exits at once can abort at exit ("terminate called without an active exception", apache/arrow#34314).
    if "campaign_offer" not in pq.read_schema(PATHS.features / "customers.parquet").names:
        skip_part(
            PATHS.models / "interventions",
            "no randomized retention campaign in this data source: no causal uplift model, so no interventions part",
            PATHS.metrics / "fit_counterfactual.json",
        )
        return
    table = pd.read_parquet(PATHS.features / "customers.parquet")
    base = load_base(PATHS.models / "base")
    train = table[table[SPLIT] == "train"]
    holdout = table[table[SPLIT] == "holdout"].reset_index(drop=True)
    scenarios = load_scenarios(cfg.scenarios)
    offers = sorted({s.offer for s in scenarios})
    # Cross-fitted, the uplift model learns from the whole campaign (each customer's own estimates for the
    # plan check come from fold models that never saw it); otherwise from the training split only.
    rows = table if cfg.uplift.crossfit_folds else train
    uplift = fit_uplift(rows, rows[LABEL].to_numpy(), base.schema, offers, cfg.uplift, seed, ceilings(scenarios))
    t_uplift = time.perf_counter() - t0
    # CFRL's steps are tiny (a batch of 128 through small networks and the base model's trees): in
    # multi-threaded pools each step is a few parallel regions whose workers spin or wait for a core
    # the machine's other work holds, which made steps ~30x slower on a loaded machine (issue #21).
    # One thread per pool for the whole fit: the cost per step is then the work itself.
    with threadpool_limits(limits=cfg.torch_threads):
        explainer = fit_explainer(base, train, cfg, seed)
    t_cf = time.perf_counter() - t0 - t_uplift
    part = InterventionsPart(uplift, scenarios, cfg.customer_value_months)
    p = base.predict_proba(holdout)
    sample = holdout[p >= cfg.target_threshold]
    sample = sample.sample(min(len(sample), cfg.explain_sample), random_state=seed)
    explanations, cf_stats = explainer.explain_frame(sample)
    part_dir = PATHS.models / "interventions"
    shutil.rmtree(part_dir, ignore_errors=True)
    save_part(
        part, explainer, part_dir, raw, seed, {"uplift_learner": uplift.info["learner"], "uplift_link": uplift.link}
    )
    metrics = {
        "counterfactual": cf_stats,
        "immutable_features": explainer.space.immutable,
        "actionable_features": explainer.space.actionable,
        "uplift": uplift.info,
        "seconds": {
            "uplift": round(t_uplift, 2),
            "counterfactual_fit": round(t_cf, 2),
            "total": round(time.perf_counter() - t0, 2),
        },
    }
    (part_dir / "cf_metrics.json").write_text(json.dumps(split_timings(metrics)[0], indent=2, default=float))
    (part_dir / "cf_examples.json").write_text(json.dumps(explanations[:20], indent=2, default=str))
    write_metrics(PATHS.metrics / "fit_counterfactual.json", metrics)
    print_summary(uplift, explainer, cf_stats, t_uplift, t_cf)


def print_summary(uplift, explainer, cf_stats: dict, t_uplift: float, t_cf: float) -> None:
    print(
        f"uplift model: {uplift.info['learner']} ({uplift.link} link) on {uplift.info['arm_rows']} campaign customers per arm, "
        f"{uplift.info['control_rows']} controls, {t_uplift:.1f} s"
    )
    print(
        f"counterfactuals ({explainer.backend.name}, {explainer.backend.licence}): fitted in {t_cf:.1f} s; "
        f"{cf_stats['explained']} explained, validity {cf_stats['validity']:.3f} "
        f"(backend alone {cf_stats['validity_backend_alone']:.3f}), "
        f"{cf_stats['sparsity_mean_changed_features']:.2f} features changed, "
        f"immutable changes {cf_stats['immutable_changes']} (backend raw {cf_stats['immutable_changes_raw']})"
    )


if __name__ == "__main__":
    main()
