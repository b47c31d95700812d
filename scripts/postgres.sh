#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the state-store tests: installs Debian's `postgresql` if it is
# missing, initdb's a cluster in a fresh temp dir, starts it on a free loopback port (and a Unix
# socket in the same dir), and prints the settings the tests read:
#
#   ZHIFU_TEST_POSTGRES=postgres://zhifu@127.0.0.1:PORT/zhifu?sslmode=disable
#   ZHIFU_TEST_POSTGRES_CTL=/tmp/…/ctl     (ctl stop | start | restart: the restart test uses it)
#
# Usage: eval "$(bash scripts/postgres.sh)"      then `"$ZHIFU_TEST_POSTGRES_CTL" stop` to end it.
# Everything goes to stderr except those lines. Trust authentication on loopback only: a test
# cluster, never a production one.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

find_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$dir" && -x "$dir/initdb" ]]; then
        echo "$dir"
    fi
}

bin=$(find_bin)
if [[ -z "$bin" ]]; then
    log "installing Debian's postgresql"
    sudo=""
    if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >&2
    # The package's own cluster is not needed; ours runs from a temp dir.
    $sudo apt-get install -y -qq --no-install-recommends postgresql >&2
    bin=$(find_bin)
    [[ -n "$bin" ]] || { log "postgresql installed but no initdb under /usr/lib/postgresql"; exit 1; }
fi

# initdb refuses to run as root: run the cluster as the package's `postgres` user (or ourselves).
as_user=()
if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --home /nonexistent --shell /usr/sbin/nologin postgres
    as_user=(runuser -u postgres --)
fi

dir=$(mktemp -d /tmp/zhifu-pg.XXXXXX)
chmod 755 "$dir"
mkdir "$dir/data"
if [[ ${#as_user[@]} -gt 0 ]]; then chown postgres "$dir" "$dir/data"; fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000)))

"${as_user[@]}" "$bin/initdb" -D "$dir/data" -U zhifu --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
fsync = on
synchronous_commit = on
EOF

cat >"$dir/ctl" <<EOF
#!/usr/bin/env bash
# Stops, starts or restarts the throwaway cluster in $dir.
set -euo pipefail
case "\${1:-}" in
    start) ${as_user[*]} "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start >/dev/null ;;
    stop) ${as_user[*]} "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null ;;
    restart) ${as_user[*]} "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 30 restart >/dev/null ;;
    *) echo "usage: \$0 start|stop|restart" >&2; exit 2 ;;
esac
EOF
chmod 755 "$dir/ctl"
"$dir/ctl" start || { cat "$dir/server.log" >&2; exit 1; }
"${as_user[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U zhifu zhifu

log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $dir)"
echo "export ZHIFU_TEST_POSTGRES='postgres://zhifu@127.0.0.1:$port/zhifu?sslmode=disable'"
echo "export ZHIFU_TEST_POSTGRES_CTL='$dir/ctl'"
