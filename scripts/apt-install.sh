#!/usr/bin/env bash
# apt-install.sh PACKAGE...: install Debian packages if we are root and have apt-get; otherwise say why not.
# Exit status: 0 when installed, 1 when it could not be done (callers decide whether that matters).
set -uo pipefail

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-install: cannot install $* here (need root and apt-get)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# The lock timeout waits for another apt run instead of failing at once.
apt=(apt-get -o DPkg::Lock::Timeout=600 -y -q)
echo "apt-install: apt-get install -y $*"
"${apt[@]}" install "$@" && exit 0
# A fresh machine may have no package lists yet.
"${apt[@]}" update && "${apt[@]}" install "$@" && exit 0
echo "apt-install: could not install $*" >&2
exit 1
