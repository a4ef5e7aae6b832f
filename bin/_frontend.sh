#!/usr/bin/env bash
# The portal's npm packages and built assets, idempotently (called by bin/_setup.sh and the stack).
#   bin/_frontend.sh deps    npm ci when package-lock.json changed since the last install
#   bin/_frontend.sh build   deps, then a production build when frontend/dist is missing or stale
# A stamp of what each step last saw (the lock file's hash; the sources' hash) skips the work.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FRONTEND="$ROOT/frontend"
say() { printf '==> %s\n' "$*" >&2; }

deps() {
  local stamp="$FRONTEND/node_modules/.llmaas-lock-stamp" want
  want="$(sha256sum "$FRONTEND/package-lock.json" | cut -c1-64) $(node --version)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  say "installing the portal's npm packages (npm ci)"
  (cd "$FRONTEND" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$want" > "$stamp"
}

sources_hash() {  # every file the build reads: sources, config, lock file (not node_modules, not dist)
  (cd "$FRONTEND" && find . \( -path ./node_modules -o -path ./dist \) -prune -o -type f -print0 \
    | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)
}

build() {
  deps
  local stamp="$FRONTEND/dist/.llmaas-stamp" want
  want="$(sources_hash)"
  if [ -f "$FRONTEND/dist/index.html" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  say "building the portal (frontend/dist)"
  (cd "$FRONTEND" && node_modules/.bin/vite build --logLevel warn >&2)
  echo "$want" > "$stamp"
}

case "${1:-build}" in
  deps) deps ;;
  build) build ;;
  *) echo "usage: $0 deps|build" >&2; exit 2 ;;
esac
