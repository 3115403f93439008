# Shared functions for the ops/ scripts. Source it; it changes nothing by itself.
#
# Everything a stack needs lives under one state directory ($FG_STATE):
#   pgdata/  the PostgreSQL cluster       run/  sockets and pid files
#   log/     every process's log          nginx/  rendered config and temp dirs
set -euo pipefail

FG_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FG_STATE=${FLOWGATE_STATE_DIR:-$FG_REPO/.flowgate}
FG_INSTANCES=${FLOWGATE_INSTANCES:-2}
FG_HOST=${FLOWGATE_HOST:-127.0.0.1}
FG_PORT=${FLOWGATE_PORT:-8080}
FG_BODY_LIMIT=${FLOWGATE_BODY_LIMIT:-1048576}
FG_PG_BIN=${FLOWGATE_PG_BIN:-}
FG_BIN=$FG_REPO/.build/release/flowgate
# PostgreSQL refuses to run as root; as root, the cluster (and nginx's workers) run as this user.
FG_SERVICE_USER=flowgate

say() { printf '[flowgate] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

# Runs a command as the unprivileged service user when we are root, else as ourselves.
as_service_user() {
    if is_root; then runuser -u "$FG_SERVICE_USER" -- "$@"; else "$@"; fi
}

# --- packages ---------------------------------------------------------------------------------

ensure_packages() {
    local wanted=(libfcgi-dev libpq-dev postgresql postgresql-contrib nginx curl python3 "$@") missing=()
    for package in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
    done
    [ ${#missing[@]} = 0 ] && return 0
    say "installing ${missing[*]}"
    local sudo=()
    is_root || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

ensure_service_user() {
    is_root || return 0
    id "$FG_SERVICE_USER" >/dev/null 2>&1 ||
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$FG_SERVICE_USER"
}

pg_bin() {
    if [ -z "$FG_PG_BIN" ]; then
        FG_PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
        [ -n "$FG_PG_BIN" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
    fi
    echo "$FG_PG_BIN"
}

build_release() {
    say "building (release)"
    (cd "$FG_REPO" && swift build -c release --product flowgate >&2)
}

# --- state directory --------------------------------------------------------------------------

prepare_state() {
    mkdir -p "$FG_STATE"/{run,log,nginx/{client_body,fastcgi,proxy,uwsgi,scgi}}
    chmod 755 "$FG_STATE" "$FG_STATE/run"
    if is_root; then
        chown "$FG_SERVICE_USER" "$FG_STATE/run" "$FG_STATE/log" "$FG_STATE"/nginx/*
        as_service_user test -x "$FG_STATE/run" ||
            die "user $FG_SERVICE_USER cannot reach $FG_STATE; set FLOWGATE_STATE_DIR to a path it can traverse"
    fi
}

database_url() {
    echo "${FLOWGATE_DATABASE_URL:-host=$FG_STATE/run dbname=flowgate user=flowgate}"
}

# --- PostgreSQL -------------------------------------------------------------------------------

uses_local_postgres() { [ -z "${FLOWGATE_DATABASE_URL:-}" ]; }

pg_init() {
    uses_local_postgres || return 0
    [ -f "$FG_STATE/pgdata/PG_VERSION" ] && return 0
    say "creating the PostgreSQL cluster in $FG_STATE/pgdata"
    mkdir -p "$FG_STATE/pgdata"
    is_root && chown "$FG_SERVICE_USER" "$FG_STATE/pgdata"
    chmod 700 "$FG_STATE/pgdata"
    as_service_user "$(pg_bin)/initdb" -D "$FG_STATE/pgdata" -U flowgate --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$FG_STATE/pgdata/postgresql.conf" <<CONF
# Flowgate: unix socket only, inside the state directory, so stacks never clash on a port.
listen_addresses = ''
unix_socket_directories = '$FG_STATE/run'
max_connections = 200
shared_buffers = 256MB
CONF
    if [ -n "${FLOWGATE_PG_FAST:-}" ]; then
        # Throw-away clusters (tests, benchmarks): durability is not needed.
        printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n' >> "$FG_STATE/pgdata/postgresql.conf"
    fi
}

pg_start() {
    uses_local_postgres || return 0
    if as_service_user "$(pg_bin)/pg_ctl" -D "$FG_STATE/pgdata" status >/dev/null 2>&1; then return 0; fi
    as_service_user "$(pg_bin)/pg_ctl" -D "$FG_STATE/pgdata" -l "$FG_STATE/log/postgres.log" -w -t 60 start >/dev/null
    if ! "$(pg_bin)/psql" -h "$FG_STATE/run" -U flowgate -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='flowgate'" | grep -q 1; then
        "$(pg_bin)/createdb" -h "$FG_STATE/run" -U flowgate flowgate
    fi
}

pg_stop() {
    uses_local_postgres || return 0
    [ -f "$FG_STATE/pgdata/PG_VERSION" ] || return 0
    as_service_user "$(pg_bin)/pg_ctl" -D "$FG_STATE/pgdata" -m fast -w stop >/dev/null 2>&1 || true
}

# --- Flowgate ---------------------------------------------------------------------------------

run_flowgate() {
    (cd "$FG_REPO" && FLOWGATE_DATABASE_URL=$(database_url) FLOWGATE_SQL_DIR="$FG_REPO/sql" \
        FLOWGATE_INSTANCE=${FLOWGATE_INSTANCE:-cli} "$FG_BIN" "$@")
}

socket_path() { echo "$FG_STATE/run/flowgate-$1.sock"; }
pid_file() { echo "$FG_STATE/run/$1.pid"; }

running_pid() {
    local file
    file=$(pid_file "$1")
    [ -f "$file" ] || return 1
    local pid
    pid=$(cat "$file")
    kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start_instance() {
    local n=$1
    running_pid "flowgate-$n" >/dev/null && return 0
    (
        cd "$FG_REPO"
        export FLOWGATE_DATABASE_URL FLOWGATE_SOCKET FLOWGATE_INSTANCE FLOWGATE_SQL_DIR FLOWGATE_BODY_LIMIT
        FLOWGATE_DATABASE_URL=$(database_url)
        FLOWGATE_SOCKET=$(socket_path "$n")
        FLOWGATE_INSTANCE=flowgate-$n
        FLOWGATE_SQL_DIR=$FG_REPO/sql
        FLOWGATE_BODY_LIMIT=$FG_BODY_LIMIT
        exec setsid "$FG_BIN" serve >>"$FG_STATE/log/flowgate-$n.log" 2>&1 </dev/null
    ) &
    echo $! > "$(pid_file "flowgate-$n")"
    # Not a job of this shell: a kill by the tests must not make bash report it later.
    disown $!
    # Ready when its socket exists.
    for _ in $(seq 1 100); do
        [ -S "$(socket_path "$n")" ] && return 0
        kill -0 "$(cat "$(pid_file "flowgate-$n")")" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 20 "$FG_STATE/log/flowgate-$n.log" >&2 || true
    die "instance $n did not start"
}

# SIGTERM, then wait up to 10 s for a graceful exit.
stop_instance() {
    local pid
    pid=$(running_pid "flowgate-$1") || { rm -f "$(pid_file "flowgate-$1")"; return 0; }
    kill -TERM "$pid"
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && { say "instance $1 ignored SIGTERM; killing"; kill -KILL "$pid"; }
    rm -f "$(pid_file "flowgate-$1")"
}

kill_instance() {
    local pid
    pid=$(running_pid "flowgate-$1") || return 0
    kill -KILL "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    rm -f "$(pid_file "flowgate-$1")"
}

# --- nginx ------------------------------------------------------------------------------------

render_nginx() {
    local servers="" user_line=""
    for n in $(seq 1 "$FG_INSTANCES"); do
        servers+="        server unix:$(socket_path "$n") max_fails=1 fail_timeout=2s;"$'\n'
    done
    is_root && user_line="user $FG_SERVICE_USER;"
    local template
    template=$(cat "$FG_REPO/nginx/flowgate.conf.template")
    template=${template//@STATE@/$FG_STATE}
    template=${template//@LISTEN@/$FG_HOST:$FG_PORT}
    template=${template//@NGINX_BODY_LIMIT@/$((FG_BODY_LIMIT * 4))}
    template=${template//@USER_LINE@/$user_line}
    template=${template//@UPSTREAM_SERVERS@/$servers}
    printf '%s\n' "$template" > "$FG_STATE/nginx/nginx.conf"
}

start_nginx() {
    render_nginx
    if running_pid nginx >/dev/null; then
        /usr/sbin/nginx -p "$FG_STATE/nginx" -c "$FG_STATE/nginx/nginx.conf" -e "$FG_STATE/log/nginx-error.log" -s reload
        return 0
    fi
    /usr/sbin/nginx -p "$FG_STATE/nginx" -c "$FG_STATE/nginx/nginx.conf" -e "$FG_STATE/log/nginx-error.log"
    for _ in $(seq 1 50); do
        [ -s "$FG_STATE/run/nginx.pid" ] && return 0
        sleep 0.1
    done
    die "nginx did not start (see $FG_STATE/log/nginx-error.log)"
}

stop_nginx() {
    local pid
    pid=$(running_pid nginx) || return 0
    kill -QUIT "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
}

# --- whole stack ------------------------------------------------------------------------------

base_url() { echo "http://$FG_HOST:$FG_PORT"; }

wait_healthy() {
    for _ in $(seq 1 100); do
        curl -fsS "$(base_url)/flowgate/v1/health" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "$(base_url)/flowgate/v1/health did not answer 200"
}

start_stack() {
    ensure_service_user
    prepare_state
    pg_init
    pg_start
    say "migrating"
    run_flowgate migrate >&2
    FLOWGATE_ADMIN_PASSWORD=${FLOWGATE_ADMIN_PASSWORD:-admin} run_flowgate ensure-admin >&2
    for n in $(seq 1 "$FG_INSTANCES"); do start_instance "$n"; done
    start_nginx
    wait_healthy
}

stop_stack() {
    stop_nginx || true
    for file in "$FG_STATE"/run/flowgate-*.pid; do
        [ -e "$file" ] || continue
        local name
        name=$(basename "$file" .pid)
        stop_instance "${name#flowgate-}" || true
    done
    pg_stop
}
