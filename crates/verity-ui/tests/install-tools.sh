#!/usr/bin/env bash
# Installs what the verity-ui tests drive, into a cache outside the clone
# (${XDG_CACHE_HOME:-$HOME/.cache}/verity/ui-npm): the `ai` package (the AI SDK's UI
# message stream parser), `@ag-ui/core` (AG-UI's event schemas) and `playwright-core`
# from npm, and Debian's `chromium` when
# /usr/bin/chromium is missing. Idempotent: what is already there at the pinned version
# is kept. The tests run this script themselves when something is missing; .ci/run runs
# it up front.
set -euo pipefail

AI_VERSION=6.0.325
PLAYWRIGHT_VERSION=1.65.1
AG_UI_VERSION=1.0.0

cache="${XDG_CACHE_HOME:-$HOME/.cache}/verity"
npm_dir="$cache/ui-npm"
mkdir -p "$npm_dir"

installed_version() {
  node -e "console.log(require('$npm_dir/node_modules/$1/package.json').version)" 2>/dev/null || true
}

if [ "$(installed_version ai)" != "$AI_VERSION" ] ||
   [ "$(installed_version playwright-core)" != "$PLAYWRIGHT_VERSION" ] ||
   [ "$(installed_version @ag-ui/core)" != "$AG_UI_VERSION" ]; then
  [ -f "$npm_dir/package.json" ] || echo '{"private": true}' > "$npm_dir/package.json"
  npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error \
    "ai@$AI_VERSION" "playwright-core@$PLAYWRIGHT_VERSION" "@ag-ui/core@$AG_UI_VERSION"
fi

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null
  fi
fi
echo "verity-ui test tools ready in $npm_dir"
