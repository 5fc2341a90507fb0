#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the tests: installs Debian's `postgresql` when it is missing, starts a
# cluster on a free loopback port (as the `postgres` user when run as root: the server refuses root), and
# writes its URL to the file named by $1. `.ci/run` starts this in the background so the install overlaps
# the builds.
set -euo pipefail
out="$1"
rm -f "$out"
pgbin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
if [[ -z "$pgbin" || ! -x "$pgbin/postgres" ]]; then
  export DEBIAN_FRONTEND=noninteractive
  # apt's lock may be held by another step for a while; wait for it rather than fail.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends postgresql >/dev/null
  pgbin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
fi
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
dir="$(mktemp -d /tmp/callrecords-pg.XXXXXX)"
run=()
user="$(id -un)"
if [[ "$(id -u)" == 0 ]]; then
  chown postgres "$dir"
  run=(runuser -u postgres --)
  user=postgres
fi
"${run[@]}" "$pgbin/initdb" -D "$dir/data" -A trust -U "$user" -E UTF8 --locale=C.UTF-8 >/dev/null
# Throw-away: no fsync (the tests check semantics, not crash durability of the test cluster).
"${run[@]}" "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off" start >/dev/null
echo "postgres://$user@127.0.0.1:$port/postgres" > "$out.tmp"
mv "$out.tmp" "$out"
echo "PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data $dir)"
