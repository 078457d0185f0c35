# shellcheck shell=bash
# PostgreSQL 15 for the portal: one cluster per profile under $STATE_DIR/postgres, run as the
# `postgres` user, TCP on 127.0.0.1 only plus a unix socket in $STATE_DIR/postgres/run.
# Creates role `portal` (LOGIN CREATEDB, password from secrets.env) and database `portal`.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_OS_USER=postgres
PG_ROLE=portal
PG_DATABASE=portal

postgres_port() {
  case $PROFILE in
    run) echo 15432 ;;
    test) echo 25432 ;;
  esac
}

postgres_paths() {
  PG_DIR="$STATE_DIR/postgres"
  PG_DATA="$PG_DIR/data"
  PG_RUN="$PG_DIR/run"
  PG_LOG="$LOG_DIR/postgres.log"
  PG_PORT=$(postgres_port)
}

# Run a command as the postgres user from a folder it can read (getcwd in /root fails).
_pg_as_user() {
  (cd "$PG_DIR" && runuser -u "$PG_OS_USER" -- "$@")
}

# postgres_pid: the postmaster PID from postmaster.pid when that process is alive.
postgres_pid() {
  local pid
  pid=$(pid_from_file "$PG_DATA/postmaster.pid") || return 1
  pid_running "$pid" postgres || return 1
  printf '%s' "$pid"
}

postgres_ready() {
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2 >/dev/null 2>&1
}

_pg_initdb() {
  local locale=C tmp="$PG_DIR/data.initdb"
  if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then locale=C.UTF-8; fi
  rm -rf -- "$tmp"
  info "postgres: initdb $PG_DATA (locale $locale)"
  if ! _pg_as_user "$PG_BIN/initdb" -D "$tmp" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
    -E UTF8 --locale="$locale" >>"$PG_LOG" 2>&1; then
    log_tail "$PG_LOG"
    die "postgres: initdb failed"
  fi
  mv -- "$tmp" "$PG_DATA"
}

# Remove lock files left by a postmaster that is gone (kill -9): PostgreSQL itself would refuse
# to start while the recorded PID still exists, and a zombie awaiting reaping still "exists".
_pg_clear_stale_locks() {
  local f pid
  for f in "$PG_DATA/postmaster.pid" "$PG_RUN/.s.PGSQL.$PG_PORT.lock"; do
    [[ -e $f ]] || continue
    pid=$(pid_from_file "$f") || pid=""
    if [[ -z $pid ]] || ! pid_running "$pid" postgres; then
      rm -f -- "$f"
    fi
  done
}

# Idempotent role/database setup over the unix socket as the postgres superuser (peer auth).
# The password goes through stdin (never argv) and the session turns statement logging off.
_pg_bootstrap() {
  local pw out
  pw=$(secret_get POSTGRES_PORTAL_PASSWORD)
  # The tests drop each test class's database WITH (FORCE). An autovacuum worker busy in it belongs to no role, and
  # only pg_signal_backend lets a non-superuser end it: without it the drop fails now and then (42501).
  local grant_signal=""
  [[ $PROFILE == test ]] && grant_signal="GRANT pg_signal_backend TO $PG_ROLE;"
  [[ $pw =~ ^[A-Za-z0-9]+$ ]] || die "postgres: POSTGRES_PORTAL_PASSWORD in $SECRETS_FILE must be letters and digits"
  if ! out=$(
    printf '%s\n' \
      "SET log_statement = 'none';" \
      "SET log_min_error_statement = 'panic';" \
      "SET client_min_messages = 'warning';" \
      "DO \$\$ BEGIN" \
      "  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN" \
      "    CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$pw';" \
      "  ELSE" \
      "    ALTER ROLE $PG_ROLE WITH LOGIN CREATEDB PASSWORD '$pw';" \
      "  END IF;" \
      "END \$\$;" \
      "SELECT 'CREATE DATABASE $PG_DATABASE OWNER $PG_ROLE' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DATABASE') \\gexec" \
      "$grant_signal" |
      _pg_as_user "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_RUN" -p "$PG_PORT" -d postgres 2>&1
  ); then
    printf '%s\n' "${out//"$pw"/***}" >&2
    die "postgres: creating role/database '$PG_ROLE' failed"
  fi
}

postgres_start() {
  postgres_paths
  local pid t0
  t0=$(now_ms)
  if pid=$(postgres_pid); then
    if postgres_ready || wait_until 10 "$pid" -- postgres_ready; then
      info "postgres: already running (pid $pid, 127.0.0.1:$PG_PORT)"
      return 0
    fi
    log_tail "$PG_LOG"
    die "postgres: pid $pid is alive but 127.0.0.1:$PG_PORT does not answer; run 'scripts/services stop $PROFILE' and retry"
  fi
  if port_open "$PG_PORT"; then
    die "postgres: port 127.0.0.1:$PG_PORT is already in use by another process"
  fi

  ensure_packages "$PG_BIN/initdb:postgresql-15" "$PG_BIN/pg_ctl:postgresql-15" \
    "$PG_BIN/pg_isready:postgresql-client-15" "$PG_BIN/psql:postgresql-client-15" openssl:openssl
  id -u "$PG_OS_USER" >/dev/null 2>&1 || die "postgres: OS user '$PG_OS_USER' does not exist"
  secret_ensure POSTGRES_PORTAL_PASSWORD

  mkdir -p -- "$PG_DIR" "$PG_RUN"
  chown "$PG_OS_USER:" -- "$PG_DIR" "$PG_RUN"
  chmod 0750 -- "$PG_DIR"
  chmod 0755 -- "$PG_RUN"
  touch -- "$PG_LOG"
  chown "$PG_OS_USER:" -- "$PG_LOG"
  chmod 0640 -- "$PG_LOG"
  if ! runuser -u "$PG_OS_USER" -- test -w "$PG_DIR" -a -x "$PG_DIR"; then
    die "postgres: user $PG_OS_USER cannot reach $PG_DIR (a parent folder is not traversable: chmod o+x it)"
  fi

  [[ -f $PG_DATA/PG_VERSION ]] || _pg_initdb
  _pg_clear_stale_locks

  # Paths are single-quoted because pg_ctl hands -o to /bin/sh.
  local opts="-h 127.0.0.1 -p $PG_PORT -k '$PG_RUN' -c max_connections=200"
  if [[ $PROFILE == test ]]; then
    opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  fi
  printf '%s scripts/services: pg_ctl start\n' "$(date -Is)" >>"$PG_LOG"
  if ! run_detached "$PG_LOG" runuser -u "$PG_OS_USER" -- \
    "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$START_TIMEOUT" -o "$opts" start; then
    log_tail "$PG_LOG"
    die "postgres: pg_ctl start failed"
  fi
  if ! wait_until "$START_TIMEOUT" "" -- postgres_ready; then
    log_tail "$PG_LOG"
    die "postgres: not accepting connections on 127.0.0.1:$PG_PORT after ${START_TIMEOUT}s"
  fi
  pid=$(postgres_pid) || {
    log_tail "$PG_LOG"
    die "postgres: answering, but postmaster.pid does not name a live postgres process"
  }
  _pg_bootstrap
  info "postgres: started (pid $pid, 127.0.0.1:$PG_PORT, data $PG_DATA) in $(elapsed_since "$t0")"
}

postgres_stop() {
  postgres_paths
  local pid
  if ! pid=$(postgres_pid); then
    info "postgres: not running"
    return 0
  fi
  if ! run_detached "$PG_LOG" runuser -u "$PG_OS_USER" -- \
    "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t "$STOP_TIMEOUT" stop; then
    warn "postgres: pg_ctl stop -m fast failed or timed out"
  fi
  # pg_ctl stop sends SIGINT to the recorded PID and waits; make sure, then escalate.
  stop_pid postgres "$pid" postgres
  _pg_clear_stale_locks
  info "postgres: stopped (pid $pid)"
}

postgres_status() {
  postgres_paths
  service_status postgres postgres_pid postgres_ready "127.0.0.1:$PG_PORT" "$PG_DATA"
}

postgres_env() {
  postgres_paths
  local pw
  pw=$(secret_require POSTGRES_PORTAL_PASSWORD)
  emit_export ConnectionStrings__Portal \
    "Host=127.0.0.1;Port=$PG_PORT;Database=$PG_DATABASE;Username=$PG_ROLE;Password=$pw"
}
