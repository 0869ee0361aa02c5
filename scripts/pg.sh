#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the tests, its data in a folder of its own.
#
#   bash scripts/pg.sh           start (or reuse) the developer's server and print its URL:
#                                postgresql://gongjue@127.0.0.1:54329/postgres, data in
#                                /tmp/gongjue-pg-54329.  It keeps running until stopped:
#   bash scripts/pg.sh stop      stop that server and remove its folder.
#
# Settings (environment):
#   GONGJUE_PG_PORT=N      the port (default 54329); "free" picks a free port (printed in the URL).
#   GONGJUE_PG_DIR=DIR     the data folder (default /tmp/gongjue-pg-<port>); scripts/test.sh gives
#                          each run a private one from mktemp and stops its server when it ends.
# "stop" needs only the folder: the server's port and socket are read from it.
# Installs Debian's postgresql when it is missing.
set -euo pipefail
action=${1:-start}
case "$action" in start|stop) ;; *) echo "usage: bash scripts/pg.sh [start|stop]" >&2; exit 2 ;; esac

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ]; then
  as_root=""; [ "$(id -u)" = 0 ] || as_root="sudo"
  $as_root apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq postgresql >&2
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
run_as=()
if [ "$(id -u)" = 0 ]; then  # PostgreSQL refuses to run as root
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  run_as=(runuser -u postgres --)
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port=${GONGJUE_PG_PORT:-54329}
if [ "$action" = stop ]; then
  data=${GONGJUE_PG_DIR:-/tmp/gongjue-pg-$port}
  if [ -f "$data/PG_VERSION" ]; then
    "${run_as[@]}" "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$data"
  exit 0
fi

if [ "$port" = free ]; then
  port=$(free_port)
elif [ -z "${GONGJUE_PG_DIR:-}" ] && "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port"; then
  echo "postgresql://gongjue@127.0.0.1:$port/postgres"; exit 0  # the developer's server, already up
fi
data=${GONGJUE_PG_DIR:-/tmp/gongjue-pg-$port}
mkdir -p "$data"
if [ -f "$data/PG_VERSION" ]; then
  find "$data" -mindepth 1 -delete  # a stopped server's leftovers: start afresh
elif [ -n "$(ls -A "$data")" ]; then
  echo "$data is not empty and holds no PostgreSQL data: refusing to use it" >&2; exit 1
fi
[ "$(id -u)" = 0 ] && chown postgres "$data"
chmod 700 "$data"
"${run_as[@]}" "$bindir/initdb" -D "$data" -U gongjue --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
# A port taken between choosing and binding (another run on the same machine): choose again.
for attempt in 1 2 3 4 5; do
  if "${run_as[@]}" "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $data -c fsync=off -c max_connections=200" start >/dev/null; then
    echo "postgresql://gongjue@127.0.0.1:$port/postgres"
    exit 0
  fi
  [ "${GONGJUE_PG_PORT:-54329}" = free ] || break
  port=$(free_port)
done
echo "PostgreSQL did not start; see $data/server.log" >&2
exit 1
