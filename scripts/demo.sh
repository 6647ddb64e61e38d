#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the demo: JupyterLab on 127.0.0.1 with the quick-start notebook, in which the
# shipped toy model answers a question about a picture and the widget shows, token by token, where it looked.
# Setup skips every step whose inputs did not change, so a second run goes straight to JupyterLab.
#
# Usage: bash scripts/demo.sh [--port N] [--notebook PATH] [-- JUPYTER_OPTION...]
#        bash scripts/demo.sh --html PATH     (write the widget of one toy sample as one offline HTML page instead)
# Arguments go to `vl-saliency-widget demo` (all of them: `vl-saliency-widget demo --help`); JupyterLab options
# after `--`, e.g. `bash scripts/demo.sh --port 8890 -- --no-browser --ServerApp.token=secret`. The server listens
# on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
for arg in "$@"; do
  [ "$arg" = "--" ] && break
  if [ "$arg" = "--help" ] || [ "$arg" = "-h" ]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
    exit 0
  fi
done
bash scripts/setup.sh
. .venv/bin/activate
exec vl-saliency-widget demo "$@"
