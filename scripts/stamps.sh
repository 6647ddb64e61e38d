# Sourced by scripts/setup.sh and scripts/widget-setup.sh: skip a setup step whose inputs have not changed since it
# last succeeded. A step's stamp is a file holding the SHA-256 of its inputs (files and strings); it is written only
# after the step succeeds, and lives inside what the step made (.venv/, node_modules/), so deleting that redoes it.

# The SHA-256 of the arguments: a file's contents for each argument naming a file, the argument itself otherwise.
inputs_hash() {
  local input
  for input in "$@"; do
    if [ -f "$input" ]; then
      printf '%s\n' "$input"
      cat "$input"
    else
      printf '%s\n' "$input"
    fi
  done | sha256sum | cut -d' ' -f1
}

# stamp_current STAMP INPUTS...: true when STAMP holds the hash of INPUTS.
stamp_current() {
  local stamp=$1
  shift
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(inputs_hash "$@")" ]
}

# stamp_write STAMP INPUTS...: record that the step producing STAMP ran on INPUTS.
stamp_write() {
  local stamp=$1
  shift
  mkdir -p "$(dirname "$stamp")"
  inputs_hash "$@" >"$stamp"
}
