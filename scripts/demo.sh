#!/usr/bin/env bash
# Set up (scripts/setup.sh) and open the quick-start notebook in JupyterLab: a tiny model answers a question
# about a picture and the widget shows, token by token, where it looked. Extra arguments go to `jupyter lab`
# (for example --no-browser --port 8890).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
exec jupyter lab notebooks/quickstart.ipynb --ServerApp.ip=127.0.0.1 "$@"
