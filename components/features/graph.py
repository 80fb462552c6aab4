"""Hand-made referral-graph features, computed only from what is known at T."""

from __future__ import annotations

import pandas as pd

GRAPH_FEATURES = ["referral_degree", "referrer_churned", "neighbour_churn_share", "was_referred"]


def referral_features(customer_ids: pd.Series, referrals: pd.DataFrame, former_ids: pd.Series) -> pd.DataFrame:
    """Degree, whether the referrer churned before T, and the share of neighbours who did."""
    former = set(former_ids.tolist())
    edges = referrals[["referrer_id", "referee_id"]]
    both = pd.concat(
        [
            edges.rename(columns={"referee_id": "node", "referrer_id": "nb"}),
            edges.rename(columns={"referrer_id": "node", "referee_id": "nb"}),
        ],
        ignore_index=True,
    )
    both["nb_churned"] = both["nb"].isin(former).astype(float)
    agg = both.groupby("node").agg(referral_degree=("nb", "size"), neighbour_churn_share=("nb_churned", "mean"))
    ref = edges.set_index("referee_id")["referrer_id"]
    out = pd.DataFrame(index=pd.Index(customer_ids, name="customer_id"))
    out = out.join(agg)
    out["referral_degree"] = out["referral_degree"].fillna(0.0)
    out["neighbour_churn_share"] = out["neighbour_churn_share"].fillna(0.0)
    referrer = ref.reindex(out.index)
    out["was_referred"] = referrer.notna().astype(float).to_numpy()
    out["referrer_churned"] = referrer.isin(former).astype(float).to_numpy()
    return out[GRAPH_FEATURES]
