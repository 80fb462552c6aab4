#!/usr/bin/env bash
# MLflow tracking + registry server behind MLflow's basic-auth app (every request needs a user).
# Environment (all required, from secrets; nothing has a default):
#   MLFLOW_BACKEND_STORE_URI        e.g. postgresql://user:pass@postgres:5432/mlflow
#   MLFLOW_AUTH_ADMIN_USERNAME, MLFLOW_AUTH_ADMIN_PASSWORD   admin created on the first start
#   MLFLOW_FLASK_SERVER_SECRET_KEY  signs the auth app's sessions
# Optional: MLFLOW_AUTH_CONFIG_PATH (default: basic_auth.ini beside this script),
#   MLFLOW_AUTH_DB_URI (overrides the ini's database_uri, e.g. sqlite:////data/auth.db),
#   MLFLOW_ARTIFACTS_DESTINATION (/mlartifacts), MLFLOW_HOST (0.0.0.0), MLFLOW_PORT (5000), MLFLOW_BIN (mlflow).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for var in MLFLOW_BACKEND_STORE_URI MLFLOW_AUTH_ADMIN_USERNAME MLFLOW_AUTH_ADMIN_PASSWORD MLFLOW_FLASK_SERVER_SECRET_KEY; do
  [ -n "${!var:-}" ] || { echo "auth-server.sh: $var is not set" >&2; exit 2; }
done
config=${MLFLOW_AUTH_CONFIG_PATH:-$here/basic_auth.ini}
if [ -n "${MLFLOW_AUTH_DB_URI:-}" ]; then
  # configparser has no environment interpolation: write a private copy with the database URI.
  copy=$(mktemp -d)/basic_auth.ini
  sed "s|^database_uri = .*|database_uri = ${MLFLOW_AUTH_DB_URI}|" "$config" >"$copy"
  config=$copy
fi
export MLFLOW_AUTH_CONFIG_PATH=$config
artifacts=${MLFLOW_ARTIFACTS_DESTINATION:-/mlartifacts}
mkdir -p "$artifacts" 2>/dev/null || true
exec "${MLFLOW_BIN:-mlflow}" server --app-name basic-auth \
  --backend-store-uri "$MLFLOW_BACKEND_STORE_URI" --artifacts-destination "$artifacts" --serve-artifacts \
  --host "${MLFLOW_HOST:-0.0.0.0}" --port "${MLFLOW_PORT:-5000}" --workers "${MLFLOW_WORKERS:-1}"
