#!/usr/bin/env bash
# apt-install.sh [--update] PACKAGE...: install Debian packages if we are root and have apt-get; otherwise say why not.
# --update reads the package lists first (packages whose versions must match, e.g. chromium and its driver).
# Exit status: 0 when installed, 1 when it could not be done (callers decide whether that matters).
set -uo pipefail

update_first=false
if [ "${1:-}" = "--update" ]; then
    update_first=true
    shift
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-install: cannot install $* here (need root and apt-get)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# The lock timeout waits for another apt run instead of failing at once.
apt=(apt-get -o DPkg::Lock::Timeout=600 -y -q)
if $update_first; then
    echo "apt-install: apt-get update"
    "${apt[@]}" update || echo "apt-install: apt-get update failed; trying the lists we have" >&2
fi
echo "apt-install: apt-get install -y $*"
"${apt[@]}" install "$@" && exit 0
# A fresh machine may have no package lists yet.
"${apt[@]}" update && "${apt[@]}" install "$@" && exit 0
echo "apt-install: could not install $*" >&2
exit 1
