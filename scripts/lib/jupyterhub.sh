# shellcheck shell=bash
# JupyterHub 3.0 (Debian bookworm) for the portal's JupyterHub spawner backend and its tests: the hub, its
# configurable-http-proxy child and SimpleLocalProcessSpawner single-user servers, all as root on 127.0.0.1.
# Config: scripts/jupyterhub/jupyterhub_config.py (everything there comes from the environment set below).
#
# Only profile `test` lists the service (scripts/services: TEST_ONLY_SERVICES); `run` uses the local-process
# backend, and its ports below are only reserved.
#
#   port (profile test / run)   what
#   28000 / 18000               the proxy's public side: browsers and the API (http://127.0.0.1:PORT/hub/api)
#   28001 / 18001               the proxy's REST API (the hub talks to it)
#   28081 / 18081               the hub's own server (behind the proxy)
#
# The portal is the hub service `portal`; its token JUPYTERHUB_PORTAL_TOKEN is generated into secrets.env
# (the config reads it from there: it is on no command line, in no environment and in no log).
# State lives in $STATE_DIR/jupyterhub/ (sqlite db, cookie secret, pid files, user homes under home/); a cold
# start of profile `test` begins with a fresh db and no homes.
#
# A second instance with concurrent_spawn_limit=1 (for the tests of the backend's 429 handling) starts with
#   JUPYTERHUB_INSTANCE=limited scripts/services start test jupyterhub
# on PORT+2000 (30000/30001/30081: outside the ports LocalProcessBackendTests draw from), with state in
# $STATE_DIR/jupyterhub-limited/; it shares the portal token.
# A third one for scripts/bench admin-queries (100,000 users seeded into its sqlite db while it is stopped) starts with
#   JUPYTERHUB_INSTANCE=bench scripts/services start test jupyterhub
# on PORT+3000 (31000/31001/31081: below the LocalProcessBackendTests range and below the kernel's ephemeral ports,
# 32768+, where a client socket can hold the port the proxy wants to listen on), with state in
# $STATE_DIR/jupyterhub-bench/; it shares the portal token. Only the benchmark starts it, and a start keeps its db
# (the benchmark decides whether to reuse or replace the users in it).
# `scripts/services stop <profile>` stops every instance; with JUPYTERHUB_INSTANCE set only that one.
#
# Always Debian's /usr/bin/python3 and /usr/bin/jupyterhub: the python3 first on PATH may be another one.

JUPYTERHUB_BIN=/usr/bin/jupyterhub
JUPYTERHUB_CONFIG="$SCRIPTS_DIR/jupyterhub/jupyterhub_config.py"
JUPYTERHUB_PYTHON=/usr/bin/python3
JUPYTERHUB_INSTANCES=(main limited bench)

jupyterhub_base_port() {
  case $PROFILE in
    run) echo 18000 ;;
    test) echo 28000 ;;
  esac
}

# jupyterhub_paths [INSTANCE]: folders, files, port and spawn limit of one instance (default: $JUPYTERHUB_INSTANCE
# or main).
jupyterhub_paths() {
  JHUB_INSTANCE=${1:-${JUPYTERHUB_INSTANCE:-main}}
  local base
  base=$(jupyterhub_base_port)
  case $JHUB_INSTANCE in
    main)
      JHUB_NAME=jupyterhub
      JHUB_PORT=$base
      JHUB_SPAWN_LIMIT=100
      ;;
    limited)
      JHUB_NAME=jupyterhub-limited
      JHUB_PORT=$((base + 2000))
      JHUB_SPAWN_LIMIT=1
      ;;
    bench)
      JHUB_NAME=jupyterhub-bench
      JHUB_PORT=$((base + 3000))
      JHUB_SPAWN_LIMIT=100
      ;;
    *) die "jupyterhub: unknown instance '$JHUB_INSTANCE' (known: ${JUPYTERHUB_INSTANCES[*]})" ;;
  esac
  JHUB_DIR="$STATE_DIR/$JHUB_NAME"
  JHUB_PID_FILE="$JHUB_DIR/hub.pid"
  JHUB_PROXY_PID_FILE="$JHUB_DIR/jupyterhub-proxy.pid"
  JHUB_DB="$JHUB_DIR/jupyterhub.sqlite"
  JHUB_LOG="$LOG_DIR/$JHUB_NAME.log"
  JHUB_URL="http://127.0.0.1:$JHUB_PORT/"
}

# jupyterhub_pid: the hub's PID from hub.pid when that process is alive.
jupyterhub_pid() {
  local pid
  pid=$(pid_from_file "$JHUB_PID_FILE") || return 1
  pid_running "$pid" jupyterhub || return 1
  printf '%s' "$pid"
}

# jupyterhub_ready: GET /hub/api through the proxy answers 200 (the proxy alone answers 503 until the hub is in).
jupyterhub_ready() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$JHUB_PORT" || exit 1
    printf 'GET /hub/api HTTP/1.0\r\nHost: 127.0.0.1:%s\r\n\r\n' "$JHUB_PORT" >&3
    line=""
    IFS= read -r -t 2 line <&3 || exit 1
    [[ $line == HTTP/1.[01]' 200 '* ]]
  ) 2>/dev/null
}

# _jupyterhub_reap: what a hub that died without cleaning up (SIGKILL, crash) leaves behind: its proxy (pid in
# jupyterhub-proxy.pid) and single-user servers (pids in the spawners' state in the db). Only processes whose
# name matches are touched.
_jupyterhub_reap() {
  local pid pids=()
  if pid=$(pid_from_file "$JHUB_PROXY_PID_FILE") && pid_running "$pid" node; then
    warn "jupyterhub: stopping the proxy (pid $pid) that $JHUB_NAME left running"
    stop_pid configurable-http-proxy "$pid" node
  fi
  rm -f -- "$JHUB_PROXY_PID_FILE"
  if [[ -r $JHUB_DB ]]; then
    mapfile -t pids < <("$JUPYTERHUB_PYTHON" - "$JHUB_DB" <<'PY' 2>/dev/null || true
import json, sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
for (state,) in db.execute("SELECT state FROM spawners WHERE state IS NOT NULL"):
    pid = (json.loads(state) or {}).get("pid")
    if isinstance(pid, int) and pid > 0:
        print(pid)
PY
    )
  fi
  for pid in "${pids[@]}"; do
    if pid_running "$pid" jupyterhub-sing; then
      warn "jupyterhub: stopping the single-user server (pid $pid) that $JHUB_NAME left running"
      stop_pid jupyterhub-singleuser "$pid" jupyterhub-sing
    fi
  done
}

_jupyterhub_packages_present() {
  [[ -x $JUPYTERHUB_BIN && -x /usr/bin/jupyterhub-singleuser && -x /usr/bin/configurable-http-proxy &&
    -e /usr/lib/python3/dist-packages/notebook/notebookapp.py &&
    -e /usr/lib/python3/dist-packages/jupyter_server/serverapp.py ]]
}

_jupyterhub_start_instance() {
  jupyterhub_paths "$1"
  local pid t0 port
  t0=$(now_ms)
  if pid=$(jupyterhub_pid); then
    if jupyterhub_ready || wait_until 20 "$pid" -- jupyterhub_ready; then
      info "jupyterhub: $JHUB_NAME already running (pid $pid, $JHUB_URL)"
      return 0
    fi
    log_tail "$JHUB_LOG"
    die "jupyterhub: pid $pid is alive but $JHUB_URL does not answer; run 'scripts/services stop $PROFILE' and retry"
  fi
  rm -f -- "$JHUB_PID_FILE"
  _jupyterhub_reap
  # Another hub on these ports would answer our readiness check (and the tests) instead of ours.
  for port in "$JHUB_PORT" "$((JHUB_PORT + 1))" "$((JHUB_PORT + 81))"; do
    if port_open "$port"; then die "jupyterhub: port 127.0.0.1:$port is already in use by another process"; fi
  done

  if ! _jupyterhub_packages_present; then
    info "jupyterhub: installing JupyterHub from Debian (about 100 s the first time)"
  fi
  ensure_packages "$JUPYTERHUB_PYTHON:python3" "$JUPYTERHUB_BIN:jupyterhub" \
    /usr/lib/python3/dist-packages/jupyter_server/serverapp.py:python3-jupyter-server \
    /usr/lib/python3/dist-packages/notebook/notebookapp.py:python3-notebook
  [[ -r $JUPYTERHUB_CONFIG ]] || die "jupyterhub: config $JUPYTERHUB_CONFIG missing"

  secret_ensure JUPYTERHUB_PORTAL_TOKEN
  if [[ $PROFILE == test && $JHUB_INSTANCE != bench ]]; then
    # users and servers of earlier test runs: each test uses its own user names (the bench instance keeps its
    # seeded users: scripts/bench admin-queries replaces them when they are not the ones it wants)
    rm -rf -- "$JHUB_DB" "${JHUB_DIR:?}/home"
  fi
  mkdir -p -- "$JHUB_DIR/home"
  chmod 0700 -- "$JHUB_DIR"

  printf '%s scripts/services: starting %s on %s (concurrent_spawn_limit %s)\n' \
    "$(date -Is)" "$JHUB_NAME" "$JHUB_URL" "$JHUB_SPAWN_LIMIT" >>"$JHUB_LOG"
  # A clean environment: nothing of the caller (a test run's secrets, pyenv's python3 on PATH) reaches the hub
  # or the single-user servers.
  spawn_detached "$JHUB_LOG" env -i -C "$JHUB_DIR" \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$JHUB_DIR" LANG=C.UTF-8 \
    JHUB_BASE="$JHUB_DIR" JHUB_PORT="$JHUB_PORT" JHUB_SECRETS_FILE="$SECRETS_FILE" \
    JHUB_CONCURRENT_SPAWN_LIMIT="$JHUB_SPAWN_LIMIT" \
    "$JUPYTERHUB_BIN" -f "$JUPYTERHUB_CONFIG"
  local spawned=$SPAWNED_PID rc=0
  wait_until "$START_TIMEOUT" "$spawned" -- jupyterhub_ready || rc=$?
  if ((rc)); then
    log_tail "$JHUB_LOG"
    if ((rc == 2)); then
      _jupyterhub_reap
      die "jupyterhub: $JHUB_NAME exited during startup"
    fi
    stop_pid jupyterhub "$spawned" jupyterhub
    _jupyterhub_reap
    die "jupyterhub: $JHUB_URL not answering after ${START_TIMEOUT}s"
  fi
  pid_running "$spawned" jupyterhub || {
    log_tail "$JHUB_LOG"
    die "jupyterhub: answering, but the hub we started (pid $spawned) is gone"
  }
  printf '%s\n' "$spawned" >"$JHUB_PID_FILE"
  info "jupyterhub: $JHUB_NAME started (pid $spawned, $JHUB_URL, api ${JHUB_URL}hub/api) in $(elapsed_since "$t0")"
}

_jupyterhub_stop_instance() {
  jupyterhub_paths "$1"
  local pid
  if pid=$(jupyterhub_pid); then
    # SIGTERM: the hub stops its single-user servers and its proxy (cleanup_servers, cleanup_proxy), ~2-4 s.
    stop_pid jupyterhub "$pid" jupyterhub
    info "jupyterhub: $JHUB_NAME stopped (pid $pid)"
  elif [[ -z ${JUPYTERHUB_INSTANCE:-} && $JHUB_INSTANCE != main ]]; then
    return 0 # the optional instances are only mentioned when they ran
  else
    info "jupyterhub: $JHUB_NAME not running"
  fi
  rm -f -- "$JHUB_PID_FILE"
  _jupyterhub_reap
}

jupyterhub_start() {
  _jupyterhub_start_instance "${JUPYTERHUB_INSTANCE:-main}"
}

jupyterhub_stop() {
  local i
  if [[ -n ${JUPYTERHUB_INSTANCE:-} ]]; then
    _jupyterhub_stop_instance "$JUPYTERHUB_INSTANCE"
    return 0
  fi
  for ((i = ${#JUPYTERHUB_INSTANCES[@]} - 1; i >= 0; i--)); do
    _jupyterhub_stop_instance "${JUPYTERHUB_INSTANCES[i]}"
  done
}

jupyterhub_status() {
  jupyterhub_paths
  service_status "$JHUB_NAME" jupyterhub_pid jupyterhub_ready "${JHUB_URL%/}" "$JHUB_DIR"
}

jupyterhub_env() {
  jupyterhub_paths bench
  local bench_url=$JHUB_URL bench_dir=$JHUB_DIR
  jupyterhub_paths limited
  local limited_url=$JHUB_URL
  jupyterhub_paths main
  emit_export JupyterHub__BaseUrl "$JHUB_URL"
  emit_export JupyterHub__ApiToken "$(secret_require JUPYTERHUB_PORTAL_TOKEN)"
  emit_export PORTAL_JUPYTERHUB_LIMITED_URL "$limited_url"
  emit_export PORTAL_JUPYTERHUB_BENCH_URL "$bench_url"
  emit_export PORTAL_JUPYTERHUB_BENCH_DIR "$bench_dir"
}
