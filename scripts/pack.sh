#!/usr/bin/env bash
# Packs Pfa.Core, Pfa.Build and dotnet-pfa into a folder feed (default artifacts/feed), the packages a training
# project installs from (README, "MSBuild: from a folder feed"). VERSION overrides the package version.
set -euo pipefail
cd "$(dirname "$0")/.."
FEED="${FEED:-artifacts/feed}"
extra=(); [ -n "${VERSION:-}" ] && extra+=("-p:PackageVersion=$VERSION")
for project in src/Pfa.Core src/Pfa.Tasks src/Pfa.Tool; do
  dotnet pack "$project" -c Release -o "$FEED" -nologo -v:q ${extra[@]+"${extra[@]}"}
done
echo "packed into $(cd "$FEED" && pwd):"; ls "$FEED"
