#!/usr/bin/env bash
# Install what the browser tests need (tests/browser), when we can; called by scripts/deps-test.sh.
#
# Headless Chromium and its driver from Debian's packages (`chromium`, `chromium-driver`): Selenium drives
# /usr/bin/chromium through /usr/bin/chromedriver. Nothing is downloaded at run time (no browser builds of
# Playwright's or webdriver-manager's: these machines reach the package registries only).
#
# Quick when both are installed at the same version (dpkg -s, no apt run). Never fails the build: without a browser
# the browser tests skip with the reason locally, and fail under CI=true.
set -uo pipefail

PACKAGES=(chromium chromium-driver)

installed_version() {
    dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null | sed -n 's/^install ok installed //p'
}

browser=$(installed_version chromium)
driver=$(installed_version chromium-driver)
if [ -n "$browser" ] && [ "$browser" = "$driver" ] && [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
# The driver must match the browser, and a stale package list names versions the mirror no longer has: update first.
"$(dirname "$0")/apt-install.sh" --update "${PACKAGES[@]}" \
    || echo "deps-browser: ${PACKAGES[*]} missing; the browser tests will skip locally (and fail under CI=true)" >&2
exit 0
