#!/usr/bin/env bash
# Install what the widget's browser tests need on a fresh Debian machine, as root; safe to run again.
#   Debian's chromium (Playwright drives it by path: its own browser download does not work here),
#   the JS toolchain from package-lock.json and the bundle it builds,
#   and the Python packages of the `widget` and `e2e` extras in pyproject.toml.
# Steps whose inputs did not change since they last ran are skipped (scripts/stamps.sh), each with an "up to date"
# line: npm ci runs when package-lock.json changed, the build when a file under js/ (or package.json) is newer than
# the bundle, pip when pyproject.toml changed.
# Then: pytest -m e2e tests/e2e
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/stamps.sh

if [ ! -x /usr/bin/chromium ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "widget-setup: Node.js >= 20 is needed to build the widget (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

if stamp_current node_modules/.stamps/npm-ci package-lock.json; then
  echo "widget-setup: node_modules up to date (package-lock.json unchanged since npm ci)"
else
  npm ci --no-audit --no-fund
  stamp_write node_modules/.stamps/npm-ci package-lock.json
fi

# The build writes these in this order, so the first is the oldest.
bundle=(vl_saliency_widget/widget/static/widget.js vl_saliency_widget/widget/static/standalone.js
  vl_saliency_widget/widget/static/widget.css)
built=true
for file in "${bundle[@]}"; do
  [ -f "$file" ] || built=false
done
if $built && [ -z "$(find js package.json package-lock.json -newer "${bundle[0]}" -print -quit)" ]; then
  echo "widget-setup: widget bundle up to date (nothing under js/ is newer than it)"
else
  npm run build
fi

# The stamp lives in the environment pip installs into (setup.sh's .venv, or whichever Python runs this).
pip_stamp="$(python -c 'import sys; print(sys.prefix)')/.stamps/pip-e2e"
if stamp_current "$pip_stamp" pyproject.toml; then
  echo "widget-setup: e2e Python packages up to date (pyproject.toml unchanged since they were installed)"
else
  python -m pip install --quiet $(python - <<'PY'
import tomllib

with open("pyproject.toml", "rb") as f:
    extras = tomllib.load(f)["project"]["optional-dependencies"]
print(" ".join(extras["e2e"]))
PY
)
  stamp_write "$pip_stamp" pyproject.toml
fi
