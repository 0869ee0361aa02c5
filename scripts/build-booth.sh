#!/usr/bin/env bash
# Build the browser bundles under web/static/dist/ (booth, owner, verify modules: one minified
# ES module each, content-hashed, with .gz and .br, plus manifest.json and inputs.json).
#
# Development time only: the output is committed, so installing or serving Gongjue never runs
# node or npm.  esbuild comes from the npm registry at the version and integrity pinned in
# scripts/booth/package-lock.json (npm ci), into a temporary directory removed afterwards.
# Re-runnable: it rewrites web/static/dist/ whole.  After changing any module under
# web/static/{booth,owner,verify}/ or the vendored noble code, run it and commit web/static/dist/
# (tests/web/test_bundle.py fails while the bundle is older than its sources).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null && command -v npm >/dev/null || { echo "needs node and npm" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp scripts/booth/package.json scripts/booth/package-lock.json "$work/"
# --ignore-scripts: esbuild's postinstall only re-checks the platform binary npm ci already placed.
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
node scripts/booth/build.mjs "$PWD" "$work/node_modules/esbuild"
