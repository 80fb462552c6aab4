"""Counterfactual explanations behind one small interface (``Backend``, ``BACKENDS`` in
``backends.py``), backends selected by ``fit_counterfactual.backend`` in params:

- ``alibi_cfrl`` (``alibi_backend.py``): alibi's ``CounterfactualRLTabular`` (PyTorch backend).
  **alibi is under the Business Source License 1.1** (production use restricted): keep the other
  backend for deployments that cannot accept it.
- ``dice`` (``dice_backend.py``): DiCE (``dice-ml``, MIT licence), random search, one customer at a time.

Both explain the champion's base model (``models/base``, ``predictor.py``) towards "stays" (churn
probability below ``target_threshold``) while respecting the action space from params
(``action_space.py``):
- immutable: every model feature that is not actionable (age, tenure, history, region, ...);
- a numeric feature with ``max_relative_decrease`` (``monthly_charges``: 0.2) may only decrease, by
  at most that share of the customer's own value (a discount only grows, up to its cap);
- ordered categoricals (``contract``, ``plan``) may only move up their order (upgrades only);
- ``campaign_offer`` may be set to one of the offers.
Whatever a backend proposes is projected onto that space before it is returned (so a returned
counterfactual never changes an immutable feature); the backend's own violations are counted
before projection and reported (``immutable_changes_raw``). Where the projected proposal is still
invalid, ``repair_search.py`` searches the action space around the original row. ``explainer.py``: the
facade ``CounterfactualExplainer`` and fit / save / load.
"""

from churnguard.interventions.counterfactual.action_space import ActionSpace, changed_features
from churnguard.interventions.counterfactual.alibi_backend import AlibiCFRLBackend, _FastCondition, _HEPreprocessor
from churnguard.interventions.counterfactual.backends import BACKENDS, Backend, backend_class
from churnguard.interventions.counterfactual.dice_backend import DiceBackend
from churnguard.interventions.counterfactual.explainer import (
    SPACE_FILE,
    CounterfactualExplainer,
    fit_explainer,
    load_explainer,
    save_explainer,
)
from churnguard.interventions.counterfactual.predictor import _Codec, _Predictor
from churnguard.interventions.counterfactual.repair_search import repair

# Bundles pickle these classes by module path (counterfactual_space.joblib: ActionSpace; alibi's
# cfrl/explainer.dill: the preprocessor and condition function). Bundles fitted before this package
# existed name them ``churnguard.interventions.counterfactual.<Class>``; keeping that the path new
# bundles record too lets old bundles load here and new bundles load on code from before the split.
for _cls in (ActionSpace, _HEPreprocessor, _FastCondition):
    _cls.__module__ = __name__

__all__ = [
    "BACKENDS",
    "SPACE_FILE",
    "ActionSpace",
    "AlibiCFRLBackend",
    "Backend",
    "CounterfactualExplainer",
    "DiceBackend",
    "_Codec",
    "_FastCondition",
    "_HEPreprocessor",
    "_Predictor",
    "backend_class",
    "changed_features",
    "fit_explainer",
    "load_explainer",
    "repair",
    "save_explainer",
]
