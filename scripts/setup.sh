#!/usr/bin/env bash
# Prepares a fresh clone on a fresh machine for `npm test`: installs the exact npm
# dependencies from package-lock.json. Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "wsactor needs Node.js >= 20 (found $(node --version))" >&2
  exit 1
fi

npm ci --no-audit --no-fund
