#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run every check: lint, format, types, the JS checks and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate

ruff check .
ruff format --check .
mypy vl_saliency_widget
if [ -f package.json ]; then
    npm run --silent check
fi
python -m pytest "$@"
