#!/usr/bin/env bash
# The whole check: lint, format, types, import contracts, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
./scripts/npm_ci.sh   # the test OpenID providers (panva oidc-provider, from package-lock.json)
./scripts/bootstrap_test.sh   # dovecot (IMAP) for the mail channel's polling tests
V=.venv/bin
echo "== ruff";          $V/ruff check .
echo "== ruff format";   $V/ruff format --check .
echo "== mypy (strict)"; $V/mypy
echo "== import-linter"; $V/lint-imports
echo "== pytest"
if [ -n "${GUICHET_TEST_DATABASE_URL:-}" ]; then
  echo "   on $GUICHET_TEST_DATABASE_URL and ${GUICHET_TEST_REDIS_URL:-embedded Redis}"
else
  echo "   on SQLite and an embedded Redis"
fi
exec $V/pytest -n "${GUICHET_TEST_WORKERS:-2}" "$@"
