"""What a counterfactual backend is (``Backend``) and which exist (``BACKENDS``, by the name
``fit_counterfactual.backend`` selects). Adding one: docs/CONTRIBUTING.md, "How to add a
counterfactual backend"."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Protocol, cast

import pandas as pd

from churnguard.interventions.counterfactual.action_space import ActionSpace
from churnguard.interventions.counterfactual.alibi_backend import AlibiCFRLBackend
from churnguard.interventions.counterfactual.dice_backend import DiceBackend
from churnguard.interventions.counterfactual.predictor import _Predictor


class Backend(Protocol):
    """A counterfactual generator. ``propose`` returns raw proposals (one row per input row, the action
    space's feature columns); the facade projects them onto the action space, repairs and scores."""

    name: ClassVar[str]  # the value of fit_counterfactual.backend; recorded in the bundle
    licence: ClassVar[str]  # recorded in models/interventions/part.json
    predictor: _Predictor

    @classmethod
    def fit(cls, space: ActionSpace, predictor: _Predictor, train: pd.DataFrame, cfg: Any, seed: int) -> Backend:
        """``cfg``: the backend's own typed section, ``fit_counterfactual.<name>`` (AlibiConfig, DiceConfig)."""
        ...

    def propose(self, original: pd.DataFrame) -> pd.DataFrame: ...

    def save(self, part_dir: Path) -> None: ...

    @classmethod
    def load(cls, part_dir: Path, space: ActionSpace, predictor: _Predictor, cfg: Any, seed: int) -> Backend: ...


BACKENDS: dict[str, type[Backend]] = {b.name: cast(type[Backend], b) for b in (AlibiCFRLBackend, DiceBackend)}


def backend_class(name: Any, where: str = "params.yaml") -> type[Backend]:
    """The registered backend called ``name``; a clear error naming the field and the known names."""
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"{where}: fit_counterfactual.backend must be one of {sorted(BACKENDS)}, got {name!r}")
    return BACKENDS[name]
