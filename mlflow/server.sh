#!/usr/bin/env bash
# MLflow tracking + registry server for churnguard.
#   mlflow/server.sh                      # embedded default: sqlite mlflow/mlflow.db, artifacts in mlflow/artifacts
#   MLFLOW_BACKEND_STORE_URI=postgresql://user@host/mlflow mlflow/server.sh
# Environment: MLFLOW_BACKEND_STORE_URI, MLFLOW_ARTIFACTS_DESTINATION (proxied artifacts),
# MLFLOW_HOST (default 127.0.0.1: loopback only), MLFLOW_PORT (5000), MLFLOW_WORKERS (1).
# Clients then use MLFLOW_TRACKING_URI=http://HOST:PORT. Runs in the foreground: stop it by its PID.
# The MLflow server does not follow aliases for serving; `churnguard serve` does (docs/serving.md).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
mlflow_bin=${MLFLOW_BIN:-}
if [ -z "$mlflow_bin" ]; then
  if [ -x "$root/.venv/bin/mlflow" ]; then mlflow_bin="$root/.venv/bin/mlflow"; else mlflow_bin=mlflow; fi
fi
backend=${MLFLOW_BACKEND_STORE_URI:-sqlite:///$here/mlflow.db}
artifacts=${MLFLOW_ARTIFACTS_DESTINATION:-$here/artifacts}
host=${MLFLOW_HOST:-127.0.0.1}
port=${MLFLOW_PORT:-5000}
workers=${MLFLOW_WORKERS:-1}
mkdir -p "$artifacts" 2>/dev/null || true
exec "$mlflow_bin" server --backend-store-uri "$backend" --artifacts-destination "$artifacts" \
  --serve-artifacts --host "$host" --port "$port" --workers "$workers"
