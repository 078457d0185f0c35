# shellcheck shell=bash
# An LXD of our own (Debian's lxd 5.0.2) for the portal's LXD spawner backend and its tests. It never touches a
# system LXD: its own LXD_DIR (database, images, containers, unix socket), storage pool folder, client config and
# recorded pid, all under $STATE_DIR/lxd/:
#
#   var/                LXD_DIR; var/unix.socket is the API (root only). By hand:
#                       LXD_DIR=$STATE_DIR/lxd/var LXD_CONF=$STATE_DIR/lxd/client lxc list
#   pool/               the storage pool `default` (driver dir); the default profile's root disk lives there
#   homes/              the users' home folders the backend bind-mounts (Lxd__HomeRoot)
#   lxd.pid             the pid we started (the one stop ends)
#
# Containers only: there are no VMs here (no vhost_vsock). No network either: no bridge, no dnsmasq, no firewall
# rule. The backend reaches each server through an LXD proxy device (127.0.0.1:PORT on the host to 127.0.0.1:8888
# in the container), from the port range below.
#
#   port (profile test / run)   what
#   27000-27099 / 17000-17099   the proxy devices of the servers (Lxd__PortRangeStart/End)
#
# Images: nothing can be downloaded, so the test images are built here at start from Debian's static busybox and
# scripts/lxd/init (a stand-in for a single-user Jupyter server: busybox httpd answering /api/status and a page,
# NOT Jupyter; see that script), and rebuilt only when those change (image property standin_context):
#   portal-default                                           the default image (no toolkit)
#   portal-cuda-12-4, portal-cuda-12-1, portal-cuda-11-8     one per catalog toolkit: CUDA_VERSION, CUDA_HOME
#
# Only profile `test` lists the service (scripts/services: TEST_ONLY_SERVICES); its `run` ports are only reserved.
# A cold start of profile `test` deletes the portal's instances that earlier runs left (config user.portal.user);
# images are kept. Stop deletes every instance, then ends the daemon (`lxd shutdown`, then SIGTERM/SIGKILL).
# There is no GPU here: the tests leave Lxd:AttachGpus off.

LXD_BIN=/usr/bin/lxd
LXC_BIN=/usr/bin/lxc
LXD_BUSYBOX=/bin/busybox
LXD_INIT="$SCRIPTS_DIR/lxd/init"
LXD_DEFAULT_IMAGE=portal-default
LXD_IMAGE_PREFIX=portal-cuda
LXD_TOOLKITS=(12.4 12.1 11.8) # as in migrations/0006_cuda_toolkits.sql (provision "portal-cuda-<major>-<minor>")
# How long `lxd shutdown` may take before the daemon is signalled.
LXD_SHUTDOWN_TIMEOUT=30

lxd_paths() {
  LXD_HOME="$STATE_DIR/lxd"
  LXD_VAR="$LXD_HOME/var"
  LXD_POOL="$LXD_HOME/pool"
  LXD_HOMES="$LXD_HOME/homes"
  LXD_CLIENT="$LXD_HOME/client"
  LXD_SOCK="$LXD_VAR/unix.socket"
  LXD_PID_FILE="$LXD_HOME/lxd.pid"
  LXD_LOG="$LOG_DIR/lxd.log"
  case $PROFILE in
    run) LXD_PORTS_START=17000 ;;
    test) LXD_PORTS_START=27000 ;;
  esac
  LXD_PORTS_END=$((LXD_PORTS_START + 99))
}

# lxd_cli ARG...: Debian's client against our daemon, with a client config folder of its own (no remotes or
# certificates of the machine's user).
lxd_cli() {
  LXD_DIR=$LXD_VAR LXD_CONF=$LXD_CLIENT "$LXC_BIN" "$@"
}

# lxd_pid: the daemon we started (lxd.pid) when that process is alive.
lxd_pid() {
  local pid
  pid=$(pid_from_file "$LXD_PID_FILE") || return 1
  pid_running "$pid" lxd || return 1
  printf '%s' "$pid"
}

# lxd_ready: GET /1.0 answers on the socket.
lxd_ready() {
  [[ -S $LXD_SOCK ]] && lxd_cli query /1.0 >/dev/null 2>&1
}

# _lxd_configure: the storage pool `default` (dir, in pool/) and the default profile's root disk on it; kept when
# they exist. No remote image server is ever consulted (no network): images.auto_update_interval 0.
_lxd_configure() {
  if ! lxd_cli storage show default >/dev/null 2>&1; then
    mkdir -p -- "$LXD_POOL"
    lxd_cli storage create default dir "source=$LXD_POOL" >>"$LXD_LOG" 2>&1 ||
      die "lxd: could not create the storage pool default in $LXD_POOL (see $LXD_LOG)"
  fi
  if ! lxd_cli profile device get default root pool >/dev/null 2>&1; then
    lxd_cli profile device add default root disk path=/ pool=default >>"$LXD_LOG" 2>&1 ||
      die "lxd: could not add the root disk to the default profile (see $LXD_LOG)"
  fi
  lxd_cli config set images.auto_update_interval 0 >>"$LXD_LOG" 2>&1 || true
}

# _lxd_context_hash ALIAS [TOOLKIT]: what an image is built from (init, busybox, alias, toolkit).
_lxd_context_hash() {
  {
    printf '%s %s\n' "$1" "${2:-}"
    sha256sum "$LXD_INIT" "$LXD_BUSYBOX" | cut -d' ' -f1
  } | sha256sum | cut -d' ' -f1
}

# _lxd_image ALIAS [TOOLKIT]: build and import one image unless the alias names one from the same context.
_lxd_image() {
  local alias=$1 toolkit=${2:-} hash work rootfs applet arch
  hash=$(_lxd_context_hash "$alias" "$toolkit")
  if lxd_cli image show "$alias" 2>/dev/null | grep -qx "  standin_context: \"\?$hash\"\?"; then
    return 0
  fi
  work=$(mktemp -d "${TMPDIR:-/tmp}/portal-lxd-image.XXXXXX")
  CLEANUP_PATHS+=("$work")
  rootfs="$work/rootfs"
  mkdir -p -- "$rootfs"/{bin,sbin,etc,dev,proc,sys,run,tmp,root,home,usr/local/bin}
  chmod 1777 -- "$rootfs/tmp"
  cp -- "$LXD_BUSYBOX" "$rootfs/bin/busybox"
  for applet in $("$LXD_BUSYBOX" --list); do
    [[ $applet == busybox || -e $rootfs/bin/$applet ]] || ln -s busybox "$rootfs/bin/$applet"
  done
  install -m 0755 -- "$LXD_INIT" "$rootfs/sbin/init"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\n' >"$rootfs/etc/group"
  if [[ -n $toolkit ]]; then
    printf 'CUDA_VERSION=%s\nCUDA_HOME=/usr/local/cuda-%s\n' "$toolkit" "$toolkit" >"$rootfs/etc/portal-standin.env"
    # A marker where the toolkit would be, not a toolkit: there is no CUDA (and no GPU) in these images.
    mkdir -p -- "$rootfs/usr/local/cuda-$toolkit/bin"
    printf 'CUDA Version %s (portal stand-in image: no toolkit installed)\n' "$toolkit" >"$rootfs/usr/local/cuda-$toolkit/version.txt"
  fi
  arch=$(uname -m)
  cat >"$work/metadata.yaml" <<EOF
architecture: $arch
creation_date: $(date +%s)
properties:
  description: portal stand-in server ${toolkit:+(CUDA $toolkit)}
  os: busybox
  cuda: "${toolkit:-none}"
  standin_context: "$hash"
EOF
  tar -C "$work" --numeric-owner --owner=0 --group=0 -czf "$work/image.tar.gz" metadata.yaml rootfs
  # The alias moves to the new image; the old image goes (instances made from it keep their own copy).
  if lxd_cli image show "$alias" >/dev/null 2>&1; then
    lxd_cli image delete "$alias" >>"$LXD_LOG" 2>&1 || warn "lxd: could not delete the old image $alias"
  fi
  if ! lxd_cli image import "$work/image.tar.gz" --alias "$alias" >>"$LXD_LOG" 2>&1; then
    log_tail "$LXD_LOG"
    die "lxd: importing the image $alias failed"
  fi
  rm -rf -- "$work"
  info "lxd: built the image $alias"
}

_lxd_build_images() {
  local toolkit
  _lxd_image "$LXD_DEFAULT_IMAGE"
  for toolkit in "${LXD_TOOLKITS[@]}"; do
    _lxd_image "$LXD_IMAGE_PREFIX-${toolkit//./-}" "$toolkit"
  done
}

# _lxd_instances [portal]: the names of the instances (with `portal`: only those with config user.portal.user).
_lxd_instances() {
  local name
  while IFS= read -r name; do
    [[ -n $name ]] || continue
    if [[ ${1:-} == portal && -z $(lxd_cli config get "$name" user.portal.user 2>/dev/null) ]]; then continue; fi
    printf '%s\n' "$name"
  done < <(lxd_cli list --format csv --columns n 2>/dev/null)
}

# _lxd_delete_instances [portal]: stop (forced) and delete instances; see _lxd_instances.
_lxd_delete_instances() {
  local names=() name failed=0
  mapfile -t names < <(_lxd_instances "${1:-}")
  ((${#names[@]})) || return 0
  for name in "${names[@]}"; do
    lxd_cli delete --force "$name" >>"$LXD_LOG" 2>&1 || failed=1
  done
  if ((failed)); then warn "lxd: could not delete every instance (see $LXD_LOG)"; fi
  info "lxd: deleted ${#names[@]} instance(s)"
}

# _lxd_reap [OLD_PID]: what a daemon that died without cleaning up (SIGKILL, crash) leaves behind: the monitors of
# our containers ("[lxc monitor] $LXD_VAR/containers NAME") with their payloads, the proxy devices' helpers of that
# daemon ("lxd forkproxy -- OLD_PID ..."; they would keep the ports), and its mounts under LXD_DIR.
_lxd_reap() {
  local old=${1:-} cmdline pid args stat child mount mounts=()
  for cmdline in /proc/[0-9]*/cmdline; do
    pid=${cmdline#/proc/}
    pid=${pid%/cmdline}
    args=$({ tr '\0' ' ' <"$cmdline"; } 2>/dev/null) || continue
    if [[ -n $old && $args == *" forkproxy -- $old "* ]] && pid_running "$pid" lxd; then
      warn "lxd: ending the proxy helper $pid that the daemon $old left running"
      kill -KILL "$pid" 2>/dev/null || true
      continue
    fi
    [[ $args == "[lxc monitor] $LXD_VAR/containers "* ]] || continue
    pid_running "$pid" lxd || continue
    warn "lxd: ending the container monitor $pid (and its container) that the daemon of $LXD_VAR left running"
    for stat in /proc/[0-9]*/stat; do
      { read -r child <"$stat"; } 2>/dev/null || continue
      child=${child##*) }
      child=${child#* } # drop the state: the parent pid is next
      if [[ ${child%% *} == "$pid" ]]; then
        child=${stat#/proc/}
        kill -KILL "${child%/stat}" 2>/dev/null || true
      fi
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  # Deepest first.
  mapfile -t mounts < <(awk -v dir="$LXD_VAR/" 'index($2, dir) == 1 { print $2 }' /proc/self/mounts | sort -r)
  for mount in "${mounts[@]}"; do
    umount -l -- "$mount" 2>/dev/null || warn "lxd: could not unmount $mount"
  done
}

lxd_start() {
  lxd_paths
  local pid t0
  t0=$(now_ms)
  if pid=$(lxd_pid); then
    if lxd_ready || wait_until 20 "$pid" -- lxd_ready; then
      _lxd_configure
      _lxd_build_images
      info "lxd: already running (pid $pid, unix://$LXD_SOCK)"
      return 0
    fi
    log_tail "$LXD_LOG"
    die "lxd: pid $pid is alive but unix://$LXD_SOCK does not answer; run 'scripts/services stop $PROFILE' and retry"
  fi
  _lxd_reap "$(pid_from_file "$LXD_PID_FILE" || true)"
  rm -f -- "$LXD_PID_FILE"

  if [[ ! -x $LXD_BIN || ! -x $LXC_BIN ]]; then
    info "lxd: installing Debian's lxd (about 30 s the first time)"
  fi
  ensure_packages "$LXD_BIN:lxd" "$LXC_BIN:lxd-client" /usr/share/doc/busybox-static/copyright:busybox-static
  [[ -r $LXD_INIT ]] || die "lxd: $LXD_INIT missing"

  mkdir -p -- "$LXD_VAR" "$LXD_POOL" "$LXD_HOMES" "$LXD_CLIENT"
  chmod 0711 -- "$LXD_HOME"
  chmod 0700 -- "$LXD_CLIENT"
  rm -f -- "$LXD_SOCK"

  printf '%s scripts/services: starting lxd with LXD_DIR=%s\n' "$(date -Is)" "$LXD_VAR" >>"$LXD_LOG"
  spawn_detached "$LXD_LOG" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$LXD_HOME" LANG=C.UTF-8 \
    LXD_DIR="$LXD_VAR" "$LXD_BIN" --group root
  local spawned=$SPAWNED_PID rc=0
  wait_until "$START_TIMEOUT" "$spawned" -- lxd_ready || rc=$?
  if ((rc)); then
    log_tail "$LXD_LOG"
    if ((rc != 2)); then stop_pid lxd "$spawned" lxd; fi
    _lxd_reap "$spawned"
    if ((rc == 2)); then die "lxd: the daemon exited during startup"; fi
    die "lxd: unix://$LXD_SOCK not answering after ${START_TIMEOUT}s"
  fi
  pid_running "$spawned" lxd || {
    log_tail "$LXD_LOG"
    die "lxd: answering, but the daemon we started (pid $spawned) is gone"
  }
  printf '%s\n' "$spawned" >"$LXD_PID_FILE"
  _lxd_configure
  if [[ $PROFILE == test ]]; then _lxd_delete_instances portal; fi
  _lxd_build_images
  info "lxd: started (pid $spawned, unix://$LXD_SOCK) in $(elapsed_since "$t0")"
}

lxd_stop() {
  lxd_paths
  local pid old
  old=$(pid_from_file "$LXD_PID_FILE" || true)
  if pid=$(lxd_pid); then
    if lxd_ready; then
      _lxd_delete_instances
      # A clean shutdown unmounts the pool and ends the proxy helpers; signals only when it does not return.
      LXD_DIR=$LXD_VAR timeout "$LXD_SHUTDOWN_TIMEOUT" "$LXD_BIN" shutdown >>"$LXD_LOG" 2>&1 ||
        warn "lxd: 'lxd shutdown' did not finish within ${LXD_SHUTDOWN_TIMEOUT}s"
    fi
    stop_pid lxd "$pid" lxd
    info "lxd: stopped (pid $pid)"
  else
    info "lxd: not running"
  fi
  rm -f -- "$LXD_PID_FILE"
  _lxd_reap "$old"
}

lxd_status() {
  lxd_paths
  service_status lxd lxd_pid lxd_ready "unix://$LXD_SOCK" "$LXD_HOME"
}

lxd_env() {
  lxd_paths
  emit_export Lxd__SocketPath "$LXD_SOCK"
  emit_export Lxd__HomeRoot "$LXD_HOMES"
  emit_export Lxd__PortRangeStart "$LXD_PORTS_START"
  emit_export Lxd__PortRangeEnd "$LXD_PORTS_END"
  emit_export Lxd__DefaultImage "$LXD_DEFAULT_IMAGE"
  emit_export Lxd__ImageTemplate "$LXD_IMAGE_PREFIX-{major}-{minor}"
  # No GPU on this machine: a gpu device would make every start fail.
  emit_export Lxd__AttachGpus false
}
