#!/usr/bin/env bash
# Installs the real WebSocket peers the interop specs talk to (issue 5,
# "Real peers nobody here wrote"): Debian's python3-websockets and chromium.
# Idempotent and non-interactive; run as root. Only Debian's apt is used: no
# downloaded browsers, no pip.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" -ne 0 ]; then
  echo "install-peers: must run as root (apt-get install)" >&2
  exit 1
fi

have_python_websockets() {
  # Debian's package installs into /usr/lib/python3/dist-packages, which only
  # the system interpreter sees (a pyenv/venv python3 on PATH does not).
  /usr/bin/python3 -c 'import websockets' >/dev/null 2>&1
}

have_chromium() {
  [ -x /usr/bin/chromium ]
}

if have_python_websockets && have_chromium; then
  echo "install-peers: python3-websockets and chromium already installed"
else
  apt-get update -q
  apt-get install -y -q --no-install-recommends python3 python3-websockets chromium
fi

echo "install-peers: python-websockets $(/usr/bin/python3 -c 'import websockets; print(websockets.__version__)')"
echo "install-peers: $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium: version unknown')"
