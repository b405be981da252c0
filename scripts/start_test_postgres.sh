#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on loopback for the tests and print its URL on stdout.
#
#   url=$(bash scripts/start_test_postgres.sh [DIR])      # DIR: where the cluster lives (default: mktemp)
#   export CVALUES_TEST_PG_URL="$url"
#   ...
#   bash scripts/start_test_postgres.sh --stop DIR          # stop it (the folder can then be deleted)
#
# Uses the newest server under /usr/lib/postgresql/*/bin (Debian: apt-get install -y postgresql).
# PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` system user
# (created by the Debian package; created here if missing). Trust authentication on 127.0.0.1
# only, no durability (fsync off): it is for tests, never for data.
set -euo pipefail

pg_bin() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
    echo "start_test_postgres: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install -y postgresql)" >&2
    exit 1
  fi
  echo "$bin"
}

run_as() {  # run a command as the cluster's owner
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u "$PG_USER" -- "$@"
  else
    "$@"
  fi
}

PG_USER=$(id -un)
if [[ $(id -u) -eq 0 ]]; then
  PG_USER=postgres
  id "$PG_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
fi
BIN=$(pg_bin)

if [[ "${1:-}" == "--stop" ]]; then
  DIR=${2:?usage: start_test_postgres.sh --stop DIR}
  run_as "$BIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null
  exit 0
fi

DIR=${1:-$(mktemp -d /tmp/cvalues-pg.XXXXXX)}
mkdir -p "$DIR"
if [[ $(id -u) -eq 0 ]]; then
  chown "$PG_USER" "$DIR"
  # The owner must reach the folder through its parents (mktemp folders are 0700).
  chmod 0755 "$DIR"
fi
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

run_as "$BIN/initdb" -D "$DIR/data" -U cvalues --auth=trust --encoding=UTF8 --no-locale >"$DIR/initdb.log" 2>&1 \
  || { cat "$DIR/initdb.log" >&2; exit 1; }
run_as "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >/dev/null || { cat "$DIR/server.log" >&2; exit 1; }

echo "postgresql+psycopg://cvalues@127.0.0.1:$PORT/postgres"
