#!/usr/bin/env bash
# The main job on the shipped example: train a VGG-style CNN on Fashion-MNIST briefly, inspect it, compress it
# with PFA-KL (samples/FashionMnistVgg/pfa.json: analyse, recipe, select, surgery, fine-tune, evaluate, gate),
# and inspect the result. EPOCHS and TRAIN_LIMIT shorten or lengthen the training.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
EPOCHS="${EPOCHS:-1}"
TRAIN_LIMIT="${TRAIN_LIMIT:-20000}"
OUT="${OUT:-runs/example}"
DATA=/usr/share/datasets/fashion-mnist

dotnet build Pfa.Build.sln -c Release -v quiet -nologo
echo "== training (epochs $EPOCHS, $TRAIN_LIMIT samples)"
dotnet samples/FashionMnistVgg/bin/Release/net10.0/FashionMnistVgg.dll --out "$OUT" --epochs "$EPOCHS" --train-limit "$TRAIN_LIMIT"
echo "== dotnet pfa info"
./pfa info --model "$OUT/model.json" --weights "$OUT/model.dat"
echo "== dotnet pfa eval"
./pfa eval --model "$OUT/model.json" --weights "$OUT/model.dat" --data "$DATA" --split test
echo "== dotnet pfa compress (budget samples/FashionMnistVgg/pfa.json)"
./pfa compress --model "$OUT/model.json" --weights "$OUT/model.dat" --budget samples/FashionMnistVgg/pfa.json --out "$OUT/pfa"
echo "== the compressed model"
./pfa info --model "$OUT/pfa/model.json" --weights "$OUT/pfa/model.dat"
cat "$OUT/pfa/summary.md"
