#!/usr/bin/env bash
# Create (or refresh) a virtual environment from a lock file.
#   scripts/install-venv.sh VENV_DIR LOCK_FILE [--editable]
# The torch constraint keeps pip on the CPU build (a bare torch pin also matches CUDA builds).
set -euo pipefail
venv=$1 lock=$2 editable=${3:-}
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
quiet() { "$@" 2>&1 | { grep -v -e '^WARNING: Location' -e 'is ignored: it is neither' || true; }; return "${PIPESTATUS[0]}"; }
quiet "$venv/bin/pip" install -q -U "pip<27"
quiet "$venv/bin/pip" install -q -r "$lock" -c "$here/requirements/constraints.txt"
if [ "$editable" = "--editable" ]; then
  quiet "$venv/bin/pip" install -q --no-deps --no-build-isolation -e "$here"
fi
echo "environment ready: $venv ($(basename "$lock"))"
