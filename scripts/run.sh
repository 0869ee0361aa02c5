#!/bin/sh
# Run Gongjue locally with the demo estate: the README's first command.
#
#   sh scripts/run.sh [--host 127.0.0.1] [--port 8000]
#
# Creates .venv (python3 -m venv; installs python3-venv with apt if Debian lacks it), installs
# libdecaf-dev with apt if missing (the native verifier's library) and the project into .venv
# (building its C extension), then runs `gongjue serve --demo` (SQLite file under ./var).  The first start
# prints the demo supervisor's password, the estate's page, one owner's booth link with its code
# and where the owners' SMS one-time codes appear (files under ./var/demo/sms); the other demo
# owners' codes and the trustees' key files are in ./var/demo (web/demo.py).
set -eu
cd "$(dirname "$0")/.."

if ! command -v python3 >/dev/null 2>&1; then
    echo "需要 Python 3.11 或更高版本 / python3 (3.11 or newer) is required" >&2
    exit 1
fi
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
    echo "需要 Python 3.11 或更高版本 / Python 3.11 or newer is required, found $(python3 --version)" >&2
    exit 1
}

if [ ! -x .venv/bin/python ]; then
    rm -rf .venv
    if ! python3 -m venv .venv >/dev/null 2>&1; then
        # Debian ships venv without ensurepip: it is in the python3-venv package.
        echo "安装 python3-venv / installing python3-venv with apt" >&2
        SUDO=""
        if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
        $SUDO apt-get update
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y python3-venv
        rm -rf .venv
        python3 -m venv .venv
    fi
fi

# The audit's batch verification is ~5-10x faster with the native multi-scalar multiplication
# (voting/crypto/_msm.c), built against libdecaf; without it Gongjue still runs (libsodium only).
if [ ! -f /usr/include/decaf/decaf/point_255.h ] && command -v apt-get >/dev/null 2>&1; then
    echo "安装 libdecaf-dev / installing libdecaf-dev with apt" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    { $SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y libdecaf-dev gcc python3-dev \
        && rm -f .venv/.gongjue-installed; } \
        || echo "libdecaf-dev 未安装，使用较慢的验证 / libdecaf-dev not installed: slower verification" >&2
fi

stamp=.venv/.gongjue-installed
if [ ! -x .venv/bin/gongjue ] || [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ] \
    || [ voting/crypto/_msm.c -nt "$stamp" ]; then
    echo "安装依赖 / installing Gongjue and its dependencies into .venv" >&2
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e .
    touch "$stamp"
fi
exec .venv/bin/gongjue serve --demo "$@"
