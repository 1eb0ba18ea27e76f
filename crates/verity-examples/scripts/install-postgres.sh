#!/usr/bin/env bash
# PostgreSQL for the sql_gen example and its test (Debian's `postgresql` package: the
# server binaries land in /usr/lib/postgresql/<version>/bin). Does nothing when initdb
# is already there.
set -euo pipefail

if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-postgres: no apt-get; install PostgreSQL (initdb, pg_ctl) another way" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
# the package's own cluster is not needed: the tests start their own servers
$SUDO service postgresql stop >/dev/null 2>&1 || true
