# shellcheck shell=bash
# Slurm 22.05 (Debian bookworm) for the portal's Slurm spawner backend and its tests: one node `localhost` run by
# munged, slurmctld and slurmd, all as root, in the foreground (-D / -F) and detached by us, with their pids
# recorded. No systemd, no cgroups (proctrack/linuxproc, task/none), no accounting.
# Config: scripts/slurm/slurm.conf.tmpl and gres.conf.tmpl, rendered into $STATE_DIR/slurm/etc/ on every start.
#
# Only profile `test` lists the service (scripts/services: TEST_ONLY_SERVICES); its `run` ports are only reserved.
#
#   port (profile test / run)   what
#   26817 / 16817               slurmctld
#   26818 / 16818               slurmd
#   26900-26999 / 16900-16999   the Jupyter servers of the jobs (Slurm__PortRangeStart/End)
#
# The node has this machine's CPUs and memory (less 512 MB), four stand-in GPUs (gres/gpu:4 on character devices
# that are copies of /dev/null, so `--gres=gpu:N` is accepted without a GPU) and one partition `portal` where up to
# four jobs may share a core. munged has a key and a socket of its own in $STATE_DIR/slurm/munge/ (the system's
# /run/munge is not touched). State: $STATE_DIR/slurm/ (etc/, state/, run/, munge/, dev/); logs: $LOG_DIR/munged.log,
# slurmctld.log, slurmd.log. A cold start of profile `test` begins with an empty queue (job ids from 1).
# Stop cancels every job first, then ends the daemons by their recorded pids.
#
# Clients need SLURM_CONF: eval "$(scripts/services env test)" exports it (and Slurm__ConfPath for the portal).

SLURM_TEMPLATE_DIR="$SCRIPTS_DIR/slurm"
SLURM_GPUS=4
# How long stop waits for cancelled jobs to leave the queue.
SLURM_DRAIN_TIMEOUT=15

slurm_base_port() {
  case $PROFILE in
    run) echo 16817 ;;
    test) echo 26817 ;;
  esac
}

slurm_paths() {
  SLURM_DIR="$STATE_DIR/slurm"
  SLURM_CONF_FILE="$SLURM_DIR/etc/slurm.conf"
  SLURM_MUNGE_DIR="$SLURM_DIR/munge"
  SLURM_MUNGE_SOCKET="$SLURM_MUNGE_DIR/munge.socket"
  SLURM_MUNGE_KEY="$SLURM_MUNGE_DIR/munge.key"
  SLURM_RUN_DIR="$SLURM_DIR/run"
  SLURM_CTLD_PORT=$(slurm_base_port)
  SLURM_SLURMD_PORT=$((SLURM_CTLD_PORT + 1))
  SLURM_JUPYTER_PORTS_START=$((SLURM_CTLD_PORT + 83))
  SLURM_JUPYTER_PORTS_END=$((SLURM_CTLD_PORT + 182))
}

# slurm_daemon_pid NAME: the pid we recorded for munged, slurmctld or slurmd, when that process is alive.
slurm_daemon_pid() {
  local name=$1 pid
  pid=$(pid_from_file "$SLURM_RUN_DIR/$name.pid") || return 1
  pid_running "$pid" "$name" || return 1
  printf '%s' "$pid"
}

# slurm_pid: slurmctld's pid when all three daemons run.
slurm_pid() {
  slurm_daemon_pid munged >/dev/null && slurm_daemon_pid slurmd >/dev/null && slurm_daemon_pid slurmctld
}

# _slurm_client CMD...: a Slurm client command against this profile's cluster.
_slurm_client() {
  SLURM_CONF="$SLURM_CONF_FILE" "$@"
}

# _slurm_node_state: the node's state as sinfo prints it (idle, mixed, allocated, idle*, drained, ...).
_slurm_node_state() {
  _slurm_client sinfo -h -n localhost -o %T 2>/dev/null
}

# slurm_ready: the controller answers and the node takes jobs (responding, not drained).
slurm_ready() {
  local state
  state=$(_slurm_node_state) || return 1
  [[ $state == idle || $state == mixed || $state == allocated ]]
}

_slurm_munge_ready() {
  munge -S "$SLURM_MUNGE_SOCKET" -n >/dev/null 2>&1
}

# _slurm_render TEMPLATE TARGET: fills in the @NAME@ placeholders and drops comment lines.
_slurm_render() {
  local tmpl=$1 target=$2 cpus memory_mb
  [[ -r $tmpl ]] || die "slurm: template $tmpl missing"
  cpus=$(nproc)
  memory_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 - 512 }' /proc/meminfo)
  ((memory_mb > 0)) || die "slurm: cannot read the memory size from /proc/meminfo"
  sed -e '/^#/d' \
    -e "s|@PROFILE@|$(sed_repl_escape "$PROFILE")|g" \
    -e "s|@DIR@|$(sed_repl_escape "$SLURM_DIR")|g" \
    -e "s|@MUNGE_SOCKET@|$(sed_repl_escape "$SLURM_MUNGE_SOCKET")|g" \
    -e "s|@CTLD_PORT@|$SLURM_CTLD_PORT|g" \
    -e "s|@SLURMD_PORT@|$SLURM_SLURMD_PORT|g" \
    -e "s|@CPUS@|$cpus|g" \
    -e "s|@MEMORY_MB@|$memory_mb|g" \
    -e "s|@GPUS@|$SLURM_GPUS|g" \
    -e "s|@LAST_GPU@|$((SLURM_GPUS - 1))|g" \
    "$tmpl" >"$target"
}

# _slurm_stand_in_gpus: character devices with /dev/null's numbers, one per GPU, for gres.conf's File=.
# Where mknod is not allowed, plain files: slurmd then logs "not a valid character or block device" for each
# but still counts them.
_slurm_stand_in_gpus() {
  local i dev
  mkdir -p -- "$SLURM_DIR/dev"
  for ((i = 0; i < SLURM_GPUS; i++)); do
    dev="$SLURM_DIR/dev/gpu$i"
    [[ -c $dev ]] && continue
    rm -f -- "$dev"
    if ! mknod -m 0666 "$dev" c 1 3 2>/dev/null; then
      warn "slurm: mknod not allowed here; $dev is a plain file (slurmd complains, and counts it)"
      : >"$dev"
    fi
  done
}

# _slurm_stop_daemons: ends whatever daemons of ours still run, slurmd first and munged last.
_slurm_stop_daemons() {
  local name pid
  for name in slurmd slurmctld munged; do
    if pid=$(slurm_daemon_pid "$name"); then
      stop_pid "$name" "$pid" "$name"
      info "slurm: $name stopped (pid $pid)"
    fi
    rm -f -- "$SLURM_RUN_DIR/$name.pid"
  done
}

# _slurm_spawn NAME CMD...: starts one daemon detached, with a clean environment, and records its pid.
_slurm_spawn() {
  local name=$1 log="$LOG_DIR/$1.log"
  shift
  printf '%s scripts/services: starting %s\n' "$(date -Is)" "$name" >>"$log"
  spawn_detached "$log" env -i -C "$SLURM_DIR" PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    SLURM_CONF="$SLURM_CONF_FILE" "$@"
  printf '%s\n' "$SPAWNED_PID" >"$SLURM_RUN_DIR/$name.pid"
}

# _slurm_fail NAME MESSAGE: shows the daemon's log, stops what was started and gives up.
_slurm_fail() {
  log_tail "$LOG_DIR/$1.log"
  _slurm_stop_daemons
  die "slurm: $2"
}

slurm_start() {
  slurm_paths
  local pid t0 port rc name
  t0=$(now_ms)
  if pid=$(slurm_pid); then
    if slurm_ready || wait_until 20 "$pid" -- slurm_ready; then
      info "slurm: already running (slurmctld pid $pid, 127.0.0.1:$SLURM_CTLD_PORT)"
      return 0
    fi
    log_tail "$LOG_DIR/slurmctld.log"
    die "slurm: running, but node localhost is '$(_slurm_node_state)'; run 'scripts/services stop $PROFILE' and retry"
  fi
  # Half of it running (one daemon died): start over.
  _slurm_stop_daemons
  for port in "$SLURM_CTLD_PORT" "$SLURM_SLURMD_PORT"; do
    if port_open "$port"; then die "slurm: port 127.0.0.1:$port is already in use by another process"; fi
  done

  ensure_packages slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge
  if [[ $PROFILE == test ]]; then
    # jobs, node state and job ids of earlier test runs: each test uses its own user names
    rm -rf -- "${SLURM_DIR:?}/state"
  fi
  mkdir -p -- "$SLURM_DIR/etc" "$SLURM_DIR/state/ctld" "$SLURM_DIR/state/d" "$SLURM_RUN_DIR" "$SLURM_MUNGE_DIR"
  chmod 0755 -- "$SLURM_DIR"
  # munged insists that everyone may traverse to its socket
  chmod 0755 -- "$SLURM_MUNGE_DIR"
  _slurm_render "$SLURM_TEMPLATE_DIR/slurm.conf.tmpl" "$SLURM_CONF_FILE"
  _slurm_render "$SLURM_TEMPLATE_DIR/gres.conf.tmpl" "$SLURM_DIR/etc/gres.conf"
  _slurm_stand_in_gpus

  # 1. munged with a key of this profile (root-owned 0600: munged runs as root here)
  if [[ ! -s $SLURM_MUNGE_KEY ]]; then
    (umask 077 && head -c 1024 /dev/urandom >"$SLURM_MUNGE_KEY")
  fi
  chmod 0600 -- "$SLURM_MUNGE_KEY"
  rm -f -- "$SLURM_MUNGE_SOCKET" "$SLURM_MUNGE_SOCKET.lock"
  _slurm_spawn munged /usr/sbin/munged -F --socket="$SLURM_MUNGE_SOCKET" --key-file="$SLURM_MUNGE_KEY" \
    --pid-file="$SLURM_MUNGE_DIR/munged.pid" --seed-file="$SLURM_MUNGE_DIR/munged.seed"
  rc=0
  wait_until "$START_TIMEOUT" "$SPAWNED_PID" -- _slurm_munge_ready || rc=$?
  ((rc == 0)) || _slurm_fail munged "munged did not start (socket $SLURM_MUNGE_SOCKET)"

  # 2. slurmctld, then slurmd as node "localhost"
  _slurm_spawn slurmctld /usr/sbin/slurmctld -D -f "$SLURM_CONF_FILE"
  _slurm_spawn slurmd /usr/sbin/slurmd -D -N localhost -f "$SLURM_CONF_FILE"
  rc=0
  wait_until "$START_TIMEOUT" "" -- slurm_ready || rc=$?
  if ((rc)) && [[ $(_slurm_node_state) == drain* ]]; then
    # drained by an earlier run (kept state of profile run): it registered fine now, so take it back
    _slurm_client scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
    rc=0
    wait_until 10 "" -- slurm_ready || rc=$?
  fi
  for name in slurmctld slurmd; do
    slurm_daemon_pid "$name" >/dev/null || _slurm_fail "$name" "$name exited during startup"
  done
  ((rc == 0)) || _slurm_fail slurmctld "node localhost not ready after ${START_TIMEOUT}s (state '$(_slurm_node_state)')"
  info "slurm: started (slurmctld pid $(slurm_daemon_pid slurmctld), 127.0.0.1:$SLURM_CTLD_PORT, node localhost:" \
    "$(nproc) CPUs, gpu:$SLURM_GPUS; SLURM_CONF=$SLURM_CONF_FILE) in $(elapsed_since "$t0")"
}

# _slurm_queue_empty: no job is pending, running or completing.
_slurm_queue_empty() {
  local jobs
  jobs=$(_slurm_client squeue -h -o %i 2>/dev/null) || return 1
  [[ -z $jobs ]]
}

slurm_stop() {
  slurm_paths
  local jobs
  if slurm_daemon_pid slurmctld >/dev/null && slurm_daemon_pid munged >/dev/null; then
    jobs=$(_slurm_client squeue -h -o %i 2>/dev/null || true)
    if [[ -n $jobs ]]; then
      # shellcheck disable=SC2086 # one job id per word
      _slurm_client scancel $jobs 2>/dev/null || true
      if wait_until "$SLURM_DRAIN_TIMEOUT" "" -- _slurm_queue_empty; then
        info "slurm: cancelled $(wc -w <<<"$jobs") job(s)"
      else
        warn "slurm: jobs still in the queue ${SLURM_DRAIN_TIMEOUT}s after scancel: $(_slurm_client squeue -h -o '%i %T' | tr '\n' ' ')"
      fi
    fi
  fi
  if ! slurm_daemon_pid munged >/dev/null && ! slurm_daemon_pid slurmctld >/dev/null && ! slurm_daemon_pid slurmd >/dev/null; then
    info "slurm: not running"
  fi
  _slurm_stop_daemons
}

slurm_status() {
  slurm_paths
  service_status slurm slurm_pid slurm_ready "127.0.0.1:$SLURM_CTLD_PORT" "$SLURM_DIR"
}

slurm_env() {
  slurm_paths
  emit_export SLURM_CONF "$SLURM_CONF_FILE"
  emit_export Slurm__ConfPath "$SLURM_CONF_FILE"
  emit_export Slurm__PortRangeStart "$SLURM_JUPYTER_PORTS_START"
  emit_export Slurm__PortRangeEnd "$SLURM_JUPYTER_PORTS_END"
}
