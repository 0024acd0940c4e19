#!/usr/bin/env bash
# The whole test suite: builds the solution once, runs each test project, and ends with the line
# "N passed, N failed" (summed over the projects' TRX results).
# --blame: if a test host dies, the log names the test that was running (Sequence_*.xml in TestResults).
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || exit 2
results="$(pwd)/TestResults"
rm -rf "$results"
status=0
dotnet build Pfa.Build.sln -c Release -nologo -v:q || status=1
if [ $status -eq 0 ]; then
  for project in tests/*/*.csproj; do
    name=$(basename "$project" .csproj)
    dotnet test "$project" -c Release --no-build -nologo --blame --logger "trx;LogFileName=$name.trx" --results-directory "$results" || status=1
  done
fi
passed=0; failed=0
for f in "$results"/*.trx; do
  [ -f "$f" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$f")
  p=$(echo "$counters" | grep -o ' passed="[0-9]*"' | grep -o '[0-9]*')
  x=$(echo "$counters" | grep -o ' failed="[0-9]*"' | grep -o '[0-9]*')
  passed=$((passed + ${p:-0})); failed=$((failed + ${x:-0}))
done
[ $status -ne 0 ] && [ $failed -eq 0 ] && failed=1   # a build or runner failure counts as a failure
echo "$passed passed, $failed failed"
[ $status -eq 0 ] && [ $failed -eq 0 ]
