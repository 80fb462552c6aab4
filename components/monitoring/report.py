"""Self-contained HTML report of one monitoring cycle (plots embedded as PNG data URIs)."""

from __future__ import annotations

import base64
import html
import io

import numpy as np

from churnguard.monitoring.decision import MonitorResult


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _plots(result: MonitorResult, ref_scores: np.ndarray, cur_scores: np.ndarray, min_psi: float) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    feats = sorted(result.features, key=lambda f: f.psi)
    fig, ax = plt.subplots(figsize=(7, max(3, 0.22 * len(feats))))
    ax.barh(
        [f.feature for f in feats], [f.psi for f in feats], color=["#c0392b" if f.alarmed else "#7f8c8d" for f in feats]
    )
    ax.axvline(min_psi, ls="--", color="black")
    ax.set_xlabel("PSI vs reference (red: alarmed, BH-adjusted p < alpha and PSI >= threshold)")
    out.append(_png(fig))
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 3))
    bins = np.linspace(0, 1, 41).tolist()
    ax.hist(ref_scores, bins=bins, density=True, alpha=0.5, label="reference (champion's training rows)")
    ax.hist(cur_scores, bins=bins, density=True, alpha=0.5, label="current snapshot")
    ax.set_xlabel("churn probability")
    ax.legend()
    out.append(_png(fig))
    plt.close(fig)
    if result.early_outcomes:
        seg = result.early_outcomes
        fig, ax = plt.subplots(figsize=(7, max(3, 0.22 * len(seg))))
        ax.barh(
            [s.segment for s in seg], [s.ratio for s in seg], color=["#c0392b" if s.alarmed else "#7f8c8d" for s in seg]
        )
        ax.axvline(1.0, color="black")
        ax.set_xlabel("observed / expected first-month churners (previous cohort)")
        out.append(_png(fig))
        plt.close(fig)
    return out


def render(result: MonitorResult, ref_scores: np.ndarray, cur_scores: np.ndarray, min_psi: float, title: str) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(f.feature)}</td><td>{f.kind}</td><td>{f.psi:.3f}</td>"
        f"<td>{f.p_adjusted:.2g}</td><td>{'ALARM' if f.alarmed else ''}</td></tr>"
        for f in sorted(result.features, key=lambda f: -f.psi)
    )
    gauges = "".join(f"<tr><td>{k}</td><td>{v:.4f}</td></tr>" for k, v in result.gauges().items())
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in result.reasons) or "<li>no alarm</li>"
    images = "".join(f'<p><img alt="plot" src="{src}"></p>' for src in _plots(result, ref_scores, cur_scores, min_psi))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{padding:2px 8px}"
        "table{border-collapse:collapse}tr:nth-child(even){background:#f3f3f3}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><h2>Decision: {'RETRAIN' if result.retrain else 'hold'}</h2>"
        f"<ul>{reasons}</ul><h2>Gauges</h2><table>{gauges}</table><h2>Plots</h2>{images}"
        "<h2>Features</h2><table><tr><th>feature</th><th>kind</th><th>PSI</th><th>p (BH)</th><th></th></tr>"
        f"{rows}</table></body></html>"
    )
