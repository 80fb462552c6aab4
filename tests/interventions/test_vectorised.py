"""Unit tests of the vectorised paths: pooled uplift design, sweep layout, repair search, alibi preprocessor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from churnguard.interventions.config import fit_counterfactual_config
from churnguard.interventions.counterfactual import ActionSpace, _HEPreprocessor, changed_features, repair
from churnguard.interventions.sweep import _blocks, wide
from churnguard.interventions.uplift import fit_offset_glm, pooled_coefs, pooled_design, pooled_penalty

PARAMS = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())


def test_pooled_design_gives_each_arm_its_own_linear_predictor():
    rng = np.random.default_rng(0)
    n, d, K = 200, 4, 3
    X = np.hstack([np.ones((n, 1)), rng.normal(size=(n, d - 1))])
    arm = rng.integers(0, K, n)
    Z = pooled_design(X, arm, K)
    w = rng.normal(size=Z.shape[1])
    per_arm = pooled_coefs(w, d, K)
    expected = np.array([X[i] @ per_arm[arm[i]] for i in range(n)])
    assert np.allclose(Z @ w, expected)
    pen = pooled_penalty(d, K, 5.0, 7.0)
    assert (pen[: d - 1] == 5.0).all() and (pen[d - 1 + np.arange(K) * d] < 1e-3).all()


def test_pooled_fit_with_huge_shared_ridge_is_the_separate_fit():
    rng = np.random.default_rng(1)
    n, d, K = 3000, 3, 2
    X = np.hstack([np.ones((n, 1)), rng.normal(size=(n, d - 1))])
    arm = rng.integers(0, K, n)
    off = np.log(np.full(n, 0.3))
    y = (rng.random(n) < 0.3 * np.exp(-0.3 * (arm == 1) + 0.2 * X[:, 1] * (arm == 0))).astype(float)
    pooled = pooled_coefs(fit_offset_glm(pooled_design(X, arm, K), y, off, pooled_penalty(d, K, 1e9, 2.0), "log"), d, K)
    for k in range(K):
        m = arm == k
        sep = fit_offset_glm(X[m], y[m], off[m], 2.0, "log")
        assert np.allclose(pooled[k], sep, atol=1e-4), (k, pooled[k], sep)
    # and the arms differ as simulated (the check can fail)
    assert pooled[0][1] > pooled[1][1] + 0.05


def _tidy(n: int, offers: list[str], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = rng.permutation([f"c{i:05d}" for i in range(n)])
    return pd.DataFrame(
        {
            "customer_id": np.repeat(ids, len(offers)),
            "offer": np.tile(offers, n),
            "net_value": rng.normal(size=n * len(offers)),
            "cost": rng.uniform(1, 9, n * len(offers)),
        }
    )


def test_wide_fast_path_matches_pivot():
    offers = ["retention_call", "discount_10", "contract_upgrade"]
    table = _tidy(500, offers, 0)
    assert _blocks(table) is not None

    sorted_table = table.sort_values(["customer_id", "offer"], kind="stable").reset_index(drop=True)
    for col in ("net_value", "cost"):
        slow = (
            sorted_table.pivot(index="customer_id", columns="offer", values=col)
            .reindex(columns=sorted(offers))
            .to_numpy()
        )
        assert np.array_equal(wide(sorted_table, col, sorted(offers)), slow)
        assert np.array_equal(wide(table, col, sorted(offers)), slow)  # unsorted: falls back to the pivot
    broken = table.iloc[1:].reset_index(drop=True)
    assert _blocks(broken) is None


def test_read_sweep_orders_like_the_sort(tmp_path):
    from churnguard.interventions.sweep import read_sweep

    offers = ["retention_call", "discount_10", "contract_upgrade"]
    a, b = _tidy(300, offers, 1), _tidy(200, offers, 2)
    b["customer_id"] = "x" + b["customer_id"]
    a.to_parquet(tmp_path / "shard-0.parquet", index=False)
    b.to_parquet(tmp_path / "shard-1.parquet", index=False)
    got = read_sweep(tmp_path)
    want = (
        pd.concat([a, b], ignore_index=True).sort_values(["customer_id", "offer"], kind="stable").reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(got, want)


class _ToyPredictor:
    """Churn falls by 0.2 per contract step, 0.15 for a retention call, 0.05 for the full discount."""

    def proba(self, frame: pd.DataFrame) -> np.ndarray:
        step = frame["contract"].map({"month_to_month": 0, "one_year": 1, "two_year": 2}).to_numpy(dtype=float)
        call = (frame["campaign_offer"].astype(str) == "retention_call").to_numpy()
        cheap = pd.to_numeric(frame["monthly_charges"]).to_numpy() < frame["base_charge"].to_numpy() * 0.9
        return frame["p"].to_numpy(dtype=float) - 0.2 * step - 0.15 * call - 0.05 * cheap


def test_repair_picks_the_valid_change_with_fewest_features():
    space = ActionSpace(
        features=["contract", "campaign_offer", "region", "p", "base_charge", "monthly_charges"],
        categorical=["contract", "campaign_offer", "region"],
        numeric=["p", "base_charge", "monthly_charges"],
        decrease_caps={"monthly_charges": 0.2},
        ordered={"contract": ["month_to_month", "one_year", "two_year"]},
        free_values={"campaign_offer": ["discount_10", "retention_call"]},
    )
    rows = pd.DataFrame(
        {
            "contract": ["month_to_month", "month_to_month", "two_year", "one_year"],
            "campaign_offer": ["none"] * 4,
            "region": ["n"] * 4,
            "p": [0.6, 0.8, 1.0, 1.2],
            "base_charge": [50.0] * 4,
            "monthly_charges": [50.0] * 4,
        }
    )
    out = repair(space, _ToyPredictor(), rows, 0.5)
    # row 0: one feature suffices (one_year 0.4, two_year 0.2, call 0.45): the lowest probability among them
    assert out.loc[0, "contract"] == "two_year" and out.loc[0, "campaign_offer"] == "none"
    # row 1: two contract steps (0.4, one feature) beat one step + call (0.45, two features)
    assert out.loc[1, "contract"] == "two_year" and out.loc[1, "campaign_offer"] == "none"
    # row 2: contract already at the top (0.6): a retention call (0.45)
    assert out.loc[2, "contract"] == "two_year" and out.loc[2, "campaign_offer"] == "retention_call"
    # row 3: nothing allowed reaches 0.5 (1.2 - 0.4 - 0.15 - 0.05 = 0.6): unchanged
    assert out.loc[3].equals(rows.loc[3])
    assert (out["region"] == rows["region"]).all() and (out["p"] == rows["p"]).all()
    ch = changed_features(space, rows, out)
    assert [len(c) for c in ch] == [1, 1, 1, 0]


def test_fast_he_preprocessor_matches_alibi():
    from alibi.explainers.backends.cfrl_tabular import get_he_preprocessor

    rng = np.random.default_rng(0)
    X = np.column_stack(
        [rng.integers(0, 3, 300), rng.normal(50, 10, 300), rng.integers(0, 4, 300), rng.integers(18, 80, 300)]
    ).astype(float)
    pre, _ = get_he_preprocessor(
        X=X,
        feature_names=["a", "b", "c", "d"],
        category_map={0: ["x", "y", "z"], 2: ["p", "q", "r", "s"]},
        feature_types={"d": int},
    )
    fast = _HEPreprocessor(pre)
    probe = np.vstack([X, X[:20] + 0.5, -X[:5]])
    assert np.allclose(fast(probe), pre(probe), rtol=0, atol=1e-12)


def test_bundles_pickle_counterfactual_classes_under_the_package_path():
    """Pickles name these classes by the package, not the submodule that defines them, so moving a
    class between the package's modules never breaks a registered bundle."""
    import pickle

    import churnguard.interventions.counterfactual as cf

    for name in ("ActionSpace", "_HEPreprocessor", "_FastCondition"):
        cls = getattr(cf, name)
        assert cls.__module__ == "churnguard.interventions.counterfactual", name
        old_style = f"cchurnguard.interventions.counterfactual\n{name}\n.".encode()  # protocol 0 GLOBAL
        assert pickle.loads(old_style) is cls
    space = ActionSpace(["a"], [], ["a"], {"a": 0.2}, {}, {})
    assert b"churnguard.interventions.counterfactual\x94" in pickle.dumps(space)
    assert pickle.loads(pickle.dumps(space)) == space


def test_backend_registry_names_the_field_and_the_known_backends():
    from churnguard.interventions.counterfactual import BACKENDS, backend_class, fit_explainer

    assert set(BACKENDS) == {"alibi_cfrl", "dice"}
    for name, cls in BACKENDS.items():
        assert cls.name == name and backend_class(name) is cls and cls.licence
    with pytest.raises(ValueError, match=r"fit_counterfactual\.backend.*'alibi_cfrl', 'dice'.*'lime'"):
        backend_class("lime")
    with pytest.raises(ValueError, match=r"fit_counterfactual\.backend: expected text"):
        fit_counterfactual_config({**PARAMS["fit_counterfactual"], "backend": ["dice"]})
    with pytest.raises(ValueError, match=r"fit_counterfactual\.backend must be one of"):
        fit_explainer(
            None, pd.DataFrame(), fit_counterfactual_config({**PARAMS["fit_counterfactual"], "backend": "x"}), 0
        )


def test_backends_implement_the_protocol_signatures():
    import inspect

    from churnguard.interventions.counterfactual import BACKENDS, Backend

    for cls in BACKENDS.values():
        for method in ("fit", "propose", "save", "load"):
            want = list(inspect.signature(getattr(Backend, method)).parameters)
            assert list(inspect.signature(getattr(cls, method)).parameters) == want, (cls.name, method)


def test_alibi_whole_module_loading_is_confined_to_alibi_and_restored():
    import torch
    from alibi.explainers.backends.pytorch import cfrl_tabular

    from churnguard.interventions.counterfactual.alibi_backend import _alibi_loads_whole_modules

    torch_load, alibi_load = torch.load, cfrl_tabular.load_model
    with pytest.raises(RuntimeError, match="inside"), _alibi_loads_whole_modules():
        assert cfrl_tabular.load_model is not alibi_load and torch.load is torch_load
        raise RuntimeError("inside")
    assert cfrl_tabular.load_model is alibi_load and torch.load is torch_load
