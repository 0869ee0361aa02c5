#!/usr/bin/env bash
# The README's test command: install what the tests need, then run the whole suite against a
# real SQLite file, a real PostgreSQL server on loopback, real Chromium and node.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/ledger -x).
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
python3 -c "import venv, ensurepip" 2>/dev/null || missing+=(python3-venv)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
# The browser tests render Chinese pages: give Chromium real CJK glyphs, as owners' phones have.
ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1 || missing+=(fonts-noto-cjk)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing with apt: ${missing[*]}"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import fastapi, nacl, rfc8785, playwright, psycopg" # fail loudly if the install did not

GONGJUE_TEST_POSTGRES_URL=$(bash scripts/pg.sh)
export GONGJUE_TEST_POSTGRES_URL
export GONGJUE_REQUIRE_POSTGRES=1 GONGJUE_REQUIRE_BROWSER=1 GONGJUE_REQUIRE_NODE=1
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
