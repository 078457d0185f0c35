# shellcheck shell=bash
# A Docker Engine of our own (Debian's docker.io 20.10, API 1.41) for the portal's Docker spawner backend and its
# tests. It never touches a system docker: its own socket, data root, exec root, pid file, containerd namespace,
# cgroup parent, bridge and daemon.json, all under $STATE_DIR/docker/:
#
#   docker.sock             the API (unix socket; root only). By hand:
#                           DOCKER_CONFIG=$STATE_DIR/docker/cli docker -H unix://$STATE_DIR/docker/docker.sock ps -a
#   root/  exec/            --data-root (images, containers) and --exec-root (containerd's socket and state)
#   dockerd.pid             dockerd's own pid file; service.pid is the pid we started (the one stop signals)
#
# Network: a bridge of its own (portaldkr-<profile>, 10.213.27.1/24 for test, 10.213.26.1/24 for run) that this
# script creates before dockerd starts and deletes after it stops. dockerd runs with --iptables=false,
# --ip-forward=false and --ip-masq=false: it writes no firewall rule and leaves net.ipv4.ip_forward alone.
# Ports published on 127.0.0.1 still work (docker-proxy, the userland proxy, forwards them to the bridge);
# containers get no route to the outside, which they do not need (no registry is reachable anyway).
#
# Images: no registry is reachable, so the test images are built here at start (FROM scratch + Debian's static
# busybox, context scripts/docker/standin/), and rebuilt only when that context changes:
#   portal-notebook:latest                       the default image (no toolkit)
#   portal-cuda:12.4, portal-cuda:12.1, portal-cuda:11.8   one per catalog toolkit: ENV CUDA_VERSION, CUDA_HOME
# They run portal-standin, a stand-in for a single-user Jupyter server (busybox httpd answering /api/status and
# a page), not Jupyter: see scripts/docker/standin/portal-standin.
#
# Only profile `test` lists the service (scripts/services: TEST_ONLY_SERVICES). A cold start of profile `test`
# removes the containers that earlier runs left (those with the label portal.user); images are kept.
# There is no NVIDIA runtime here: the tests set Docker:RequestGpus=false (docker_env).

DOCKER_CLI=/usr/bin/docker # Debian's client, the daemon's version (another docker on PATH may be newer)
DOCKERD_BIN=/usr/sbin/dockerd
DOCKER_BUSYBOX=/bin/busybox
DOCKER_CONTEXT="$SCRIPTS_DIR/docker/standin"
DOCKER_DEFAULT_IMAGE=portal-notebook:latest
DOCKER_IMAGE_REPOSITORY=portal-cuda
DOCKER_TOOLKITS=(12.4 12.1 11.8) # as in migrations/0006_cuda_toolkits.sql (provision "portal-cuda:<v>")
DOCKER_CONTEXT_LABEL=portal.standin-context

docker_paths() {
  DOCKER_DIR="$STATE_DIR/docker"
  DOCKER_SOCK="$DOCKER_DIR/docker.sock"
  DOCKER_PID_FILE="$DOCKER_DIR/service.pid"
  DOCKERD_PID_FILE="$DOCKER_DIR/dockerd.pid"
  DOCKER_CONFIG_FILE="$DOCKER_DIR/daemon.json"
  DOCKER_CLI_CONFIG="$DOCKER_DIR/cli"
  DOCKER_LOG="$LOG_DIR/dockerd.log"
  DOCKER_NAMESPACE="portal-$PROFILE"
  DOCKER_BRIDGE="portaldkr-$PROFILE" # at most 15 characters
  case $PROFILE in
    run) DOCKER_BRIDGE_ADDRESS=10.213.26.1/24 ;;
    test) DOCKER_BRIDGE_ADDRESS=10.213.27.1/24 ;;
  esac
}

# docker_cli ARG...: Debian's client against our daemon, with a config folder of its own (no credential helpers
# or contexts of the machine's user).
docker_cli() {
  DOCKER_CONFIG=$DOCKER_CLI_CONFIG DOCKER_BUILDKIT=0 "$DOCKER_CLI" -H "unix://$DOCKER_SOCK" "$@"
}

# docker_pid: the dockerd we started (service.pid) when that process is alive.
docker_pid() {
  local pid
  pid=$(pid_from_file "$DOCKER_PID_FILE") || return 1
  pid_running "$pid" dockerd || return 1
  printf '%s' "$pid"
}

# docker_ready: the daemon answers on its socket.
docker_ready() {
  [[ -S $DOCKER_SOCK ]] && docker_cli info >/dev/null 2>&1
}

# _docker_bridge_up: our bridge with its address, created unless it exists (from a run that did not stop).
_docker_bridge_up() {
  local routes addresses
  if ! ip link show dev "$DOCKER_BRIDGE" >/dev/null 2>&1; then
    routes=$(ip -4 route show)
    if [[ $'\n'$routes == *$'\n'"${DOCKER_BRIDGE_ADDRESS%.*/*}.0/"* ]]; then
      die "docker: the subnet of $DOCKER_BRIDGE_ADDRESS is already routed on this machine; change DOCKER_BRIDGE_ADDRESS in scripts/lib/docker.sh"
    fi
    ip link add name "$DOCKER_BRIDGE" type bridge || die "docker: could not create the bridge $DOCKER_BRIDGE"
  fi
  addresses=$(ip -4 addr show dev "$DOCKER_BRIDGE")
  if [[ $addresses != *" $DOCKER_BRIDGE_ADDRESS "* ]]; then
    ip addr add "$DOCKER_BRIDGE_ADDRESS" dev "$DOCKER_BRIDGE"
  fi
  ip link set dev "$DOCKER_BRIDGE" up
}

# _docker_cleanup_network: delete our bridge and any firewall rule that names it (there should be none: dockerd
# runs with --iptables=false; a rule of another program is never touched).
_docker_cleanup_network() {
  local table rule
  if command -v iptables-save >/dev/null 2>&1; then
    for table in nat filter; do
      while IFS= read -r rule; do
        [[ $rule == "-A "* ]] || continue
        warn "docker: deleting the iptables rule '$rule' (table $table) that names $DOCKER_BRIDGE"
        # shellcheck disable=SC2086 # a rule as iptables-save prints it: words without quoting
        iptables -t "$table" -D ${rule#-A } || true
      done < <(iptables-save -t "$table" 2>/dev/null | grep -F -- "$DOCKER_BRIDGE" || true)
    done
  fi
  if ip link show dev "$DOCKER_BRIDGE" >/dev/null 2>&1; then
    ip link del dev "$DOCKER_BRIDGE" || warn "docker: could not delete the bridge $DOCKER_BRIDGE"
  fi
}

# _docker_reap: what a dockerd that died without cleaning up (SIGKILL, crash) leaves behind: its containerd
# (pid file in exec-root) and the shims of our containerd namespace with the containers they keep running (a
# shim's children are the containers' first processes; ending those ends each container). Only processes whose
# name matches (and, for shims, whose command line names our namespace) are touched.
_docker_reap() {
  local pid comm cmdline stat child
  if pid=$(pid_from_file "$DOCKER_DIR/exec/containerd/containerd.pid") && pid_running "$pid" containerd; then
    warn "docker: stopping the containerd (pid $pid) that dockerd left running"
    stop_pid containerd "$pid" containerd
  fi
  for comm in /proc/[0-9]*/comm; do
    pid=${comm#/proc/}
    pid=${pid%/comm}
    [[ $(cat "$comm" 2>/dev/null) == containerd-shim* ]] || continue
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
    [[ $cmdline == *"-namespace $DOCKER_NAMESPACE "* ]] || continue
    warn "docker: stopping the containerd shim (pid $pid) of namespace $DOCKER_NAMESPACE and its containers"
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
}

# _docker_context_hash TARGET [TOOLKIT]: what an image is built from (context files, busybox, target, toolkit).
_docker_context_hash() {
  {
    printf '%s %s\n' "$1" "${2:-}"
    sha256sum "$DOCKER_CONTEXT"/* "$DOCKER_BUSYBOX" | cut -d' ' -f1
  } | sha256sum | cut -d' ' -f1
}

# _docker_build TAG TARGET [TOOLKIT]: build one image unless it exists from the same context.
_docker_build() {
  local tag=$1 target=$2 toolkit=${3:-} hash have context args=()
  hash=$(_docker_context_hash "$target" "$toolkit")
  have=$(docker_cli image inspect --format "{{index .Config.Labels \"$DOCKER_CONTEXT_LABEL\"}}" "$tag" 2>/dev/null || true)
  [[ $have == "$hash" ]] && return 0
  context=$(mktemp -d "${TMPDIR:-/tmp}/portal-docker-context.XXXXXX")
  CLEANUP_PATHS+=("$context")
  cp -- "$DOCKER_CONTEXT"/* "$context/"
  cp -- "$DOCKER_BUSYBOX" "$context/busybox"
  args=(--quiet --target "$target" --label "$DOCKER_CONTEXT_LABEL=$hash" --tag "$tag")
  if [[ -n $toolkit ]]; then args+=(--build-arg "CUDA_VERSION=$toolkit"); fi
  if ! docker_cli build "${args[@]}" "$context" >>"$DOCKER_LOG" 2>&1; then
    log_tail "$DOCKER_LOG"
    die "docker: building the image $tag failed"
  fi
  rm -rf -- "$context"
  info "docker: built the image $tag"
}

_docker_build_images() {
  local toolkit
  _docker_build "$DOCKER_DEFAULT_IMAGE" base
  for toolkit in "${DOCKER_TOOLKITS[@]}"; do
    _docker_build "$DOCKER_IMAGE_REPOSITORY:$toolkit" cuda "$toolkit"
  done
  # Layers of replaced images (a changed context) are not needed any more.
  docker_cli image prune --force >/dev/null 2>&1 || true
}

# _docker_remove_test_containers: the portal's containers of earlier test runs (label portal.user).
_docker_remove_test_containers() {
  local ids=()
  mapfile -t ids < <(docker_cli ps --all --quiet --filter label=portal.user)
  ((${#ids[@]})) || return 0
  docker_cli rm --force --volumes "${ids[@]}" >/dev/null 2>&1 || warn "docker: could not remove every old container"
  info "docker: removed ${#ids[@]} container(s) of earlier runs"
}

docker_start() {
  docker_paths
  local pid t0
  t0=$(now_ms)
  if pid=$(docker_pid); then
    if docker_ready || wait_until 20 "$pid" -- docker_ready; then
      _docker_build_images
      info "docker: already running (pid $pid, unix://$DOCKER_SOCK)"
      return 0
    fi
    log_tail "$DOCKER_LOG"
    die "docker: pid $pid is alive but unix://$DOCKER_SOCK does not answer; run 'scripts/services stop $PROFILE' and retry"
  fi
  rm -f -- "$DOCKER_PID_FILE"
  if pid=$(pid_from_file "$DOCKERD_PID_FILE") && pid_running "$pid" dockerd; then
    die "docker: a dockerd (pid $pid) we did not record runs on $DOCKER_DIR; stop it first"
  fi
  # A dockerd that was killed leaves its pid file, and a new one refuses to start while that pid exists (even a zombie).
  rm -f -- "$DOCKERD_PID_FILE"
  _docker_reap

  if [[ ! -x $DOCKERD_BIN || ! -x $DOCKER_CLI ]]; then
    info "docker: installing Debian's docker.io (about 15 s the first time)"
  fi
  # iptables is a dependency of docker.io (unused here: --iptables=false); busybox-static for the test images.
  ensure_packages "$DOCKERD_BIN:docker.io" "$DOCKER_CLI:docker.io" /usr/sbin/docker-proxy:docker.io \
    /usr/share/doc/busybox-static/copyright:busybox-static ip:iproute2

  mkdir -p -- "$DOCKER_DIR" "$DOCKER_CLI_CONFIG"
  chmod 0700 -- "$DOCKER_DIR"
  # Our own (empty) daemon.json: the machine's /etc/docker/daemon.json, if any, is not read.
  printf '{}\n' >"$DOCKER_CONFIG_FILE"
  rm -f -- "$DOCKER_SOCK"
  _docker_bridge_up

  printf '%s scripts/services: starting dockerd on unix://%s (bridge %s %s)\n' \
    "$(date -Is)" "$DOCKER_SOCK" "$DOCKER_BRIDGE" "$DOCKER_BRIDGE_ADDRESS" >>"$DOCKER_LOG"
  spawn_detached "$DOCKER_LOG" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$DOCKER_DIR" LANG=C.UTF-8 \
    "$DOCKERD_BIN" --config-file "$DOCKER_CONFIG_FILE" \
    --host "unix://$DOCKER_SOCK" --data-root "$DOCKER_DIR/root" --exec-root "$DOCKER_DIR/exec" \
    --pidfile "$DOCKERD_PID_FILE" --group root \
    --containerd-namespace "$DOCKER_NAMESPACE" --containerd-plugins-namespace "$DOCKER_NAMESPACE-plugins" \
    --cgroup-parent "/$DOCKER_NAMESPACE" \
    --bridge "$DOCKER_BRIDGE" --iptables=false --ip-forward=false --ip-masq=false \
    --default-address-pool base=10.213.32.0/20,size=24 \
    --shutdown-timeout 10 --log-opt max-size=1m
  local spawned=$SPAWNED_PID rc=0
  wait_until "$START_TIMEOUT" "$spawned" -- docker_ready || rc=$?
  if ((rc)); then
    log_tail "$DOCKER_LOG"
    if ((rc != 2)); then stop_pid dockerd "$spawned" dockerd; fi
    _docker_reap
    _docker_cleanup_network
    if ((rc == 2)); then die "docker: dockerd exited during startup"; fi
    die "docker: unix://$DOCKER_SOCK not answering after ${START_TIMEOUT}s"
  fi
  pid_running "$spawned" dockerd || {
    log_tail "$DOCKER_LOG"
    die "docker: answering, but the dockerd we started (pid $spawned) is gone"
  }
  printf '%s\n' "$spawned" >"$DOCKER_PID_FILE"
  if [[ $PROFILE == test ]]; then _docker_remove_test_containers; fi
  _docker_build_images
  info "docker: started (pid $spawned, unix://$DOCKER_SOCK) in $(elapsed_since "$t0")"
}

docker_stop() {
  docker_paths
  local pid
  if pid=$(docker_pid); then
    # SIGTERM: dockerd stops the containers (SIGTERM, then SIGKILL after --shutdown-timeout) and its containerd.
    stop_pid dockerd "$pid" dockerd
    info "docker: stopped (pid $pid)"
  else
    info "docker: not running"
  fi
  rm -f -- "$DOCKER_PID_FILE" "$DOCKERD_PID_FILE"
  _docker_reap
  _docker_cleanup_network
}

docker_status() {
  docker_paths
  service_status docker docker_pid docker_ready "unix://$DOCKER_SOCK" "$DOCKER_DIR"
}

docker_env() {
  docker_paths
  emit_export Docker__SocketPath "$DOCKER_SOCK"
  emit_export Docker__DefaultImage "$DOCKER_DEFAULT_IMAGE"
  emit_export Docker__ImageTemplate "$DOCKER_IMAGE_REPOSITORY:{version}"
  # No NVIDIA runtime on this machine: a GPU device request would make every start fail.
  emit_export Docker__RequestGpus false
}
