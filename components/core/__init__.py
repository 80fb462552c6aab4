"""Foundations every area uses: paths and params, the column batch, the bundle-part protocol, metrics, progress, telemetry, the online-store contract."""
