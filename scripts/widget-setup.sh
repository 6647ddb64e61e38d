#!/usr/bin/env bash
# Install what the widget's browser tests need on a fresh Debian machine, as root; safe to run again.
#   Debian's chromium (Playwright drives it by path: its own browser download does not work here),
#   the JS toolchain from package-lock.json and the bundle it builds,
#   and the Python packages of the `widget` and `e2e` extras in pyproject.toml.
# Then: pytest -m e2e tests/e2e
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "widget-setup: Node.js >= 20 is needed to build the widget (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
npm ci --no-audit --no-fund
npm run build

python -m pip install --quiet $(python - <<'PY'
import tomllib

with open("pyproject.toml", "rb") as f:
    extras = tomllib.load(f)["project"]["optional-dependencies"]
print(" ".join(extras["e2e"]))
PY
)
