#!/usr/bin/env bash
# Installs Hugging Face `tokenizers` (the Node binding, prebuilt native code inside the npm package) into
# .cache/node, where the tokenizer compatibility test looks for it. Needs node and npm; the test skips without them.
# 0.23.2 ships its linux-x64 binary inside the main package; the 0.13.x line wants a per-platform package that
# npm no longer resolves for linux-x64-gnu.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=${TOKENIZERS_VERSION:-0.23.2}
command -v npm >/dev/null || { echo "setup-node-tokenizers: npm not found; install Node.js first" >&2; exit 2; }
mkdir -p "$root/.cache/node"
cd "$root/.cache/node"
[ -f package.json ] || echo '{"private": true}' > package.json
npm install --no-audit --no-fund --loglevel=error "tokenizers@$version"
node -e "require('tokenizers'); console.log('tokenizers ' + require('tokenizers/package.json').version + ' works')"
