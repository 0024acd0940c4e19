#!/usr/bin/env bash
# Puts the committed bench models (bench/trained/, the ones the tables in bench/results/ came from) where the
# benches look for them (bench/work/), so a bench reruns without training its networks again. Files already in
# bench/work/ are kept.
set -euo pipefail
cd "$(dirname "$0")"
put() { mkdir -p "$(dirname "$2")"; [ -e "$2" ] || cp "$1" "$2"; }
for f in model.json model.dat analysis/stats.safetensors analysis/spectra.json; do put "trained/vgg6/$f" "work/$f"; done
for net in resnet20-projection resnet20-padding mobilenet; do
  for f in model.json model.dat analysis/stats.safetensors analysis/spectra.json; do
    [ -e "trained/$net/$f" ] && put "trained/$net/$f" "work/residual/$net/$f"
  done
done
# The domain bench's rows so far (an interrupted run resumes from them).
put trained/domain-rows.jsonl work/domain/rows.jsonl
echo "bench/work/ holds the committed models"
