"""Backend ``dice``: DiCE (``dice-ml``, MIT licence), model-agnostic random search, one customer at a
time. The backend to deploy where alibi's Business Source License cannot be accepted."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from churnguard.interventions.config import DiceConfig
from churnguard.interventions.counterfactual.action_space import ActionSpace
from churnguard.interventions.counterfactual.predictor import _Predictor


class DiceBackend:
    name = "dice"
    licence = "MIT (dice-ml)"
    SAMPLE_FILE = "dice_sample.parquet"

    def __init__(self, space: ActionSpace, predictor: _Predictor, sample: pd.DataFrame, cfg: DiceConfig, seed: int):
        self.space, self.predictor, self.sample, self.cfg, self.seed = space, predictor, sample, cfg, seed
        self._dice = None

    @classmethod
    def fit(
        cls, space: ActionSpace, predictor: _Predictor, train: pd.DataFrame, cfg: DiceConfig, seed: int
    ) -> DiceBackend:
        rows = min(len(train), cfg.data_rows)
        sample = space.impute(train.sample(rows, random_state=seed)).reset_index(drop=True)
        return cls(space, predictor, sample, cfg, seed)

    def _explainer(self):
        if self._dice is None:
            import dice_ml

            space, predictor = self.space, self.predictor

            class _Model:
                def predict_proba(self, X):
                    return predictor.two_class(pd.DataFrame(X, columns=space.features))

                def predict(self, X):
                    return self.predict_proba(X).argmax(1)

            data = self.sample.copy()
            data["stays"] = predictor.two_class(data).argmax(1)
            d = dice_ml.Data(dataframe=data, continuous_features=list(space.numeric), outcome_name="stays")
            m = dice_ml.Model(model=_Model(), backend="sklearn")
            self._dice = dice_ml.Dice(d, m, method=self.cfg.method)
        return self._dice

    def propose(self, original: pd.DataFrame) -> pd.DataFrame:
        dice = self._explainer()
        imp = self.space.impute(original).reset_index(drop=True)
        out = []
        for i in range(len(imp)):
            row = imp.iloc[[i]]
            permitted = self.space.allowed(imp.iloc[i])
            for c in self.space.decrease_caps:
                lo, hi = permitted[c]
                permitted[c] = [lo, hi + 1e-6]
            try:
                res = dice.generate_counterfactuals(
                    row,
                    total_CFs=1,
                    desired_class=0,
                    features_to_vary=self.space.actionable,
                    permitted_range=permitted,
                    random_seed=self.seed,
                    verbose=False,
                )
                cf = res.cf_examples_list[0].final_cfs_df
                out.append(cf[self.space.features].iloc[[0]] if cf is not None and len(cf) else row)
            except Exception:  # DiCE raises when it finds nothing: keep the original (invalid)
                out.append(row)
        return pd.concat(out, ignore_index=True)

    def save(self, part_dir: Path) -> None:
        self.sample.to_parquet(part_dir / self.SAMPLE_FILE, index=False)

    @classmethod
    def load(cls, part_dir: Path, space: ActionSpace, predictor: _Predictor, cfg: DiceConfig, seed: int) -> DiceBackend:
        return cls(space, predictor, pd.read_parquet(part_dir / cls.SAMPLE_FILE), cfg, seed)
