"""churnguard: churn prediction with ground truth, DVC stages, an MLflow registry, serving and streaming.

Every piece of pipeline logic lives in this package; stage scripts (``pipelines/``) stay thin. The Python
API (docs/python_api.md) is importable from the top level::

    import churnguard
    cg = churnguard.load()                      # the champion, in this process
    svc = churnguard.connect("http://127.0.0.1:8000", api_key="...")   # the same calls over HTTP

The API's names are imported on first use (PEP 562), so ``import churnguard.core.config`` and the CLI
do not pay for pandas, MLflow or httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from churnguard.api import (
        Churnguard,
        ChurnguardAPI,
        ChurnguardError,
        Customer,
        Dependencies,
        Explanation,
        FeatureChange,
        FeatureReplay,
        FieldError,
        Health,
        HttpClient,
        InvalidInput,
        MissingPart,
        ModelUnavailable,
        NewCustomerPrediction,
        Prediction,
        RateLimited,
        ScenarioAnalysis,
        ScenarioTotal,
        ServiceError,
        Unauthorized,
        UnknownCustomers,
        connect,
        load,
    )

# the API's public names, listed once: churnguard.api's __all__ is this list and BATCH_FEATURES
__all__ = [
    "Churnguard",
    "ChurnguardAPI",
    "ChurnguardError",
    "Customer",
    "Dependencies",
    "Explanation",
    "FeatureChange",
    "FeatureReplay",
    "FieldError",
    "Health",
    "HttpClient",
    "InvalidInput",
    "MissingPart",
    "ModelUnavailable",
    "NewCustomerPrediction",
    "Prediction",
    "RateLimited",
    "ScenarioAnalysis",
    "ScenarioTotal",
    "ServiceError",
    "Unauthorized",
    "UnknownCustomers",
    "connect",
    "load",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from churnguard import api

        return getattr(api, name)
    if name == "__version__":  # the installed distribution's version (pyproject.toml)
        from importlib.metadata import version

        return version("churnguard")
    raise AttributeError(f"module 'churnguard' has no attribute {name!r}")
