"""The calls of the Python API, written once for both clients.

:class:`ChurnguardAPI` holds every public method. A client supplies four primitives (score rows,
rank offers, explain, health) and inherits the rest, so the in-process client
(:class:`churnguard.api.local.Churnguard`) and the HTTP client (:class:`churnguard.api.http.HttpClient`)
have the same signatures and derive scenarios, protected and cold-start predictions the same way.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, Self

import pandas as pd

from churnguard.api.errors import InvalidInput, MissingPart
from churnguard.api.inputs import Customer, CustomersLike, FeatureValue, as_customers
from churnguard.api.replay import EventsLike, feature_params, replay
from churnguard.api.results import (
    PROTECTION_COLUMNS,
    Explanation,
    FeatureReplay,
    Health,
    NewCustomerPrediction,
    Prediction,
    ScenarioAnalysis,
    Scored,
)
from churnguard.api.tables import prediction_of, predictions_frame, scenario_analysis

MAX_TOP_K = 20  # serving's limit for /v1/interventions
COLD_START = "is_cold_start"


class ChurnguardAPI(ABC):
    """predict, predict_one, explain, interventions, analyze_scenario, predict_new_customer,
    protected_predict, online_features, health: docs/python_api.md describes each call and its result's columns."""

    # --- what a client provides -------------------------------------------------------------------
    @abstractmethod
    def _score(self, customers: list[Customer]) -> list[Scored]:
        """The customers scored (one :class:`Scored` per batch the client sent, in order)."""

    @abstractmethod
    def _offers(self, customers: list[Customer], top_k: int) -> pd.DataFrame:
        """The best ``top_k`` offers per customer (offers frame)."""

    @abstractmethod
    def _explain(self, customers: list[Customer]) -> list[Explanation]: ...

    @abstractmethod
    def health(self) -> Health:
        """Model version, parts and dependencies (registry, redis, batch features)."""

    @abstractmethod
    def close(self) -> None:
        """Release what the client holds (a downloaded model version, a connection); ``with`` calls it."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the API ------------------------------------------------------------------------------------
    def predict(self, customers: CustomersLike) -> pd.DataFrame:
        """Churn probability and every part's columns, one row per customer, in request order."""
        return _frame(self._score(as_customers(customers)))

    def predict_one(self, customer: str | Customer) -> Prediction:
        """One customer's prediction as a dataclass (the fields of a ``predict`` row)."""
        if not isinstance(customer, (str, Customer)):
            raise InvalidInput.one("customer", f"a customer id (str) or a Customer, not {type(customer).__name__}")
        return prediction_of(self._score(as_customers(customer))[0], 0)

    def explain(self, customers: CustomersLike) -> list[Explanation]:
        """A counterfactual per customer (needs the ``interventions`` part)."""
        return self._explain(as_customers(customers))

    def interventions(self, customers: CustomersLike, top_k: int = 3) -> pd.DataFrame:
        """The ``top_k`` retention offers per customer, best expected net value first (``rank`` 1)."""
        return self._offers(as_customers(customers), _top_k(top_k))

    def analyze_scenario(self, customers: CustomersLike, scenario: str) -> ScenarioAnalysis:
        """One scenario (offer) for these customers: cost, expected saved value, net value and its
        interval, per customer and in total."""
        chosen = as_customers(customers)
        offers = self._offers(chosen, MAX_TOP_K)
        known = list(dict.fromkeys(offers["offer"].tolist()))
        if scenario not in known:
            raise InvalidInput.one("scenario", f"unknown scenario {scenario!r}; this model's: {', '.join(known)}")
        return scenario_analysis(offers, scenario, [c.customer_id for c in chosen])

    def protected_predict(self, customers: CustomersLike) -> pd.DataFrame:
        """Score with the protection part's verdict (clean | suspicious | attack), attack class and action."""
        scored = self._score(as_customers(customers))
        _require("protection", scored)
        frame = _frame(scored)
        extra = [c for c in ("offer_eligible",) if c in frame.columns]
        return frame[[*PROTECTION_COLUMNS, *extra]].copy()

    def predict_new_customer(
        self,
        features: Mapping[str, FeatureValue],
        referral_ids: Sequence[str] = (),
        customer_id: str | None = None,
    ) -> NewCustomerPrediction:
        """Cold-start prediction for a customer not in the batch table, from their sign-up features and the
        existing customers who referred them (needs the ``coldstart`` part)."""
        cid = customer_id or f"new-{uuid.uuid4().hex[:12]}"
        customer = Customer(cid, {**features, COLD_START: 1}, tuple(referral_ids))
        scored = self._score(as_customers([customer]))
        _require("coldstart", scored)
        p = prediction_of(scored[0], 0)
        if p.batch_row:
            raise InvalidInput.one("customer_id", f"{cid!r} is an existing customer: use predict()")
        return NewCustomerPrediction(
            customer_id=cid,
            churn_probability=p.churn_probability,
            coldstart_probability=p.coldstart_probability,
            coldstart_source=p.coldstart_source,
            base_probability=p.base_probability,
            referral_ids=tuple(referral_ids),
            imputed_features=p.imputed_features,
            model_version=p.model_version,
        )

    def online_features(
        self,
        events: EventsLike,
        window_s: float | None = None,
        allowed_lateness_s: float | None = None,
        session_retention_s: float | None = None,
    ) -> FeatureReplay:
        """The streaming job's online features after replaying ``events`` in-process (no broker, no model).
        Settings default to services.yaml ``streaming:``."""
        return replay(events, feature_params(window_s, allowed_lateness_s, session_retention_s))


def _top_k(top_k: Any) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise InvalidInput.one("top_k", f"an integer from 1 to {MAX_TOP_K}, not {top_k!r}")
    return top_k


def _frame(scored: list[Scored]) -> pd.DataFrame:
    frames = [predictions_frame(s) for s in scored]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _require(part: str, scored: list[Scored]) -> None:
    """MissingPart unless every version that answered has ``part``."""
    for s in scored:
        if part not in s.parts:
            raise MissingPart(part, s.model_version, s.parts)
