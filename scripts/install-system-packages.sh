#!/usr/bin/env bash
# Debian packages the tests and tools need (CI and fresh machines have nothing installed by hand).
# Idempotent and quiet: a package is installed only when its binary is missing; apt-get update
# runs first, once, and only when something is missing. Needs root (or sudo) for apt-get.
set -euo pipefail

# "package:binary that proves it is installed", one per entry. Add a package with one edit here.
PACKAGES="chromium:/usr/bin/chromium prometheus:/usr/bin/promtool docker-compose:/usr/bin/docker-compose"

missing=()
for entry in $PACKAGES; do
    pkg=${entry%%:*}
    bin=${entry#*:}
    [ -x "$bin" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-system-packages: need root or sudo for: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
echo "install-system-packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# another apt-get may hold the dpkg lock (CI images, a neighbour): wait for it instead of failing
$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
$sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
