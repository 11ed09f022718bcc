#!/usr/bin/env bash
# Rebuild the reference model stack (models/reference/) from scratch on a Debian bookworm CPU machine.
# About 50 minutes on 2 heavily shared cores (measured 17:46-18:36 UTC at load ~12); less when idle. QUICK=1 makes a minute-scale smoke build (v0 artifacts).
# CI never runs this; it uses the committed artifacts.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="${REF_WORK:-$HERE/work}"
FINAL="$HERE/../../models/reference"
# Build into work/out and copy over models/reference only once everything checks out, so the
# committed artifacts never sit half-replaced while other people's tests read them.
export REF_WORK="$WORK" REF_OUT="${REF_OUT:-$WORK/out}"
PY=/usr/bin/python3   # the python3 on PATH may be another interpreter without torch
mkdir -p "$WORK/debs"

if ! $PY -c 'import torch, onnx, numpy' 2>/dev/null; then
  apt-get update
  # libopenblas0-pthread: without it torch falls back to the reference BLAS (~30x slower)
  apt-get install -y --no-install-recommends python3-torch python3-onnx python3-numpy libopenblas0-pthread
fi

# Corpus: public-domain text from Debian packages, extracted, never installed.
if [ ! -d "$WORK/root/usr/share/dictd" ]; then
  (cd "$WORK/debs" && apt-get download dict-jargon dict-devil fortunes-es fortunes-it)
  for deb in "$WORK"/debs/*.deb; do dpkg-deb -x "$deb" "$WORK/root"; done
fi

cd "$HERE"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-2}"
for stage in corpus train_lm train_sae train_nla export evaluate model_card; do
  echo "=== $stage $(date -u +%H:%M:%S)"
  $PY -W ignore "$stage.py"
done

# The runtime the worker uses must load every graph and reproduce the golden files.
if command -v node >/dev/null && [ -d "$HERE/../../node_modules/onnxruntime-node" ]; then
  (cd "$HERE/../.." && node tools/reference-model/check_onnx.mjs "$REF_OUT")
fi
if [ "$REF_OUT" != "$FINAL" ]; then
  rm -rf "$FINAL.new" && cp -r "$REF_OUT" "$FINAL.new" && rm -rf "$FINAL" && mv "$FINAL.new" "$FINAL"
fi
echo "=== done $(date -u +%H:%M:%S); artifacts: $(du -sh "$FINAL" | cut -f1)"
