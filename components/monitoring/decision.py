"""One nightly monitoring result, the retrain decision, and the Prometheus gauges.

Thresholds come from params ``monitor`` (docs/monitoring.md): the drift alarm needs at least
``drift.min_features_alarmed`` alarmed features or an alarmed prediction drift; the performance
alarm is an alarmed early-outcome segment, a realised ROC AUC below the reference by more than
``max_auc_drop``, or an estimated one below it by as much. ``retrain_on`` says which alarms trigger a
retrain (the challenger is never made champion here: promotion decides, components/mlops/promotion.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from churnguard.monitoring.config import MonitorConfig
from churnguard.monitoring.drift import FeatureDrift
from churnguard.monitoring.performance import SegmentOutcome

GAUGES = {
    "churnguard_drift_features_alarmed": "features whose drift is alarmed (BH-adjusted p < alpha and PSI >= min_psi)",
    "churnguard_drift_alarm": "1 when the data/prediction drift alarm is on",
    "churnguard_performance_alarm": "1 when the early-outcome or AUC alarm is on",
    "churnguard_retrain_recommended": "1 when monitoring asks for a retrain",
    "churnguard_estimated_roc_auc": "ROC AUC expected before labels, current cohort (params monitor.estimator)",
    "churnguard_cbpe_roc_auc": "ROC AUC expected from the scores alone (CBPE, uncorrected), current cohort",
    "churnguard_realised_roc_auc": "ROC AUC on the newest cohort whose labels matured (NaN: none yet)",
    "churnguard_reference_roc_auc": "ROC AUC the champion showed on its own holdout",
    "churnguard_early_outcome_ratio": "observed / expected first-month churners of the previous cohort",
}


@dataclass
class MonitorResult:
    month: int | None
    features: list[FeatureDrift]
    prediction: FeatureDrift
    estimated_auc: float
    reference_auc: float | None
    realised_auc: float | None = None
    realised_estimate: float | None = None  # CBPE on the matured cohort, for the error
    # the estimate corrected on the matured cohort: + (realised - CBPE) there / isotonic recalibration
    estimated_auc_offset: float | None = None
    estimated_auc_recalibrated: float | None = None
    estimator: str = "offset"  # which of the three is the headline (params monitor.estimator)
    early_outcomes: list[SegmentOutcome] = field(default_factory=list)
    drift_alarm: bool = False
    performance_alarm: bool = False
    retrain: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def estimate(self) -> float:
        """The headline pre-label estimate: ``estimator``'s value, CBPE where it has none yet."""
        corrected = {"offset": self.estimated_auc_offset, "recalibrated": self.estimated_auc_recalibrated}
        value = corrected.get(self.estimator)
        return self.estimated_auc if value is None else value

    @property
    def features_alarmed(self) -> list[str]:
        return [f.feature for f in self.features if f.alarmed]

    def gauges(self) -> dict[str, float]:
        overall = next((s for s in self.early_outcomes if s.segment == "all"), None)
        nan = float("nan")
        return {
            "churnguard_drift_features_alarmed": float(len(self.features_alarmed)),
            "churnguard_drift_alarm": float(self.drift_alarm),
            "churnguard_performance_alarm": float(self.performance_alarm),
            "churnguard_retrain_recommended": float(self.retrain),
            "churnguard_estimated_roc_auc": self.estimate,
            "churnguard_cbpe_roc_auc": self.estimated_auc,
            "churnguard_realised_roc_auc": nan if self.realised_auc is None else self.realised_auc,
            "churnguard_reference_roc_auc": nan if self.reference_auc is None else self.reference_auc,
            "churnguard_early_outcome_ratio": nan if overall is None else overall.ratio,
        }


def decide(result: MonitorResult, cfg: MonitorConfig) -> MonitorResult:
    """Set the alarms, the retrain flag and the reasons from params ``monitor``."""
    reasons = []
    alarmed = result.features_alarmed
    if len(alarmed) >= cfg.drift.min_features_alarmed:
        reasons.append(f"data drift: {len(alarmed)} features alarmed ({', '.join(alarmed[:8])})")
    if result.prediction.alarmed:
        reasons.append(f"prediction drift: PSI {result.prediction.psi:.3f}")
    result.drift_alarm = bool(reasons)
    perf = [
        f"early outcomes {s.segment}: {s.observed} churners vs {s.expected:.0f} expected"
        for s in result.early_outcomes
        if s.alarmed
    ]
    drop = cfg.max_auc_drop
    if result.reference_auc is not None:
        if result.realised_auc is not None and result.realised_auc < result.reference_auc - drop:
            perf.append(f"realised ROC AUC {result.realised_auc:.4f} < reference {result.reference_auc:.4f} - {drop}")
        if result.estimate < result.reference_auc - drop:
            perf.append(f"estimated ROC AUC {result.estimate:.4f} < reference {result.reference_auc:.4f} - {drop}")
    result.performance_alarm = bool(perf)
    reasons += perf
    triggers = set(cfg.retrain_on)
    result.retrain = ("drift" in triggers and result.drift_alarm) or (
        "performance" in triggers and result.performance_alarm
    )
    result.reasons = reasons
    return result


def registry(result: MonitorResult | None = None, labels: dict[str, str] | None = None) -> CollectorRegistry:
    """The gauges as a prometheus_client registry (every name of :data:`GAUGES`, labelled ``labels``);
    without a result, the names alone (what alert rules and dashboards may refer to)."""
    reg = CollectorRegistry()
    names = sorted(labels or {})
    values = result.gauges() if result is not None else {}
    for name, doc in GAUGES.items():
        gauge = Gauge(name, doc, names, registry=reg)
        if name in values:
            (gauge.labels(**(labels or {})) if names else gauge).set(values[name])
    return reg


def prometheus_text(result: MonitorResult, labels: dict[str, str] | None = None) -> str:
    """The gauges in Prometheus text exposition format (node-exporter textfile collector, Pushgateway)."""
    return generate_latest(registry(result, labels)).decode()
