#!/usr/bin/env bash
# Set up everything the project needs on a fresh Debian machine with Python 3.11 and Node 20:
# a virtual environment in .venv with the package (editable) and its test extras, the widget's npm packages
# and bundle, and Debian's Chromium for the browser tests. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# torch 2.13.0 is the CPU build this machine keeps on disk; a bare `torch` would pull a multi-GB CUDA build.
python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet -e ".[test,e2e]"
if [ -f scripts/widget-setup.sh ]; then
    bash scripts/widget-setup.sh
fi
