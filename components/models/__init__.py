"""Tabular churn models."""
