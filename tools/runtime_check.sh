#!/usr/bin/env bash
# Install the torch-free runtime (requirements-runtime.txt plus the asr package
# without its dependencies) into a venv of its own, and transcribe with an ONNX
# export there: the deployment docs/deploy.md describes, checked as a user runs it.
#   tools/runtime_check.sh [VENV]   (default .venv-runtime; `make runtime-check`)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv-runtime}
PYTHON=${PYTHON:-python3}
TORCH_PYTHON=${TORCH_PYTHON:-.venv/bin/python}  # the project venv: the export needs torch
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -r requirements-runtime.txt
"$VENV/bin/python" -m pip install --quiet --no-deps --force-reinstall .
if "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  echo "error: torch is installed in $VENV" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# the export needs torch: the project's own venv makes it
"$TORCH_PYTHON" -m asr export --model data/models/digits.pt -o "$work/digits.onnx" >/dev/null
got=$("$VENV/bin/asr" transcribe --model "$work/digits.onnx" tests/data/2_jackson_1.wav 2>/dev/null)
if [ "$got" != "two" ]; then
  echo "error: the torch-free runtime heard '$got' in 2_jackson_1.wav (says 'two')" >&2
  exit 1
fi
echo "torch-free runtime: transcribed with ONNX Runtime; $(du -sm "$VENV" | cut -f1) MB installed in $VENV"
