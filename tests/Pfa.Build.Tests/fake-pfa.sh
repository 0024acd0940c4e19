#!/usr/bin/env bash
# A stand-in for dotnet-pfa in the targets tier (like Grpc.Tools' fakeprotoc.py): it answers --version, records
# each call's arguments (one per line) in calls.log, writes the artifacts `compress` writes, and plays the gate.
# Its behaviour comes from fake.env in the working folder (the project folder):
#   FAKE_VERSION   what --version prints (default 99.0.0)        FAKE_VERSION_EXIT  its exit code (default 0)
#   FAKE_DROP      the accuracy drop in pp (default 0.5): above --tolerance the gate fails with PFA1001
#   FAKE_RECIPE    the recipe text (default "recipe A"): a different --baseline file fails with PFA1002
#   FAKE_NO_ONNX   set: no model.onnx (the budget's "onnx": false)
#   FAKE_LINES     extra lines to print (e.g. a warning)        FAKE_EXIT  forces an exit code after the artifacts
set -u
[ -f ./fake.env ] && . ./fake.env
if [ "${1:-}" = "--version" ]; then echo "${FAKE_VERSION:-99.0.0}+fake"; exit "${FAKE_VERSION_EXIT:-0}"; fi
{ echo "---"; printf '%s\n' "$@"; } >> calls.log
out=""; tolerance=""; baseline=""; update=0; budget=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift ;;
    --tolerance) tolerance="$2"; shift ;;
    --baseline) baseline="$2"; shift ;;
    --budget) budget="$2"; shift ;;
    --update-baseline) update=1 ;;
  esac
  shift
done
recipe="${FAKE_RECIPE:-recipe A}"
drop="${FAKE_DROP:-0.5}"
mkdir -p "$out"
echo "analysing responses on 100 samples"
[ -n "${FAKE_LINES:-}" ] && printf '%b\n' "$FAKE_LINES"
echo "$recipe" > "$out/recipe.json"
if [ -n "$baseline" ]; then
  if [ $update -eq 1 ]; then echo "$recipe" > "$baseline"
  elif [ -f "$baseline" ] && [ "$(cat "$baseline")" != "$recipe" ]; then
    echo "$baseline(1,1): error PFA1002: the recipe differs from the baseline: conv1: 8 → 6 filters (baseline 8 → 5)." >&2; exit 1
  fi
fi
echo '{"schema":"pfa.model/1"}' > "$out/model.json"
echo "weights" > "$out/model.dat"
[ -z "${FAKE_NO_ONNX:-}" ] && echo "onnx" > "$out/model.onnx"
passed=true
if [ -n "$tolerance" ] && awk "BEGIN { exit !($drop > $tolerance) }"; then passed=false; fi
cat > "$out/summary.json" <<JSON
{ "strategy": "energy", "parameters_percent": 49.7, "macs_percent": 60.123, "accuracy_before": 90, "accuracy_after": $(awk "BEGIN { print 90 - $drop }"), "drop": $drop, "passed": $passed }
JSON
if [ "$passed" = false ]; then
  echo "${budget:-pfa.json}: error PFA1001: accuracy dropped $drop pp (90.00% → $(awk "BEGIN { print 90 - $drop }")%), more than the tolerance of $tolerance pp." >&2; exit 1
fi
echo "energy: parameters 49.70%, MACs 60.12%, accuracy 90.00% → $(awk "BEGIN { print 90 - $drop }")%"
exit "${FAKE_EXIT:-0}"
