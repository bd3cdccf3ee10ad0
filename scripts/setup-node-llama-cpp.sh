#!/usr/bin/env bash
# Installs llama.cpp as the npm package node-llama-cpp (prebuilt CPU binaries, no compiler needed) into .cache/node,
# where the GGUF tests look for it: llama.cpp itself loads the files `cramjet export --format gguf` writes,
# tokenizes and scores text, and the tests compare with Cramjet. Needs node (≥ 20) and npm; the tests skip without it.
# Only this platform's CPU build is fetched: node-llama-cpp's optional CUDA and Vulkan builds are 600 MB more.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=${NODE_LLAMA_CPP_VERSION:-3.21.1}
command -v npm >/dev/null || { echo "setup-node-llama-cpp: npm not found; install Node.js first" >&2; exit 2; }
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-x64 ;;
  Linux-aarch64) platform=linux-arm64 ;;
  Darwin-arm64) platform=mac-arm64-metal ;;
  Darwin-x86_64) platform=mac-x64 ;;
  *) echo "setup-node-llama-cpp: no prebuilt node-llama-cpp binary for $(uname -s) $(uname -m)" >&2; exit 2 ;;
esac
mkdir -p "$root/.cache/node"
cd "$root/.cache/node"
[ -f package.json ] || echo '{"private": true}' > package.json
npm install --no-audit --no-fund --loglevel=error --omit=optional \
  "node-llama-cpp@$version" "@node-llama-cpp/$platform@$version"
# A file, not node -e: node-llama-cpp tests its binary in a forked node, which would inherit -e and rerun it.
check=$(mktemp --suffix=.mjs)
trap 'rm -f "$check"' EXIT
cat > "$check" <<JS
const {getLlama} = await import("$root/.cache/node/node_modules/node-llama-cpp/dist/index.js");
const llama = await getLlama({gpu: false, build: "never", progressLogs: false});
console.log("node-llama-cpp $version works (llama.cpp " + llama.llamaCppRelease.release + ", CPU, " + llama.cpuMathCores + " math cores)");
await llama.dispose();
JS
node "$check"
