#!/usr/bin/env bash
# The README's test command: install what the tests need, then run the whole suite against a
# real SQLite file, a real PostgreSQL server on loopback, real Chromium and node.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/ledger -x).
#
# Each run starts its own PostgreSQL server on a free port with its data in a private folder
# (mktemp), and stops it and removes the folder when the run ends, however it ends (success,
# failure, Ctrl-C): two runs on one machine never collide.  GONGJUE_TEST_POSTGRES_URL set
# beforehand uses that server instead (e.g. the one `bash scripts/pg.sh` keeps running).
# GONGJUE_SKIP_INSTALL=1 skips the apt/pip step (a venv that is already complete).
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ "${GONGJUE_SKIP_INSTALL:-}" != 1 ]; then
missing=()
python3 -c "import venv, ensurepip" 2>/dev/null || missing+=(python3-venv)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
# The browser tests render Chinese pages: give Chromium real CJK glyphs, as owners' phones have.
ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1 || missing+=(fonts-noto-cjk)
# docs/DEPLOY.md's TLS proxy block is tested behind a real nginx; the TSA tests use openssl ts.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# The native multi-scalar multiplication (voting/crypto/_msm.c, built by pip below) needs libdecaf.
ls /usr/include/decaf/decaf/point_255.h >/dev/null 2>&1 || missing+=(libdecaf-dev)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || missing+=(python3-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing with apt: ${missing[*]}"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
# Also (re)builds the C extension in place: an edited voting/crypto/_msm.c is compiled here.
.venv/bin/python -m pip install -q -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
fi
.venv/bin/python -c "import fastapi, nacl, rfc8785, playwright, psycopg" # fail loudly if the install did not

if [ -z "${GONGJUE_TEST_POSTGRES_URL:-}" ]; then
  pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/gongjue-pg.XXXXXX")
  stop_pg() { GONGJUE_PG_DIR="$pg_dir" bash scripts/pg.sh stop; }
  trap stop_pg EXIT
  trap 'exit 130' INT  # Ctrl-C: the EXIT trap still stops the server
  trap 'exit 143' TERM
  GONGJUE_TEST_POSTGRES_URL=$(GONGJUE_PG_PORT=free GONGJUE_PG_DIR="$pg_dir" bash scripts/pg.sh)
  echo "PostgreSQL for this run: $GONGJUE_TEST_POSTGRES_URL (data in $pg_dir, removed at the end)" >&2
  export GONGJUE_TEST_PG_DIR="$pg_dir"
fi
export GONGJUE_TEST_POSTGRES_URL
export GONGJUE_REQUIRE_POSTGRES=1 GONGJUE_REQUIRE_BROWSER=1 GONGJUE_REQUIRE_NODE=1 GONGJUE_REQUIRE_NGINX=1
export GONGJUE_REQUIRE_NATIVE=1  # voting.crypto._msm built (tests/crypto/test_batch.py fails, not skips, without it)
export PATH="$PWD/.venv/bin:$PATH"
# Not exec: this shell stays to stop the server when pytest ends.
.venv/bin/python -m pytest "$@"
