# shellcheck shell=bash
# Shared helpers for scripts/services: paths, logging, PID handling, readiness polling,
# detached spawning, Debian package installation and secrets.
#
# A service is a file scripts/lib/<svc>.sh that defines
#   <svc>_start  <svc>_stop  <svc>_status  <svc>_env
# and is listed in SERVICES in scripts/services. Everything a service keeps lives under
# $STATE_DIR/<svc>/ and its log under $LOG_DIR/.

# Debian puts the daemons into sbin; make sure we find them even from a minimal PATH.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac
export PATH

COMMON_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
SCRIPTS_DIR=$(dirname "$COMMON_DIR")
REPO_ROOT=$(dirname "$SCRIPTS_DIR")
LOCAL_ROOT="$REPO_ROOT/.local"

# Poll interval for readiness/shutdown loops (seconds) and default timeouts.
POLL_INTERVAL=0.05
# shellcheck disable=SC2034 # used by the service libraries
START_TIMEOUT=${SERVICES_START_TIMEOUT:-60}
STOP_TIMEOUT=${SERVICES_STOP_TIMEOUT:-30}

PROFILE=""
STATE_DIR=""
LOG_DIR=""
SECRETS_FILE=""

# ---------------------------------------------------------------------------------------------
# logging

info() { printf 'services[%s]: %s\n' "${PROFILE:-?}" "$*" >&2; }
warn() { printf 'services[%s]: WARNING: %s\n' "${PROFILE:-?}" "$*" >&2; }
die() {
  printf 'services[%s]: ERROR: %s\n' "${PROFILE:-?}" "$*" >&2
  exit 1
}

# log_tail FILE [LINES]: show the end of a service log on stderr (used when something fails).
log_tail() {
  local file=$1 lines=${2:-40}
  if [[ -s $file ]]; then
    printf -- '----- last %s lines of %s -----\n' "$lines" "$file" >&2
    tail -n "$lines" -- "$file" >&2 || true
    printf -- '----- end of %s -----\n' "$file" >&2
  else
    printf -- '(log %s is empty or missing)\n' "$file" >&2
  fi
}

# Milliseconds since the epoch, and a human "1.23s" since a start mark.
now_ms() {
  local t=${EPOCHREALTIME/[.,]/}
  printf '%s' "$((t / 1000))"
}
elapsed_since() {
  local start=$1 d
  d=$(($(now_ms) - start))
  printf '%d.%02ds' "$((d / 1000))" "$(((d % 1000) / 10))"
}

# ---------------------------------------------------------------------------------------------
# cleanup of temporary files (also on error / interrupt)

CLEANUP_PATHS=()
_common_cleanup() {
  local p
  for p in "${CLEANUP_PATHS[@]}"; do
    [[ -n $p ]] && rm -rf -- "$p"
  done
  return 0
}
trap _common_cleanup EXIT

# ---------------------------------------------------------------------------------------------
# profile and folders

profile_init() {
  local profile=$1
  case $profile in
    run | test) ;;
    *) PROFILE="" die "unknown profile '$profile' (expected: run | test)" ;;
  esac
  PROFILE=$profile
  STATE_DIR="$LOCAL_ROOT/$PROFILE"
  LOG_DIR="$STATE_DIR/logs"
  SECRETS_FILE="$STATE_DIR/secrets.env"
}

# Create the profile folders. .local and .local/<profile> get o+x so that service users
# (postgres) can traverse to their own folders below them; nothing else is opened up.
profile_dirs() {
  mkdir -p -- "$LOG_DIR"
  chmod 0755 -- "$LOCAL_ROOT" "$STATE_DIR" "$LOG_DIR"
  traversable_parents "$LOCAL_ROOT"
}

# Services run as other users (postgres) or insist that everyone can reach their socket (munged: "execute
# permissions for all"), and .local/ lies inside the checkout, whose parents may be private (a clone under
# `mktemp -d` is 0700). Each parent that not everyone can pass gets a+x: search only, nothing to list or read.
traversable_parents() {
  local dir=$1
  while [[ $dir != / ]]; do
    dir=$(dirname -- "$dir")
    if (( (8#$(stat -c %a -- "$dir") & 8#111) != 8#111 )); then
      chmod a+x -- "$dir"
      info "$dir was not passable for everyone (services run as other users); added a+x (search only)"
    fi
  done
}

require_root() {
  [[ $EUID -eq 0 ]] || die "must run as root (it installs packages and starts services as other users)"
}

# Serialise start/stop of one profile (two profiles may run in parallel).
# The lock fd is closed in every daemon we spawn (see close_extra_fds).
LOCK_FD=""
profile_lock() {
  [[ -z $LOCK_FD ]] || return 0
  exec {LOCK_FD}>"$STATE_DIR/.lock"
  if ! flock -w 300 "$LOCK_FD"; then
    die "could not get the lock $STATE_DIR/.lock within 300s (another scripts/services run?)"
  fi
}

# ---------------------------------------------------------------------------------------------
# processes

# pid_running PID [COMM]: true when PID is a live process (zombies count as gone: this sandbox's
# PID 1 reaps reparented children late) and, when COMM is given, its /proc/PID/comm equals COMM
# (guards against a recycled PID).
pid_running() {
  local pid=${1:-} comm=${2:-} stat state name
  [[ $pid =~ ^[1-9][0-9]*$ ]] || return 1
  { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || return 1
  stat=${stat##*) }
  state=${stat%% *}
  [[ $state != Z && $state != X && $state != x ]] || return 1
  if [[ -n $comm ]]; then
    { read -r name <"/proc/$pid/comm"; } 2>/dev/null || return 1
    [[ $name == "$comm" ]] || return 1
  fi
  return 0
}

# pid_from_file FILE: print the first line of FILE if it is a number.
pid_from_file() {
  local file=$1 pid=""
  [[ -r $file ]] || return 1
  { read -r pid <"$file"; } 2>/dev/null || true
  [[ $pid =~ ^[1-9][0-9]*$ ]] || return 1
  printf '%s' "$pid"
}

# wait_until TIMEOUT_S WATCH_PID -- CMD...: poll CMD every POLL_INTERVAL until it succeeds.
# Fails early when WATCH_PID (if not empty) has died, and after TIMEOUT_S seconds.
wait_until() {
  local timeout=$1 watch=$2
  shift 3
  local deadline=$(($(now_ms) + timeout * 1000))
  while true; do
    if "$@"; then return 0; fi
    if [[ -n $watch ]] && ! pid_running "$watch"; then
      # one more try: it may have finished starting and exited a wrapper just now
      "$@" && return 0
      return 2
    fi
    (($(now_ms) < deadline)) || return 1
    sleep "$POLL_INTERVAL"
  done
}

# wait_pid_gone PID COMM TIMEOUT_S
wait_pid_gone() {
  local pid=$1 comm=$2 timeout=$3
  local deadline=$(($(now_ms) + timeout * 1000))
  while pid_running "$pid" "$comm"; do
    (($(now_ms) < deadline)) || return 1
    sleep "$POLL_INTERVAL"
  done
  return 0
}

# stop_pid NAME PID COMM: SIGTERM, bounded wait, SIGKILL as a last resort.
stop_pid() {
  local name=$1 pid=$2 comm=$3
  pid_running "$pid" "$comm" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  if wait_pid_gone "$pid" "$comm" "$STOP_TIMEOUT"; then return 0; fi
  warn "$name (pid $pid) did not stop within ${STOP_TIMEOUT}s after SIGTERM; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  wait_pid_gone "$pid" "$comm" 10 || die "$name (pid $pid) survived SIGKILL"
}

# close_extra_fds: close every fd above 2 in the current (sub)shell, so that a daemon keeps
# neither our lock nor any pipe of the caller (CI waits for those to close).
close_extra_fds() {
  local fd n
  for fd in /proc/"$BASHPID"/fd/*; do
    n=${fd##*/}
    [[ $n =~ ^[0-9]+$ ]] || continue
    ((n > 2)) || continue
    eval "exec $n>&-" 2>/dev/null || true
  done
}

# spawn_detached LOG CMD...: start CMD in its own session, stdin /dev/null, stdout+stderr
# appended to LOG, no other fds. Sets SPAWNED_PID ($! is CMD itself: the subshell execs setsid,
# which execs CMD because a background job of a non-interactive shell is no group leader).
SPAWNED_PID=""
spawn_detached() {
  local log=$1
  shift
  (
    exec </dev/null >>"$log" 2>&1
    close_extra_fds
    exec setsid "$@"
  ) &
  # shellcheck disable=SC2034 # read by the caller
  SPAWNED_PID=$!
}

# run_detached LOG CMD...: run CMD to completion in its own session with the same hygiene
# (for commands such as pg_ctl that fork the real daemon and then exit).
run_detached() {
  local log=$1
  shift
  (
    exec </dev/null >>"$log" 2>&1
    close_extra_fds
    exec setsid --wait "$@"
  )
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ---------------------------------------------------------------------------------------------
# Debian packages

POLICY_RC_D=${POLICY_RC_D:-/usr/sbin/policy-rc.d}

_apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    -o DPkg::Lock::Timeout=300 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "$@"
}

# ensure_packages CMD:PACKAGE...: install the packages whose command (a name on PATH, or an
# absolute path to any file the package installs) is missing. Package postinst scripts must not start system daemons, so a
# policy-rc.d that denies everything is put in place for the duration if none exists.
ensure_packages() {
  local pair cmd pkg missing=() seen=" "
  for pair in "$@"; do
    cmd=${pair%%:*}
    pkg=${pair#*:}
    if [[ $cmd == /* ]]; then [[ -e $cmd ]] && continue; else command -v "$cmd" >/dev/null 2>&1 && continue; fi
    [[ $seen == *" $pkg "* ]] && continue
    seen+="$pkg "
    missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0

  require_root
  local log="$LOG_DIR/apt.log" t0 created_policy="" rc=0
  t0=$(now_ms)
  info "installing Debian packages: ${missing[*]} (log: $log)"
  if [[ ! -e $POLICY_RC_D ]]; then
    printf '#!/bin/sh\n# temporary, from scripts/services: no daemons from package scripts\nexit 101\n' >"$POLICY_RC_D"
    chmod 0755 "$POLICY_RC_D"
    created_policy=$POLICY_RC_D
    CLEANUP_PATHS+=("$POLICY_RC_D")
  fi
  if ! _apt_install "${missing[@]}" >>"$log" 2>&1; then
    # most likely no package lists yet (fresh image): update and try once more
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -o DPkg::Lock::Timeout=300 >>"$log" 2>&1 &&
      _apt_install "${missing[@]}" >>"$log" 2>&1; }; then
      rc=1
    fi
  fi
  if [[ -n $created_policy ]]; then rm -f -- "$created_policy"; fi
  if ((rc)); then
    log_tail "$log"
    die "apt-get install ${missing[*]} failed"
  fi
  for pair in "$@"; do
    cmd=${pair%%:*}
    if [[ $cmd == /* ]]; then [[ -e $cmd ]] && continue; else command -v "$cmd" >/dev/null 2>&1 && continue; fi
    die "'$cmd' is still missing after installing ${pair#*:}"
  done
  info "installed ${missing[*]} in $(elapsed_since "$t0")"
}

# ---------------------------------------------------------------------------------------------
# secrets: KEY=VALUE lines in $SECRETS_FILE (0600), letters and digits only.

gen_secret() {
  local s="" chunk
  while ((${#s} < 32)); do
    if command -v openssl >/dev/null 2>&1; then
      chunk=$(openssl rand -base64 48)
    else
      chunk=$(head -c 48 /dev/urandom | base64)
    fi
    s+=$(printf '%s' "$chunk" | tr -dc 'A-Za-z0-9')
  done
  printf '%s' "${s:0:32}"
}

# secret_get KEY: print the value (fails if absent).
secret_get() {
  local key=$1 k v
  [[ -r $SECRETS_FILE ]] || return 1
  while IFS='=' read -r k v; do
    if [[ $k == "$key" ]]; then
      printf '%s' "$v"
      return 0
    fi
  done <"$SECRETS_FILE"
  return 1
}

# secret_ensure KEY...: generate each missing secret once; existing values are kept.
secret_ensure() {
  local key
  (umask 077 && : >>"$SECRETS_FILE")
  chmod 0600 -- "$SECRETS_FILE"
  for key in "$@"; do
    secret_get "$key" >/dev/null && continue
    printf '%s=%s\n' "$key" "$(gen_secret)" >>"$SECRETS_FILE"
    SECRETS_CREATED+=("$key")
  done
}
SECRETS_CREATED=()

# secret_require KEY: print the value or die (used by env).
secret_require() {
  secret_get "$1" || die "secret $1 missing from $SECRETS_FILE; run: scripts/services start $PROFILE"
}

# ---------------------------------------------------------------------------------------------
# output helpers

# shell_quote VALUE: single-quoted for POSIX shells.
shell_quote() {
  local v=$1
  printf "'%s'" "${v//\'/\'\\\'\'}"
}

# emit_export KEY VALUE
emit_export() {
  printf 'export %s=%s\n' "$1" "$(shell_quote "$2")"
}

# status_line NAME STATE PORT FOLDER
status_line() {
  printf '%-10s %-28s %-17s %s\n' "$1" "$2" "$3" "$4"
}

# service_status NAME PID_FN READY_FN ADDRESS DATA: the status line of one service from its own
# pid and readiness functions; returns 3 unless it runs and answers.
service_status() {
  local name=$1 pid_fn=$2 ready_fn=$3 address=$4 data=$5 pid state rc=0
  if pid=$("$pid_fn"); then
    if "$ready_fn"; then state="running pid $pid"; else
      state="running pid $pid (not answering)"
      rc=3
    fi
  else
    state=stopped
    rc=3
  fi
  status_line "$name" "$state" "$address" "$data"
  return "$rc"
}

# escape a string for the replacement part of a sed s|...|...| command
sed_repl_escape() {
  local v=$1
  v=${v//\\/\\\\}
  v=${v//&/\\&}
  v=${v//|/\\|}
  printf '%s' "$v"
}
