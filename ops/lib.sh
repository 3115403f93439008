# Shared functions for the ops/ scripts. Source it; it changes nothing by itself.
#
# Everything a stack needs lives under one state directory ($FG_STATE):
#   pgdata/   the PostgreSQL cluster          pg/       its socket (service user only)
#   run/      FastCGI sockets, pid files      secrets/  generated database passwords (0600)
#   log/      every process's log             nginx/    rendered config and temp dirs
#   tls/      a self-signed certificate when none is configured (its key 0600, for nginx only)
set -euo pipefail
# Files the scripts create (state, logs) are not world-readable.
umask 027

FG_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FG_STATE=${FLOWGATE_STATE_DIR:-$FG_REPO/.flowgate}
FG_INSTANCES=${FLOWGATE_INSTANCES:-2}
FG_HOST=${FLOWGATE_HOST:-127.0.0.1}
FG_PORT=${FLOWGATE_PORT:-8080}
# HTTPS beside plain HTTP: `off` serves plain HTTP only. Without a certificate and key, ops/ makes
# a self-signed pair in tls/ once (clients then need to skip verification or trust tls/cert.pem).
FG_TLS_PORT=${FLOWGATE_TLS_PORT:-8443}
FG_TLS_CERT=${FLOWGATE_TLS_CERT:-}
FG_TLS_KEY=${FLOWGATE_TLS_KEY:-}
FG_BODY_LIMIT=${FLOWGATE_BODY_LIMIT:-1048576}
FG_PG_BIN=${FLOWGATE_PG_BIN:-}
# The binary the instances run: the release build; FLOWGATE_BIN names another for `ops/ctl
# start-instance` (the upgrade test runs the previous commit's instances this way).
FG_BIN=${FLOWGATE_BIN:-$FG_REPO/.build/release/flowgate}
# Run as root, the scripts start PostgreSQL and the Flowgate instances as this unprivileged user,
# and nginx's workers as FG_NGINX_USER in the service user's group (the FastCGI sockets are 0660).
FG_SERVICE_USER=flowgate
FG_NGINX_USER=${FLOWGATE_NGINX_USER:-www-data}

say() { printf '[flowgate] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

# What runs a command as the unprivileged service user when we are root (else as ourselves).
# setpriv execs in place, so no parent is left behind to signal, and it drops every capability.
service_user_prefix=()
if is_root; then
    service_user_prefix=(setpriv "--reuid=$FG_SERVICE_USER" "--regid=$FG_SERVICE_USER" --init-groups --inh-caps=-all --no-new-privs --)
fi
as_service_user() { "${service_user_prefix[@]}" "$@"; }

# --- packages ---------------------------------------------------------------------------------

ensure_packages() {
    local wanted=(libfcgi-dev libpq-dev postgresql postgresql-contrib nginx curl openssl python3 bubblewrap "$@") missing=()
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
    # The service user runs the binary: the build is not subject to the scripts' umask.
    (umask 022 && cd "$FG_REPO" && swift build -c release --product flowgate >&2)
    # SwiftPM may create .build and its platform directory 0750 (a debug build that ran first):
    # the service user needs to traverse them to the binary.
    local dir
    dir=$(dirname "$(readlink -f "$FG_BIN")")
    while [ "${#dir}" -gt "${#FG_REPO}" ]; do
        chmod go+x "$dir"
        dir=$(dirname "$dir")
    done
}

# --- state directory --------------------------------------------------------------------------

prepare_state() {
    mkdir -p "$FG_STATE"/{run,pg,log,secrets,nginx/{client_body,fastcgi,proxy,uwsgi,scgi}}
    chmod 755 "$FG_STATE" "$FG_STATE/nginx"
    chmod 750 "$FG_STATE/run" "$FG_STATE/log"
    chmod 700 "$FG_STATE/pg" "$FG_STATE/secrets"
    if is_root; then
        id "$FG_NGINX_USER" >/dev/null 2>&1 || die "nginx's worker user $FG_NGINX_USER does not exist (set FLOWGATE_NGINX_USER)"
        chown "$FG_SERVICE_USER:$FG_SERVICE_USER" "$FG_STATE/run" "$FG_STATE/pg" "$FG_STATE/log" "$FG_STATE/secrets"
        chown "$FG_NGINX_USER:$FG_SERVICE_USER" "$FG_STATE"/nginx/*
        as_service_user test -x "$FG_STATE/run" ||
            die "user $FG_SERVICE_USER cannot reach $FG_STATE; set FLOWGATE_STATE_DIR to a path it can traverse"
    fi
}

app_passfile() { echo "$FG_STATE/secrets/flowgate.pgpass"; }
superuser_passfile() { echo "$FG_STATE/secrets/postgres.pgpass"; }

# The application's connection: the non-superuser role `flowgate`, its password in a pgpass file.
database_url() {
    echo "${FLOWGATE_DATABASE_URL:-host=$FG_STATE/pg dbname=flowgate user=flowgate passfile=$(app_passfile)}"
}

# The bootstrap superuser's connection, for cluster set-up (and tests that create databases).
superuser_url() {
    echo "host=$FG_STATE/pg dbname=postgres user=postgres passfile=$(superuser_passfile)"
}

# Writes a pgpass file (0600) for ROLE with a new random password, once. OWNER reads it: the
# service user for the application role; the superuser's stays with whoever runs ops/ (root),
# so that a Flowgate process cannot read it.
ensure_passfile() {
    local file=$1 role=$2 owner=${3:-}
    [ -s "$file" ] && return 0
    (umask 077; printf '*:*:*:%s:%s\n' "$role" "$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')" > "$file")
    if is_root && [ -n "$owner" ]; then chown "$owner:$owner" "$file"; fi
}

passfile_password() { cut -d: -f5 "$1"; }

# --- PostgreSQL -------------------------------------------------------------------------------

uses_local_postgres() { [ -z "${FLOWGATE_DATABASE_URL:-}" ]; }

# psql as the bootstrap superuser; the SQL comes on stdin, so no password is on a command line.
superuser_psql() {
    "$(pg_bin)/psql" "$(superuser_url)" -v ON_ERROR_STOP=1 -qAt "$@"
}

pg_init() {
    uses_local_postgres || return 0
    if [ -f "$FG_STATE/pgdata/PG_VERSION" ]; then
        [ -s "$(superuser_passfile)" ] || die "$FG_STATE/pgdata was made by an older Flowgate with trust authentication and a superuser application role; dump it (pg_dump), move $FG_STATE aside, run ops/run and restore into the new cluster (see README, Upgrading)"
        return 0
    fi
    say "creating the PostgreSQL cluster in $FG_STATE/pgdata"
    mkdir -p "$FG_STATE/pgdata"
    is_root && chown "$FG_SERVICE_USER" "$FG_STATE/pgdata"
    chmod 700 "$FG_STATE/pgdata"
    ensure_passfile "$(superuser_passfile)" postgres
    local pwfile=$FG_STATE/secrets/initdb.password
    (umask 077; passfile_password "$(superuser_passfile)" > "$pwfile")
    is_root && chown "$FG_SERVICE_USER" "$pwfile"
    as_service_user "$(pg_bin)/initdb" -D "$FG_STATE/pgdata" -U postgres --pwfile="$pwfile" --auth=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    cat >> "$FG_STATE/pgdata/postgresql.conf" <<CONF
# Flowgate: unix socket only, in a directory only the service user can enter.
listen_addresses = ''
unix_socket_directories = '$FG_STATE/pg'
unix_socket_permissions = 0700
password_encryption = scram-sha-256
max_connections = 200
shared_buffers = 256MB
CONF
    # Every connection authenticates with its password; there is no trust or peer rule.
    printf '# Flowgate: local socket connections only, each with a SCRAM password.\nlocal all all scram-sha-256\n' \
        > "$FG_STATE/pgdata/pg_hba.conf"
    if [ -n "${FLOWGATE_PG_FAST:-}" ]; then
        # Throw-away clusters (tests, benchmarks): durability is not needed.
        printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n' >> "$FG_STATE/pgdata/postgresql.conf"
    fi
}

pg_start() {
    uses_local_postgres || return 0
    if ! as_service_user "$(pg_bin)/pg_ctl" -D "$FG_STATE/pgdata" status >/dev/null 2>&1; then
        as_service_user "$(pg_bin)/pg_ctl" -D "$FG_STATE/pgdata" -l "$FG_STATE/log/postgres.log" -w -t 60 start >/dev/null
    fi
    pg_bootstrap
}

# The application role owns the database and its tables and is nothing more: no superuser, no
# CREATEDB or CREATEROLE, none of the server-file or server-program roles. pgcrypto is created
# here, by the superuser. Idempotent: it also re-applies the password in the pgpass file.
pg_bootstrap() {
    ensure_passfile "$(app_passfile)" flowgate "$FG_SERVICE_USER"
    superuser_psql <<SQL
SELECT 'CREATE ROLE flowgate LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'flowgate')
\gexec
ALTER ROLE flowgate LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD '$(passfile_password "$(app_passfile)")';
SELECT 'CREATE DATABASE flowgate OWNER flowgate' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'flowgate')
\gexec
REVOKE ALL ON DATABASE flowgate FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE flowgate TO flowgate;
\c flowgate
CREATE EXTENSION IF NOT EXISTS pgcrypto;
SQL
}

pg_stop() {
    uses_local_postgres || return 0
    [ -f "$FG_STATE/pgdata/PG_VERSION" ] || return 0
    as_service_user "$(pg_bin)/pg_ctl" -D "$FG_STATE/pgdata" -m fast -w stop >/dev/null 2>&1 || true
}

# --- Flowgate ---------------------------------------------------------------------------------

run_flowgate() {
    (cd "$FG_REPO" && FLOWGATE_DATABASE_URL=$(database_url) FLOWGATE_SQL_DIR="$FG_REPO/sql" \
        FLOWGATE_INSTANCE=${FLOWGATE_INSTANCE:-cli} as_service_user "$FG_BIN" "$@")
}

# Instance N's sockets: the patterns hold N as %s (nginx's site takes them as patterns too).
socket_pattern() { echo "$FG_STATE/run/flowgate-%s.sock"; }
websocket_pattern() { echo "$FG_STATE/run/flowgate-%s.ws.sock"; }
# shellcheck disable=SC2059 # the patterns are ours
socket_path() { printf "$(socket_pattern)" "$1"; }
# shellcheck disable=SC2059
websocket_path() { printf "$(websocket_pattern)" "$1"; }
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
        export FLOWGATE_DATABASE_URL FLOWGATE_SOCKET FLOWGATE_WS_SOCKET FLOWGATE_INSTANCE FLOWGATE_SQL_DIR FLOWGATE_BODY_LIMIT FLOWGATE_SERVER_NAMES
        # Host headers Flowgate believes for absolute URLs; the first is where nginx listens.
        FLOWGATE_SERVER_NAMES=${FLOWGATE_SERVER_NAMES:-$FG_HOST:$FG_PORT,localhost,127.0.0.1,[::1],$(hostname)}
        FLOWGATE_DATABASE_URL=$(database_url)
        FLOWGATE_SOCKET=$(socket_path "$n")
        FLOWGATE_WS_SOCKET=$(websocket_path "$n")
        FLOWGATE_INSTANCE=flowgate-$n
        FLOWGATE_SQL_DIR=$FG_REPO/sql
        FLOWGATE_BODY_LIMIT=$FG_BODY_LIMIT
        exec setsid "${service_user_prefix[@]}" "$FG_BIN" serve >>"$FG_STATE/log/flowgate-$n.log" 2>&1 </dev/null
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

# The processes whose parent is $1 (from /proc: procps may not be installed). A process that
# exits while awk reads makes it complain, which is no failure here.
children_of() { awk -v parent="$1" '$4 == parent { print $1 }' /proc/[0-9]*/stat 2>/dev/null || true; }

# SIGHUP to instance N's supervisor, then waits until its new worker is its only child: the new
# one served before the old one was told to stop, and the old one finished what it had.
replace_worker() {
    local n=$1 supervisor old children
    supervisor=$(running_pid "flowgate-$n") || die "instance $n is not running"
    old=$(children_of "$supervisor")
    kill -HUP "$supervisor"
    # The successor has 60 s to start serving and the old worker 60 s to finish.
    for _ in $(seq 1 1300); do
        children=$(children_of "$supervisor")
        if [ -n "$children" ] && [ "$(echo "$children" | wc -l)" = 1 ] && [ "$children" != "$old" ]; then
            say "instance $n: worker $old replaced by $children"
            return 0
        fi
        sleep 0.1
    done
    die "instance $n: worker $old was not replaced; see $FG_STATE/log/flowgate-$n.log"
}

kill_instance() {
    local pid
    pid=$(running_pid "flowgate-$1") || return 0
    kill -KILL "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    rm -f "$(pid_file "flowgate-$1")"
}

# --- nginx ------------------------------------------------------------------------------------

tls_enabled() { [ "$FG_TLS_PORT" != off ]; }

# The certificate and key nginx serves: the configured pair, or a self-signed one made once in
# tls/ for this host's names. nginx's master reads the key as root before its workers drop to
# FG_NGINX_USER, so the key stays readable by its owner only.
tls_certificate() {
    if [ -n "$FG_TLS_CERT" ] || [ -n "$FG_TLS_KEY" ]; then
        [ -r "$FG_TLS_CERT" ] && [ -r "$FG_TLS_KEY" ] || die "FLOWGATE_TLS_CERT and FLOWGATE_TLS_KEY must both name readable files"
        return 0
    fi
    FG_TLS_CERT=$FG_STATE/tls/cert.pem
    FG_TLS_KEY=$FG_STATE/tls/key.pem
    [ -s "$FG_TLS_CERT" ] && [ -s "$FG_TLS_KEY" ] && return 0
    say "making a self-signed certificate in $FG_STATE/tls"
    mkdir -p "$FG_STATE/tls"
    local names="DNS:localhost,IP:127.0.0.1,IP:::1,DNS:$(hostname)"
    if [[ $FG_HOST =~ ^[0-9.]+$ ]]; then names+=",IP:$FG_HOST"; else names+=",DNS:$FG_HOST"; fi
    (umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$FG_HOST" \
        -addext "subjectAltName=$names" -keyout "$FG_TLS_KEY" -out "$FG_TLS_CERT" 2>/dev/null) ||
        die "openssl could not make a certificate"
    chmod 644 "$FG_TLS_CERT"
}

# Flowgate's nginx site (what goes in nginx's http block) to stdout, for FG_INSTANCES instances:
#   render_site LOG_DIR SOCKET_PATTERN WEBSOCKET_PATTERN LISTEN TLS_LINES
# where the patterns name instance N's sockets with N as "%s" (nginx's own "$1" for the
# per-instance metrics location).
render_site() {
    local log_dir=$1 socket=$2 websocket=$3 listen=$4 tls_lines=$5 servers="" websocket_servers=""
    # max_fails=0: a dead instance's socket refuses a connection at once, and nginx then tries
    # the next; resting servers that failed only made nginx refuse everything ("no live
    # upstreams") for seconds after an outage of all instances had ended.
    for n in $(seq 1 "$FG_INSTANCES"); do
        # shellcheck disable=SC2059 # the patterns are ours
        servers+="    server unix:$(printf "$socket" "$n") max_fails=0;"$'\n'
        # shellcheck disable=SC2059
        websocket_servers+="    server unix:$(printf "$websocket" "$n") max_fails=0;"$'\n'
    done
    local template
    template=$(cat "$FG_REPO/nginx/flowgate-site.conf.template")
    template=${template//@LOG_DIR@/$log_dir}
    # shellcheck disable=SC2059
    template=${template//@INSTANCE_SOCKET@/$(printf "$socket" '$1')}
    template=${template//@LISTEN@/$listen}
    template=${template//@TLS@/$tls_lines}
    template=${template//@NGINX_BODY_LIMIT@/$((FG_BODY_LIMIT * 4))}
    template=${template//@UPSTREAM_SERVERS@/$servers}
    template=${template//@WEBSOCKET_SERVERS@/$websocket_servers}
    printf '%s\n' "$template"
}

render_nginx() {
    local user_line=""
    is_root && user_line="user $FG_NGINX_USER $FG_SERVICE_USER;"
    local tls_lines=""
    if tls_enabled; then
        tls_certificate
        tls_lines="listen $FG_HOST:$FG_TLS_PORT ssl;
    ssl_certificate $FG_TLS_CERT;
    ssl_certificate_key $FG_TLS_KEY;"
    fi
    render_site "$FG_STATE/log" "$(socket_pattern)" "$(websocket_pattern)" "$FG_HOST:$FG_PORT" "$tls_lines" \
        > "$FG_STATE/nginx/flowgate-site.conf"
    local template
    template=$(cat "$FG_REPO/nginx/flowgate.conf.template")
    template=${template//@STATE@/$FG_STATE}
    template=${template//@USER_LINE@/$user_line}
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
tls_url() { echo "https://$FG_HOST:$FG_TLS_PORT"; }

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
    # A standby first: it would otherwise keep trying to reach the stopped primary.
    replica_stop || true
    pg_stop
}

# --- hot standby (ops/replica) ----------------------------------------------------------------
# A streaming copy of the local cluster that report queries can run on, so that they take no
# locks, buffers or I/O from the primary's claims:
#   replica/  its data directory (a pg_basebackup of pgdata/)   replica-pg/  its socket (0700)
FG_REPLICA_PORT=${FLOWGATE_REPLICA_PORT:-5433}
FG_REPLICA_SLOT=flowgate_replica

replica_dir() { echo "$FG_STATE/replica"; }
replica_socket_dir() { echo "$FG_STATE/replica-pg"; }
replication_passfile() { echo "$FG_STATE/secrets/replication.pgpass"; }

# Where report queries go (FLOWGATE_REPORTS_DATABASE_URL): the standby, as the application role,
# whose password the standby has replicated.
replica_url() {
    echo "host=$(replica_socket_dir) port=$FG_REPLICA_PORT dbname=flowgate user=flowgate passfile=$(app_passfile)"
}

replica_superuser_url() {
    echo "host=$(replica_socket_dir) port=$FG_REPLICA_PORT dbname=postgres user=postgres passfile=$(superuser_passfile)"
}

replica_running() {
    [ -f "$(replica_dir)/PG_VERSION" ] &&
        as_service_user "$(pg_bin)/pg_ctl" -D "$(replica_dir)" status >/dev/null 2>&1
}

# Stops the standby (its data and slot stay: the next start catches up). Idempotent.
replica_stop() {
    replica_running || return 0
    as_service_user "$(pg_bin)/pg_ctl" -D "$(replica_dir)" -m fast -w stop >/dev/null
}
