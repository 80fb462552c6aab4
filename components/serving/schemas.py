"""Request and response models: they are the OpenAPI spec (``/openapi.json``, ``/docs``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

CustomerId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
FeatureName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
FeatureValue = Union[  # noqa: UP007  (pydantic reads this alias at run time)
    Annotated[float, Field(allow_inf_nan=False)], Annotated[str, StringConstraints(max_length=128)], None
]
MAX_BATCH = 1000


class CustomerIn(BaseModel):
    """One customer to score. Features not sent come from the online store, then batch features."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"customer_id": "C0000001", "features": {"support_tickets_90d": 3, "contract": "month_to_month"}}
            ]
        },
    )

    customer_id: CustomerId = Field(description="customer id (looked up in batch and online features)")
    features: dict[FeatureName, FeatureValue] = Field(
        default_factory=dict,
        max_length=200,
        description="feature overrides: names must be model features (422 names an unknown one); "
        "numeric features take numbers, categorical ones strings. Request fields win.",
    )
    referral_ids: list[CustomerId] | None = Field(
        None, max_length=100, description="existing customers who referred this one (cold-start part)"
    )


class PredictRequest(BaseModel):
    """One customer or a batch: a single customer is a batch of one."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"customers": [{"customer_id": "C0000001"}]}]}
    )

    customers: list[CustomerIn] = Field(min_length=1, max_length=MAX_BATCH)


class InterventionsRequest(PredictRequest):
    top_k: int = Field(3, ge=1, le=20, description="offers per customer, best first")


class FeatureSources(BaseModel):
    batch: bool = Field(description="the customer has a row in the batch feature table")
    online_fields: int = Field(description="fields taken from the online store (Redis)")
    request_fields: int = Field(description="fields taken from the request")


class Prediction(BaseModel):
    customer_id: str
    arm: Literal["champion", "challenger"] = Field(
        "champion", description="which arm answered (serving.challenger.mode ab: a sticky share of customers)"
    )
    model_version: str | None = Field(None, description="the version that answered this customer")
    churn_probability: float = Field(description="the ensemble's final probability (after every part)")
    base_probability: float | None = None
    coldstart_probability: float | None = None
    coldstart_source: str | None = None
    protection_verdict: Literal["clean", "suspicious", "attack"] | None = None
    anomaly_score: float | None = None
    attack_type: str | None = None
    recommended_action: str | None = None
    hardened_probability: float | None = None
    realtime_probability: float | None = Field(None, description="streaming job's last score (online store)")
    other: dict[str, Any] = Field(default_factory=dict, description="columns of parts not listed above")
    sources: FeatureSources
    imputed_features: list[str] = Field(
        default_factory=list,
        description=(
            "model features with no batch, online or request value: the model imputed them (training median or "
            "its missing-value branch), so the score rests on a default there"
        ),
    )
    out_of_bounds: list[str] = Field(
        default_factory=list,
        description=(
            "request features outside the training range (only when serving.validation.out_of_bounds is 'flag'; "
            "otherwise such a request is a 422)"
        ),
    )


def _unevaluated() -> Any:
    return Field(
        default_factory=list,
        description=(
            "parts of this version never evaluated on held-out data (e.g. coldstart with 0 cold-start holdout "
            "customers): their output is unvalidated"
        ),
    )


class PredictResponse(BaseModel):
    model_version: str
    parts: list[str]
    degraded: bool = Field(description="true when online features were skipped (Redis down/slow)")
    unevaluated_parts: list[str] = _unevaluated()
    predictions: list[Prediction]


def _imputed_by_customer() -> Any:
    return Field(default_factory=dict, description="customer id -> model features the model imputed")


class ExplainResponse(BaseModel):
    model_version: str
    degraded: bool
    unevaluated_parts: list[str] = _unevaluated()
    imputed_features: dict[str, list[str]] = _imputed_by_customer()
    explanations: list[dict[str, Any]] = Field(description="counterfactual per customer (part 'interventions')")


class Offer(BaseModel):
    model_config = ConfigDict(extra="allow")
    offer: str
    rank: int
    p_before: float | None = None
    p_after: float | None = None
    uplift: float | None = None
    uplift_low: float | None = None
    uplift_high: float | None = None
    expected_saved_value: float | None = None
    cost: float | None = None
    net_value: float | None = None
    benefit_cost_ratio: float | None = None


class CustomerOffers(BaseModel):
    customer_id: str
    offers: list[Offer]


class InterventionsResponse(BaseModel):
    model_version: str
    degraded: bool
    unevaluated_parts: list[str] = _unevaluated()
    imputed_features: dict[str, list[str]] = _imputed_by_customer()
    customers: list[CustomerOffers]


class MissingPart(BaseModel):
    detail: str
    missing_part: str
    model_version: str
    parts: list[str]


class ErrorDetail(BaseModel):
    detail: Any


class ModelInfo(BaseModel):
    name: str
    alias: str
    version: str | None
    uri: str | None
    parts: list[str]
    loaded_at: float | None
    swaps: int
    unevaluated_parts: list[str] = _unevaluated()
    refused_version: str | None = Field(
        None,
        description="version the alias points at but refused by the artifact digest check (the previous one serves)",
    )
    refused_reason: str | None = None


class ChallengerInfo(BaseModel):
    mode: Literal["none", "shadow", "ab"] = Field(description="serving.challenger.mode")
    alias: str
    version: str | None = Field(None, description="the challenger version being compared (None: no alias)")
    share: float | None = Field(None, description="ab: share of customers answered by the challenger")
    state: str | None = Field(None, description="shadow process: starting | ready | no_challenger | failed | stopped")
    scored_rows: int | None = Field(None, description="shadow: customers scored by the challenger so far")
    dropped: int | None = Field(None, description="shadow: customers not shadow-scored (queue full)")
    last_error: str | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded", "loading"]
    model: ModelInfo
    challenger: ChallengerInfo | None = None
    dependencies: dict[str, str] = Field(description="registry, redis, batch_features: up | degraded | down | disabled")
    last_error: str | None = None
