# shellcheck shell=bash
# SMTP sink for the portal: Debian's aiosmtpd (python3-aiosmtpd 1.4.3) on 127.0.0.1 only. It accepts every
# message, relays nothing, and drops each one into a Maildir under $STATE_DIR/smtp/maildir (new/ holds what
# arrived; a message appears there whole, by rename). The tests read that folder (Portal.Tests/Support/SmtpSink.cs);
# by hand: ls .local/<profile>/smtp/maildir/new. A cold start of profile `test` empties the Maildir.
#
# Always Debian's /usr/bin/python3: the python3 first on PATH may be another one without Debian's modules.

SMTP_PYTHON=/usr/bin/python3
SMTP_MODULE_FILE=/usr/lib/python3/dist-packages/aiosmtpd/handlers.py

smtp_port() {
  case $PROFILE in
    run) echo 12525 ;;
    test) echo 22525 ;;
  esac
}

smtp_paths() {
  SMTP_DIR="$STATE_DIR/smtp"
  SMTP_MAILDIR="$SMTP_DIR/maildir"
  SMTP_PID_FILE="$SMTP_DIR/aiosmtpd.pid"
  SMTP_LOG="$LOG_DIR/smtp.log"
  SMTP_PORT=$(smtp_port)
}

# smtp_pid: the sink's PID from aiosmtpd.pid when that process is alive.
smtp_pid() {
  local pid
  pid=$(pid_from_file "$SMTP_PID_FILE") || return 1
  pid_running "$pid" python3 || return 1
  printf '%s' "$pid"
}

# smtp_ready: the port answers with an SMTP greeting (220); says QUIT so the sink logs no broken session.
smtp_ready() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$SMTP_PORT" || exit 1
    line=""
    IFS= read -r -t 2 line <&3 || exit 1
    printf 'QUIT\r\n' >&3 || true
    [[ $line == 220* ]]
  ) 2>/dev/null
}

smtp_start() {
  smtp_paths
  local pid t0
  t0=$(now_ms)
  if pid=$(smtp_pid); then
    if smtp_ready || wait_until 10 "$pid" -- smtp_ready; then
      info "smtp: already running (pid $pid, 127.0.0.1:$SMTP_PORT)"
      return 0
    fi
    log_tail "$SMTP_LOG"
    die "smtp: pid $pid is alive but 127.0.0.1:$SMTP_PORT does not answer; run 'scripts/services stop $PROFILE' and retry"
  fi
  rm -f -- "$SMTP_PID_FILE"
  if port_open "$SMTP_PORT"; then
    die "smtp: port 127.0.0.1:$SMTP_PORT is already in use by another process"
  fi

  ensure_packages "$SMTP_PYTHON:python3" "$SMTP_MODULE_FILE:python3-aiosmtpd"

  mkdir -p -- "$SMTP_DIR"
  chmod 0755 -- "$SMTP_DIR"
  if [[ $PROFILE == test ]]; then
    # mail of earlier test runs: the tests only look for their own (unique) recipients
    rm -rf -- "$SMTP_MAILDIR"
  fi
  mkdir -p -- "$SMTP_MAILDIR/new" "$SMTP_MAILDIR/cur" "$SMTP_MAILDIR/tmp"

  printf '%s scripts/services: starting aiosmtpd on 127.0.0.1:%s\n' "$(date -Is)" "$SMTP_PORT" >>"$SMTP_LOG"
  # -n: stay root (it would setuid to nobody, who cannot write the Maildir); -u: accept SMTPUTF8.
  spawn_detached "$SMTP_LOG" "$SMTP_PYTHON" -m aiosmtpd -n -u -l "127.0.0.1:$SMTP_PORT" \
    -c aiosmtpd.handlers.Mailbox "$SMTP_MAILDIR"
  local spawned=$SPAWNED_PID rc=0
  wait_until "$START_TIMEOUT" "$spawned" -- smtp_ready || rc=$?
  if ((rc)); then
    log_tail "$SMTP_LOG"
    if ((rc == 2)); then die "smtp: aiosmtpd exited during startup"; fi
    stop_pid aiosmtpd "$spawned" python3
    die "smtp: 127.0.0.1:$SMTP_PORT not answering after ${START_TIMEOUT}s"
  fi
  pid_running "$spawned" python3 || {
    log_tail "$SMTP_LOG"
    die "smtp: answering, but the aiosmtpd we started (pid $spawned) is gone"
  }
  printf '%s\n' "$spawned" >"$SMTP_PID_FILE"
  info "smtp: started (pid $spawned, 127.0.0.1:$SMTP_PORT, maildir $SMTP_MAILDIR) in $(elapsed_since "$t0")"
}

smtp_stop() {
  smtp_paths
  local pid
  if ! pid=$(smtp_pid); then
    rm -f -- "$SMTP_PID_FILE"
    info "smtp: not running"
    return 0
  fi
  stop_pid aiosmtpd "$pid" python3
  rm -f -- "$SMTP_PID_FILE"
  info "smtp: stopped (pid $pid)"
}

smtp_status() {
  smtp_paths
  service_status smtp smtp_pid smtp_ready "127.0.0.1:$SMTP_PORT" "$SMTP_MAILDIR"
}

smtp_env() {
  smtp_paths
  emit_export Mail__SmtpHost 127.0.0.1
  emit_export Mail__SmtpPort "$SMTP_PORT"
  emit_export PORTAL_SMTP_MAILDIR "$SMTP_MAILDIR"
}
