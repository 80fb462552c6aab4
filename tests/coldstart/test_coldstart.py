"""Cold start on a tiny synthetic graph: inductive = full graph, fallback flagged, full coverage."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from churnguard.coldstart.gnn import NodeEncoder, ReferralGNN, inference
from churnguard.coldstart.part import load_part, save_part


def undirected(src: np.ndarray, dst: np.ndarray) -> torch.Tensor:
    s, d = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
    return torch.from_numpy(np.stack([np.concatenate([s, d]), np.concatenate([d, s])]))


def _full_graph_logit(part, x_new: np.ndarray, neighbour_ids: list[str]) -> float:
    """Forward pass over the whole known graph with the new node (index N) added."""
    g = part.store
    n = g.n
    nbrs = g.lookup(neighbour_ids)
    assert (nbrs >= 0).all()
    x = torch.cat([torch.from_numpy(np.asarray(g.x)), torch.as_tensor(x_new[None, :])])
    ei = torch.cat([g.edge_index(), undirected(np.full(len(nbrs), n), nbrs)], dim=1)
    with torch.no_grad():
        return float(part.gnn(x, ei)[n])


def _new_node_x(part, row: pd.DataFrame) -> np.ndarray:
    zeros = np.zeros(len(row), dtype=np.float32)
    return part.encoder.encode(row, zeros, zeros)[0]


def test_inductive_inference_equals_full_graph_forward(fitted, new_customers):
    part = fitted[0]
    row = new_customers.iloc[[0]]
    ids = row["referral_ids"].iloc[0]
    x_new = _new_node_x(part, row)
    full = _full_graph_logit(part, x_new, ids)
    idx = part.store.lookup(ids)
    inductive = inference(part.gnn, part.store, x_new[None, :], np.zeros(len(idx), dtype=np.int64), idx)[0]
    assert inductive == pytest.approx(full, abs=1e-5)
    # and through the part's scoring path (the GNN component of the ensemble)
    comps = part.components(row)
    assert comps["source"].iloc[0] == "gnn"
    assert comps["gnn"].iloc[0] == pytest.approx(1 / (1 + np.exp(-full)), abs=1e-5)


@pytest.mark.parametrize("arch", ["gatv2", "sage"])
def test_inductive_equals_full_graph_for_each_architecture(fitted, new_customers, arch):
    """Both compared architectures (random weights, 2 and 3 layers) are exactly inductive."""
    part = fitted[0]
    g = part.store
    torch.manual_seed(1)
    for layers in (2, 3):
        model = ReferralGNN(arch, g.dim, 16, 4, layers, 0.0).eval()
        x_new = np.stack([_new_node_x(part, new_customers.iloc[[i]]) for i in range(2)])
        nb0 = g.lookup(new_customers["referral_ids"].iloc[0]).tolist()
        nb1 = g.lookup(new_customers["referral_ids"].iloc[1]).tolist()
        # new customer 1 also referred new customer 0 (an edge between two new nodes)
        src = np.array([0] * len(nb0) + [1] * len(nb1) + [0])
        dst = np.array(nb0 + nb1 + [g.n + 1])
        got = inference(model, g, x_new, src, dst)
        x = torch.cat([torch.from_numpy(np.asarray(g.x)), torch.as_tensor(x_new)])
        ei = torch.cat([g.edge_index(), undirected(src + g.n, dst)], dim=1)
        with torch.no_grad():
            want = model(x, ei)[g.n :].numpy()
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_no_edge_customer_falls_back_to_cluster_model_and_is_flagged(fitted, new_customers):
    part = fitted[0]
    row = new_customers.iloc[[2]]
    comps = part.components(row)
    assert comps["source"].iloc[0] == "cluster_fallback"
    assert not comps["has_edges"].iloc[0]
    assert comps["gnn"].iloc[0] == pytest.approx(part.cluster.prior(row)[0])
    scored = part.score(row, pd.DataFrame({"churn_probability": [0.5]}, index=row.index))
    assert scored["coldstart_source"].iloc[0] == "cluster_fallback"
    # the fallback's ensemble uses cluster prior + GBM only: the GNN's value does not matter
    fake = {c: comps[c].to_numpy() for c in ("cluster_prior", "gbm")} | {"gnn": np.array([0.999])}
    want = part.ensemble.predict(fake, np.array([False]))
    assert scored["coldstart_probability"].iloc[0] == pytest.approx(want[0])


def test_every_new_customer_gets_a_score(fitted, new_customers):
    part = fitted[0]
    messy = pd.concat(
        [
            new_customers,
            pd.DataFrame(
                [
                    {"customer_id": "NEW4", "is_cold_start": 1, "referral_ids": ["NOT-A-CUSTOMER"]},  # unknown edge
                    {"customer_id": "NEW5", "is_cold_start": 1, "age": 40, "income_band": "unheard_of"},  # no edge info
                    {"customer_id": "NEW6", "is_cold_start": 1, "referral_ids": ["NEW1"]},  # edge to a new one
                ]
            ),
        ],
        ignore_index=True,
    )
    res = part.predict_new(messy)
    assert len(res) == len(messy)
    assert np.isfinite(res["coldstart_probability"]).all()
    assert ((res["coldstart_probability"] > 0) & (res["coldstart_probability"] < 1)).all()
    assert set(res["coldstart_source"]) <= {"gnn", "cluster_fallback"}
    src = dict(zip(messy["customer_id"], res["coldstart_source"]))
    assert src["NEW4"] == "cluster_fallback" and src["NEW5"] == "cluster_fallback"
    assert src["NEW6"] == "gnn" and src["NEW1"] == "gnn"


def test_whole_cold_cohort_scored_and_only_cold_rows_replaced(fitted):
    part, _metrics, table, _raw = fitted
    sample = table.sample(300, random_state=0)
    scores = pd.DataFrame({"churn_probability": np.full(len(sample), 0.123)}, index=sample.index)
    out = part.score(sample, scores)
    cold = sample["is_cold_start"].astype(bool).to_numpy()
    assert cold.any() and (~cold).any()
    assert out.loc[cold, "coldstart_probability"].notna().all()
    assert (out.loc[cold, "churn_probability"] == out.loc[cold, "coldstart_probability"]).all()
    assert (out.loc[~cold, "churn_probability"] == 0.123).all()
    assert out.loc[~cold, "coldstart_source"].isna().all()
    assert set(out.loc[cold, "coldstart_source"]) <= {"gnn", "cluster_fallback"}


def test_known_cold_customer_uses_its_stored_referral_edges(fitted):
    part, _metrics, table, _raw = fitted
    cold = table[table["is_cold_start"].astype(bool)]
    with_edges = cold[cold["customer_id"].isin(part.store.cold_ids)]
    assert len(with_edges) > 0
    comps = part.components(with_edges)
    assert (comps["source"] == "gnn").mean() > 0.9  # edges to other, absent cold customers may drop


def test_cluster_assignment_of_an_unseen_customer_is_one_call(fitted):
    part = fitted[0]
    c = part.cluster.assign({"age": 70, "income_band": "high", "region": "west", "contract": "two_year"})
    assert c.shape == (1,) and 0 <= c[0] < part.cluster.k
    assert 0 < part.cluster.priors[c[0]] < 1


def test_part_round_trip_and_metrics(fitted, new_customers, tmp_path):
    part, metrics, _table, _raw = fitted
    assert set(metrics["gnn_candidates"]) == {"gatv2", "sage", "gatv2+sage"}  # both, and their mean
    assert metrics["gnn_selected"] in metrics["gnn_candidates"]
    assert set(metrics["gbm"]["validation_auc"]) == {"gbm", "gbm_grid[0]"}
    save_part(part, tmp_path / "coldstart")
    spec = json.loads((tmp_path / "coldstart" / "part.json").read_text())
    assert spec["name"] == "coldstart" and spec["order"] == 10
    again = load_part(tmp_path / "coldstart")
    a, b = part.predict_new(new_customers), again.predict_new(new_customers)
    np.testing.assert_allclose(a["coldstart_probability"], b["coldstart_probability"])


def test_device_param_is_validated():
    from churnguard.coldstart.gnn import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in {"cpu", "cuda"}
    with pytest.raises(ValueError):
        resolve_device("tpu")


def test_fast_scoring_paths_match_the_fitted_sklearn_pipelines(fitted, new_customers):
    """The numpy encoders used for millisecond scoring give the sklearn pipelines' numbers."""
    from churnguard.coldstart.clusters import demographic_frame
    from churnguard.core.columns import from_frame
    from churnguard.features.graph import GRAPH_FEATURES

    part, _metrics, table, _raw = fitted
    rows = pd.concat([table.sample(200, random_state=1), new_customers], ignore_index=True)
    rows.loc[0, "income_band"] = None  # a missing value
    c = part.cluster
    want = c.encoder.transform(demographic_frame(rows, c.categorical, c.numeric))
    np.testing.assert_allclose(c.encode(rows), want, atol=1e-5)
    np.testing.assert_array_equal(c.assign(rows), c.kmeans.predict(want.astype(np.float32)))
    comps = part.components(rows)
    X = rows.reindex(columns=c.categorical + part.gbm_numeric).copy()
    for col in c.categorical:
        X[col] = X[col].astype(object).where(X[col].notna(), "missing")
    cols, n = from_frame(rows), len(rows)
    gf = part._graph_features(cols, n, part._neighbours(cols, n))
    for col in GRAPH_FEATURES:
        X[col] = gf[col]
    np.testing.assert_allclose(comps["gbm"], part.gbm.predict_proba(X)[:, 1], atol=1e-9)


def test_tenure_stays_visible_when_behaviour_is_hidden(fitted):
    """A new customer's tenure is known from its sign-up date, so only behaviour is masked."""
    part, _metrics, table, _raw = fitted
    enc = part.encoder
    assert enc.signup == ["tenure_months"] and "tenure_months" not in enc.behaviour
    rows = table[~table["is_cold_start"].astype(bool)].head(2).copy()
    rows["tenure_months"] = [0.2, 30.0]
    zeros = np.zeros(2, dtype=np.float32)
    x = enc.encode(rows, zeros, zeros)
    tenure_col = enc.behaviour_slice().start - 1
    assert x[0, tenure_col] < x[1, tenure_col]  # visible and ordered
    assert not x[:, enc.behaviour_slice()].any()  # behaviour and its flag hidden
    old = NodeEncoder(enc.cluster, ["tenure_months", *enc.behaviour], enc.mean, enc.std)
    state = {k: v for k, v in vars(old).items() if k != "signup"}
    restored = NodeEncoder.__new__(NodeEncoder)
    restored.__setstate__(state)  # pickled before `signup` existed
    assert restored.signup == [] and restored.dim == enc.dim
