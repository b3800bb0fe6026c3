#!/usr/bin/env bash
# Install the Node packages of the test OpenID providers (tests/oidc/provider.mjs) from
# package-lock.json. Runs `npm ci` only when node_modules is missing or older than the lockfile,
# so it is cheap to call before every test run.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "npm_ci: node and npm are required (Node.js >= 20) for the test OpenID providers" >&2
  if command -v apt-get >/dev/null 2>&1; then
    echo "npm_ci: installing Debian's nodejs and npm" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
  else
    exit 1
  fi
fi

major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "npm_ci: Node.js $(node --version) is too old: oidc-provider 9 needs Node.js >= 20" >&2
  exit 1
fi

# npm ci writes node_modules/.package-lock.json: it is our "installed from this lock" marker.
marker=node_modules/.package-lock.json
if [ ! -f "$marker" ] || [ package-lock.json -nt "$marker" ] || [ package.json -nt "$marker" ]; then
  echo "npm_ci: installing the test OpenID provider (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
