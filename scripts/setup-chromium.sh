#!/usr/bin/env bash
# Installs headless Chromium (Debian's `chromium` package) and playwright-core (npm, the driver library only: it
# downloads no browser of its own) into .cache/node, where the web page's browser test looks for them. The test
# skips without them. Needs root for apt-get (or an installed /usr/bin/chromium) and npm.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=${PLAYWRIGHT_CORE_VERSION:-1.65.1}
if ! command -v chromium >/dev/null; then
  command -v apt-get >/dev/null || { echo "setup-chromium: no chromium and no apt-get to install it" >&2; exit 2; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
command -v npm >/dev/null || { echo "setup-chromium: npm not found; install Node.js first" >&2; exit 2; }
mkdir -p "$root/.cache/node"
cd "$root/.cache/node"
[ -f package.json ] || echo '{"private": true}' > package.json
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error "playwright-core@$version"
node -e "require('playwright-core'); console.log('playwright-core ' + require('playwright-core/package.json').version + ' and ' + require('child_process').execSync('chromium --version').toString().trim())"
