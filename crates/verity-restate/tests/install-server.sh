#!/usr/bin/env bash
# Installs the Restate server the verity-restate tests run against, from npm, into a
# cache outside the clone (${XDG_CACHE_HOME:-$HOME/.cache}/verity/restate-npm).
# Idempotent: a server already there at the pinned version is kept. The tests run this
# script themselves when the server is missing; .ci/run runs it up front.
set -euo pipefail

RESTATE_VERSION=1.7.12

npm_dir="${XDG_CACHE_HOME:-$HOME/.cache}/verity/restate-npm"
mkdir -p "$npm_dir"

installed_version() {
  node -e "console.log(require('$npm_dir/node_modules/$1/package.json').version)" 2>/dev/null || true
}

if [ "$(installed_version @restatedev/restate-server)" != "$RESTATE_VERSION" ]; then
  [ -f "$npm_dir/package.json" ] || echo '{"private": true}' > "$npm_dir/package.json"
  npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error \
    "@restatedev/restate-server@$RESTATE_VERSION"
fi
"$npm_dir/node_modules/.bin/restate-server" --version
echo "Restate server ready in $npm_dir"
