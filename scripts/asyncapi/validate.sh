#!/usr/bin/env bash
# Validates docs/asyncapi.yaml with the official AsyncAPI parser,
# @asyncapi/parser (the library behind `asyncapi validate`), pinned with all
# its dependencies in package-lock.json. go test ./internal/asyncapitest/
# checks the same document offline against the AsyncAPI JSON Schema and the
# code; this adds the parser's own rules and ref resolution.
#
# Needs Node.js >= 20.17 (a dependency, jsep, needs >= 20.16; spectral needs
# >= 20.17 on Node 20) and npm with access to the npm registry. Dependencies
# are installed into a temporary directory (npm ci, install scripts off), so
# nothing is left in the repository.
#
# Usage: scripts/asyncapi/validate.sh [document]   (default docs/asyncapi.yaml)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
doc=${1:-$here/../../docs/asyncapi.yaml}
doc=$(cd "$(dirname "$doc")" && pwd)/$(basename "$doc")

node -e '
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 20 || (major === 20 && minor < 17)) {
  console.error(`Node.js ${process.versions.node}: @asyncapi/parser needs >= 20.17`);
  process.exit(1);
}'

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$here/validate.mjs" "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
node "$work/validate.mjs" "$doc"
