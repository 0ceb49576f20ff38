#!/usr/bin/env bash
# Prepares a fresh clone on a fresh Debian machine for `npm test`:
#   1. the Debian packages the tests drive, installed only when missing (so a prepared
#      machine runs no apt-get at all): for test/interop the python3 `websockets` and
#      `wsproto` client libraries and a headless-capable Chromium; for the Redis cluster
#      adapter tests `redis-server` (the tests start their own servers on free ports, so no
#      system-wide Redis service is started); `openssl` for the TLS tests' throwaway
#      certificates;
#   2. the exact npm dependencies from package-lock.json (`npm ci`).
# Idempotent; safe to run again. Works as root without a TTY (CI runs it with no stdin);
# as another user it uses `sudo -n` for apt-get when that works.
set -euo pipefail
cd "$(dirname "$0")/.."

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "wsactor needs Node.js >= 20 (found $(node --version))" >&2
  exit 1
fi

# --- Debian packages ------------------------------------------------------------------
debian_packages=(python3-websockets python3-wsproto chromium redis-server openssl)

is_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

missing=()
for pkg in "${debian_packages[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: missing ${missing[*]} and no apt-get here; install them by hand (the interop tests need them)" >&2
    exit 1
  fi
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      as_root=(sudo -n)
    else
      echo "setup: missing ${missing[*]}; run this script as root (or with passwordless sudo)" >&2
      exit 1
    fi
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  # redis-server's postinst starts a system-wide service; the tests never use it. The
  # standard Debian switch for that is a policy-rc.d that forbids starts (exit 101), kept
  # only for this install and only when the machine has none of its own.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | ${as_root[@]+"${as_root[@]}"} tee "$policy" >/dev/null
    ${as_root[@]+"${as_root[@]}"} chmod 755 "$policy"
    trap '${as_root[@]+"${as_root[@]}"} rm -f "$policy"' EXIT
  fi
  apt_opts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  export DEBIAN_FRONTEND=noninteractive
  ${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update -qq </dev/null
  ${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive \
    apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${missing[@]}" </dev/null
  for pkg in "${missing[@]}"; do
    if ! is_installed "$pkg"; then
      echo "setup: $pkg is still not installed after apt-get install" >&2
      exit 1
    fi
  done
else
  echo "setup: Debian packages present: ${debian_packages[*]}"
fi

# The interop tests run Debian's own interpreter (not a pyenv/venv python3 on PATH).
if ! /usr/bin/python3 -c 'import websockets, wsproto' 2>/dev/null; then
  echo "setup: /usr/bin/python3 cannot import websockets and wsproto after installing python3-websockets python3-wsproto" >&2
  exit 1
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "setup: /usr/bin/chromium is missing after installing the chromium package" >&2
  exit 1
fi
if ! command -v openssl >/dev/null 2>&1; then
  echo "setup: openssl is missing after installing the openssl package" >&2
  exit 1
fi
if [ ! -x /usr/bin/redis-server ]; then
  echo "setup: /usr/bin/redis-server is missing after installing the redis-server package" >&2
  exit 1
fi

# --- npm --------------------------------------------------------------------------------
# playwright-core drives the Debian Chromium above; it must never fetch a browser build.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
npm ci --no-audit --no-fund </dev/null
