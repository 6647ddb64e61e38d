#!/usr/bin/env bash
# Set up everything the project needs on a fresh Debian machine with Python 3.11 and Node 20:
# a virtual environment in .venv with the package (editable) and its test extras, the widget's npm packages
# and bundle, and Debian's Chromium for the browser tests. A second run only checks: each step runs again only when
# its inputs changed (scripts/stamps.sh): pip when pyproject.toml or the torch pin did, npm ci when
# package-lock.json did, the bundle build when a file under js/ is newer than the bundle. Each skipped step prints
# one "up to date" line.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/stamps.sh

# torch 2.13.0 is the CPU build this machine keeps on disk; a bare `torch` would pull a multi-GB CUDA build.
TORCH="torch==2.13.0"
EXTRAS=".[test,e2e]"

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# Node takes the nearest package.json above a script for its module type, and the repository's says "module": the
# CommonJS yarn.js that JupyterLab runs at every start (jupyter_builder, for `yarn config`) then failed with
# "Dynamic require of "util" is not supported" and printed its 10 KB of minified source. This file puts .venv back
# under Node's default.
if [ ! -f .venv/package.json ]; then
    echo '{"type": "commonjs"}' >.venv/package.json
fi
. .venv/bin/activate

if stamp_current .venv/.stamps/pip pyproject.toml "$TORCH" "$EXTRAS"; then
    echo "setup: Python packages up to date (pyproject.toml unchanged since they were installed)"
else
    python -m pip install --quiet --upgrade pip
    python -m pip install --quiet "$TORCH"
    python -m pip install --quiet -e "$EXTRAS"
    stamp_write .venv/.stamps/pip pyproject.toml "$TORCH" "$EXTRAS"
fi
if [ -f scripts/widget-setup.sh ]; then
    bash scripts/widget-setup.sh
fi
