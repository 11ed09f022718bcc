#!/usr/bin/env bash
# Rebuild the reference model stack (models/reference/) from scratch on a Debian bookworm CPU machine.
# About 35 minutes on 2 cores. QUICK=1 makes a minute-scale smoke build (v0 artifacts).
# CI never runs this; it uses the committed artifacts.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="${REF_WORK:-$HERE/work}"
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
  (cd "$HERE/../.." && node tools/reference-model/check_onnx.mjs)
fi
echo "=== done $(date -u +%H:%M:%S); artifacts: $(du -sh "$HERE/../../models/reference" | cut -f1)"
