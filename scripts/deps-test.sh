#!/usr/bin/env bash
# Install what the database tests need, when we can; called by `make deps-test` (and so by `make test`).
#
# - MariaDB server binaries (`apt-get install -y mariadb-server`) when absent, if we are root and have apt-get.
# - PostgreSQL server binaries (`apt-get install -y postgresql`) likewise.
# - PgBouncer (`apt-get install -y pgbouncer`, ~1 MB) for the transaction-pooling lock tests (tests/test_locking_pgbouncer.py).
# - The unprivileged system user `smsetl-test` that PostgreSQL runs as when the tests run as root
#   (initdb and postgres refuse root). tests/harness creates it too if this script was skipped.
# - Headless Chromium and its driver for the browser tests (scripts/deps-browser.sh).
#
# Never fails the build for want of these: without a server the tests skip with the reason locally, and fail under
# CI=true, so a missing server is reported where it matters, by the tests themselves.
set -uo pipefail

TEST_USER=smsetl-test
SBIN_PATH="$PATH:/usr/sbin:/usr/local/sbin:/sbin"

have() { PATH="$SBIN_PATH" command -v "$1" >/dev/null 2>&1; }
is_root() { [ "$(id -u)" -eq 0 ]; }

apt_install() {
    "$(dirname "$0")/apt-install.sh" "$@" \
        || echo "deps-test: $* missing; those tests will skip locally (and fail under CI=true)" >&2
}

if ! have mariadbd && ! have mysqld; then
    apt_install mariadb-server
fi

if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && ! have initdb; then
    apt_install postgresql
fi

if ! have pgbouncer; then
    apt_install pgbouncer
fi

if is_root && ! id -u "$TEST_USER" >/dev/null 2>&1; then
    PATH="$SBIN_PATH" useradd --system --no-create-home --shell /usr/sbin/nologin "$TEST_USER" \
        || echo "deps-test: could not create user $TEST_USER" >&2
fi

"$(dirname "$0")/deps-browser.sh"
exit 0
