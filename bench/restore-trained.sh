#!/usr/bin/env bash
# Puts the committed bench models (bench/trained/, the ones the tables in bench/results/ came from) where the
# benches look for them (bench/work/), so a bench reruns without training its networks again. Existing files in
# bench/work/ are kept.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p work/analysis work/residual
cp -n trained/vgg6/model.json trained/vgg6/model.dat work/
cp -n trained/vgg6/analysis/* work/analysis/
for net in resnet20-projection resnet20-padding mobilenet; do
  mkdir -p "work/residual/$net"
  cp -n "trained/$net/model.json" "trained/$net/model.dat" "work/residual/$net/"
done
echo "bench/work/ now holds the committed models"
