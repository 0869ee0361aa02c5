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
# --check: build into a temporary directory and compare with the committed web/static/dist/
# byte for byte (the build is deterministic): exit 1 on any difference.  For auditors and CI.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null && command -v npm >/dev/null || { echo "needs node and npm" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp scripts/booth/package.json scripts/booth/package-lock.json "$work/"
# --ignore-scripts: esbuild's postinstall only re-checks the platform binary npm ci already placed.
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
if [ "${1:-}" = "--check" ]; then
  node scripts/booth/build.mjs "$PWD" "$work/node_modules/esbuild" "$work/dist" >/dev/null
  if diff -r "$work/dist" web/static/dist >/dev/null; then
    echo "web/static/dist is exactly what the pinned esbuild builds from the sources"
  else
    echo "web/static/dist differs from a fresh build:" >&2
    diff -rq "$work/dist" web/static/dist >&2 || true
    exit 1
  fi
else
  node scripts/booth/build.mjs "$PWD" "$work/node_modules/esbuild"
fi
