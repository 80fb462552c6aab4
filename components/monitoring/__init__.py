"""Monitoring of a deployed churn model: data and prediction drift (with multiple-testing control),
realised performance on cohorts whose labels matured, performance estimated before labels (CBPE),
an early-outcome calibration test, and the retrain decision. Pure functions on frames; the I/O is in
components/cli/monitor.py. docs/monitoring.md."""
