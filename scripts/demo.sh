#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the demo: JupyterLab on 127.0.0.1 with the quick-start notebook, in which the
# shipped toy model answers a question about a picture and the widget shows, token by token, where it looked.
# Arguments go to `vl-saliency-widget demo` (for example --html PATH writes the standalone page instead).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
exec vl-saliency-widget demo "$@"
